"""Asset policies' routes: the merchants the voucher-cashing guard flagged in an asset (protocol 8), and an
account's lots with their expiries (protocol 9)."""

from __future__ import annotations

from itertools import islice

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import AssetLots, ExpiredView, FlagsBody, LotsBody, LotView
from ..core.tables import ASSETS, EXPIRED, FLAGS, LOTS
from ..core.types import ExpiredLots, HolderLots, MerchantFlag
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


def lots_endpoint(node: Node, params: Params) -> Handler:
    async def lots(request: Request) -> Response:
        account_id = params.path(request, "account")
        if node.ledger.account(account_id) is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        now_ms = node.stored_head.timestamp_ms
        return _json(LotsBody(account=account_id, items=account_lots(node, account_id, now_ms)))

    return lots


def account_lots(node: Node, account_id: str, now_ms: int) -> list[AssetLots]:
    """Per asset (by id), the account's lots as of the last block's time, and its latest expired lots."""
    held: dict[str, HolderLots] = {}
    for key, record in node.store.state_items(LOTS.scan_prefix(account_id)):
        if isinstance(record, HolderLots):
            held[LOTS.key_parts(key)[1]] = record
    gone: dict[str, ExpiredLots] = {}
    for key, record in node.store.state_items(EXPIRED.scan_prefix(account_id)):
        if isinstance(record, ExpiredLots):
            gone[EXPIRED.key_parts(key)[1]] = record
    items = []
    for asset in sorted(held.keys() | gone.keys()):
        lots = (
            [LotView(lot.expires_ms, lot.amount_minor, lot.expires_ms <= now_ms) for lot in held[asset].lots]
            if asset in held
            else []
        )
        expired = (
            [ExpiredView(e.expires_ms, e.amount_minor, e.height, e.to) for e in gone[asset].expired]
            if asset in gone
            else []
        )
        spendable = sum(lot.amount_minor for lot in lots if not lot.expired)
        items.append(AssetLots(asset=asset, lots=lots, spendable_minor=spendable, expired=expired))
    return items
