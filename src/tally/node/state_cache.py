"""Committed state in memory in front of the store, bounded in entries."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from ..core.types import StateValue
from ..store.base import Store

_ABSENT = object()


class StateCache:
    """What the executor reads: stored state, plus blocks executed but not yet stored.

    Only the executor thread fills the cache (`get`, `prefetch`) and applies
    executed blocks (`apply_executed`); the writer thread calls `flushed` once
    a block is stored. Another thread filling the cache could put back a value
    read just before a commit, after that block's writes were applied, so
    other threads use `read`, which never fills. When the cache outgrows its
    bound it is emptied but for the writes of blocks not yet stored, which the
    store cannot yet answer for. The queue of those blocks is shared by the
    executor and the writer, so it is guarded by a lock.
    """

    def __init__(self, store: Store, max_entries: int) -> None:
        assert max_entries > 0
        self.store = store
        self.max_entries = max_entries
        self._values: dict[str, object] = {}
        self._unflushed: deque[dict[str, StateValue | None]] = deque()
        self._unflushed_lock = threading.Lock()

    def get(self, key: str) -> StateValue | None:
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT:
            value = self.store.get_state(key)
            self._values[key] = value
        return value  # type: ignore[return-value]

    def prefetch(self, keys: list[str]) -> None:
        """Load every key not yet cached in a few batched reads (executor thread)."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._values]
        if missing:
            found = self.store.get_states(missing)
            for key in missing:
                self._values[key] = found.get(key)

    def read(self, key: str) -> StateValue | None:
        """For threads other than the executor's: the cached value, or the store's."""
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT:
            return self.store.get_state(key)
        return value  # type: ignore[return-value]

    def apply_executed(self, writes: dict[str, StateValue | None]) -> None:
        with self._unflushed_lock:
            self._unflushed.append(writes)
            if len(self._values) + len(writes) <= self.max_entries:
                self._values.update(writes)
                return
            fresh: dict[str, object] = {}
            for pending in self._unflushed:
                fresh.update(pending)
        self._values = fresh

    def flushed(self, writes: dict[str, StateValue | None]) -> None:
        with self._unflushed_lock:
            oldest = self._unflushed.popleft()
        assert oldest is writes, "blocks are stored in the order they were executed"

    # --- for the storage scrub (node/scrub.py), on its own thread --------------

    def keys(self) -> list[str]:
        """The cached keys now (a copy)."""
        return list(self._values)

    def _pending_keys(self) -> set[str]:
        """Keys written by blocks executed but not yet stored; the caller holds the lock."""
        pending: set[str] = set()
        for writes in self._unflushed:
            pending.update(writes)
        return pending

    def flushed_values(self, keys: list[str]) -> dict[str, StateValue | None]:
        """The cached values of these keys that the store must hold as they are (their blocks are stored)."""
        with self._unflushed_lock:
            pending = self._pending_keys()
            values = self._values
            found = {k: values.get(k, _ABSENT) for k in keys if k not in pending}
        return {k: v for k, v in found.items() if v is not _ABSENT}  # type: ignore[misc]

    def confirm_differences(
        self, keys: list[str], read_stored: Callable[[str], StateValue | None]
    ) -> list[tuple[str, StateValue | None, StateValue | None]]:
        """(key, cached, stored) for each key whose stored row differs from the cache.

        The lock is held throughout, so no stored block's writes can reach the
        cache meanwhile: for a key no pending block writes, the store must
        hold exactly the cached value. Called only for suspects (rare).
        """
        differing = []
        with self._unflushed_lock:
            pending = self._pending_keys()
            for key in keys:
                cached = self._values.get(key, _ABSENT)
                if key in pending or cached is _ABSENT:
                    continue
                stored = read_stored(key)
                if stored != cached:
                    differing.append((key, cached, stored))
        return differing  # type: ignore[return-value]
