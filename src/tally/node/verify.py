"""Signature checks fanned out over a process pool: the one place that does it.

Admission, the pipeline (batches other validators proposed) and `tally
audit` all check (public key, message, signature) triples through
`verify_batch`; small batches are checked inline, where a pool round trip
would cost more than it saves.

A worker ends when the process that started it does, however that ended (a
pool's workers otherwise wait for work forever once their parent is killed):
`worker_init` is the pool's initializer, and every chunk a worker checks makes
sure it watches too.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Executor

from ..core.crypto import verify_many

POOL_MIN_BATCH = 64  # below this, checking inline is cheaper than a round trip to the pool

Check = tuple[bytes, bytes, bytes]  # (public key, message, signature)

_watching: list[threading.Thread] = []


def verify_batch(items: list[Check], pool: Executor | None, workers: int) -> list[bool]:
    """One result per item, in order; spread over `workers` chunks of the pool when it pays."""
    if pool is None or len(items) < POOL_MIN_BATCH:
        return verify_many(items)
    size = -(-len(items) // max(1, workers))
    parts = pool.map(verify_chunk, [items[i : i + size] for i in range(0, len(items), size)])
    return [ok for part in parts for ok in part]


def verify_chunk(items: list[Check]) -> list[bool]:
    """What a pool worker runs: `verify_many`, in a worker that ends with its parent."""
    watch_parent()
    return verify_many(items)


def start_workers(pool: Executor, workers: int) -> None:
    """Start every worker of the pool now, each ignoring SIGINT from its first instruction.

    A process started while SIGINT is ignored keeps it ignored (Python installs
    its KeyboardInterrupt handler only where SIGINT is not ignored), so a Ctrl-C
    that reaches a worker still importing never prints a traceback; the node
    stops its workers itself. Signal dispositions change only in the main thread.
    """
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT)
    if in_main:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        started = [pool.submit(os.getpid) for _ in range(workers)]  # a spawn per submit, up to `workers`
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    for future in started:
        future.result()


def worker_init() -> None:
    """A signature worker's initializer: it ends with its parent, and leaves Ctrl-C to it.

    Ctrl-C signals the terminal's whole process group; the node stops its workers itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent()


def watch_parent() -> None:
    """In a multiprocessing child: exit as soon as the parent process has ended (once per process)."""
    parent = multiprocessing.parent_process()
    if parent is None or _watching:
        return
    thread = threading.Thread(target=_exit_after, args=(parent,), name="tally-parent-watch", daemon=True)
    _watching.append(thread)
    thread.start()


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent's end of a pipe closes: when it has exited, however
    os._exit(0)
