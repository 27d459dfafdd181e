"""The node's wall clock, in milliseconds since the Unix epoch.

Block time comes from it (a proposer stamps its log entries) and is judged
against it (a validator votes only for blocks whose time was within
`limits.block_time_precision_ms` of its clock when it first saw them).

`TALLY_CLOCK_OFFSET_MS` shifts it: a drill for a validator whose clock is
wrong (tests start a node 48 hours fast with it). Never set it in production.
"""

from __future__ import annotations

import os
import time

CLOCK_OFFSET_ENV = "TALLY_CLOCK_OFFSET_MS"
_offset_ms = int(os.environ.get(CLOCK_OFFSET_ENV, "0") or "0")


def clock_ms() -> int:
    return time.time_ns() // 1_000_000 + _offset_ms
