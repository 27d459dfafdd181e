"""`solo`: the node orders its own mempool (one node; the default and tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..core.limits import MAX_BLOCK_TXS_BOUND
from .base import OrderedBatch
from .mempool import Mempool


class SoloOrderer:
    def __init__(
        self,
        mempool: Mempool,
        validator_id: str,
        next_height: int,
        max_block_txs: int,
        block_interval_ms: int,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        ledger_bound: Callable[[], int] = lambda: MAX_BLOCK_TXS_BOUND,
    ) -> None:
        self.mempool = mempool
        self.validator_id = validator_id
        self.next_height = next_height
        self.max_block_txs = max_block_txs
        self.block_interval_ms = block_interval_ms
        self.clock_ms = clock_ms
        self.ledger_bound = ledger_bound  # the council's bound on a block (protocol 5), read at each cut

    def start(self) -> None:
        pass

    def next_batch(self, stop: threading.Event) -> OrderedBatch | None:
        txs = self.mempool.take(min(self.max_block_txs, self.ledger_bound()), self.block_interval_ms, stop)
        if not txs:
            return None
        batch = OrderedBatch(self.next_height, self.validator_id, self.clock_ms(), txs, verified=True)
        self.next_height += 1
        return batch

    def stored(self, height: int, position: int) -> None:
        pass

    def halt_proposals(self) -> None:
        pass  # solo blocks are made by the pipeline, which has stopped

    def stop(self) -> None:
        self.mempool.wake()
