"""The etcd log's entries: bounded in size, signed by their proposer, decoded the same everywhere."""

from __future__ import annotations

import msgspec
import pytest

from helpers import key, make_genesis, setup_chain
from tally.core.types import Validator
from tally.ordering.etcd import DroppedEntry, chunk_by_bytes, decode_entry, encode_entry

MAX_BYTES = 1_000


def test_batches_stay_under_the_request_limit_and_keep_order() -> None:
    envelopes = [bytes([i % 250]) * (50 + i * 7 % 300) for i in range(200)]
    chunks = chunk_by_bytes(envelopes, MAX_BYTES)
    assert [e for chunk in chunks for e in chunk] == envelopes
    assert all(sum(len(e) + 8 for e in chunk) <= MAX_BYTES for chunk in chunks)
    assert chunk_by_bytes([], MAX_BYTES) == []


def test_entries_from_the_proposer_decode_and_every_other_one_is_dropped_whole() -> None:
    genesis = msgspec.structs.replace(
        make_genesis(), validators=[Validator(id="node-1", public_key=key("node-1").public_key_hex)]
    )
    chain = setup_chain()
    signed = [chain.signer("alice").pay("MILES", "cafe", 5, f"o{i}") for i in range(3)]
    envelopes = [msgspec.json.encode(s) for s in signed]
    entry = decode_entry(encode_entry(key("node-1"), "node-1", 1234, envelopes), genesis.validators)
    assert (entry.proposer, entry.timestamp_ms) == ("node-1", 1234)
    assert [a.signed for a in entry.txs] == signed
    garbage = encode_entry(key("node-1"), "node-1", 1, [b"{not a transaction", envelopes[0]])
    assert [a.signed for a in decode_entry(garbage, genesis.validators).txs] == signed[:1]
    # A forged entry no longer sets block time: it makes no block at all (it used to make an empty block
    # with its timestamp, so anyone with etcd write access could move ledger time 96 hours ahead).
    in_96_hours = 1234 + 96 * 3600 * 1000
    dropped = {
        "forged": encode_entry(key("intruder"), "node-1", in_96_hours, envelopes),  # not node-1's key
        "stranger": encode_entry(key("intruder"), "intruder", in_96_hours, envelopes),  # not a validator
        "not msgpack": b"not msgpack at all",
        # Past what every store holds (SQLite's 64-bit integers; 2**53 - 1 like every Tally integer).
        "past 2**63": encode_entry(key("node-1"), "node-1", 2**63 + 5, envelopes),
        "past 2**53": encode_entry(key("node-1"), "node-1", 2**53, envelopes),
        "negative": encode_entry(key("node-1"), "node-1", -1, envelopes),
        "unknown field": msgspec.msgpack.encode({"body": b"", "sig": b"", "extra": 1}),
    }
    for name, value in dropped.items():
        with pytest.raises(DroppedEntry):
            decode_entry(value, genesis.validators)
            pytest.fail(name)
