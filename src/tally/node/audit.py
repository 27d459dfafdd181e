"""`tally audit`: re-verify a node's whole ledger from genesis.

For every block: the header chain, the transactions' Merkle root, every
signature (in a process pool), re-execution from the previous state (results,
write-set and digest must match what is stored), and the certificate's
quorum. At the end the stored state must equal the re-executed state and the
money rules must hold. Works on a live node's file (WAL lets it read beside
the writer) or a copy.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import msgspec

from ..core.audit import money_rule_faults
from ..core.block import (
    block_hash,
    certificate_is_final,
    genesis_digest,
    next_state_digest,
    tx_root,
    tx_signing_bytes,
    txid_of,
)
from ..core.crypto import verify_many
from ..core.execute import BlockContext, Entry, execute_block, write_set_bytes
from ..core.genesis import genesis_memory_state
from ..core.state import MemoryState
from ..core.types import Account, Genesis, SignedTx
from ..store.sqlite import SqliteStore

_signed_decoder = msgspec.json.Decoder(SignedTx)
MAX_FAULTS = 100


@dataclass
class AuditReport:
    blocks: int = 0
    txs: int = 0
    uncertified: int = 0
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults


def audit_ledger(path: str, progress: Callable[[int], None] = lambda n: None, workers: int = 0) -> AuditReport:
    report = AuditReport()
    store = SqliteStore(path)
    raw_genesis = store.get_meta("genesis")
    if raw_genesis is None:
        report.faults.append("no genesis in the ledger")
        return report
    genesis = msgspec.json.decode(raw_genesis, type=Genesis)
    head = store.head()
    final_height = store.final_height()
    state = genesis_memory_state(genesis)
    prev_hash, digest, prev_ts = "00" * 32, genesis_digest(genesis), genesis.genesis_time_ms
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for height in range(1, (head.height if head else 0) + 1):
            if len(report.faults) >= MAX_FAULTS:
                break
            digest, prev_hash, prev_ts = _audit_block(
                store, genesis, state, pool, workers, height, prev_hash, digest, prev_ts, report, final_height
            )
            progress(1)
    stored_state = dict(store.state_items())
    if stored_state != state.values:
        differing = sorted(
            k for k in set(stored_state) | set(state.values) if stored_state.get(k) != state.values.get(k)
        )
        report.faults.append(
            f"stored state differs from re-executed state at {len(differing)} keys, first {differing[:5]}"
        )
    report.faults.extend(money_rule_faults(sorted(stored_state.items())))
    store.close()
    return report


def _audit_block(
    store: SqliteStore,
    genesis: Genesis,
    state: MemoryState,
    pool: ProcessPoolExecutor,
    workers: int,
    height: int,
    prev_hash: str,
    prev_digest: str,
    prev_ts: int,
    report: AuditReport,
    final_height: int,
) -> tuple[str, str, int]:
    fault = report.faults.append
    found = store.block_header(height)
    cert = store.certificate(height)
    if found is None or (cert is None and height <= final_height):
        fault(f"block {height}: missing header or certificate")
        return prev_digest, prev_hash, prev_ts
    header, stored_digest = found
    hash_hex = block_hash(header)
    if header.height != height or header.prev_hash != prev_hash or header.chain != genesis.chain:
        fault(f"block {height}: header does not chain onto block {height - 1}")
    if header.timestamp_ms < prev_ts:
        fault(f"block {height}: timestamp goes backwards")
    rows = store.block_txs(height)
    signed = [_signed_decoder.decode(r.envelope) for r in rows]
    messages = [tx_signing_bytes(s) for s in signed]
    txids = [txid_of(m) for m in messages]
    if txids != [r.txid for r in rows]:
        fault(f"block {height}: stored txids do not match the transactions")
    if header.tx_count != len(rows) or header.tx_root != tx_root(txids):
        fault(f"block {height}: tx_root or tx_count does not match the transactions")
    items = []
    for s, m in zip(signed, messages, strict=True):
        signer = state.get(f"acct/{s.tx.signer}")
        key = bytes.fromhex(signer.public_key) if isinstance(signer, Account) else b""
        items.append((key, m, bytes.fromhex(s.sig)))
    size = max(1, -(-len(items) // workers))
    checks = [
        ok for part in pool.map(verify_many, [items[i : i + size] for i in range(0, len(items), size)]) for ok in part
    ]
    for row, ok in zip(rows, checks, strict=True):
        if not ok:
            fault(f"block {height}: transaction {row.txid} has a bad signature")
    ctx = BlockContext(chain=genesis.chain, height=height, timestamp_ms=header.timestamp_ms)
    outcome = execute_block(state, ctx, [Entry(t, s.tx) for t, s in zip(txids, signed, strict=True)])
    for row, result in zip(rows, outcome.results, strict=True):
        if row.code != result.code:
            fault(f"block {height}: transaction {row.txid} stored as {row.code}, re-executes as {result.code}")
    write_set = write_set_bytes(outcome.writes)
    if store.block_write_set(height) != write_set:
        fault(f"block {height}: stored state changes differ from re-execution")
    digest = next_state_digest(prev_digest, height, write_set)
    if digest != stored_digest:
        fault(f"block {height}: state digest {stored_digest} differs from re-executed {digest}")
    if cert is None:
        report.uncertified += 1  # the newest blocks of a network node wait for votes
    elif cert.block_hash != hash_hex or cert.state_digest != digest or cert.height != height:
        fault(f"block {height}: certificate is for another block or digest")
    elif not certificate_is_final(cert, genesis.validators):
        fault(f"block {height}: certificate lacks a quorum")
    state.apply(outcome.writes)
    report.blocks += 1
    report.txs += len(rows)
    return digest, hash_hex, header.timestamp_ms
