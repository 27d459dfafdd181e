"""Asset policies' routes (protocol 8): the merchants the voucher-cashing guard flagged in an asset."""

from __future__ import annotations

from itertools import islice

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import FlagsBody
from ..core.tables import ASSETS, FLAGS
from ..core.types import MerchantFlag
from ..node.node import Node
from .errors import ApiError
from .params import Params
from .responses import Handler
from .responses import json_response as _json

MAX_FLAGS = 500  # flags one answer lists (by merchant id); `truncated` says when there are more


def flags_endpoint(node: Node, params: Params) -> Handler:
    async def flags(request: Request) -> Response:
        asset_id = params.path(request, "asset")
        if ASSETS.read(node.store.get_state, asset_id) is None:
            raise ApiError(404, "unknown_asset", f"no asset {asset_id!r}")
        items = node.store.state_items(FLAGS.scan_prefix(asset_id))
        found = [flag for _, flag in islice(items, MAX_FLAGS + 1) if isinstance(flag, MerchantFlag)]
        return _json(FlagsBody(asset=asset_id, flags=found[:MAX_FLAGS], truncated=len(found) > MAX_FLAGS))

    return flags
