"""The layered view the state transition reads and writes.

Execution never writes to the base state: it writes into a block layer, and
each transaction into its own layer on top, which is merged into the block
layer only when every rule has passed. Keys come from `tables`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from .tables import Table
from .types import StateValue

R = TypeVar("R")


class StateReader(Protocol):
    """Read access to committed state (the node backs it with its store)."""

    def get(self, key: str) -> StateValue | None: ...


class MemoryState:
    """A plain in-memory state; genesis, tests and `tally audit` use it."""

    def __init__(self, values: dict[str, StateValue] | None = None) -> None:
        self.values: dict[str, StateValue] = dict(values or {})

    def get(self, key: str) -> StateValue | None:
        return self.values.get(key)

    def apply(self, writes: dict[str, StateValue | None]) -> None:
        for key, value in writes.items():
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value


_MISSING = object()


class TxView:
    """One transaction's reads and writes over a block layer and a base."""

    __slots__ = ("base", "block_writes", "writes")

    def __init__(self, base: StateReader, block_writes: dict[str, StateValue | None]) -> None:
        self.base = base
        self.block_writes = block_writes
        self.writes: dict[str, StateValue | None] = {}

    def get(self, key: str) -> StateValue | None:
        value = self.writes.get(key, _MISSING)
        if value is _MISSING:
            value = self.block_writes.get(key, _MISSING)
            if value is _MISSING:
                return self.base.get(key)
        return value  # type: ignore[return-value]

    def read(self, table: Table[R], *parts: str) -> R | None:
        """A typed record, or None when absent."""
        value = self.get(table.key(*parts))
        assert value is None or isinstance(value, table.record), (table.prefix, value)
        return value

    def put(self, key: str, value: StateValue | None) -> None:
        """Write (None deletes) a record within this transaction."""
        self.writes[key] = value

    def commit(self) -> None:
        self.block_writes.update(self.writes)
        self.writes = {}

    def discard(self) -> None:
        self.writes = {}
