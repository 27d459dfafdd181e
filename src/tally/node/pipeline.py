"""The block pipeline: take the orderer's next batch, execute, certify, store.

Two threads, each strictly in block order: the executor turns batch N+1 into
a block while the writer stores block N (a bounded queue of
WRITE_QUEUE_BLOCKS between them). Each block is written in one database
transaction; only then are its transactions reported committed and, once its
certificate holds a quorum, final.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from ..core.block import (
    block_hash,
    certificate_is_final,
    clamp_timestamp,
    genesis_digest,
    next_state_digest,
    sign_vote,
    tx_root,
    tx_signing_bytes,
    vote_for,
)
from ..core.crypto import KeyPair, verify_many
from ..core.execute import BlockContext, Entry, execute_block, prefetch_keys, write_set_bytes
from ..core.types import Account, BlockHeader, Certificate, Genesis, Tx, TxResult, tx_type
from ..ordering.base import OrderedBatch, Orderer
from ..store.base import BlockRecord, Head, StoredTx
from ..store.sqlite import SqliteStore
from .mempool import Admitted, Mempool
from .state_cache import StateCache

log = logging.getLogger("tally.pipeline")

WRITE_QUEUE_BLOCKS = 2


@dataclass(frozen=True, slots=True)
class BlockDone:
    record: BlockRecord
    final: bool
    results: list[TxResult]
    accepted_ns: list[int]


class Divergence(Exception):
    """This node's digest differs from the one a quorum of validators certified."""

    def __init__(self, height: int, ours: str, certified: str) -> None:
        super().__init__(f"divergence at height {height}: our digest {ours}, certified {certified}")
        self.height = height
        self.ours = ours
        self.certified = certified


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
        orderer: Orderer,
        validator_id: str,
        validator_key: KeyPair,
        certify_alone: bool,
        on_block: Callable[[BlockDone], None],
        verify_pool: Executor | None = None,
        verify_workers: int = 1,
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
        self.head: Head = store.head() or Head(0, "00" * 32, genesis_digest(genesis), genesis.genesis_time_ms, 0)
        self.stored_head: Head = self.head
        self.stop_event = threading.Event()
        self.failed: BaseException | None = None
        self._unflushed_txids: deque[set[str]] = deque()  # executed, not yet stored; both threads use it
        self._unflushed_lock = threading.Lock()
        self._to_writer: queue.Queue[tuple[BlockRecord, OrderedBatch, list[TxResult]] | None] = queue.Queue(
            WRITE_QUEUE_BLOCKS
        )
        self._executor = threading.Thread(target=self._guard, args=(self._execute_loop,), name="tally-execute")
        self._writer = threading.Thread(target=self._guard, args=(self._write_loop,), name="tally-write")

    def start(self) -> None:
        self.orderer.start()
        self._executor.start()
        self._writer.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.orderer.stop()
        self._executor.join(timeout=30)
        self._to_writer.put(None)
        self._writer.join(timeout=30)

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Divergence as divergence:
            self.failed = divergence
            self.stop_event.set()
            log.error("%s; no further blocks are applied: run 'tally node repair'", divergence)
        except BaseException as exc:  # the node must not go on after a failed block
            self.failed = exc
            self.stop_event.set()
            log.exception("pipeline stopped")

    def _execute_loop(self) -> None:
        while not self.stop_event.is_set():
            batch = self.orderer.next_batch(self.stop_event)
            if batch is not None and not self.stop_event.is_set():
                self._put(self.execute(batch))

    def _put(self, item: tuple[BlockRecord, OrderedBatch, list[TxResult]]) -> None:
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
        items = []
        for a in txs:
            account = self.cache.get(f"acct/{a.signed.tx.signer}")
            key = bytes.fromhex(account.public_key) if isinstance(account, Account) else b""
            items.append((key, tx_signing_bytes(a.signed), bytes.fromhex(a.signed.sig)))
        if self.verify_pool is None or len(items) < 64:
            return verify_many(items)
        size = -(-len(items) // self.verify_workers)
        parts = self.verify_pool.map(verify_many, [items[i : i + size] for i in range(0, len(items), size)])
        return [ok for part in parts for ok in part]

    def execute(self, batch: OrderedBatch) -> tuple[BlockRecord, OrderedBatch, list[TxResult]]:
        """Turn the next batch into an executed, hashed block; the store is not touched."""
        head = self.head
        height = head.height + 1
        txs = self._fresh(batch.txs)
        signatures_ok = [True] * len(txs) if batch.verified else self._signatures(txs)
        timestamp_ms = clamp_timestamp(batch.timestamp_ms, head.timestamp_ms)
        ctx = BlockContext(chain=self.genesis.chain, height=height, timestamp_ms=timestamp_ms)
        entries = [Entry(a.txid, a.signed.tx, ok) for a, ok in zip(txs, signatures_ok, strict=True)]
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
            proposer=batch.proposer,
            log_position=batch.position,
        )
        hash_hex = block_hash(header)
        certificate = self._certificate(batch, height, hash_hex, digest)
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
            for a, r in zip(txs, outcome.results, strict=True)
        ]
        record = BlockRecord(header, hash_hex, digest, write_set, outcome.writes, stored, certificate)
        self.cache.apply_executed(outcome.writes)
        with self._unflushed_lock:
            self._unflushed_txids.append({a.txid for a in txs})
        self.head = Head(height, hash_hex, digest, timestamp_ms, batch.position)
        return record, batch, outcome.results

    def _certificate(self, batch: OrderedBatch, height: int, hash_hex: str, digest: str) -> Certificate | None:
        if batch.certificate is not None:  # a block fetched from a peer comes with its certificate
            cert = batch.certificate
            if cert.height != height or cert.block_hash != hash_hex:
                raise ValueError(f"peer block {height} does not match its certificate")
            if not certificate_is_final(cert, self.genesis.validators):
                raise ValueError(f"peer block {height} has no valid quorum certificate")
            if cert.state_digest != digest:
                raise Divergence(height, digest, cert.state_digest)
            return cert
        if not self.certify_alone:
            return None  # the validators' votes make it (etcd ordering)
        vote = vote_for(self.genesis.chain, height, hash_hex, digest)
        signature = sign_vote(self.validator_key, self.validator_id, vote)
        return Certificate(self.genesis.chain, height, hash_hex, digest, [signature])

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
        final = certificate is not None and certificate_is_final(certificate, self.genesis.validators)
        by_txid = {a.txid: a.accepted_ns for a in batch.txs}
        self.on_block(BlockDone(record, final, results, [by_txid.get(t.txid, 0) for t in record.txs]))
