"""`tally node repair`: rebuild a node's ledger from a majority node's blocks.

The old ledger is kept beside the new one (ledger.db.diverged-<time>) for
inspection. Every block fetched is checked against its certificate (a quorum
of the validators at its height), re-executed from genesis here, and its digest
must equal the certified one before it is stored. The node then resumes from
the etcd log after the last repaired block. With TLS (node.json "tls"), the
peers' certificates are checked against the node's CA and the node presents
its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from ..client.auth import Reader
from ..ordering.mempool import Mempool
from ..ordering.peers import Peers
from ..ordering.solo import SoloOrderer
from ..store import open_store
from .config import DataDir, tls_paths
from .pipeline import Pipeline
from .state_cache import StateCache

REPAIR_CACHE_ENTRIES = 1_000_000


def repair(data: DataDir, peer_urls: list[str], progress: Callable[[int], None] = lambda n: None) -> int:
    """Replace the ledger with the peers' certified blocks; returns the height reached."""
    lock_fd = data.lock()  # the node must be stopped
    genesis = data.genesis()
    settings = data.settings()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        old = Path(f"{data.ledger_path}{suffix}")
        if old.exists():
            old.rename(f"{data.ledger_path}.diverged-{stamp}{suffix}")
    store = open_store(data.ledger_path, genesis)
    mempool = Mempool(1)
    pipeline = Pipeline(
        genesis=genesis,
        store=store,
        cache=StateCache(store, REPAIR_CACHE_ENTRIES),
        mempool=mempool,
        orderer=SoloOrderer(mempool, settings.validator_id, 1, 1, 0),
        validator_id=settings.validator_id,
        validator_key=data.validator_key().keypair(),
        certify_alone=False,
        on_block=lambda done: None,
    )
    reader = Reader(settings.validator_id, data.validator_key().keypair(), "validator")
    peers = Peers(peer_urls, pipeline.validators.history, reader, tls_paths(settings, data))
    try:
        while True:
            batch = peers.fetch(pipeline.head.height + 1)
            if batch is None:
                break
            pipeline.write(*pipeline.execute(batch))
            progress(1)
    finally:
        peers.close()
        store.close()
        os.close(lock_fd)
    return pipeline.head.height
