"""The orderer interface."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from ..core.types import Certificate
from .mempool import Admitted


@dataclass(frozen=True, slots=True)
class OrderedBatch:
    """The next block's transactions, in order, as the orderer fixed them."""

    position: int  # the log position: solo, the height; etcd, the revision of the put
    proposer: str  # the validator that proposed the batch
    timestamp_ms: int  # the proposer's clock; the block clamps it to be non-decreasing
    txs: list[Admitted]
    verified: bool  # True when this node's admission already checked every signature
    certificate: Certificate | None = None  # present when the block was fetched from a peer


class Orderer(Protocol):
    def start(self) -> None: ...

    def next_batch(self, stop: threading.Event) -> OrderedBatch | None:
        """Block until the next batch (or `stop`); None when there is none yet."""
        ...

    def stored(self, height: int, position: int) -> None:
        """The node stored the block at `height` from log `position`."""
        ...

    def stop(self) -> None: ...
