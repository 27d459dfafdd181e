"""One Tally node: store, state cache, mempool, admission, orderer, pipeline, statuses."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

import msgspec

from ..core.block import Receipt
from ..core.chain import Divergence, Head
from ..core.controls import COUNCIL_KEY
from ..core.limits import MAX_BLOCK_TXS_BOUND
from ..core.ops import SignedTx
from ..core.types import Certificate, Params
from ..ordering.base import Orderer
from ..ordering.mempool import Mempool
from ..ordering.solo import SoloOrderer
from ..ordering.validator_book import ValidatorBook
from ..store import open_store
from ..store.base import BlockRecord
from .admission import Admission
from .config import DataDir, NodeSettings, tls_paths
from .metrics import NodeMetrics
from .pipeline import BlockDone, Pipeline
from .reader import LedgerReader
from .scrub import Scrubber
from .state_cache import StateCache
from .verify import start_workers, worker_init

log = logging.getLogger("tally.node")

Status = Literal["unknown", "accepted", "committed", "final"]
_signed_decoder = msgspec.json.Decoder(SignedTx)
LATENCY_SAMPLES_PER_BLOCK = 64  # submit-to-final latencies observed per block, spread over its transactions


class NodeUnavailable(Exception):
    """The node takes no transactions: it stopped applying blocks. `code` says why (the API answers 503)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class TxStatus:
    txid: str
    status: Status
    code: str = ""
    message: str = ""
    height: int = 0


class Node:
    def __init__(self, data: DataDir, settings: NodeSettings | None = None) -> None:
        self.data = data
        self._lock_fd = data.lock()
        self.genesis = data.genesis()
        self.settings = settings or data.settings()
        self.limits = self.settings.limits
        self.validator_id = self.settings.validator_id
        self.validator_key = data.validator_key().keypair()
        self.store = open_store(data.ledger_path, self.genesis)
        self.ledger = LedgerReader(self.store)
        self.cache = StateCache(self.store, self.limits.state_cache_entries)
        self.mempool = Mempool(self.limits.mempool_max_txs)
        self.metrics = NodeMetrics()
        workers = self.settings.verify_workers or os.cpu_count() or 1
        self.pool: ProcessPoolExecutor | None = (
            ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init
            )
            if workers > 1
            else None
        )
        if self.pool is not None:
            start_workers(self.pool, workers)
        self.admission = Admission(self.genesis, self.cache, self.store, self.mempool, self.limits, self.pool, workers)
        head = self.store.head()
        self.validators = ValidatorBook(self.genesis, self.cache.get, head.height if head else 0)
        self.orderer, self.votes = self._ordering(head.height + 1 if head else 1)
        self.pipeline = Pipeline(
            genesis=self.genesis,
            store=self.store,
            cache=self.cache,
            mempool=self.mempool,
            orderer=self.orderer,
            validator_id=self.validator_id,
            validator_key=self.validator_key,
            certify_alone=self.votes is None,
            on_block=self._on_block,
            verify_pool=self.pool,
            verify_workers=workers,
            validators=self.validators,
        )
        self.final_height = self.store.final_height()
        self._certified_above: set[int] = set()
        self._final_lock = threading.Lock()
        self.divergence: Divergence | None = None
        self.tampered: str | None = None  # what the storage scrub found changed under the node
        self.scrubber = Scrubber(self.store, self.cache, self.limits, self._on_tampered)
        self.metrics.height.set(head.height if head else 0)
        self.metrics.final_height.set(self.final_height)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._final_waiters: list[asyncio.Future[None]] = []  # event streams waiting for the next final block
        self.event_streams = 0  # open (api/events.py)

    def _ledger_block_bound(self) -> int:
        """The council's bound on a block's transactions (protocol 5), as the newest executed block left it.

        Orderers cut batches within it, so execution never has to refuse a transaction `block_full`.
        """
        params = self.cache.read(COUNCIL_KEY)
        return params.max_block_txs if isinstance(params, Params) and params.max_block_txs else MAX_BLOCK_TXS_BOUND

    def _ordering(self, next_height: int) -> tuple[Orderer, VoteBoardLike | None]:
        """The solo orderer, or the etcd orderer with its vote board."""
        if self.settings.orderer == "solo":
            limits = self.limits
            orderer = SoloOrderer(
                self.mempool,
                self.validator_id,
                next_height,
                limits.max_block_txs,
                limits.block_interval_ms,
                ledger_bound=self._ledger_block_bound,
            )
            return orderer, None
        from ..ordering.etcd import EtcdOrderer
        from ..ordering.votes import VoteBoard

        endpoints = self.settings.etcd_endpoints or self.genesis.etcd_endpoints
        peers = self.settings.peers or self._peer_urls()
        tls = tls_paths(self.settings, self.data)
        etcd_orderer = EtcdOrderer(
            genesis=self.genesis,
            endpoints=endpoints,
            peers=[p for p in peers if p],
            mempool=self.mempool,
            store=self.store,
            validator_id=self.validator_id,
            validator_key=self.validator_key,
            limits=self.limits,
            on_ignored=self._on_ignored,
            tls=tls,
            ledger_bound=self._ledger_block_bound,
            validators=self.validators,
        )
        board = VoteBoard(
            genesis=self.genesis,
            endpoints=endpoints,
            store=self.store,
            validator_id=self.validator_id,
            validator_key=self.validator_key,
            limits=self.limits,
            on_certificate=self._on_certificate,
            on_divergence=self._on_divergence,
            on_ignored=self._on_ignored,
            on_untimely=self._on_untimely,
            tls=tls,
            validators=self.validators,
        )
        return etcd_orderer, board

    def _peer_urls(self) -> list[str]:
        """Every other validator's API, the genesis's and those the council added since."""
        everyone = self.validators.history().everyone()
        return [v.api_url for v in everyone if v.id != self.validator_id and v.api_url]

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.votes is not None:
            self.votes.start()
        self.pipeline.start()
        self.scrubber.start()
        log.info(
            "node %s (%s) serving chain %s from height %d",
            self.validator_id,
            self.settings.orderer,
            self.genesis.chain,
            self.pipeline.head.height,
        )

    def stop(self) -> None:
        self.scrubber.stop()
        self.pipeline.stop()
        if self.votes is not None:
            self.votes.stop()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()
        os.close(self._lock_fd)

    @property
    def stored_head(self) -> Head:
        """The newest block stored here (final or not)."""
        return self.pipeline.stored_head

    @property
    def mempool_size(self) -> int:
        return len(self.mempool)

    @property
    def healthy(self) -> bool:
        return self.pipeline.failed is None and self.divergence is None and self.tampered is None

    def unavailable(self) -> NodeUnavailable | None:
        """Why the node takes no transactions (None while it does)."""
        if self.tampered is not None:
            return NodeUnavailable("storage_tampered", f"this node's storage was changed under it: {self.tampered}")
        found = self.diverged()
        if found is not None:
            return NodeUnavailable(
                "node_diverged", f"this node's state diverged from the certified one at height {found.height}"
            )
        if self.pipeline.failed is not None:
            return NodeUnavailable(
                "node_stopped",
                f"this node stopped applying blocks ({type(self.pipeline.failed).__name__}); see its log",
            )
        return None

    def diverged(self) -> Divergence | None:
        if self.divergence is None and isinstance(self.pipeline.failed, Divergence):
            self._on_divergence(self.pipeline.failed)
        return self.divergence

    # --- submitting and waiting ------------------------------------------

    async def submit(self, batch: list[SignedTx]) -> list[str]:
        """Admit a batch; raises NodeUnavailable once the node stopped applying blocks."""
        unavailable = self.unavailable()
        if unavailable is not None:
            raise unavailable
        txids = await self.admission.submit(batch)
        self.metrics.admitted.inc(len(batch))
        self.metrics.mempool.set(len(self.mempool))
        return txids

    def _on_block(self, done: BlockDone) -> None:
        """Called on the writer thread once a block is stored."""
        self.scrubber.wrote(done.record)
        m = self.metrics
        header = done.record.header
        m.blocks.inc()
        m.height.set(header.height)
        m.block_txs.observe(len(done.results))
        m.mempool.set(len(self.mempool))
        codes: dict[str, int] = {}
        for r in done.results:
            codes[r.code] = codes.get(r.code, 0) + 1
        for code, count in codes.items():
            m.executed.labels(code).inc(count)
        if done.final:
            self._mark_final(header.height)
            now = time.perf_counter_ns()
            for accepted in done.accepted_ns[:: max(1, len(done.accepted_ns) // LATENCY_SAMPLES_PER_BLOCK)]:
                if accepted:
                    m.final_latency.observe((now - accepted) / 1e9)
        elif self.votes is not None:
            self.votes.publish(done.record, done.seen_ms)
        self._wake_soon([r.txid for r in done.results])

    def _on_certificate(self, certificate: Certificate) -> None:
        """Called by the vote board once a quorum agrees with our stored digest."""
        self.store.put_certificate(certificate)
        self._mark_final(certificate.height)
        self._wake_soon([t.txid for t in self.store.block_txs(certificate.height)] if self._waiters else [])

    def _on_ignored(self, kind: str, key: str, reason: str) -> None:
        """A value read from etcd failed its strict type or signature: counted and logged, then ignored."""
        self.metrics.etcd_ignored.labels(kind).inc()
        log.warning("ignored %s at %s: %s", kind, key, reason)

    def _on_untimely(self, proposer: str, height: int, ahead_ms: int) -> None:
        self.metrics.untimely.labels(proposer).inc()

    def _on_tampered(self, what: str) -> None:
        """Called by the storage scrub: report as a divergence is reported, then stop applying and serving."""
        if self.tampered is None:
            self.tampered = what
            self.metrics.tampered.set(1)
            log.error(
                "STORAGE TAMPERED: %s; this node stops applying blocks and serving data:"
                " run 'tally audit' and 'tally node repair'",
                what,
            )
            self.pipeline.halt()

    def _on_divergence(self, divergence: Divergence) -> None:
        if self.divergence is None:
            self.divergence = divergence
            self.metrics.diverged.set(1)
            self.metrics.divergence_height.set(divergence.height)
            log.error(
                "DIVERGENCE at height %d: our state digest %s, certified by a quorum %s",
                divergence.height,
                divergence.ours,
                divergence.certified,
            )
            self.pipeline.halt()

    def _mark_final(self, height: int) -> None:
        with self._final_lock:
            if height <= self.final_height:
                return
            self._certified_above.add(height)
            while self.final_height + 1 in self._certified_above:
                self._certified_above.discard(self.final_height + 1)
                self.final_height += 1
            self.metrics.final_height.set(self.final_height)
        if self._loop is not None and self._final_waiters:
            self._loop.call_soon_threadsafe(self._wake_final)

    def _wake_final(self) -> None:
        waiting, self._final_waiters = self._final_waiters, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    async def wait_final_above(self, height: int, timeout_s: float) -> None:
        """Return once a block above `height` is final, or after `timeout_s`."""
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._final_waiters.append(future)
        try:
            if self.final_height <= height:
                await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
        except TimeoutError:
            pass
        finally:
            if future in self._final_waiters:
                self._final_waiters.remove(future)

    def _wake_soon(self, txids: list[str]) -> None:
        if self._loop is not None and self._waiters and txids:
            self._loop.call_soon_threadsafe(self._wake, txids)

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
        return self.ledger.receipt(txid, self.final_height)


class VoteBoardLike(Protocol):
    """What the node needs of the etcd vote board (ordering/votes.py)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def publish(self, record: BlockRecord, seen_ms: int) -> None: ...
