"""Roles, freezes, keys and limits (protocol 5).

Every Chain block also checks conservation per asset and no negative balance
(helpers.Chain.block), so each test here also runs the money rules after
every block.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from helpers import CHAIN, T0_MS, Chain, key, make_genesis
from tally.client.signer import Signer
from tally.core.chain import signature_checks
from tally.core.controls import MS_PER_DAY, chain_day
from tally.core.crypto import verify
from tally.core.errors import Code
from tally.core.ops import OPERATIONS
from tally.core.tables import ACCOUNTS, DAILY_OUT, FREEZES, LIMITS, RECOVERIES
from tally.core.types import AdmitMember, DefaultLimits, FreezeSubject, RemoveMember, SetDefaultLimits, SetParam

KST_MIN = 9 * 60  # the test chain's time zone: UTC+9, no daylight saving


def world() -> Chain:
    """Council bank-a, bank-b, bank-c (threshold 1); bank-c then retired. auditor `audit-1`, regulator `fsc`;
    bank-a's MILES (transferable points) and GIFT (voucher); alice and bob holders, cafe a merchant."""
    genesis = msgspec.structs.replace(
        make_genesis(("bank-a", "bank-b", "bank-c")), council_threshold=1, utc_offset_min=KST_MIN
    )
    c = Chain(genesis=genesis)
    a = c.signer("bank-a")
    setup = [
        a.create_asset("MILES", "Miles", "points", 0, True, "none"),
        a.create_asset("GIFT", "Gift", "voucher", 2, False, "merchants"),
        a.register_account("alice", key("alice").public_key_hex, "holder"),
        a.register_account("bob", key("bob").public_key_hex, "holder"),
        a.register_account("cafe", key("cafe").public_key_hex, "merchant"),
        a.propose("audit", AdmitMember(account="audit-1", name="Audit", public_key=pk("audit-1"), role="auditor")),
        a.propose("fsc", AdmitMember(account="fsc", name="Regulator", public_key=pk("fsc"), role="regulator")),
        a.propose("retire", RemoveMember(account="bank-c")),
        a.propose("fast", SetParam(name="recovery_delay_ms", value=60_000)),
    ]
    assert [r.code for r in c.block(setup)] == ["ok"] * len(setup)
    funds = [a.issue("MILES", "alice", 1_000), a.issue("GIFT", "alice", 1_000), a.issue("MILES", "cafe", 100)]
    assert [r.code for r in c.block(funds)] == ["ok"] * len(funds)
    return c


def pk(name: str) -> str:
    return key(name).public_key_hex


ROLE_OF = {"member": "bank-a", "holder": "alice", "merchant": "cafe", "auditor": "audit-1", "regulator": "fsc"}
ROLE_OF["retired"] = "bank-c"


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.type)
def test_every_type_refuses_a_signer_of_a_wrong_role_with_wrong_role(op: Any) -> None:
    c = world()
    wrong = [role for role in ROLE_OF if role not in op.signers]
    assert wrong, f"{op.type}: every role may sign it?"
    assert "retired" in wrong and ("auditor" in wrong or op.type in ("rotate_key", "cancel_recovery"))
    for role in wrong:
        account = ROLE_OF[role]
        before = dict(c.state.values)
        result = c.one(c.signer(account).build(op.type, **op.example.fields))
        assert result.code == Code.WRONG_ROLE, (op.type, role, result)
        changed = {k for k in set(before) | set(c.state.values) if before.get(k) != c.state.values.get(k)}
        assert changed == {ACCOUNTS.key(account)}, "a refused transaction changes nothing but its signer's seq"


def test_an_auditor_signs_nothing_that_moves_value() -> None:
    moving = {op.type for op in OPERATIONS if op.client_ref or op.type in ("pay", "charge")}
    assert moving >= {"issue", "burn", "transfer", "pay", "refund", "cash_out", "charge"}
    assert not any("auditor" in op.signers for op in OPERATIONS if op.type in moving)


# --- freezes ------------------------------------------------------------------


def test_a_frozen_account_cannot_send_but_receives_and_shows_its_reason() -> None:
    c = world()
    fsc, alice, cafe = c.signer("fsc"), c.signer("alice"), c.signer("cafe")
    assert c.one(alice.pay("MILES", "cafe", 100, "order-1")).code == "ok"
    assert c.one(fsc.freeze("account", "alice", "court_order")).code == "ok"
    frozen = c.state_read(FREEZES, "account", "alice")
    assert frozen is not None and (frozen.reason, frozen.by) == ("court_order", "fsc")
    assert c.one(alice.pay("MILES", "cafe", 1, "order-2")).code == Code.ACCOUNT_FROZEN
    assert c.one(alice.transfer("MILES", "bob", 1)).code == Code.ACCOUNT_FROZEN
    assert c.one(alice.open_code("40817365092214738850", "MILES", 5)).code == "ok"  # no value moves
    assert c.one(cafe.charge("40817365092214738850", 5, "order-3")).code == Code.ACCOUNT_FROZEN
    assert c.one(cafe.refund("order-1", 40)).code == "ok"  # incoming refunds arrive, and stay frozen
    assert c.one(c.signer("bank-a").issue("MILES", "alice", 5)).code == "ok"
    assert c.balance("alice", "MILES") == 1_000 - 100 + 40 + 5
    assert c.account("alice").frozen  # type: ignore[union-attr]  # what a payment reads, not the freeze record
    assert c.one(fsc.freeze("account", "alice", "again")).code == Code.ALREADY_FROZEN
    assert c.one(fsc.unfreeze("account", "alice")).code == "ok"
    assert c.one(fsc.unfreeze("account", "alice")).code == Code.NOT_FROZEN
    assert not c.account("alice").frozen  # type: ignore[union-attr]
    assert c.one(alice.transfer("MILES", "bob", 1)).code == "ok"


def test_a_frozen_merchant_receives_but_cannot_refund() -> None:
    c = world()
    assert c.one(c.signer("alice").pay("MILES", "cafe", 10, "o-1")).code == "ok"
    assert c.one(c.signer("fsc").freeze("account", "cafe", "investigation")).code == "ok"
    assert c.one(c.signer("alice").pay("MILES", "cafe", 10, "o-2")).code == "ok"
    assert c.one(c.signer("cafe").refund("o-1", 10)).code == Code.ACCOUNT_FROZEN


def test_a_frozen_asset_does_not_move_at_all_and_other_assets_do() -> None:
    c = world()
    a, alice = c.signer("bank-a"), c.signer("alice")
    assert c.one(alice.pay("MILES", "cafe", 10, "o-1")).code == "ok"
    assert c.one(c.signer("fsc").freeze("asset", "MILES", "issuer_default")).code == "ok"
    for tx in (
        alice.transfer("MILES", "bob", 1),
        alice.pay("MILES", "cafe", 1, "o-2"),
        c.signer("cafe").refund("o-1", 1),
        a.issue("MILES", "bob", 1),
        a.burn("MILES", 1),
    ):
        assert c.one(tx).code == Code.ASSET_FROZEN
    assert c.one(alice.pay("GIFT", "cafe", 10, "o-3")).code == "ok"


def test_the_council_freezes_by_proposal_and_others_may_not_freeze() -> None:
    c = world()
    action = FreezeSubject(subject_kind="account", subject="bob", reason="sanctions")
    assert c.one(c.signer("bank-a").propose("freeze-bob", action)).code == "ok"
    assert c.state_read(FREEZES, "account", "bob").by == "council"  # type: ignore[union-attr]
    assert c.one(c.signer("bank-a").freeze("account", "alice", "x")).code == Code.WRONG_ROLE
    assert c.one(c.signer("fsc").freeze("account", "nobody", "x")).code == Code.UNKNOWN_ACCOUNT
    assert c.one(c.signer("fsc").freeze("asset", "NOPE", "x")).code == Code.UNKNOWN_ASSET


# --- keys ---------------------------------------------------------------------


def signer_with(c: Chain, account: str, key_name: str) -> Signer:
    found = c.account(account)
    assert found is not None
    return Signer(account, key(key_name), CHAIN, next_seq=found.seq, clock_ms=lambda: c.now_ms)


def signs(c: Chain, signer: Signer) -> bool:
    """Whether a transaction this signer makes verifies against the account's key at the next block's start."""
    (check,) = signature_checks(c.state, [signer.transfer("MILES", "bob", 1)])
    signer.next_seq -= 1
    return verify(*check)


def test_after_a_rotation_the_old_key_is_refused_and_the_new_one_signs() -> None:
    c = world()
    alice = c.signer("alice")
    assert c.one(alice.rotate_key(pk("alice"))).code == Code.SAME_KEY
    assert c.one(alice.rotate_key(pk("alice-2"))).code == "ok"
    assert c.account("alice").public_key == pk("alice-2")  # type: ignore[union-attr]
    assert not signs(c, signer_with(c, "alice", "alice"))
    new = signer_with(c, "alice", "alice-2")
    assert signs(c, new)
    assert c.one(new.transfer("MILES", "bob", 7)).code == "ok"
    assert c.balance("bob", "MILES") == 7


def test_a_recovery_completes_after_the_delay_and_the_old_key_is_refused() -> None:
    c = world()
    a = c.signer("bank-a")
    assert c.one(c.signer("bank-b").start_recovery("alice", pk("alice-phone-2"))).code == Code.NOT_AUTHORIZED
    started = c.one(a.start_recovery("alice", pk("alice-phone-2")))
    assert started.code == "ok"
    recovery = c.state_read(RECOVERIES, "alice")
    assert recovery is not None and recovery.completes_ms == c.head.timestamp_ms + 60_000
    assert c.one(a.start_recovery("alice", pk("alice-phone-3"))).code == Code.RECOVERY_PENDING
    c.now_ms = recovery.completes_ms - 1
    assert c.one(a.complete_recovery("alice")).code == Code.RECOVERY_NOT_DUE
    c.now_ms = recovery.completes_ms
    assert c.one(a.complete_recovery("alice")).code == "ok"
    assert c.state_read(RECOVERIES, "alice") is None
    assert not signs(c, signer_with(c, "alice", "alice"))
    assert c.one(signer_with(c, "alice", "alice-phone-2").pay("MILES", "cafe", 5, "after")).code == "ok"


def test_the_old_key_cancels_a_recovery_within_the_delay() -> None:
    c = world()
    a = c.signer("bank-a")
    assert c.one(a.start_recovery("alice", pk("thief"))).code == "ok"
    assert c.one(c.signer("bob").cancel_recovery("alice")).code == Code.NOT_AUTHORIZED
    assert c.one(c.signer("alice").cancel_recovery("alice")).code == "ok"
    c.now_ms += 120_000
    assert c.one(a.complete_recovery("alice")).code == Code.NO_RECOVERY
    assert c.account("alice").public_key == pk("alice")  # type: ignore[union-attr]
    assert signs(c, signer_with(c, "alice", "alice"))


# --- limits -------------------------------------------------------------------


def test_the_largest_payment_passes_at_exactly_the_limit() -> None:
    c = world()
    assert c.one(c.signer("bank-a").set_limits("alice", "MILES", 100, 0, 0)).code == "ok"
    alice = c.signer("alice")
    assert c.one(alice.pay("MILES", "cafe", 101, "o-1")).code == Code.OVER_PAYMENT_LIMIT
    assert c.one(alice.pay("MILES", "cafe", 100, "o-2")).code == "ok"
    assert c.one(alice.transfer("MILES", "bob", 101)).code == Code.OVER_PAYMENT_LIMIT
    assert c.one(alice.pay("GIFT", "cafe", 500, "o-3")).code == "ok"  # limits are per asset


def test_the_daily_total_resets_at_midnight_in_the_chains_time_zone() -> None:
    c = world()
    assert c.one(c.signer("fsc").set_limits("alice", "MILES", 0, 300, 0)).code == "ok"
    day = chain_day(c.now_ms, KST_MIN)
    midnight_ms = (day + 1) * MS_PER_DAY - KST_MIN * 60_000  # the next 00:00 in UTC+9, as UTC ms
    c.now_ms = midnight_ms - 10
    alice = c.signer("alice")
    assert [r.code for r in c.block([alice.pay("MILES", "cafe", 200, "a"), alice.pay("MILES", "cafe", 100, "b")])] == [
        "ok",
        "ok",
    ]
    assert c.one(alice.pay("MILES", "cafe", 1, "c")).code == Code.OVER_DAILY_LIMIT
    assert c.state_read(DAILY_OUT, "alice", "MILES").out_minor == 300  # type: ignore[union-attr]
    c.now_ms = midnight_ms
    assert c.one(alice.pay("MILES", "cafe", 300, "d")).code == "ok"
    assert c.one(alice.pay("MILES", "cafe", 1, "e")).code == Code.OVER_DAILY_LIMIT
    assert c.balance("alice", "MILES") == 1_000 - 600


def test_the_balance_cap_holds_for_every_incoming_movement() -> None:
    c = world()
    assert c.one(c.signer("bank-a").set_limits("bob", "MILES", 0, 0, 50)).code == "ok"
    alice = c.signer("alice")
    assert c.one(alice.transfer("MILES", "bob", 51)).code == Code.OVER_BALANCE_CAP
    assert c.one(alice.transfer("MILES", "bob", 50)).code == "ok"
    assert c.one(c.signer("bank-a").issue("MILES", "bob", 1)).code == Code.OVER_BALANCE_CAP
    assert (c.balance("alice", "MILES"), c.balance("bob", "MILES")) == (950, 50)


def test_role_defaults_apply_until_an_account_has_its_own_and_only_its_member_or_a_regulator_sets_them() -> None:
    c = world()
    default = DefaultLimits(role="holder", asset="MILES", max_payment_minor=10)
    assert c.one(c.signer("bank-a").propose("d", SetDefaultLimits(limits=default))).code == "ok"
    alice = c.signer("alice")
    assert c.one(alice.transfer("MILES", "bob", 11)).code == Code.OVER_PAYMENT_LIMIT
    assert c.one(c.signer("bank-b").set_limits("alice", "MILES", 20, 0, 0)).code == Code.NOT_AUTHORIZED
    assert c.one(c.signer("bank-a").set_limits("alice", "MILES", 20, 0, 0)).code == "ok"
    assert c.one(alice.transfer("MILES", "bob", 20)).code == "ok"
    assert c.one(c.signer("fsc").set_limits("alice", "GIFT", 0, 0, 5_000)).code == "ok"
    assert c.account("alice").limited_assets == 2  # type: ignore[union-attr]
    assert c.one(c.signer("bank-a").set_limits("alice", "MILES", 0, 0, 0)).code == "ok"  # back to the default
    assert c.state_read(LIMITS, "alice", "MILES") is None
    assert c.account("alice").limited_assets == 1  # type: ignore[union-attr]
    assert c.one(alice.transfer("MILES", "bob", 11)).code == Code.OVER_PAYMENT_LIMIT
    assert c.one(c.signer("cafe").transfer("MILES", "bob", 11)).code == "ok"  # a merchant: not a holder's default


def test_chain_day_counts_days_in_the_chains_time_zone() -> None:
    assert chain_day(T0_MS, 0) == T0_MS // MS_PER_DAY
    utc_midnight = (T0_MS // MS_PER_DAY) * MS_PER_DAY
    assert chain_day(utc_midnight - 1, KST_MIN) == chain_day(utc_midnight - 9 * 3_600_000, KST_MIN)
    assert chain_day(utc_midnight - 9 * 3_600_000, KST_MIN) == chain_day(utc_midnight - 9 * 3_600_000 - 1, KST_MIN) + 1
