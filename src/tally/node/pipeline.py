"""The block pipeline: cut a block from the mempool, execute, certify, store.

Two threads, each strictly in block order: the executor cuts and executes
block N+1 while the writer stores block N (a bounded queue of
WRITE_QUEUE_BLOCKS between them). Each block is written in one database
transaction; only then are its transactions reported committed and, once its
certificate holds a quorum, final.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..core.block import (
    block_hash,
    certificate_is_final,
    clamp_timestamp,
    genesis_digest,
    next_state_digest,
    sign_vote,
    tx_root,
    vote_for,
)
from ..core.crypto import KeyPair
from ..core.execute import BlockContext, Entry, execute_block, prefetch_keys, write_set_bytes
from ..core.types import BlockHeader, Certificate, Genesis, Tx, TxResult, tx_type
from ..store.base import BlockRecord, Head, StoredTx
from ..store.sqlite import SqliteStore
from .mempool import Admitted, Mempool
from .state_cache import StateCache

log = logging.getLogger("tally.pipeline")

WRITE_QUEUE_BLOCKS = 2


@dataclass(frozen=True, slots=True)
class BlockDone:
    height: int
    final: bool
    results: list[TxResult]
    accepted_ns: list[int]
    tx_types: list[str]


def counterparty(tx: Tx) -> str:
    """The other account a transaction touches, for account history."""
    for field in ("to", "merchant", "account"):
        value = getattr(tx, field, None)
        if isinstance(value, str):
            return value
    return ""


class Pipeline:
    def __init__(
        self,
        genesis: Genesis,
        store: SqliteStore,
        cache: StateCache,
        mempool: Mempool,
        validator_id: str,
        validator_key: KeyPair,
        max_block_txs: int,
        block_interval_ms: int,
        on_block: Callable[[BlockDone], None],
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.genesis = genesis
        self.store = store
        self.cache = cache
        self.mempool = mempool
        self.validator_id = validator_id
        self.validator_key = validator_key
        self.max_block_txs = max_block_txs
        self.block_interval_ms = block_interval_ms
        self.on_block = on_block
        self.clock_ms = clock_ms
        self.head: Head = store.head() or Head(0, "00" * 32, genesis_digest(genesis), genesis.genesis_time_ms)
        self.stored_head: Head = self.head
        self.stop_event = threading.Event()
        self.failed: BaseException | None = None
        self._to_writer: queue.Queue[tuple[BlockRecord, list[Admitted], list[TxResult]] | None] = queue.Queue(
            WRITE_QUEUE_BLOCKS
        )
        self._executor = threading.Thread(target=self._guard, args=(self._execute_loop,), name="tally-execute")
        self._writer = threading.Thread(target=self._guard, args=(self._write_loop,), name="tally-write")

    def start(self) -> None:
        self._executor.start()
        self._writer.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.mempool.wake()
        self._executor.join(timeout=30)
        self._to_writer.put(None)
        self._writer.join(timeout=30)

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as exc:  # the node must not go on after a failed block
            self.failed = exc
            self.stop_event.set()
            log.exception("pipeline stopped")

    def _execute_loop(self) -> None:
        while not self.stop_event.is_set():
            batch = self.mempool.take(self.max_block_txs, self.block_interval_ms, self.stop_event)
            batch = self._drop_stored(batch)
            if batch:
                self._put(self.execute(batch))

    def _drop_stored(self, batch: list[Admitted]) -> list[Admitted]:
        """Exactly once: a transaction already in a block is never executed again.

        Admission checks this too, but a resubmission racing its own commit can
        pass admission; this is the last word.
        """
        if not batch:
            return batch
        stored = self.store.known_txids([a.txid for a in batch])
        if not stored:
            return batch
        self.mempool.done([a for a in batch if a.txid in stored])
        return [a for a in batch if a.txid not in stored]

    def _put(self, item: tuple[BlockRecord, list[Admitted], list[TxResult]]) -> None:
        while not self.stop_event.is_set():
            try:
                self._to_writer.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _write_loop(self) -> None:
        while True:
            item = self._to_writer.get()
            if item is None:
                return
            self.write(*item)

    def execute(self, batch: list[Admitted]) -> tuple[BlockRecord, list[Admitted], list[TxResult]]:
        """Execute and certify the next block; the store is not touched."""
        head = self.head
        height = head.height + 1
        timestamp_ms = clamp_timestamp(self.clock_ms(), head.timestamp_ms)
        ctx = BlockContext(chain=self.genesis.chain, height=height, timestamp_ms=timestamp_ms)
        entries = [Entry(txid=a.txid, tx=a.signed.tx) for a in batch]
        self.cache.prefetch([key for e in entries for key in prefetch_keys(e.tx)])
        outcome = execute_block(self.cache, ctx, entries)
        write_set = write_set_bytes(outcome.writes)
        digest = next_state_digest(head.state_digest, height, write_set)
        header = BlockHeader(
            chain=self.genesis.chain,
            height=height,
            prev_hash=head.block_hash,
            timestamp_ms=timestamp_ms,
            tx_root=tx_root([e.txid for e in entries]),
            tx_count=len(entries),
            proposer=self.validator_id,
        )
        hash_hex = block_hash(header)
        vote = vote_for(header.chain, height, hash_hex, digest)
        certificate = Certificate(
            chain=header.chain,
            height=height,
            block_hash=hash_hex,
            state_digest=digest,
            signatures=[sign_vote(self.validator_key, self.validator_id, vote)],
        )
        stored = [
            StoredTx(
                txid=a.txid,
                envelope=a.envelope,
                code=r.code,
                message=r.message,
                signer=a.signed.tx.signer,
                counterparty=counterparty(a.signed.tx),
                type=tx_type(a.signed.tx),
            )
            for a, r in zip(batch, outcome.results, strict=True)
        ]
        record = BlockRecord(header, hash_hex, digest, write_set, outcome.writes, stored, certificate)
        self.cache.apply_executed(outcome.writes)
        self.head = Head(height, hash_hex, digest, timestamp_ms)
        return record, batch, outcome.results

    def write(self, record: BlockRecord, batch: list[Admitted], results: list[TxResult]) -> None:
        """Store a block in one database transaction, then report it."""
        self.store.write_block(record)
        self.cache.flushed(record.writes)
        header = record.header
        self.stored_head = Head(header.height, record.block_hash, record.state_digest, header.timestamp_ms)
        self.mempool.done(batch)
        self.on_block(
            BlockDone(
                height=header.height,
                final=certificate_is_final(record.certificate, self.genesis.validators),
                results=results,
                accepted_ns=[a.accepted_ns for a in batch],
                tx_types=[t.type for t in record.txs],
            )
        )
