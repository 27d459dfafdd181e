"""Storage of blocks, transactions, results, state and certificates."""

from .base import BlockRecord, Head, HistoryItem, Store, StoredTx
from .sqlite import SqliteStore

__all__ = ["BlockRecord", "Head", "HistoryItem", "SqliteStore", "Store", "StoredTx"]
