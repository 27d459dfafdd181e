"""The etcd log's entries: bounded in size, signed by their proposer, decoded the same everywhere."""

from __future__ import annotations

import msgspec

from helpers import key, make_genesis, setup_chain
from tally.core.types import Validator
from tally.ordering.etcd import chunk_by_bytes, decode_entry, encode_entry

MAX_BYTES = 1_000


def test_batches_stay_under_the_request_limit_and_keep_order() -> None:
    envelopes = [bytes([i % 250]) * (50 + i * 7 % 300) for i in range(200)]
    chunks = chunk_by_bytes(envelopes, MAX_BYTES)
    assert [e for chunk in chunks for e in chunk] == envelopes
    assert all(sum(len(e) + 8 for e in chunk) <= MAX_BYTES for chunk in chunks)
    assert chunk_by_bytes([], MAX_BYTES) == []


def test_entries_from_the_proposer_decode_and_forged_ones_are_empty() -> None:
    genesis = msgspec.structs.replace(
        make_genesis(), validators=[Validator(id="node-1", public_key=key("node-1").public_key_hex)]
    )
    chain = setup_chain()
    signed = [chain.signer("alice").pay("MILES", "cafe", 5, f"o{i}") for i in range(3)]
    envelopes = [msgspec.json.encode(s) for s in signed]
    value = encode_entry(key("node-1"), "node-1", 1234, envelopes)
    proposer, timestamp_ms, txs = decode_entry(value, genesis.validators)
    assert (proposer, timestamp_ms) == ("node-1", 1234)
    assert [a.signed for a in txs] == signed
    forged = encode_entry(key("intruder"), "node-1", 1234, envelopes)  # not node-1's key
    assert decode_entry(forged, genesis.validators)[2] == []
    assert decode_entry(b"not msgpack at all", genesis.validators) == ("", 0, [])
    garbage = encode_entry(key("node-1"), "node-1", 1, [b"{not a transaction", envelopes[0]])
    assert [a.signed for a in decode_entry(garbage, genesis.validators)[2]] == signed[:1]
