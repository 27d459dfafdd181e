"""`tally audit`: re-verify a node's whole ledger from genesis.

For every block: the header chain, the transactions' Merkle root, every
signature (in a process pool; a transaction stored as ok must have a good
one), re-execution from the previous state under
the block's own protocol version (results, write-set, digest and header
must match what is stored), and the certificate's quorum. At the end the
stored state must equal the re-executed state and the money rules must
hold. Works on a live node's file or a copy: it reads one snapshot of the
ledger (a single read transaction; WAL lets the node write on meanwhile).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

import msgspec

from ..core.audit import money_rule_faults
from ..core.block import block_hash, certificate_fault, tx_signing_bytes, txid_of
from ..core.chain import Batch, Head, apply_block, genesis_head, signature_checks
from ..core.execute import Entry
from ..core.genesis import genesis_memory_state
from ..core.ops import SignedTx
from ..core.state import MemoryState
from ..core.types import Genesis
from ..core.validators import history_from_state
from ..store import Store, open_store, stored_genesis
from .verify import verify_batch

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
    store = open_store(path)
    try:
        genesis = stored_genesis(store)
        if genesis is None:
            report.faults.append("no genesis in the ledger")
            return report
        with store.read_snapshot():  # beside a busy node: one consistent view, so no false faults
            _audit(store, genesis, report, progress, workers or os.cpu_count() or 1)
    finally:
        store.close()
    return report


def _audit(store: Store, genesis: Genesis, report: AuditReport, progress: Callable[[int], None], workers: int) -> None:
    top = store.head()
    final_height = store.final_height()
    state = genesis_memory_state(genesis)
    head = genesis_head(genesis)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for height in range(1, (top.height if top else 0) + 1):
            if len(report.faults) >= MAX_FAULTS:
                break
            head = _audit_block(store, genesis, state, head, pool, workers, height, report, final_height)
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


def _audit_block(
    store: Store,
    genesis: Genesis,
    state: MemoryState,
    head: Head,
    pool: Executor,
    workers: int,
    height: int,
    report: AuditReport,
    final_height: int,
) -> Head:
    fault = report.faults.append
    found = store.block_header(height)
    cert = store.certificate(height)
    if found is None or (cert is None and height <= final_height):
        fault(f"block {height}: missing header or certificate")
        return head
    header, stored_digest = found
    if header.timestamp_ms < head.timestamp_ms:
        fault(f"block {height}: timestamp goes backwards")
    rows = store.block_txs(height)
    signed = [_signed_decoder.decode(r.envelope) for r in rows]
    txids = [txid_of(tx_signing_bytes(s)) for s in signed]
    if txids != [r.txid for r in rows]:
        fault(f"block {height}: stored txids do not match the transactions")
    # A bad signature is the transaction's result (bad_signature), which re-execution checks like any other.
    checks = verify_batch(signature_checks(state, signed), pool, workers)
    entries = [Entry(t, s.tx, ok) for t, s, ok in zip(txids, signed, checks, strict=True)]
    block = apply_block(genesis, head, state, Batch(header.proposer, header.timestamp_ms, header.log_position, entries))
    if block.header != header:
        fault(f"block {height}: header does not match re-execution (chain, previous hash, tx root or protocol)")
    certified_keys = block.results_root is not None  # under protocol 1 the key is not part of the result
    for row, result, key in zip(rows, block.results, block.signer_keys, strict=True):
        stored_key = row.signer_key if certified_keys else key
        if (row.code, row.message, stored_key) != (result.code, result.message, key):
            fault(f"block {height}: transaction {row.txid} stored as {row.code}, re-executes as {result.code}")
    if store.block_write_set(height) != block.write_set:
        fault(f"block {height}: stored state changes differ from re-execution")
    if (block.results_root or None) != store.block_results_root(height):
        fault(f"block {height}: stored results root differs from re-execution")
    if block.state_digest != stored_digest:
        fault(f"block {height}: state digest {stored_digest} differs from re-executed {block.state_digest}")
    if cert is None:
        report.uncertified += 1  # the newest blocks of a network node wait for votes
    else:
        history = history_from_state(genesis, state.get, height - 1)
        reason = certificate_fault(cert, history, header, block.state_digest, block.results_root)
        if reason is not None:
            fault(f"block {height}: {reason}")
    state.apply(block.writes)
    report.blocks += 1
    report.txs += len(rows)
    return Head(height, block_hash(header), block.state_digest, header.timestamp_ms, header.log_position)
