"""The block pipeline: cut a block from the mempool, execute, certify, store.

One thread runs it, so blocks are applied strictly in order. Each block is
written in one database transaction; only then are its transactions reported
committed and, once its certificate holds a quorum, final.
"""

from __future__ import annotations

import logging
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
from ..core.execute import BlockContext, Entry, execute_block, write_set_bytes
from ..core.types import BlockHeader, Certificate, Genesis, Tx, TxResult, tx_type
from ..store.base import BlockRecord, Head, StoredTx
from ..store.sqlite import SqliteStore
from .mempool import Admitted, Mempool
from .state_cache import StateCache

log = logging.getLogger("tally.pipeline")


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
        self.stop_event = threading.Event()
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tally-pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.mempool.wake()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self.stop_event.is_set():
                batch = self.mempool.take(self.max_block_txs, self.block_interval_ms, self.stop_event)
                if batch:
                    self.apply(batch)
        except BaseException as exc:  # the node must not go on after a failed block
            self.failed = exc
            log.exception("pipeline stopped")

    def apply(self, batch: list[Admitted]) -> None:
        head = self.head
        height = head.height + 1
        timestamp_ms = clamp_timestamp(self.clock_ms(), head.timestamp_ms)
        ctx = BlockContext(chain=self.genesis.chain, height=height, timestamp_ms=timestamp_ms)
        entries = [Entry(txid=a.txid, tx=a.signed.tx) for a in batch]
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
        self.store.write_block(record)
        self.cache.apply(outcome.writes)
        self.head = Head(height, hash_hex, digest, timestamp_ms)
        self.mempool.done(batch)
        final = certificate_is_final(certificate, self.genesis.validators)
        self.on_block(
            BlockDone(
                height=height,
                final=final,
                results=outcome.results,
                accepted_ns=[a.accepted_ns for a in batch],
                tx_types=[s.type for s in stored],
            )
        )
