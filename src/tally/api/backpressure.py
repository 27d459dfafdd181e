"""Refusing a retried batch cheaply while the mempool is still full.

A batch refused with 503 `mempool_full` comes back as the same bytes when its
client retries. Decoding it again, computing its ids and looking them up costs
tens of milliseconds of the API's thread per 2,000 transactions, spent only to
refuse it again. So the API remembers, by the SHA-256 of the body, how many
new transactions each refused batch carried (at most `REMEMBERED_BATCHES`,
the oldest forgotten first) and refuses a retry at once while the mempool has
no room for that many. The count can only overstate what the retry needs (some
of its transactions may have been admitted through another request since), so
at worst a retry waits one more Retry-After; once the mempool has room the
batch is decoded and admitted as any other.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from ..ordering.mempool import Mempool

REMEMBERED_BATCHES = 256


class RefusedBatches:
    def __init__(self, mempool: Mempool, remembered: int = REMEMBERED_BATCHES) -> None:
        assert remembered > 0
        self.mempool = mempool
        self.remembered = remembered
        self._new_txs: OrderedDict[bytes, int] = OrderedDict()

    @staticmethod
    def key(body: bytes) -> bytes:
        return hashlib.sha256(body).digest()

    def still_full(self, key: bytes) -> bool:
        """The same body was refused for lack of room, and the mempool still has no room for it."""
        new_txs = self._new_txs.get(key)
        if new_txs is None:
            return False
        if self.mempool.has_room(new_txs):
            del self._new_txs[key]
            return False
        return True

    def refused(self, key: bytes, new_txs: int) -> None:
        self._new_txs[key] = new_txs
        self._new_txs.move_to_end(key)
        while len(self._new_txs) > self.remembered:
            self._new_txs.popitem(last=False)
