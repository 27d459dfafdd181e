"""The orderer interface, and how the ordering layer reports untrusted input."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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
    seen_ms: int = 0  # this node's clock when it first saw the entry (0: not judged, e.g. a peer's final block)


class Orderer(Protocol):
    def start(self) -> None: ...

    def next_batch(self, stop: threading.Event) -> OrderedBatch | None:
        """Block until the next batch (or `stop`); None when there is none yet."""
        ...

    def stored(self, height: int, position: int) -> None:
        """The node stored the block at `height` from log `position`."""
        ...

    def halt_proposals(self) -> None:
        """Propose nothing more: the node stopped applying blocks (divergence, failure, tampering)."""
        ...

    def stop(self) -> None: ...


# Called with (kind, key, reason) for every value read from etcd that fails its strict type or its
# signature; the node counts them per kind (metric `tally_etcd_ignored_total`). Nothing read from
# etcd is trusted: an ignored value never stops a watch, a vote count or compaction.
OnIgnored = Callable[[str, str, str], None]

_log = logging.getLogger("tally.etcd")


def log_ignored(kind: str, key: str, reason: str) -> None:
    _log.warning("ignored %s at %s: %s", kind, key, reason)
