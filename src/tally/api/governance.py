"""Governance routes: the council, its proposals, an account's controls and an asset's supply."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import ProposalsPage
from ..node import governance
from ..node.node import Node
from .errors import ApiError
from .params import Params
from .records import known_account
from .responses import Handler
from .responses import json_response as _json


def _no_council() -> ApiError:
    return ApiError(404, "no_council", "this ledger's protocol version has no council (version 5 on)")


def council_endpoint(node: Node) -> Handler:
    async def council(request: Request) -> Response:
        found = governance.council(node.store)
        if found is None:
            raise _no_council()
        return _json(found)

    return council


def proposals_endpoint(node: Node, params: Params) -> Handler:
    async def proposals(request: Request) -> Response:
        limit = params.integer(request, "proposals_limit")
        after = params.string(request, "proposals_cursor")
        if governance.council(node.store) is None:
            raise _no_council()
        found = governance.proposals(node.store, after, limit, node.stored_head.timestamp_ms)
        return _json(ProposalsPage(items=found, next_cursor=found[-1].id if len(found) == limit else None))

    return proposals


def proposal_endpoint(node: Node, params: Params) -> Handler:
    async def proposal(request: Request) -> Response:
        proposal_id = params.path(request, "proposal")
        found = governance.proposal(node.store, proposal_id, node.stored_head.timestamp_ms)
        if found is None:
            raise ApiError(404, "unknown_proposal", f"no proposal {proposal_id!r}")
        return _json(found)

    return proposal


def controls_endpoint(node: Node, params: Params) -> Handler:
    async def controls(request: Request) -> Response:
        account = known_account(node, params.path(request, "account"))
        return _json(governance.controls(node.store, account.id, account.role, node.stored_head.timestamp_ms))

    return controls


def supply_endpoint(node: Node, params: Params) -> Handler:
    async def supply(request: Request) -> Response:
        asset_id = params.path(request, "asset")
        found = governance.supply(node.store, asset_id)
        if found is None:
            raise ApiError(404, "unknown_asset", f"no asset {asset_id!r}")
        return _json(found)

    return supply
