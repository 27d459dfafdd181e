"""Every bound a node enforces, in one struct (documented in docs/api.md).

Plain data: the node's settings carry it, and every layer reads its bounds
from it (admission, mempool, orderers, store, API). Each field states the
range a node can run with; node.json is checked against them when a node
starts (node/startup.py), and a value outside is refused there in one line.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
AtLeastZero = Annotated[int, msgspec.Meta(ge=0)]
MAX_BLOCK_TXS_BOUND = (1 << 20) - 1  # a block's transactions are numbered in 20 bits where they are stored
ETCD_REQUEST_BYTES_BOUND = 1_500_000  # etcd refuses requests over 1.5 MiB by default (a batch and its envelope)


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every bound the node enforces; all are documented in docs/api.md."""

    max_body_bytes: AtLeastOne = 4 * 1024 * 1024
    max_batch_txs: AtLeastOne = 2000
    mempool_max_txs: AtLeastOne = 200_000
    max_block_txs: Annotated[int, msgspec.Meta(ge=1, le=MAX_BLOCK_TXS_BOUND)] = 4000
    block_interval_ms: AtLeastZero = 20
    max_seq_ahead: AtLeastOne = 4096
    max_expiry_ms: AtLeastOne = 24 * 3600 * 1000
    max_wait_ms: AtLeastZero = 30_000
    max_history_page: AtLeastOne = 200
    state_cache_entries: AtLeastOne = 2_000_000
    retry_after_s: AtLeastZero = 1
    # etcd refuses requests over 1.5 MiB by default
    max_log_batch_bytes: Annotated[int, msgspec.Meta(ge=1, le=ETCD_REQUEST_BYTES_BOUND)] = 1_000_000
    log_retention_blocks: AtLeastOne = 1000  # etcd log kept for laggards before compaction (they then sync from a peer)
    # A validator votes for a block only if its time was at most this far ahead of the validator's clock
    # when it first saw the block's log entry (docs/network.md, "Block time").
    block_time_precision_ms: AtLeastZero = 2_000
    # The storage scrub (node/scrub.py): every round compares this many cached state rows, and the
    # newest stored blocks one by one, with what the node executed and certified.
    scrub_interval_ms: AtLeastOne = 1_000
    scrub_keys_per_round: AtLeastOne = 2_000
    # Clients (api/server.py): open connections at most (more are answered 503 and closed at once); a
    # request's headers must arrive within header_timeout_ms of its first byte (of the connection, for
    # the first request), its body within body_timeout_ms of its headers, or the connection is closed.
    max_connections: AtLeastOne = 1000
    header_timeout_ms: AtLeastOne = 10_000
    body_timeout_ms: AtLeastOne = 30_000
    # Event streams (GET /v1/events): open streams at most (more are answered 503); a stream whose client
    # takes no event within event_send_timeout_ms, or that falls more than max_event_lag_blocks behind the
    # final height after it caught up, is closed (the second with an `error` event saying so).
    max_event_streams: AtLeastOne = 256
    event_send_timeout_ms: AtLeastOne = 10_000
    max_event_lag_blocks: AtLeastOne = 10_000


# Bounds on waiting inside a node's threads (not consensus-relevant).
STOP_POLL_S = 0.1  # how often a thread blocked on a queue or condition looks at its stop flag
THREAD_JOIN_TIMEOUT_S = 30  # how long stopping waits for a thread
