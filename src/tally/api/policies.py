"""Asset policies' routes: the merchants the voucher-cashing guard flagged in an asset (protocol 8), an
account's lots with their expiries (protocol 9), and an asset's incentive rules with their budgets (10)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import AssetLots, ExpiredView, FlagsBody, IncentivesBody, IncentiveView, LotsBody, LotView
from ..core.lots import ends_at_once
from ..core.policy import policy_of
from ..core.tables import ASSETS, BALANCES, EXPIRED, FLAGS, INCENTIVES, LOTS
from ..core.types import AssetPolicy, ExpiredLots, HolderLots, Lot, MerchantFlag
from ..node.node import Node
from .errors import ApiError
from .params import Params
from .records import known_account, records_under
from .responses import Handler
from .responses import json_response as _json

MAX_FLAGS = 500  # flags one answer lists (by merchant id); `truncated` says when there are more


def flags_endpoint(node: Node, params: Params) -> Handler:
    async def flags(request: Request) -> Response:
        asset_id = params.path(request, "asset")
        if ASSETS.read(node.store.get_state, asset_id) is None:
            raise ApiError(404, "unknown_asset", f"no asset {asset_id!r}")
        found, more = records_under(node, FLAGS.scan_prefix(asset_id), MerchantFlag, MAX_FLAGS)
        return _json(FlagsBody(asset=asset_id, flags=[flag for _, flag in found], truncated=more))

    return flags


def lots_endpoint(node: Node, params: Params) -> Handler:
    async def lots(request: Request) -> Response:
        account_id = known_account(node, params.path(request, "account")).id
        now_ms = node.stored_head.timestamp_ms
        return _json(LotsBody(account=account_id, items=account_lots(node, account_id, now_ms)))

    return lots


MAX_LOT_ASSETS = 1_000  # assets one answer lists an account's lots in


def account_lots(node: Node, account_id: str, now_ms: int) -> list[AssetLots]:
    """Per asset (by id), the account's lots as of the last block's time, and its latest expired lots."""
    held = {
        LOTS.key_parts(k)[1]: r.lots
        for k, r in records_under(node, LOTS.scan_prefix(account_id), HolderLots, MAX_LOT_ASSETS)[0]
    }
    gone = {
        EXPIRED.key_parts(k)[1]: r.expired
        for k, r in records_under(node, EXPIRED.scan_prefix(account_id), ExpiredLots, MAX_LOT_ASSETS)[0]
    }
    for asset, amount_minor in node.ledger.balances(account_id).items():  # assets that end at once: one lot
        found = ASSETS.read(node.store.get_state, asset)
        if found is not None and ends_at_once(policy_of(found)) and asset not in held:
            assert isinstance(found.policy, AssetPolicy)
            held[asset] = [Lot(found.policy.valid_until_ms, amount_minor)]
    items = []
    for asset in sorted(held.keys() | gone.keys()):
        lots = [LotView(lot.expires_ms, lot.amount_minor, lot.expires_ms <= now_ms) for lot in held.get(asset, [])]
        expired = [ExpiredView(e.expires_ms, e.amount_minor, e.height, e.to) for e in gone.get(asset, [])]
        spendable = sum(lot.amount_minor for lot in lots if not lot.expired)
        items.append(AssetLots(asset=asset, lots=lots, spendable_minor=spendable, expired=expired))
    return items


def incentives_endpoint(node: Node, params: Params) -> Handler:
    async def incentives(request: Request) -> Response:
        asset_id = params.path(request, "asset")
        if ASSETS.read(node.store.get_state, asset_id) is None:
            raise ApiError(404, "unknown_asset", f"no asset {asset_id!r}")
        found = INCENTIVES.read(node.store.get_state, asset_id)
        now_ms = node.stored_head.timestamp_ms
        items = [
            IncentiveView(
                rule=rule,
                budget_minor=BALANCES.read(node.store.get_state, rule.budget_account, asset_id) or 0,
                active=rule.from_ms <= now_ms and (not rule.until_ms or now_ms < rule.until_ms),
            )
            for rule in (found.rules if found is not None else [])
        ]
        return _json(IncentivesBody(asset=asset_id, items=items))

    return incentives
