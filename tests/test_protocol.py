"""Protocol versions: each block executes under its height's version; old blocks keep their bytes."""

from __future__ import annotations

import msgspec
import pytest

from helpers import Chain, make_genesis
from tally.core.block import genesis_digest
from tally.core.chain import Batch, apply_block, genesis_head
from tally.core.encoding import canonical
from tally.core.genesis import genesis_memory_state
from tally.core.protocol import LATEST, PROTOCOLS, UnknownProtocol, rules_for, version_at
from tally.core.types import Genesis


def v1_genesis() -> Genesis:
    """A genesis as written before protocol versions existed: no `protocol` field."""
    return msgspec.structs.replace(make_genesis(), protocol=msgspec.UNSET)


def test_a_genesis_without_a_version_runs_version_1_and_keeps_its_bytes() -> None:
    genesis = v1_genesis()
    assert version_at(genesis, 1) == 1 and version_at(genesis, 10**6) == 1
    assert b"protocol" not in canonical(genesis)  # so its digest is the one ledgers written before versions have
    explicit = msgspec.structs.replace(genesis, protocol=1)
    assert version_at(explicit, 5) == 1 and genesis_digest(explicit) != genesis_digest(genesis)


def test_version_1_headers_carry_no_version_field_and_votes_no_results() -> None:
    c = Chain(genesis=v1_genesis())
    c.one(c.signer("bank-a").create_asset("PTS", "Points", "points", 0, True, "none"))
    block = apply_block(c.genesis, c.head, c.state, Batch("validator-1", c.now_ms, c.height + 1, []))
    assert b"protocol" not in canonical(block.header)
    assert block.vote.kind == "tally-block-vote-v1" and b"results_root" not in canonical(block.vote)


def test_new_ledgers_run_the_latest_version_whose_votes_certify_results() -> None:
    c = Chain()
    assert version_at(c.genesis, 1) == LATEST == 11
    c.one(c.signer("bank-a").create_asset("PTS", "Points", "points", 0, True, "none"))
    block = apply_block(c.genesis, c.head, c.state, Batch("validator-1", c.now_ms, c.height + 1, []))
    assert block.header.protocol == 11
    assert block.vote.kind == "tally-block-vote-v2" and block.vote.results_root == block.results_root


def test_a_version_this_build_does_not_have_is_refused_not_guessed() -> None:
    genesis = msgspec.structs.replace(make_genesis(), protocol=LATEST + 1)
    with pytest.raises(UnknownProtocol):
        genesis_memory_state(genesis)  # the genesis state itself depends on the version
    state = genesis_memory_state(msgspec.structs.replace(genesis, protocol=LATEST))
    with pytest.raises(UnknownProtocol):
        apply_block(genesis, genesis_head(genesis), state, Batch("validator-1", 0, 1, []))
    with pytest.raises(UnknownProtocol):
        rules_for(0)
    assert all(rules_for(v).version == v for v in PROTOCOLS)


def test_a_genesis_version_out_of_range_does_not_decode() -> None:
    raw = msgspec.json.encode(make_genesis())[:-1] + b',"protocol":0}'
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=type(make_genesis()))
