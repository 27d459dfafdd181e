"""Signature checks fanned out over a process pool: the one place that does it.

Admission, the pipeline (batches other validators proposed) and `tally
audit` all check (public key, message, signature) triples through
`verify_batch`; small batches are checked inline, where a pool round trip
would cost more than it saves.
"""

from __future__ import annotations

from concurrent.futures import Executor

from ..core.crypto import verify_many

POOL_MIN_BATCH = 64  # below this, checking inline is cheaper than a round trip to the pool

Check = tuple[bytes, bytes, bytes]  # (public key, message, signature)


def verify_batch(items: list[Check], pool: Executor | None, workers: int) -> list[bool]:
    """One result per item, in order; spread over `workers` chunks of the pool when it pays."""
    if pool is None or len(items) < POOL_MIN_BATCH:
        return verify_many(items)
    size = -(-len(items) // max(1, workers))
    parts = pool.map(verify_many, [items[i : i + size] for i in range(0, len(items), size)])
    return [ok for part in parts for ok in part]
