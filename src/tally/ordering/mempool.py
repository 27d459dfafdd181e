"""A bounded FIFO of admitted transactions waiting for a block.

Admission adds whole batches or nothing; a full mempool refuses (the API turns
that into 503 with Retry-After), it never drops an accepted transaction. A
transaction stays in `pending` until its block is stored, so its status is
always known.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..core.limits import STOP_POLL_S
from ..core.ops import SignedTx


@dataclass(frozen=True, slots=True)
class Admitted:
    txid: str
    signed: SignedTx
    envelope: bytes  # the signed transaction as JSON, as stored
    accepted_ns: int


class MempoolFull(Exception):
    """No room: `new_txs` is how many new transactions the refused batch carried."""

    def __init__(self, new_txs: int = 0) -> None:
        super().__init__(f"no room for {new_txs} transaction(s)")
        self.new_txs = new_txs


class Mempool:
    def __init__(self, max_txs: int) -> None:
        assert max_txs > 0
        self.max_txs = max_txs
        self._queue: deque[Admitted] = deque()
        self._pending: dict[str, Admitted] = {}
        self._pending_seqs: set[tuple[str, int]] = set()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._pending)

    def contains(self, txid: str) -> bool:
        return txid in self._pending

    def has_room(self, count: int) -> bool:
        """Whether `count` more transactions fit now (add_all still decides, atomically)."""
        return len(self._pending) + count <= self.max_txs

    def has_seq(self, signer: str, seq: int) -> bool:
        return (signer, seq) in self._pending_seqs

    def add_all(self, items: list[Admitted]) -> list[str]:
        """Add every new item, or none of them.

        Raises MempoolFull when they do not fit. Returns the txids refused
        because another pending transaction holds their (signer, seq); when
        there are any, nothing was added. Items already pending are skipped.
        """
        with self._cond:
            fresh = list({a.txid: a for a in items if a.txid not in self._pending}.values())
            seqs = [(a.signed.tx.signer, a.signed.tx.seq) for a in fresh]
            clashes = [a.txid for a, seq in zip(fresh, seqs, strict=True) if seq in self._pending_seqs]
            seen: set[tuple[str, int]] = set()
            for a, seq in zip(fresh, seqs, strict=True):  # two new transactions with one (signer, seq)
                if seq in seen:
                    clashes.append(a.txid)
                seen.add(seq)
            if clashes:
                return clashes
            if len(self._pending) + len(fresh) > self.max_txs:
                raise MempoolFull(len(fresh))
            for item in fresh:
                self._pending[item.txid] = item
                self._pending_seqs.add((item.signed.tx.signer, item.signed.tx.seq))
                self._queue.append(item)
            self._cond.notify()
            return []

    def take(self, max_txs: int, linger_ms: int, stop: threading.Event) -> list[Admitted]:
        """Wait for transactions; cut a block at `max_txs` or `linger_ms` after the first."""
        with self._cond:
            while not self._queue and not stop.is_set():
                self._cond.wait(timeout=STOP_POLL_S)
            if not self._queue:
                return []
            deadline = time.monotonic() + linger_ms / 1000
            while len(self._queue) < max_txs and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=left)
            taken: list[Admitted] = []
            while self._queue and len(taken) < max_txs:
                item = self._queue.popleft()
                if item.txid in self._pending:  # skip what another node's block already carried
                    taken.append(item)
            return taken

    def done(self, txids: Iterable[str]) -> None:
        """Forget transactions whose block is stored (ours, or another proposer's)."""
        with self._cond:
            for txid in txids:
                item = self._pending.pop(txid, None)
                if item is not None:
                    self._pending_seqs.discard((item.signed.tx.signer, item.signed.tx.seq))

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
