"""GET /v1/network: every validator as this node sees it, for the explorer's network monitor.

This node asks each validator of the genesis (at its `api_url`) for its status,
then for the state digest of the highest block all of them hold as final, so
an operator sees heights, finality and whether the digests agree on one page.
Bounds: one request per validator per `NETWORK_CACHE_MS` (answers are cached),
`PEER_TIMEOUT_S` per request; a validator that does not answer is listed as
unreachable with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..client.http import tls_verify
from ..client.models import NetworkBody, NodeStatusBody, ValidatorView
from ..node.config import tls_paths
from ..node.node import Node
from .status import node_status_body

Handler = Callable[[Request], Awaitable[Response]]

PEER_TIMEOUT_S = 1.0
NETWORK_CACHE_MS = 1_000


async def _status(client: httpx.AsyncClient, url: str) -> NodeStatusBody | str:
    try:
        response = await client.get(url + "/v1/status")
        if response.status_code != 200:
            return f"status {response.status_code}"
        return msgspec.json.decode(response.content, type=NodeStatusBody)
    except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        return type(exc).__name__


async def _digest_at(client: httpx.AsyncClient, url: str, height: int) -> str | None:
    try:
        response = await client.get(f"{url}/v1/blocks/{height}")
        found = response.json().get("state_digest") if response.status_code == 200 else None
        return found if isinstance(found, str) else None
    except (httpx.HTTPError, ValueError):
        return None


def _own_digest(node: Node, height: int) -> str | None:
    found = node.ledger.block(height)
    return found.state_digest if found is not None else None


async def network_view(node: Node) -> NetworkBody:
    """Each validator's height, final height and state digest at the highest height all hold as final."""
    validators = node.validators.history().everyone()  # the genesis's and those the council added
    urls = {v.id: v.api_url.rstrip("/") for v in validators}
    peers = [v.id for v in validators if v.id != node.validator_id and urls[v.id]]
    tls = tls_paths(node.settings, node.data)
    verify = tls_verify(str(tls.ca)) if tls is not None else True
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT_S, verify=verify) as client:
        answers: dict[str, NodeStatusBody | str] = dict(
            zip(peers, await asyncio.gather(*(_status(client, urls[i]) for i in peers)), strict=True)
        )
        answers[node.validator_id] = node_status_body(node)
        reached = {i: a for i, a in answers.items() if isinstance(a, NodeStatusBody)}
        common = min((a.final_height for a in reached.values()), default=0)
        digests: dict[str, str | None] = {}
        if common > 0:
            asked = [i for i in reached if i != node.validator_id]
            found = await asyncio.gather(*(_digest_at(client, urls[i], common) for i in asked))
            digests = dict(zip(asked, found, strict=True))
            digests[node.validator_id] = await asyncio.to_thread(_own_digest, node, common)
    views = []
    for validator in validators:
        answer = answers.get(validator.id, "no api_url in the genesis or the council's add_validator")
        if isinstance(answer, NodeStatusBody):
            view = ValidatorView(
                id=validator.id,
                url=urls[validator.id],
                reachable=True,
                error="",
                height=answer.height,
                final_height=answer.final_height,
                healthy=answer.healthy,
                digest_at_common=digests.get(validator.id),
            )
        else:
            view = ValidatorView(validator.id, urls[validator.id], False, answer, 0, 0, False, None)
        views.append(view)
    agreed = {v.digest_at_common for v in views if v.reachable}
    return NetworkBody(
        chain=node.genesis.chain,
        observer=node.validator_id,
        common_final_height=common,
        digests_agree=common > 0 and len(agreed) == 1 and None not in agreed,
        validators=views,
        time_ms=time.time_ns() // 1_000_000,
    )


def network_endpoint(node: Node) -> Handler:
    cached: list[tuple[int, bytes]] = []

    async def network(request: Request) -> Response:
        now_ms = time.monotonic_ns() // 1_000_000
        if not cached or now_ms - cached[0][0] > NETWORK_CACHE_MS:
            body = msgspec.json.encode(await network_view(node))
            cached[:] = [(now_ms, body)]
        return Response(cached[0][1], media_type="application/json")

    return network
