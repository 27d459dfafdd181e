"""Storage of blocks, transactions, results, state and certificates."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ..core.genesis import genesis_state
from ..core.types import Genesis
from .base import BlockRecord, Head, HistoryItem, Store, StoredTx, TxLocation


class WrongGenesis(RuntimeError):
    pass


def open_store(location: Path | str, genesis: Genesis | None = None) -> Store:
    """Open a ledger (today a SQLite file); with `genesis`, write its state on first use.

    The one place that chooses a store implementation.
    """
    from .sqlite import SqliteStore

    store = SqliteStore(location)
    if genesis is not None:
        stored = store.get_meta("genesis")
        encoded = msgspec.json.encode(genesis)
        if stored is None:
            store.put_state(genesis_state(genesis))
            store.put_meta("genesis", encoded)
        elif stored != encoded:
            store.close()
            raise WrongGenesis(f"{location} belongs to another genesis")
    return store


def stored_genesis(store: Store) -> Genesis | None:
    raw = store.get_meta("genesis")
    return None if raw is None else msgspec.json.decode(raw, type=Genesis)


__all__ = [
    "BlockRecord",
    "Head",
    "HistoryItem",
    "Store",
    "StoredTx",
    "TxLocation",
    "WrongGenesis",
    "open_store",
    "stored_genesis",
]
