"""The block pipeline: take the orderer's next batch, execute, certify, store.

Two threads, each strictly in block order: the executor turns batch N+1 into
a block (through `core.chain.apply_block`) while the writer stores block N (a
bounded queue of WRITE_QUEUE_BLOCKS between them). Each block is written in
one database transaction; only then are its transactions reported committed
and, once its certificate holds a quorum, final.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from ..core.block import certificate_fault, make_certificate, sign_vote
from ..core.chain import Batch, BlockResult, Divergence, Head, apply_block, genesis_head, signature_checks
from ..core.crypto import KeyPair
from ..core.execute import Entry, prefetch_keys
from ..core.limits import STOP_POLL_S, THREAD_JOIN_TIMEOUT_S
from ..core.types import Certificate, Genesis, TxResult
from ..ordering.base import OrderedBatch, Orderer
from ..ordering.mempool import Admitted, Mempool
from ..ordering.validator_book import ValidatorBook
from ..store.base import BlockRecord, Store, record_of
from .state_cache import StateCache
from .verify import verify_batch

log = logging.getLogger("tally.pipeline")

WRITE_QUEUE_BLOCKS = 2

__all__ = ["BlockDone", "Divergence", "Pipeline"]


@dataclass(frozen=True, slots=True)
class BlockDone:
    record: BlockRecord
    final: bool
    results: list[TxResult]
    accepted_ns: list[int]
    seen_ms: int  # this node's clock when the orderer first saw the block's entry (0: not judged)


_Executed = tuple[BlockRecord, OrderedBatch, list[TxResult]]


class Pipeline:
    def __init__(
        self,
        genesis: Genesis,
        store: Store,
        cache: StateCache,
        mempool: Mempool,
        orderer: Orderer,
        validator_id: str,
        validator_key: KeyPair,
        certify_alone: bool,
        on_block: Callable[[BlockDone], None],
        verify_pool: Executor | None = None,
        verify_workers: int = 1,
        validators: ValidatorBook | None = None,
    ) -> None:
        self.genesis = genesis
        self.store = store
        self.cache = cache
        self.mempool = mempool
        self.orderer = orderer
        self.validator_id = validator_id
        self.validator_key = validator_key
        self.certify_alone = certify_alone
        self.on_block = on_block
        self.verify_pool = verify_pool
        self.verify_workers = max(1, verify_workers)
        self.head: Head = store.head() or genesis_head(genesis)
        self.stored_head: Head = self.head
        # who certifies each height, as execution fixes it (shared with the orderer and the vote board)
        self.validators = validators or ValidatorBook(genesis, cache.get, self.head.height)
        self.stop_event = threading.Event()
        self.failed: BaseException | None = None
        self._unflushed_txids: deque[set[str]] = deque()  # executed, not yet stored; both threads use it
        self._unflushed_lock = threading.Lock()
        self._to_writer: queue.Queue[_Executed] = queue.Queue(WRITE_QUEUE_BLOCKS)
        self._executor = threading.Thread(target=self._guard, args=(self._execute_loop,), name="tally-execute")
        self._writer = threading.Thread(target=self._guard, args=(self._write_loop,), name="tally-write")

    def start(self) -> None:
        self.orderer.start()
        self._executor.start()
        self._writer.start()

    def stop(self) -> None:
        """Stop both threads; blocks already queued for the writer are stored first."""
        self.stop_event.set()
        self.orderer.stop()
        self._executor.join(timeout=THREAD_JOIN_TIMEOUT_S)
        self._writer.join(timeout=THREAD_JOIN_TIMEOUT_S)

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Divergence as divergence:
            self.failed = divergence
            self.halt()
            log.error("%s; no further blocks are applied: run 'tally node repair'", divergence)
        except BaseException as exc:  # the node must not go on after a failed block
            self.failed = exc
            self.halt()
            log.exception("pipeline stopped")

    def halt(self) -> None:
        """Apply and propose nothing more (a failure, a divergence, tampered storage); stop() still cleans up."""
        self.stop_event.set()
        self.orderer.halt_proposals()

    def _execute_loop(self) -> None:
        while not self.stop_event.is_set():
            batch = self.orderer.next_batch(self.stop_event)
            if batch is not None and not self.stop_event.is_set():
                self._put(self.execute(batch))

    def _put(self, item: _Executed) -> None:
        while not self.stop_event.is_set():
            try:
                self._to_writer.put(item, timeout=STOP_POLL_S)
                return
            except queue.Full:
                continue

    def _write_loop(self) -> None:
        """Store blocks in order until stopped; on stop, store what the executor already queued."""
        while True:
            try:
                item = self._to_writer.get(timeout=STOP_POLL_S)
            except queue.Empty:
                if self.stop_event.is_set() and not self._executor.is_alive():
                    return
                continue
            self.write(*item)

    # --- one block -----------------------------------------------------------

    def _fresh(self, txs: list[Admitted]) -> list[Admitted]:
        """Exactly once: drop transactions already in a block (or earlier in this one).

        Every node holds the same earlier blocks, so every node drops the same
        ones: the rule is deterministic. Admission checks this too, but a
        transaction can reach the log twice (through two nodes, or a
        resubmission racing its own commit).
        """
        stored = self.store.known_txids([a.txid for a in txs])
        with self._unflushed_lock:
            unflushed = list(self._unflushed_txids)
        seen: set[str] = set()
        fresh = []
        for a in txs:
            if a.txid in stored or a.txid in seen or any(a.txid in s for s in unflushed):
                continue
            seen.add(a.txid)
            fresh.append(a)
        if len(fresh) != len(txs):
            self.mempool.done(t.txid for t in txs if t.txid not in seen)
        return fresh

    def _signatures(self, txs: list[Admitted]) -> list[bool]:
        """Check every signature against the signer's key in the state the block starts from."""
        return verify_batch(
            signature_checks(self.cache, [a.signed for a in txs]), self.verify_pool, self.verify_workers
        )

    def execute(self, batch: OrderedBatch) -> _Executed:
        """Turn the next batch into an executed, hashed block; the store is not touched."""
        txs = self._fresh(batch.txs)
        signatures_ok = [True] * len(txs) if batch.verified else self._signatures(txs)
        entries = [Entry(a.txid, a.signed.tx, ok) for a, ok in zip(txs, signatures_ok, strict=True)]
        self.cache.prefetch([key for e in entries for key in prefetch_keys(e.tx)])
        block = apply_block(
            self.genesis, self.head, self.cache, Batch(batch.proposer, batch.timestamp_ms, batch.position, entries)
        )
        record = record_of(block, [a.signed for a in txs], [a.envelope for a in txs], self._certificate(batch, block))
        self.cache.apply_executed(block.writes)
        self.validators.executed(block.header.height, block.writes)
        with self._unflushed_lock:
            self._unflushed_txids.append({a.txid for a in txs})
        self.head = block.head
        return record, batch, block.results

    def _certificate(self, batch: OrderedBatch, block: BlockResult) -> Certificate | None:
        if batch.certificate is not None:  # a block fetched from a peer comes with its certificate
            cert = batch.certificate
            fault = certificate_fault(cert, self.validators.history(), block.header)
            if fault is not None:
                raise ValueError(f"peer block {block.header.height}: {fault}")
            if cert.state_digest != block.state_digest:
                raise Divergence(block.header.height, block.state_digest, cert.state_digest)
            if block.results_root is not None and cert.results_root != block.results_root:
                raise Divergence(block.header.height, f"results {block.results_root}", f"results {cert.results_root}")
            return cert
        if not self.certify_alone:
            return None  # the validators' votes make it (etcd ordering)
        return make_certificate(block.vote, [sign_vote(self.validator_key, self.validator_id, block.vote)])

    def write(self, record: BlockRecord, batch: OrderedBatch, results: list[TxResult]) -> None:
        """Store a block in one database transaction, then report it."""
        self.store.write_block(record)
        self.cache.flushed(record.writes)
        with self._unflushed_lock:
            self._unflushed_txids.popleft()
        header = record.header
        self.stored_head = Head(
            header.height, record.block_hash, record.state_digest, header.timestamp_ms, header.log_position
        )
        self.mempool.done(t.txid for t in record.txs)
        self.orderer.stored(header.height, header.log_position)
        certificate = record.certificate
        final = certificate is not None and certificate_fault(certificate, self.validators.history(), header) is None
        by_txid = {a.txid: a.accepted_ns for a in batch.txs}
        accepted_ns = [by_txid.get(t.txid, 0) for t in record.txs]
        self.on_block(BlockDone(record, final, results, accepted_ns, batch.seen_ms))
