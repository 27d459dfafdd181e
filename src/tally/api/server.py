"""Run a node with its HTTP API under uvicorn until interrupted."""

from __future__ import annotations

import logging
import os
import signal
import sys

import uvicorn

from ..node.config import DataDir
from ..node.node import Node
from .app import create_app

log = logging.getLogger("tally.server")

GIL_SWITCH_INTERVAL_S = 0.001


async def serve(data: DataDir, host: str | None = None, port: int | None = None) -> None:
    node = Node(data)
    settings = node.settings
    await node.start()
    app = create_app(node)
    config = uvicorn.Config(
        app,
        host=host or settings.host,
        port=port or settings.port,
        loop="none",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    print(
        f"tally node {settings.validator_id} on chain {node.genesis.chain}:"
        f" http://{config.host}:{config.port} (docs: /docs)",
        flush=True,
    )
    try:
        await server.serve()
    finally:
        node.stop()
        log.info("node stopped")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run(data: DataDir, host: str | None = None, port: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Three threads share the GIL (API, executor, writer) and SQLite hands it back
    # on every row: a shorter switch interval cuts the wait for it (bench/: ~5%).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if os.environ.get("TALLY_DEBUG"):
        logging.getLogger("tally").setLevel(logging.DEBUG)
    # uvicorn shuts down on SIGTERM, then raises the signal again under the handler
    # that was there before it: this one turns it into an orderly exit, so the
    # node stops its pipeline, closes its store and ends its signature workers.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    import uvloop

    uvloop.run(serve(data, host, port))
