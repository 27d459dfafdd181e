"""The reference ledger: blocks written by the first release's code, replayed by today's.

tests/fixtures/reference-ledger.json was produced by
tests/fixtures/make_reference_ledger.py at commit 1ef47bc: 31 blocks, 422
transactions of every type, with ok results and rejections of every code
execution can give. Today's code must reproduce, byte for byte, every
transaction id (so every canonical encoding), every header and block hash,
every result code and message, every write-set and state digest, and the
final state; and a ledger rebuilt from those blocks must audit clean. A rule
change that breaks this belongs in a new protocol version (core/protocol.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgspec
import pytest

from helpers import block_record
from tally.core.block import certificate_fault, tx_signing_bytes, txid_of
from tally.core.chain import Batch, apply_block, genesis_head, signature_checks
from tally.core.crypto import verify_many
from tally.core.encoding import to_plain
from tally.core.execute import Entry
from tally.core.genesis import genesis_memory_state
from tally.core.ops import SignedTx
from tally.core.types import BlockHeader, Certificate, Genesis
from tally.core.validators import genesis_history
from tally.node.audit import audit_ledger
from tally.store import open_store

FIXTURE = Path(__file__).parent / "fixtures" / "reference-ledger.json"


class RefTx(msgspec.Struct, frozen=True):
    envelope: str
    txid: str
    type: str
    counterparty: str
    code: str
    message: str


class RefBlock(msgspec.Struct, frozen=True):
    header: BlockHeader
    block_hash: str
    state_digest: str
    write_set: str
    certificate: Certificate
    txs: list[RefTx]


class Reference(msgspec.Struct, frozen=True):
    made_by: str
    genesis: Genesis
    blocks: list[RefBlock]
    final_state: dict[str, Any]


@pytest.fixture(scope="module")
def reference() -> Reference:
    return msgspec.json.decode(FIXTURE.read_bytes(), type=Reference)


def _signed(block: RefBlock) -> list[SignedTx]:
    return [msgspec.json.decode(t.envelope, type=SignedTx) for t in block.txs]


def test_replay_reproduces_every_byte(reference: Reference) -> None:
    genesis = reference.genesis
    state = genesis_memory_state(genesis)
    head = genesis_head(genesis)
    codes: set[str] = set()
    for ref in reference.blocks:
        signed = _signed(ref)
        assert [txid_of(tx_signing_bytes(s)) for s in signed] == [t.txid for t in ref.txs]
        checks = verify_many(signature_checks(state, signed))
        entries = [Entry(t.txid, s.tx, ok) for t, s, ok in zip(ref.txs, signed, checks, strict=True)]
        h = ref.header
        block = apply_block(genesis, head, state, Batch(h.proposer, h.timestamp_ms, h.log_position, entries))
        assert block.header == ref.header, f"block {h.height}"
        assert block.block_hash == ref.block_hash
        assert [(r.code, r.message) for r in block.results] == [(t.code, t.message) for t in ref.txs]
        assert block.write_set == ref.write_set.encode()
        assert block.state_digest == ref.state_digest
        assert certificate_fault(ref.certificate, genesis_history(genesis), ref.header, block.state_digest) is None
        state.apply(block.writes)
        head = block.head
        codes.update(t.code for t in ref.txs)
    assert {k: to_plain(v) for k, v in state.values.items()} == reference.final_state
    assert len(reference.blocks) == 31 and len(codes) == 21  # ok and 20 rejection codes: the fixture is whole


def test_replayed_ledger_audits_clean(reference: Reference, tmp_path: Path) -> None:
    genesis = reference.genesis
    store = open_store(tmp_path / "ledger.db", genesis)
    state = genesis_memory_state(genesis)
    head = genesis_head(genesis)
    for ref in reference.blocks:
        signed = _signed(ref)
        checks = verify_many(signature_checks(state, signed))
        entries = [Entry(t.txid, s.tx, ok) for t, s, ok in zip(ref.txs, signed, checks, strict=True)]
        h = ref.header
        block = apply_block(genesis, head, state, Batch(h.proposer, h.timestamp_ms, h.log_position, entries))
        record = block_record(block, signed)
        store.write_block(dataclasses.replace(record, certificate=ref.certificate))
        state.apply(block.writes)
        head = block.head
    store.close()
    report = audit_ledger(str(tmp_path / "ledger.db"), workers=1)
    assert report.faults == []
    assert (report.blocks, report.txs, report.uncertified) == (31, 422, 0)
