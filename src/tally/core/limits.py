"""Every bound a node enforces, in one struct (documented in docs/api.md).

Plain data: the node's settings carry it, and every layer reads its bounds
from it (admission, mempool, orderers, store, API).
"""

from __future__ import annotations

import msgspec


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every bound the node enforces; all are documented in docs/api.md."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_batch_txs: int = 2000
    mempool_max_txs: int = 200_000
    max_block_txs: int = 4000
    block_interval_ms: int = 20
    max_seq_ahead: int = 4096
    max_expiry_ms: int = 24 * 3600 * 1000
    max_wait_ms: int = 30_000
    max_history_page: int = 200
    state_cache_entries: int = 2_000_000
    retry_after_s: int = 1
    max_log_batch_bytes: int = 1_000_000  # etcd refuses requests over 1.5 MiB by default
    log_retention_blocks: int = 1000  # etcd log kept for laggards before compaction (they then sync from a peer)


# Bounds on waiting inside a node's threads (not consensus-relevant).
STOP_POLL_S = 0.1  # how often a thread blocked on a queue or condition looks at its stop flag
THREAD_JOIN_TIMEOUT_S = 30  # how long stopping waits for a thread
