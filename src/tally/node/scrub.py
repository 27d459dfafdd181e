"""The storage scrub: a node notices its own storage being changed under it.

A running node trusts nothing it did not write itself. A background thread
compares, round after round (every `limits.scrub_interval_ms`):

* the newest stored blocks (the last RECENT_BLOCKS, one per round, newest
  first then round-robin) with what the node wrote: header hash, state
  digest, results root, write-set and every transaction row (id, result,
  message, verified key, envelope);
* up to `limits.scrub_keys_per_round` state rows with the values the node
  executed, as its state cache holds them (every key it read or wrote
  since it started, up to `limits.state_cache_entries`).

So an edit to a cached state row or a recent block is found within
ceil(cached keys / scrub_keys_per_round) rounds, or RECENT_BLOCKS rounds for
blocks. A round starts every `scrub_interval_ms`, or later when the last one
cost more than CPU_SHARE of a core (its thread's CPU time): the scrub never
takes more than 1% of the node's CPU, however busy the node. The node then
reports what it found as it reports a divergence and stops serving and
applying (node.py). Rows the node has not read since it
started, and older blocks, are checked by `tally audit` against the
certificates; a state row edited before the node read it is also caught by
the network, whose certified digest this node's next block then misses.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..core.block import block_hash
from ..core.limits import THREAD_JOIN_TIMEOUT_S, Limits
from ..core.types import StateValue
from ..store.base import BlockRecord, Store, StoredTx
from .state_cache import StateCache

log = logging.getLogger("tally.scrub")

RECENT_BLOCKS = 256  # blocks whose written form the node keeps a fingerprint of
CPU_SHARE = 0.01  # the scrub thread's share of one core, at most (it waits longer after a costly round)


@dataclass(frozen=True, slots=True)
class WrittenBlock:
    """What the node wrote for a block, to compare the store with."""

    height: int
    block_hash: str
    state_digest: str
    results_root: str | None
    write_set_sha256: bytes
    txs_sha256: bytes


def tx_row(txid: str, code: str, message: str, signer_key: str, envelope: str) -> str:
    """One stored transaction row as the scrub compares it; the store builds the same string in SQL.

    Variable fields carry their length, so no two different rows give the same string.
    """
    return f"{txid}\x1f{code}\x1f{len(message)}\x1f{message}{signer_key}\x1f{len(envelope)}\x1f{envelope}"


def _rows_fingerprint(rows: list[str]) -> bytes:
    return hashlib.sha256("\x1e".join(rows).encode()).digest()


def written(record: BlockRecord) -> WrittenBlock:
    txs: list[StoredTx] = record.txs
    return WrittenBlock(
        record.header.height,
        record.block_hash,
        record.state_digest,
        record.results_root,
        hashlib.sha256(record.write_set).digest(),
        _rows_fingerprint([tx_row(t.txid, t.code, t.message, t.signer_key, t.envelope.decode()) for t in txs]),
    )


class Scrubber:
    def __init__(self, store: Store, cache: StateCache, limits: Limits, on_tampered: Callable[[str], None]) -> None:
        self.store = store
        self.cache = cache
        self.limits = limits
        self.on_tampered = on_tampered
        self.stop_event = threading.Event()
        self._recent: deque[WrittenBlock] = deque(maxlen=RECENT_BLOCKS)
        self._block_turn = 0
        self._keys: list[str] = []  # this cycle's keys, taken from the cache as a cycle starts
        self._thread = threading.Thread(target=self._loop, name="tally-scrub", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout=THREAD_JOIN_TIMEOUT_S)

    def wrote(self, record: BlockRecord) -> None:
        """Called on the writer thread once a block is stored."""
        self._recent.append(written(record))

    def _loop(self) -> None:
        pause_s = self.limits.scrub_interval_ms / 1000
        try:
            while not self.stop_event.wait(pause_s):
                started_cpu_s = time.thread_time()
                fault = self.round()
                if fault is not None:
                    self.on_tampered(fault)
                    return
                # At most CPU_SHARE of one core: a round that took longer waits longer (a busy node).
                spent_s = time.thread_time() - started_cpu_s
                pause_s = max(self.limits.scrub_interval_ms / 1000, spent_s * (1 / CPU_SHARE - 1))
        except Exception:  # a scrub that cannot read says so, once; it never stops the node by itself
            log.exception("storage scrub stopped")
        finally:
            self.store.close()  # this thread's connection

    def round(self) -> str | None:
        """One round: a recent block and a chunk of state rows; the first difference found, or None."""
        return self._check_block() or self._check_state()

    # --- blocks ----------------------------------------------------------------

    def _check_block(self) -> str | None:
        recent = list(self._recent)
        if not recent:
            return None
        self._block_turn = (self._block_turn + 1) % len(recent)
        wrote = recent[-1 - self._block_turn]
        return block_fault(self.store, wrote)

    # --- state -----------------------------------------------------------------

    def _check_state(self) -> str | None:
        if not self._keys:
            self._keys = self.cache.keys()
        chunk = self._keys[-self.limits.scrub_keys_per_round :]
        del self._keys[-self.limits.scrub_keys_per_round :]
        if not chunk:
            return None
        stored = self.store.get_states(chunk)
        cached = self.cache.flushed_values(chunk)
        suspects = [k for k, v in cached.items() if stored.get(k) != v]
        if not suspects:
            return None
        # A block may have been stored between the two reads: confirm with the writer held still.
        confirmed = self.cache.confirm_differences(suspects, self.store.get_state)
        if not confirmed:
            return None
        key, ours, theirs = confirmed[0]
        return f"state row {key!r} holds {_short(theirs)}, this node executed {_short(ours)}"


def block_fault(store: Store, wrote: WrittenBlock) -> str | None:
    """How the stored block differs from what the node wrote (None when it does not)."""
    height = wrote.height
    found = store.block_header(height)
    if found is None:
        return f"block {height} is missing from the store"
    header, digest = found
    if block_hash(header) != wrote.block_hash:
        return f"block {height}: stored header differs from the one this node certified"
    if digest != wrote.state_digest:
        return f"block {height}: stored state digest differs from this node's"
    if store.block_results_root(height) != wrote.results_root:
        return f"block {height}: stored results root differs from this node's"
    write_set = store.block_write_set(height) or b""
    if hashlib.sha256(write_set).digest() != wrote.write_set_sha256:
        return f"block {height}: stored state changes differ from those this node executed"
    if _rows_fingerprint(store.block_tx_rows(height)) != wrote.txs_sha256:
        return f"block {height}: stored transactions or results differ from those this node executed"
    return None


def _short(value: StateValue | None) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
