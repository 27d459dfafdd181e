"""Committed state in memory in front of the store, bounded in entries."""

from __future__ import annotations

from ..core.types import StateValue
from ..store.base import Store

_ABSENT = object()


class StateCache:
    """Reads through to the store; the pipeline applies each stored block's writes.

    Only the pipeline thread writes. When the cache grows past its bound it is
    emptied (every entry is also in the store, so nothing is lost).
    """

    def __init__(self, store: Store, max_entries: int) -> None:
        assert max_entries > 0
        self.store = store
        self.max_entries = max_entries
        self._values: dict[str, object] = {}

    def get(self, key: str) -> StateValue | None:
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT:
            value = self.store.get_state(key)
            self._values[key] = value
        return value  # type: ignore[return-value]

    def apply(self, writes: dict[str, StateValue | None]) -> None:
        if len(self._values) + len(writes) > self.max_entries:
            self._values = {}
        self._values.update(writes)
