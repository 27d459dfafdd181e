"""GET /v1/events: final blocks, transactions and balance changes as server-sent events.

A stream starts after the position its client names (the `Last-Event-ID`
header a reconnecting EventSource sends, or `cursor`; none: from now) and
reads the store block by block up to the final height, then waits for the
next final block (node/events.py says why this has no gaps or duplicates).
Bounds: `limits.max_event_streams` open streams (more: 503), a client that
takes no event within `limits.event_send_timeout_ms` is disconnected, and
one that falls more than `limits.max_event_lag_blocks` behind after it
caught up gets an `error` event (`too_slow`) and is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from ..core.types import AccountId, AssetId
from ..node.events import BLOCK_INDEX, KINDS, Event, EventFilter, Position, block_events, event_id, parse_event_id
from ..node.node import Node
from .errors import ApiError

log = logging.getLogger("tally.events")

READ_BLOCKS = 20  # blocks one store read covers: the events a stream holds in memory at once
PING_S = 15  # a comment line this often keeps proxies from closing an idle stream
_ACCOUNT_RE = re.compile(AccountId.__metadata__[0].pattern)  # type: ignore[attr-defined]
_ASSET_RE = re.compile(AssetId.__metadata__[0].pattern)  # type: ignore[attr-defined]


def event_filter(request: Request) -> EventFilter:
    """The stream's filter from its query (400 invalid_query for a bad one)."""
    params = request.query_params
    kinds = params.get("types")
    chosen = frozenset(kinds.split(",")) if kinds is not None else frozenset(KINDS)
    if not chosen or not chosen <= set(KINDS):
        raise ApiError(400, "invalid_query", f"types is a comma-separated list of {', '.join(KINDS)}")
    found: dict[str, str | None] = {}
    for name, pattern in (("account", _ACCOUNT_RE), ("merchant", _ACCOUNT_RE), ("asset", _ASSET_RE)):
        value = params.get(name)
        if value is not None and (len(value) > 64 or not pattern.fullmatch(value)):
            raise ApiError(400, "invalid_query", f"{name} {value[:80]!r} is not a well-formed id")
        found[name] = value
    return EventFilter(chosen, found["account"], found["merchant"], found["asset"])


def start_after(request: Request, node: Node) -> Position:
    """Where the stream starts: after the client's last event id, or after the newest final block."""
    given = request.headers.get("last-event-id") or request.query_params.get("cursor")
    if given is None:
        return (node.final_height, BLOCK_INDEX, 0)
    position = parse_event_id(given)
    if position is None:
        raise ApiError(400, "invalid_event_id", f"{given[:80]!r} is not an event id (HEIGHT:INDEX:K, as sent)")
    return position


def _read(node: Node, after: Position, top: int, wanted: EventFilter) -> list[Event]:
    first = after[0] if after[1] < BLOCK_INDEX else after[0] + 1
    return [e for h in range(max(1, first), top + 1) for e in block_events(node.store, h, after, wanted)]


async def _stream(node: Node, after: Position, wanted: EventFilter) -> AsyncIterator[ServerSentEvent]:
    limits = node.limits
    caught_up = False
    node.event_streams += 1
    try:
        while True:
            final = node.final_height
            done_to = after[0] if after[1] >= BLOCK_INDEX else after[0] - 1  # whole blocks sent
            if done_to >= final:
                caught_up = True
                await node.wait_final_above(done_to, PING_S)
                continue
            if caught_up and final - done_to > limits.max_event_lag_blocks:
                message = f"this stream fell {final - done_to} blocks behind; reconnect with Last-Event-ID"
                body = msgspec.json.encode({"code": "too_slow", "message": message}).decode()
                yield ServerSentEvent(data=body, event="error")
                return
            top = min(final, max(done_to, 0) + READ_BLOCKS)
            for event in await asyncio.to_thread(_read, node, after, top, wanted):
                yield ServerSentEvent(
                    data=msgspec.json.encode(event.data).decode(), event=event.kind, id=event_id(event.position)
                )
            after = max(after, (top, BLOCK_INDEX, 0))
    finally:
        node.event_streams -= 1


def events_endpoint(node: Node) -> Callable[[Request], Awaitable[Response]]:
    async def events(request: Request) -> Response:
        wanted = event_filter(request)
        after = start_after(request, node)
        if node.event_streams >= node.limits.max_event_streams:
            raise ApiError(
                503, "too_many_streams", f"this node serves at most {node.limits.max_event_streams} event streams"
            )
        return EventSourceResponse(
            _stream(node, after, wanted),
            ping=PING_S,
            send_timeout=node.limits.event_send_timeout_ms / 1000,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return events
