"""The council (protocol 5): proposals pass at M of N votes, once, before they expire.

Every Chain block also checks conservation per asset and no negative balance
(helpers.Chain.block). Here a three-member council with a threshold of 2:
bank-a proposes (its vote counts first), bank-b's vote passes it, bank-c's
comes too late.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import pytest

from helpers import Chain, key, make_genesis
from tally.core.errors import Code
from tally.core.genesis import DEFAULT_PROPOSAL_TTL_MS
from tally.core.tables import ACCOUNTS, ASSETS, COUNCIL_PARAMS, FREEZES, PARAMS, PROPOSALS, SCHEDULE, VALIDATOR_SETS
from tally.core.types import (
    Action,
    AddValidator,
    AdmitMember,
    ApproveAsset,
    DefaultLimits,
    FreezeSubject,
    Params,
    RemoveMember,
    RemoveValidator,
    SetDefaultLimits,
    SetParam,
    SetQuota,
    UnfreezeSubject,
    ValidatorSchedule,
)


def council(threshold: int = 2, members: tuple[str, ...] = ("bank-a", "bank-b", "bank-c", "bank-d")) -> Chain:
    """The members; M = threshold. bank-a's MILES (approved) and alice, a holder."""
    genesis = msgspec.structs.replace(make_genesis(members), council_threshold=threshold)
    c = Chain(genesis=genesis)
    a = c.signer("bank-a")
    assert c.one(a.create_asset("MILES", "Miles", "points", 0, True, "none")).code == "ok"
    if threshold > 1:
        votes = [c.signer(m).vote("asset:MILES") for m in members[1:threshold]]
        assert [r.code for r in c.block(votes)] == ["ok"] * (threshold - 1)
    assert c.one(a.register_account("alice", key("alice").public_key_hex, "holder")).code == "ok"
    return c


def params(c: Chain) -> Params:
    found = c.state_read(PARAMS, COUNCIL_PARAMS)
    assert found is not None
    return found


def make_proposed_asset(c: Chain) -> None:
    """GIFT, created by bank-a and awaiting approval (its own proposal asset:GIFT holds bank-a's vote)."""
    assert c.one(c.signer("bank-a").create_asset("GIFT", "Gift", "voucher", 2, False, "merchants")).code == "ok"


def freeze_alice(c: Chain) -> None:
    _pass(c, "setup-freeze", FreezeSubject(subject_kind="account", subject="alice", reason="court_order"))


def _pass(c: Chain, proposal: str, action: Action) -> None:
    """bank-a proposes and the next members vote until it passes."""
    assert c.one(c.signer("bank-a").propose(proposal, action)).code == "ok"
    for member in ("bank-b", "bank-c", "bank-d")[: params(c).threshold - 1]:
        assert c.one(c.signer(member).vote(proposal)).code == "ok"
    assert c.state_read(PROPOSALS, proposal).status == "executed"  # type: ignore[union-attr]


@dataclass(frozen=True)
class Kind:
    """One proposal kind: what makes it applicable, the action, and whether it has taken effect."""

    action: Action
    applied: Callable[[Chain], bool]
    setup: Callable[[Chain], None] = lambda c: None


KINDS: dict[str, Kind] = {
    "approve_asset": Kind(
        ApproveAsset(asset="GIFT", quota_minor=500),
        lambda c: c.state_read(ASSETS, "GIFT").status == "active",  # type: ignore[union-attr]
        make_proposed_asset,
    ),
    "set_quota": Kind(
        SetQuota(asset="MILES", quota_minor=777),
        lambda c: c.state_read(ASSETS, "MILES").quota_minor == 777,  # type: ignore[union-attr]
    ),
    "admit_member": Kind(
        AdmitMember(account="bank-e", name="Bank E", public_key=key("bank-e").public_key_hex, role="member"),
        lambda c: c.account("bank-e") is not None and "bank-e" in params(c).council,
    ),
    "remove_member": Kind(
        RemoveMember(account="bank-c"),
        lambda c: c.account("bank-c").role == "retired" and "bank-c" not in params(c).council,  # type: ignore[union-attr]
    ),
    "set_param": Kind(SetParam(name="recovery_delay_ms", value=5_000), lambda c: params(c).recovery_delay_ms == 5_000),
    "set_default_limits": Kind(
        SetDefaultLimits(limits=DefaultLimits(role="holder", asset="MILES", max_payment_minor=50)),
        lambda c: params(c).default_limits == [DefaultLimits(role="holder", asset="MILES", max_payment_minor=50)],
    ),
    "freeze": Kind(
        FreezeSubject(subject_kind="asset", subject="MILES", reason="audit"),
        lambda c: c.state_read(FREEZES, "asset", "MILES") is not None,
    ),
    "unfreeze": Kind(
        UnfreezeSubject(subject_kind="account", subject="alice"),
        lambda c: c.state_read(FREEZES, "account", "alice") is None,
        freeze_alice,
    ),
    "add_validator": Kind(
        AddValidator(validator="validator-2", public_key=key("validator-2").public_key_hex, from_height=100),
        lambda c: [s.from_height for s in schedule(c).sets] == [1, 100],
    ),
    "remove_validator": Kind(
        RemoveValidator(validator="validator-1", from_height=100),
        lambda c: [v.id for v in schedule(c).sets[-1].validators] == ["validator-2"],
        lambda c: _pass(
            c,
            "add-2",
            AddValidator(validator="validator-2", public_key=key("validator-2").public_key_hex, from_height=50),
        ),
    ),
}


def schedule(c: Chain) -> ValidatorSchedule:
    found = c.state_read(VALIDATOR_SETS, SCHEDULE)
    assert found is not None
    return found


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_proposal_runs_at_the_threshold_and_not_one_vote_below(kind: str) -> None:
    c = council()
    k = KINDS[kind]
    k.setup(c)
    assert c.one(c.signer("bank-a").propose("p-1", k.action)).code == "ok"
    opened = c.state_read(PROPOSALS, "p-1")
    assert opened is not None and opened.status == "open" and opened.votes == ["bank-a"]
    assert not k.applied(c), "one vote of two: nothing happens"
    passed = c.one(c.signer("bank-b").vote("p-1"))
    assert passed.code == "ok" and k.applied(c)
    closed = c.state_read(PROPOSALS, "p-1")
    assert closed is not None
    assert (closed.status, closed.result_code, closed.closed_txid) == ("executed", "ok", passed.txid)
    after = dict(c.state.values)
    late = c.one(c.signer("bank-d").vote("p-1"))
    assert late.code == Code.PROPOSAL_CLOSED
    changed = {k for k in set(after) | set(c.state.values) if after.get(k) != c.state.values.get(k)}
    assert changed == {ACCOUNTS.key("bank-d")}, "a late vote runs nothing again (only its seq moves)"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_proposal_expires(kind: str) -> None:
    c = council()
    k = KINDS[kind]
    k.setup(c)
    assert c.one(c.signer("bank-a").propose("p-1", k.action)).code == "ok"
    expires_ms = c.state_read(PROPOSALS, "p-1").expires_ms  # type: ignore[union-attr]
    assert expires_ms == c.head.timestamp_ms + DEFAULT_PROPOSAL_TTL_MS
    c.now_ms = expires_ms + 1
    c.signers["bank-b"].ttl_ms = 60_000
    assert c.one(c.signer("bank-b").vote("p-1")).code == Code.PROPOSAL_EXPIRED
    assert not k.applied(c)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_only_council_members_vote_and_each_once(kind: str) -> None:
    c = council(threshold=3)
    k = KINDS[kind]
    k.setup(c)
    assert c.one(c.signer("bank-a").propose("p-1", k.action)).code == "ok"
    assert c.one(c.signer("bank-a").vote("p-1")).code == Code.ALREADY_VOTED
    assert c.one(c.signer("alice").vote("p-1")).code == Code.WRONG_ROLE
    assert c.one(c.signer("bank-b").vote("p-1")).code == "ok"
    assert c.one(c.signer("bank-b").vote("p-1")).code == Code.ALREADY_VOTED
    assert c.state_read(PROPOSALS, "p-1").votes == ["bank-a", "bank-b"]  # type: ignore[union-attr]
    assert not k.applied(c)
    assert c.one(c.signer("bank-c").vote("p-1")).code == "ok"
    assert k.applied(c)


def test_a_retired_member_no_longer_votes_nor_counts() -> None:
    c = council()
    assert c.one(c.signer("bank-a").propose("p-2", SetQuota(asset="MILES", quota_minor=5))).code == "ok"
    _pass(c, "retire-c", RemoveMember(account="bank-c"))
    assert c.one(c.signer("bank-c").vote("p-2")).code == Code.WRONG_ROLE
    assert c.state_read(ASSETS, "MILES").quota_minor != 5  # type: ignore[union-attr]


def test_an_action_that_cannot_apply_fails_the_proposal_once_and_changes_nothing() -> None:
    c = council()
    action = AdmitMember(account="alice", name="Alice", public_key=key("x").public_key_hex, role="auditor")
    assert c.one(c.signer("bank-a").propose("p-1", action)).code == "ok"
    before = c.account("alice")
    assert c.one(c.signer("bank-b").vote("p-1")).code == "ok"  # the vote counts; the action fails
    failed = c.state_read(PROPOSALS, "p-1")
    assert failed is not None and (failed.status, failed.result_code) == ("failed", Code.ACCOUNT_EXISTS)
    assert c.account("alice") == before
    assert c.one(c.signer("bank-d").vote("p-1")).code == Code.PROPOSAL_CLOSED


def test_the_council_cannot_shrink_below_its_threshold_nor_set_one_above_its_size() -> None:
    c = council(threshold=3, members=("bank-a", "bank-b", "bank-c"))
    for member in ("bank-a", "bank-b", "bank-c"):
        if member == "bank-a":
            assert c.one(c.signer(member).propose("p-1", RemoveMember(account="bank-c"))).code == "ok"
        else:
            assert c.one(c.signer(member).vote("p-1")).code == "ok"
    assert c.state_read(PROPOSALS, "p-1").result_code == Code.BAD_PARAMETER  # type: ignore[union-attr]
    assert params(c).council == ["bank-a", "bank-b", "bank-c"]
    c2 = council(members=("bank-a", "bank-b", "bank-c"))
    _pass(c2, "m", SetParam(name="threshold", value=3))
    assert params(c2).threshold == 3
    assert c2.one(c2.signer("bank-a").propose("t", SetParam(name="threshold", value=4))).code == "ok"
    for member in ("bank-b", "bank-c"):
        assert c2.one(c2.signer(member).vote("t")).code == "ok"
    assert c2.state_read(PROPOSALS, "t").result_code == Code.BAD_PARAMETER  # type: ignore[union-attr]


def test_an_asset_is_proposed_until_approved_and_issued_within_its_quota() -> None:
    c = council()
    a = c.signer("bank-a")
    assert c.one(a.create_asset("GIFT", "Gift", "voucher", 2, False, "merchants", quota_minor=1_000)).code == "ok"
    assert c.state_read(ASSETS, "GIFT").status == "proposed"  # type: ignore[union-attr]
    assert c.one(a.issue("GIFT", "alice", 1)).code == Code.ASSET_NOT_ACTIVE
    assert c.one(c.signer("bank-b").vote("asset:GIFT")).code == "ok"
    gift = c.state_read(ASSETS, "GIFT")
    assert gift is not None and (gift.status, gift.quota_minor) == ("active", 1_000)
    assert c.one(a.issue("GIFT", "bank-a", 1_000)).code == "ok"  # exactly the quota
    assert c.one(a.issue("GIFT", "alice", 1)).code == Code.OVER_QUOTA
    assert c.one(a.burn("GIFT", 10)).code == "ok"
    assert c.one(a.issue("GIFT", "alice", 11)).code == Code.OVER_QUOTA
    assert c.one(a.issue("GIFT", "alice", 10)).code == "ok"  # the quota bounds what is outstanding
    assert c.balance("alice", "GIFT") == 10
    gift = c.state_read(ASSETS, "GIFT")
    assert gift is not None and (gift.issued_minor, gift.burned_minor, gift.outstanding_minor) == (1_010, 10, 1_000)


def test_with_a_threshold_of_one_a_created_asset_is_active_at_once() -> None:
    c = council(threshold=1)
    miles = c.state_read(ASSETS, "MILES")
    assert miles is not None and miles.status == "active"
    proposal = c.state_read(PROPOSALS, "asset:MILES")
    assert proposal is not None and proposal.status == "executed" and proposal.votes == ["bank-a"]
