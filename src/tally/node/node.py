"""One Tally node: store, state cache, mempool, admission, pipeline, statuses."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal

import msgspec

from ..core.block import Receipt, block_hash
from ..core.genesis import genesis_state
from ..core.merkle import merkle_proof
from ..core.types import Genesis, SignedTx
from ..store.sqlite import SqliteStore
from .admission import Admission
from .config import DataDir, NodeSettings
from .mempool import Mempool
from .metrics import NodeMetrics
from .pipeline import BlockDone, Pipeline
from .state_cache import StateCache

log = logging.getLogger("tally.node")

Status = Literal["unknown", "accepted", "committed", "final"]
_signed_decoder = msgspec.json.Decoder(SignedTx)


@dataclass(frozen=True, slots=True)
class TxStatus:
    txid: str
    status: Status
    code: str = ""
    message: str = ""
    height: int = 0


def open_store(data: DataDir, genesis: Genesis) -> SqliteStore:
    """Open the ledger, writing genesis state on first use."""
    store = SqliteStore(data.ledger_path)
    stored = store.get_meta("genesis")
    encoded = msgspec.json.encode(genesis)
    if stored is None:
        store.put_state(genesis_state(genesis))
        store.put_meta("genesis", encoded)
    elif stored != encoded:
        raise RuntimeError("ledger.db belongs to another genesis")
    return store


class Node:
    def __init__(self, data: DataDir, settings: NodeSettings | None = None) -> None:
        self.data = data
        self.genesis = data.genesis()
        self.settings = settings or data.settings()
        self.limits = self.settings.limits
        self.validator_key = data.validator_key().keypair()
        self.store = open_store(data, self.genesis)
        self.cache = StateCache(self.store, self.limits.state_cache_entries)
        self.mempool = Mempool(self.limits.mempool_max_txs)
        self.metrics = NodeMetrics()
        workers = self.settings.verify_workers or os.cpu_count() or 1
        self.pool: ProcessPoolExecutor | None = (
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 1
            else None
        )
        self.admission = Admission(self.genesis, self.cache, self.store, self.mempool, self.limits, self.pool, workers)
        self.pipeline = Pipeline(
            genesis=self.genesis,
            store=self.store,
            cache=self.cache,
            mempool=self.mempool,
            validator_id=self.settings.validator_id,
            validator_key=self.validator_key,
            max_block_txs=self.limits.max_block_txs,
            block_interval_ms=self.limits.block_interval_ms,
            on_block=self._on_block,
        )
        head = self.store.head()
        self.final_height = head.height if head else 0
        self.metrics.height.set(self.final_height)
        self.metrics.final_height.set(self.final_height)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.pool is not None:  # start the workers now, not on the first batch
            await asyncio.gather(*(self._loop.run_in_executor(self.pool, os.getpid) for _ in range(2)))
        self.pipeline.start()
        log.info(
            "node %s serving chain %s from height %d", self.settings.validator_id, self.genesis.chain, self.final_height
        )

    def stop(self) -> None:
        self.pipeline.stop()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    @property
    def healthy(self) -> bool:
        return self.pipeline.failed is None

    # --- submitting and waiting ------------------------------------------

    async def submit(self, batch: list[SignedTx]) -> list[str]:
        txids = await self.admission.submit(batch)
        self.metrics.admitted.inc(len(batch))
        self.metrics.mempool.set(len(self.mempool))
        return txids

    def _on_block(self, done: BlockDone) -> None:
        """Called on the pipeline thread once a block is stored."""
        m = self.metrics
        m.blocks.inc()
        m.height.set(done.height)
        m.block_txs.observe(len(done.results))
        m.mempool.set(len(self.mempool))
        codes: dict[str, int] = {}
        for r in done.results:
            codes[r.code] = codes.get(r.code, 0) + 1
        for code, count in codes.items():
            m.executed.labels(code).inc(count)
        if done.final:
            self.final_height = done.height
            m.final_height.set(done.height)
            now = time.perf_counter_ns()
            for accepted in done.accepted_ns[:: max(1, len(done.accepted_ns) // 64)]:
                m.final_latency.observe((now - accepted) / 1e9)
        if self._loop is not None and self._waiters:
            self._loop.call_soon_threadsafe(self._wake, [r.txid for r in done.results])

    def _wake(self, txids: list[str]) -> None:
        for txid in txids:
            for future in self._waiters.pop(txid, ()):
                if not future.done():
                    future.set_result(None)

    def status(self, txid: str) -> TxStatus:
        if self.mempool.contains(txid):
            return TxStatus(txid, "accepted")
        found = self.store.tx(txid)
        if found is None:
            return TxStatus(txid, "unknown")
        state: Status = "final" if found.height <= self.final_height else "committed"
        return TxStatus(txid, state, found.code, found.message, found.height)

    async def wait(self, txid: str, timeout_ms: int) -> TxStatus:
        """Wait until the transaction is final (or unknown, or time runs out)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            assert self._loop is not None
            future: asyncio.Future[None] = self._loop.create_future()
            self._waiters.setdefault(txid, []).append(future)
            status = self.status(txid)
            left = deadline - time.monotonic()
            if status.status in ("final", "unknown") or left <= 0:
                self._drop_waiter(txid, future)
                return status
            try:
                await asyncio.wait_for(future, timeout=left)
            except TimeoutError:
                self._drop_waiter(txid, future)
                return self.status(txid)

    def _drop_waiter(self, txid: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiters.get(txid)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._waiters[txid]

    # --- receipts ----------------------------------------------------------

    def receipt(self, txid: str) -> Receipt | None:
        found = self.store.tx(txid)
        if found is None or found.height > self.final_height:
            return None
        header_and_digest = self.store.block_header(found.height)
        certificate = self.store.certificate(found.height)
        assert header_and_digest is not None and certificate is not None
        header = header_and_digest[0]
        assert block_hash(header) == certificate.block_hash
        leaves = [bytes.fromhex(t.txid) for t in self.store.block_txs(found.height)]
        path = [(side, h.hex()) for side, h in merkle_proof(leaves, found.index)]
        return Receipt(
            signed_tx=_signed_decoder.decode(found.envelope),
            txid=txid,
            code=found.code,
            index=found.index,
            merkle_path=path,
            header=header,
            certificate=certificate,
        )
