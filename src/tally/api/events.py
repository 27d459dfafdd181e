"""GET /v1/events: final blocks, transactions and balance changes as server-sent events.

A stream starts after the position its client names (the `Last-Event-ID`
header a reconnecting EventSource sends, or `cursor`; none: from now) and
reads the store block by block up to the final height, then waits for the
next final block (node/events.py says why this has no gaps or duplicates).
Bounds: `limits.max_event_streams` open streams (more: 503), a client that
takes no event within `limits.event_send_timeout_ms` is disconnected, and
one that falls more than `limits.max_event_lag_blocks` behind after it
caught up gets an `error` event (`too_slow`) and is disconnected.

Access (api/access.py): block events are public. Transactions and balance changes need a read token
(`Authorization: Bearer`, or `?access_token=` for browsers' EventSource); the stream then carries the
events of the accounts its principal may read (auditors and regulators: all): a transaction that
touches one, with only those accounts' balance changes, and their balance events. Without a token the
stream carries block events (the default `types`), and asking for `tx` or `balance` is refused 401
`auth_required`; an `account` or `merchant` the principal may not read is refused 403 `not_permitted`.
The token is checked again as the stream goes on: once it expires (or the key changed) the stream
sends an `error` event with `token_expired` (or `token_invalid`) and closes; resume with a new token.
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
from ..node.events import (
    BLOCK_INDEX,
    KINDS,
    Event,
    EventFilter,
    Position,
    block_events,
    event_id,
    parse_event_id,
    tx_parties,
)
from ..node.node import Node
from .access import Principal, ReadAccess, may_read
from .errors import ApiError

log = logging.getLogger("tally.events")

READ_BLOCKS = 20  # blocks one store read covers: the events a stream holds in memory at once
PING_S = 15  # a comment line this often keeps proxies from closing an idle stream
_ACCOUNT_RE = re.compile(AccountId.__metadata__[0].pattern)  # type: ignore[attr-defined]
_ASSET_RE = re.compile(AssetId.__metadata__[0].pattern)  # type: ignore[attr-defined]


PUBLIC_KINDS = frozenset({"block"})  # what a stream without a token carries
MAX_CACHED_ACCOUNTS = 10_000  # a stream's memory of which accounts its principal may read


def event_filter(request: Request, authenticated: bool = True) -> EventFilter:
    """The stream's filter from its query (400 invalid_query for a bad one; 401 auth_required for account
    events asked without a token)."""
    params = request.query_params
    kinds = params.get("types")
    default = frozenset(KINDS) if authenticated else PUBLIC_KINDS
    chosen = frozenset(kinds.split(",")) if kinds is not None else default
    if not chosen or not chosen <= set(KINDS):
        raise ApiError(400, "invalid_query", f"types is a comma-separated list of {', '.join(KINDS)}")
    if not authenticated and not chosen <= PUBLIC_KINDS:
        raise ApiError(
            401,
            "auth_required",
            "tx and balance events need a read token (docs/access.md); block events are public: types=block",
            headers={"WWW-Authenticate": 'Bearer realm="tally"'},
        )
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


class Visible:
    """What a principal that does not read every account sees of the events: those of its accounts."""

    def __init__(self, node: Node, principal: Principal) -> None:
        self.node, self.principal = node, principal
        self.known: dict[str, bool] = {}

    def readable(self, account: str) -> bool:
        found = self.known.get(account)
        if found is None:
            if len(self.known) >= MAX_CACHED_ACCOUNTS:
                self.known.clear()
            found = self.known[account] = may_read(self.node, self.principal, account)
        return found

    def event(self, event: Event) -> Event | None:
        """The event as the principal may see it (a transaction with only its accounts' movements), or None."""
        if event.kind == "block":
            return event
        if event.kind == "balance":
            return event if self.readable(event.data["account"]) else None
        moved = [m["account"] for m in event.data["movements"]]
        parties = tx_parties(event.data["type"], event.data["tx"], moved)
        if not any(self.readable(p) for p in parties):
            return None
        movements = [m for m in event.data["movements"] if self.readable(m["account"])]
        return Event(event.position, event.kind, {**event.data, "movements": movements})


def _read_visible(node: Node, after: Position, top: int, wanted: EventFilter, visible: Visible | None) -> list[Event]:
    found = _read(node, after, top, wanted)
    if visible is None:
        return found
    return [shown for e in found if (shown := visible.event(e)) is not None]


async def _stream(
    node: Node,
    after: Position,
    wanted: EventFilter,
    visible: Visible | None = None,
    still_valid: Callable[[], object] | None = None,
) -> AsyncIterator[ServerSentEvent]:
    limits = node.limits
    caught_up = False
    node.event_streams += 1
    try:
        while True:
            if still_valid is not None:
                try:
                    still_valid()
                except ApiError as err:  # the token expired, or the principal's key changed
                    body = msgspec.json.encode({"code": err.code, "message": err.message}).decode()
                    yield ServerSentEvent(data=body, event="error")
                    return
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
            for event in await asyncio.to_thread(_read_visible, node, after, top, wanted, visible):
                yield ServerSentEvent(
                    data=msgspec.json.encode(event.data).decode(), event=event.kind, id=event_id(event.position)
                )
            after = max(after, (top, BLOCK_INDEX, 0))
    finally:
        node.event_streams -= 1


def events_endpoint(node: Node, access: ReadAccess) -> Callable[[Request], Awaitable[Response]]:
    async def events(request: Request) -> Response:
        principal: Principal | None = request.state.principal  # api/access.py checked the token
        wanted = event_filter(request, principal is not None)
        visible = None
        if principal is not None and not principal.sees_all:
            for named in (wanted.account, wanted.merchant):
                if named is not None and not may_read(node, principal, named):
                    raise ApiError(
                        403, "not_permitted", f"{principal.kind} {principal.id!r} may not read account {named!r}"
                    )
            visible = Visible(node, principal)
        after = start_after(request, node)
        if node.event_streams >= node.limits.max_event_streams:
            raise ApiError(
                503, "too_many_streams", f"this node serves at most {node.limits.max_event_streams} event streams"
            )
        still_valid = None if principal is None else lambda: access.principal(request, query_token=True)
        return EventSourceResponse(
            _stream(node, after, wanted, visible, still_valid),
            ping=PING_S,
            send_timeout=node.limits.event_send_timeout_ms / 1000,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return events
