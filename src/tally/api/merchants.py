"""The merchant registry's routes (protocol 7): one merchant's entry, and the directory near a point."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..client.geo import from_e6, to_e6
from ..client.models import DirectoryPage, NearbyMerchant
from ..core.tables import MERCHANTS
from ..node.node import Node
from ..store.directory import Nearby
from .errors import ApiError
from .params import Params
from .responses import Handler
from .responses import json_response as _json


def _degrees(params: Params, request: Request, key: str, bound: int) -> int:
    """A required decimal-degrees parameter as millionths of a degree, within ±bound degrees."""
    raw = params.string(request, key)
    name = params.queries[key]["name"]
    if raw is None:
        raise ApiError(400, "invalid_query", f"{name} is required: decimal degrees")
    try:
        return to_e6(raw, bound)
    except ValueError as exc:
        raise ApiError(400, "invalid_query", f"{name}: {exc}") from None


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    distance, _, merchant = raw.partition(":")
    return int(distance), merchant


def _view(n: Nearby) -> NearbyMerchant:
    return NearbyMerchant(
        n.merchant, round(n.distance_mm / 1000), n.category, n.accepts, from_e6(n.lat_e6), from_e6(n.lon_e6)
    )


def directory_endpoint(node: Node, params: Params) -> Handler:
    async def directory(request: Request) -> Response:
        lat_e6 = _degrees(params, request, "directory_lat", 90)
        lon_e6 = _degrees(params, request, "directory_lon", 180)
        asset = params.string(request, "directory_asset")
        category = params.string(request, "directory_category")
        limit = params.integer(request, "directory_limit")
        after = _cursor(params.string(request, "directory_cursor"))
        found = node.store.merchants_near(lat_e6, lon_e6, limit, asset, category, after)
        last = found[-1] if len(found) == limit else None
        cursor = f"{last.distance_mm}:{last.merchant}" if last is not None else None
        return _json(DirectoryPage(items=[_view(n) for n in found], next_cursor=cursor))

    return directory


def merchant_endpoint(node: Node, params: Params) -> Handler:
    async def merchant(request: Request) -> Response:
        merchant_id = params.path(request, "merchant")
        found = MERCHANTS.read(node.store.get_state, merchant_id)
        if found is None:
            raise ApiError(404, "unknown_merchant", f"no registry entry for {merchant_id!r}")
        return _json(found)

    return merchant
