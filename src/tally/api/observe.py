"""One access-log line and HTTP metrics per request, each with a request id.

The request id is the client's `X-Request-Id` when it sends a well-formed one
(up to 64 of `A-Z a-z 0-9 . _ -`), else a fresh one; it comes back in the
response's `X-Request-Id` header and in every error body (`request_id`), and
it is on the request's log line, so an integrator's report can be matched
with the node's log. Metrics: `tally_http_requests_total{route,method,status}`
and `tally_http_request_seconds{route,method}`, by route template (never by
raw path, so ids in paths do not multiply series).
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tally.access")

REQUEST_ID_HEADER = b"x-request-id"
_GIVEN_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("tally_request_id", default="")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def new_request_id() -> str:
    return secrets.token_hex(8)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tally_http_requests", "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "tally_http_request_seconds", "Time to answer an HTTP request (an event stream: its whole life)",
            ["route", "method"], buckets=LATENCY_BUCKETS_S, registry=registry,
        )  # fmt: skip


class RequestLog:
    """ASGI middleware: request id, one log line and the metrics of every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = given.decode() if _GIVEN_ID.fullmatch(given) else new_request_id()
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
            seconds = time.perf_counter() - started
            route = _route_of(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.seconds.labels(route, scope["method"]).observe(seconds)
            client = scope.get("client")
            log.info(
                "%s %s %s %d %.1fms %s",
                request_id,
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                f"{client[0]}:{client[1]}" if client else "-",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )


def _route_of(scope: Scope) -> str:
    """The matched route's template (e.g. /v1/accounts/{account}), or "unmatched"."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
