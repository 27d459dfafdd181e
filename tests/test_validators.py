"""Validator-set changes (protocol 6): the council's rules, and a light client following them offline.

A chain of four validators: the council adds validator-5 and later removes
validator-1. Every block is stored in a real SQLite store, certified by the
set of its height; the node's reader serves the certified changes and the
receipts, and `verify_receipt` checks them from the genesis alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest

from helpers import Chain, key, make_genesis
from tally.core.block import (
    ChangeRefused,
    Receipt,
    ValidatorChange,
    block_hash,
    follow_changes,
    make_certificate,
    sign_vote,
    verify_receipt,
    vote_for,
)
from tally.core.errors import Code
from tally.core.protocol import LATEST
from tally.core.tables import PROPOSALS, SCHEDULE, VALIDATOR_SETS
from tally.core.types import (
    Action,
    AddValidator,
    Certificate,
    Genesis,
    RemoveValidator,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
)
from tally.core.validators import VALIDATOR_NOTICE_BLOCKS, history_from_state
from tally.node.reader import LedgerReader
from tally.store import BlockRecord, Store, open_store

IDS = ("validator-1", "validator-2", "validator-3", "validator-4")


def four_validators(protocol: int = LATEST) -> Genesis:
    """bank-a alone is the council (threshold 1): a proposal runs in the block that opens it."""
    validators = [Validator(id=v, public_key=key(v).public_key_hex) for v in IDS]
    return msgspec.structs.replace(make_genesis(("bank-a",)), validators=validators, protocol=protocol)


def add(validator: str, from_height: int) -> AddValidator:
    return AddValidator(validator=validator, public_key=key(validator).public_key_hex, from_height=from_height)


def certify(record: BlockRecord, signers: list[str]) -> Certificate:
    h = record.header
    vote = vote_for(h.chain, h.height, block_hash(h), record.state_digest, record.results_root)
    return make_certificate(vote, [sign_vote(key(v), v, vote) for v in signers])


class Certifying:
    """Where the chain writes its blocks: a real store, each block certified by its height's whole set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.chain: Chain | None = None
        self.records: dict[int, BlockRecord] = {}

    def put_state(self, values: dict[str, object]) -> None:
        pass  # open_store wrote the genesis state

    def write_block(self, record: BlockRecord) -> None:
        assert self.chain is not None
        height = record.header.height
        signers = [v.id for v in history_from_state(self.chain.genesis, self.chain.state.get, height).at(height)]
        certified = replace(record, certificate=certify(record, signers))
        self.records[height] = certified
        self.store.write_block(certified)


def propose(c: Chain, proposal: str, action: Action) -> str:
    """bank-a proposes (and so passes) an action; the proposal's result code."""
    assert c.one(c.signer("bank-a").propose(proposal, action)).code == "ok"
    found = c.state_read(PROPOSALS, proposal)
    assert found is not None
    return found.result_code


def advance_to(c: Chain, height: int) -> None:
    """Empty blocks until the chain's height is `height`."""
    while c.height < height:
        c.block([])


def schedule(c: Chain) -> ValidatorSchedule:
    found = c.state_read(VALIDATOR_SETS, SCHEDULE)
    assert found is not None
    return found


# --- the council's rules --------------------------------------------------------


def test_a_change_takes_effect_no_sooner_than_the_notice() -> None:
    c = Chain(genesis=four_validators())
    next_height = c.height + 1  # the block the proposal runs in
    too_soon = propose(c, "too-soon", add("validator-5", next_height + VALIDATOR_NOTICE_BLOCKS - 1))
    assert too_soon == Code.NOTICE_TOO_SHORT
    assert len(schedule(c).sets) == 1, "a failed proposal changes no set"
    next_height = c.height + 1
    assert propose(c, "in-time", add("validator-5", next_height + VALIDATOR_NOTICE_BLOCKS)) == "ok"
    added = schedule(c).sets[-1]
    assert (added.from_height, added.scheduled_height) == (next_height + VALIDATOR_NOTICE_BLOCKS, next_height)
    assert [v.id for v in added.validators] == [*IDS, "validator-5"]


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (add("validator-2", 200), Code.VALIDATOR_EXISTS),
        (RemoveValidator(validator="validator-9", from_height=200), Code.UNKNOWN_VALIDATOR),
        (add("validator-6", 100), Code.BAD_PARAMETER),  # at the height of the set scheduled already
        (add("validator-6", 99), Code.BAD_PARAMETER),  # before it
    ],
)
def test_changes_that_do_not_apply_fail_their_proposal(action: Action, code: str) -> None:
    c = Chain(genesis=four_validators())
    assert propose(c, "first", add("validator-5", 100)) == "ok"
    before = schedule(c)
    assert propose(c, "second", action) == code
    assert schedule(c) == before


def test_the_last_validator_cannot_leave() -> None:
    genesis = msgspec.structs.replace(four_validators(), validators=four_validators().validators[:1])
    c = Chain(genesis=genesis)
    assert propose(c, "empty", RemoveValidator(validator="validator-1", from_height=100)) == Code.VALIDATOR_SET_BOUNDS


def test_protocol_5_has_no_validator_changes() -> None:
    c = Chain(genesis=four_validators(protocol=5))
    signed = c.signer("bank-a").propose("add-5", add("validator-5", 100))
    assert c.one(signed).code == Code.TYPE_NOT_SUPPORTED
    assert c.state_read(VALIDATOR_SETS, SCHEDULE) is None, "a protocol 5 ledger holds no schedule"


# --- a light client follows the changes -------------------------------------------


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.genesis = four_validators()
        self.store = open_store(tmp_path / "ledger.db", self.genesis)
        self.sink = Certifying(self.store)
        self.chain = Chain(genesis=self.genesis, store=self.sink)  # type: ignore[arg-type]
        self.sink.chain = self.chain
        c = self.chain
        a = c.signer("bank-a")
        assert c.one(a.create_asset("PTS", "Points", "points", 0, True, "none")).code == "ok"
        assert c.one(a.register_account("alice", key("alice").public_key_hex, "holder")).code == "ok"
        assert c.one(a.issue("PTS", "alice", 1_000)).code == "ok"
        self.before = c.one(c.signer("alice").transfer("PTS", "bank-a", 5))
        self.joins_at = c.height + 1 + VALIDATOR_NOTICE_BLOCKS
        assert propose(c, "add-5", add("validator-5", self.joins_at)) == "ok"
        self.leaves_at = c.height + 1 + VALIDATOR_NOTICE_BLOCKS + 4
        assert propose(c, "remove-1", RemoveValidator(validator="validator-1", from_height=self.leaves_at)) == "ok"
        advance_to(c, self.leaves_at - 1)
        self.after = c.one(c.signer("alice").transfer("PTS", "bank-a", 7))
        assert c.height == self.leaves_at
        self.reader = LedgerReader(self.store)

    def changes(self) -> list[ValidatorChange]:
        return self.reader.validator_changes(self.chain.height)

    def receipt_with(self, txid: str, signers: list[str]) -> Receipt:
        receipt = self.reader.receipt(txid, self.chain.height)
        assert receipt is not None
        return msgspec.structs.replace(receipt, certificate=certify(self.sink.records[receipt.header.height], signers))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.store.close()


def test_receipts_before_and_after_the_changes_verify_from_the_genesis_and_the_changes(world: World) -> None:
    changes = world.changes()
    assert [ch.header.height for ch in changes] == [
        world.joins_at - VALIDATOR_NOTICE_BLOCKS,
        world.leaves_at - VALIDATOR_NOTICE_BLOCKS - 4,
    ]
    history = follow_changes(world.genesis, changes)
    assert [v.id for v in history.at(world.joins_at - 1)] == list(IDS)
    assert [v.id for v in history.at(world.joins_at)] == [*IDS, "validator-5"]
    assert [v.id for v in history.at(world.leaves_at)] == [*IDS[1:], "validator-5"]
    for txid in (world.before.txid, world.after.txid):
        receipt = world.reader.receipt(txid, world.chain.height)
        assert receipt is not None
        assert verify_receipt(receipt, world.genesis, changes) == (True, "ok")


def test_after_the_change_only_the_new_sets_quorum_counts(world: World) -> None:
    changes = world.changes()
    new_quorum = world.receipt_with(world.after.txid, ["validator-2", "validator-3", "validator-5"])
    assert verify_receipt(new_quorum, world.genesis, changes) == (True, "ok")
    lacking = "certificate lacks a quorum of valid validator signatures"
    assert verify_receipt(new_quorum, world.genesis) == (False, lacking), "the genesis's set alone does not know 5"
    removed = world.receipt_with(world.after.txid, ["validator-1", "validator-2", "validator-3"])
    assert verify_receipt(removed, world.genesis, changes) == (False, lacking), (
        "validator-1's signature no longer counts"
    )
    old = world.receipt_with(world.before.txid, ["validator-1", "validator-2", "validator-3"])
    assert verify_receipt(old, world.genesis, changes) == (True, "ok"), "before its removal it did"


def test_a_change_that_is_not_certified_as_given_is_refused(world: World) -> None:
    first, second = world.changes()
    forged_set = ValidatorSet(
        from_height=first.schedule.sets[-1].from_height,
        validators=[Validator(id="mallory", public_key=key("mallory").public_key_hex)],
        scheduled_height=first.header.height,
    )
    forged = msgspec.structs.replace(first, schedule=ValidatorSchedule(sets=[first.schedule.sets[0], forged_set]))
    with pytest.raises(ChangeRefused, match="not the certified one"):
        follow_changes(world.genesis, [forged, second])
    record = world.sink.records[first.header.height]
    short = msgspec.structs.replace(first, certificate=certify(record, ["validator-1", "validator-2"]))
    with pytest.raises(ChangeRefused, match="lacks a quorum"):
        follow_changes(world.genesis, [short, second])
    with pytest.raises(ChangeRefused, match="rewrites sets"):
        follow_changes(world.genesis, [second, first])
    receipt = world.reader.receipt(world.after.txid, world.chain.height)
    assert receipt is not None
    ok, reason = verify_receipt(receipt, world.genesis, [forged, second])
    assert not ok and "not the certified one" in reason
