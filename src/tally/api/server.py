"""Run a node with its HTTP API under uvicorn until SIGTERM or Ctrl-C.

Before the node is built, `node/startup.py` checks its data directory. The
server bounds what clients can hold (`limits`): at most `max_connections`
connections (more are answered 503 and closed at once), request headers
within `header_timeout_ms` of a request's first byte, the body within
`body_timeout_ms` of its headers (a stalled connection is closed and logged
in one line). A client that leaves while sending its body is one log line,
not an internal error. SIGTERM and SIGINT stop the server (requests in flight
are answered for up to `GRACEFUL_SHUTDOWN_S`), then the node: its pipeline,
its store, its signature workers and multiprocessing's resource tracker, so
nothing of it runs on once it has exited, even when the signal came while it
was starting.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import resource
import signal
import socket
import struct
import sys
from types import FrameType
from typing import Any, cast

import uvicorn
from sse_starlette.sse import SendTimeoutError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..core.limits import Limits
from ..node.config import DataDir, uvicorn_ssl_options
from ..node.node import Node
from ..node.startup import check
from .app import create_app

log = logging.getLogger("tally.server")

GIL_SWITCH_INTERVAL_S = 0.001
# The cyclic garbage collector's thresholds (gen0 allocations, gen1 and gen2 collections). Python's
# defaults (700, 10, 10) suit small heaps; a node holds millions of long-lived objects (the state
# cache, the mempool) that every older-generation pass walks again. Over `tally bench`'s hot
# merchant run the defaults made 1,169 middle and 66 full passes, these 4 and none: ~8 us less CPU
# per payment (docs/performance.md).
GC_THRESHOLDS = (50_000, 20, 10)
GRACEFUL_SHUTDOWN_S = 5  # how long requests in flight may take to finish once a stop is asked for
FD_RESERVE = 256  # open files the node needs besides client connections: SQLite, etcd, workers, logs
REFUSAL_LOG_INTERVAL_S = 1.0  # connections refused over max_connections: one log line per interval at most
TIMED_OUT = "tally.timed_out"  # set in a request's scope when the server closed its connection for being slow
ABORT = "tally.abort"  # in a request's scope: drops its connection at once, unsent data and all
_REFUSED_BODY = b'{"error": {"code": "too_many_connections", "message": "too many open connections", "details": []}}'
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY)
)


class _Refusals:
    """Counts connections refused over the cap; says so in one log line per interval at most."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.pending = 0
        self.flush_at: asyncio.TimerHandle | None = None

    def note(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pending += 1
        if self.flush_at is None:  # the first refusal after a quiet interval is logged at once
            self.flush(loop)

    def flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.pending:
            self.flush_at = None
            return
        log.warning(
            "refused %d connection(s): max_connections (%d) are open (answered 503 and closed)",
            self.pending,
            self.cap,
        )
        self.pending = 0
        self.flush_at = loop.call_later(REFUSAL_LOG_INTERVAL_S, self.flush, loop)


class _GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection cap and deadlines for receiving a request.

    uvicorn times out only idle keep-alive connections: a client that trickles or
    stops sending its headers or body holds its connection (an open file) forever.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000
    refusals: _Refusals = _Refusals(1000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            transport.write(REFUSED)
            transport.close()
            self.refusals.note(self.loop)
            return
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm(self.header_timeout_s, "headers")  # the first bytes of a next request on a kept-alive connection
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a pipelined request: its own deadline
            self._arm(self.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None:
            cast(dict[str, Any], self.cycle.scope)[ABORT] = self._drop
        self._arm(self.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _drop(self) -> None:
        """Reset the connection: the kernel drops what it still holds for a client that does not read."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if phase == "body" and self.cycle is not None:
            cast(dict[str, Any], self.cycle.scope)[TIMED_OUT] = True
            what = f"the body of {self.cycle.scope['method']} {self.cycle.scope['path']}"
        else:
            what = "request headers"
        log.info("closed the connection of %s: %s not received within %.1f s (timed out)", client, what, seconds)
        self.transport.close()


def guarded_protocol(limits: Limits, max_connections: int) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn builds each connection with, bound to these limits."""
    return type(
        "GuardedProtocol",
        (_GuardedProtocol,),
        {
            "header_timeout_s": limits.header_timeout_ms / 1000,
            "body_timeout_s": limits.body_timeout_ms / 1000,
            "max_connections": max_connections,
            "refusals": _Refusals(max_connections),
        },
    )


class DisconnectLog:
    """A client that goes away while sending its body, or stops reading its event stream, is one log line.

    Starlette's request.stream() raises ClientDisconnect when the connection
    closes before the body is complete; nothing can be answered to a client
    that is gone, so the request ends here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except SendTimeoutError:  # a client that stopped reading its event stream (api/events.py)
            client = scope.get("client")
            who = f"{client[0]}:{client[1]}" if client else "a client"
            log.info("dropped the event stream of %s: it took no data for event_send_timeout_ms", who)
            abort = scope.get(ABORT)
            if abort is not None:
                abort()  # close() would wait, for ever, to send what the client does not read
        except ClientDisconnect:
            if scope.get(TIMED_OUT):
                return  # the server closed it and said so
            client = scope.get("client")
            who = f"{client[0]}:{client[1]}" if client else "a client"
            log.info("client %s went away while sending the body of %s %s", who, scope["method"], scope["path"])


def open_file_budget(max_connections: int) -> int:
    """Raise this process's open-file limit to fit max_connections; the connections it fits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    fits = max_connections if soft == resource.RLIM_INFINITY else min(max_connections, soft - FD_RESERVE)
    if fits < max_connections:
        log.warning("max_connections is %d but the open-file limit (%d) fits %d", max_connections, soft, fits)
    return max(1, fits)


class Stop:
    """SIGTERM and SIGINT ask for one orderly stop, whenever they come; later ones are ignored."""

    def __init__(self) -> None:
        self.requested = False
        self.server: uvicorn.Server | None = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self.requested = True
            log.info("%s: stopping", signal.Signals(signum).name)
        if self.server is not None:
            self.server.should_exit = True


async def serve(data: DataDir, host: str | None = None, port: int | None = None, stop: Stop | None = None) -> None:
    stop = stop or Stop()
    node = Node(data)
    try:
        await node.start()
        if stop.requested:
            return
        settings = node.settings
        app = create_app(node)
        app.add_middleware(DisconnectLog)
        config = uvicorn.Config(
            app,
            host=host or settings.host,
            port=port or settings.port,
            loop="none",
            http=guarded_protocol(node.limits, open_file_budget(node.limits.max_connections)),
            log_level="warning",
            log_config=None,  # uvicorn's own lines go through the root handler (text or JSON, configure_logging)
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            **uvicorn_ssl_options(settings, data),
        )
        server = uvicorn.Server(config)
        stop.server = server
        server.should_exit = stop.requested  # a signal between the check above and here
        print(
            f"tally node {settings.validator_id} on chain {node.genesis.chain}:"
            f" {'https' if config.is_ssl else 'http'}://{config.host}:{config.port} (docs: /docs)",
            flush=True,
        )
        await server.serve()
    finally:
        stop.requested = True  # signals from here on are ignored: the stop below runs to its end
        stop_node(node)


def stop_node(node: Node) -> None:
    """Stop the node, then make sure its signature workers and the resource tracker have ended."""
    try:
        node.stop()
    finally:
        if node.pool is not None:
            node.pool.shutdown(wait=True, cancel_futures=True)  # done by node.stop(), unless it failed first
        _stop_resource_tracker()
        log.info("node stopped")


def _stop_resource_tracker() -> None:
    """multiprocessing's resource tracker ends on its own only after this process has: end it now.

    Only once no child process is left, which could still hold its pipe (its
    _stop waits for it to exit).
    """
    if multiprocessing.active_children():
        return
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


def configure_logging(log_format: str) -> None:
    """Log lines as text, or one JSON object per line (`--log-format json`, for log shippers)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run(data: DataDir, host: str | None = None, port: int | None = None, log_format: str = "text") -> None:
    """Check the data directory (StartupError: one line), then serve until stopped."""
    checked = check(data, host, port)
    configure_logging(log_format)
    # Three threads share the GIL (API, executor, writer) and SQLite hands it back
    # on every row: a shorter switch interval cuts the wait for it (bench/: ~5%).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if os.environ.get("TALLY_DEBUG"):
        logging.getLogger("tally").setLevel(logging.DEBUG)
    stop = Stop()
    stop.install()  # before the node exists: a signal while it starts stops it once it has started
    import uvloop

    uvloop.run(serve(data, checked.host, checked.port, stop))
