"""The coupon mall's routes (protocol 10): the mall, one coupon, a holder's coupons, a merchant's uses."""

from __future__ import annotations

from itertools import islice

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import CouponsBody, CouponUsesBody, CouponUseView, OwnedCouponsBody, OwnedCouponView
from ..core.tables import COUPON_USES, COUPONS, OWNED_COUPONS
from ..core.types import Coupon, CouponUse, OwnedCoupon
from ..node.node import Node
from .errors import ApiError
from .params import Params
from .responses import Handler
from .responses import json_response as _json

MAX_COUPONS = 500  # what one answer lists; `truncated` says when there are more


def mall_endpoint(node: Node, params: Params) -> Handler:
    async def mall(request: Request) -> Response:
        found = [c for _, c in islice(node.store.state_items(COUPONS.scan_prefix()), MAX_COUPONS + 1)]
        items = [c for c in found if isinstance(c, Coupon)]
        return _json(CouponsBody(items=items[:MAX_COUPONS], truncated=len(items) > MAX_COUPONS))

    return mall


def coupon_endpoint(node: Node, params: Params) -> Handler:
    async def coupon(request: Request) -> Response:
        coupon_id = params.path(request, "coupon")
        found = COUPONS.read(node.store.get_state, coupon_id)
        if found is None:
            raise ApiError(404, "unknown_coupon", f"no coupon {coupon_id!r} in the mall")
        return _json(found)

    return coupon


def owned_endpoint(node: Node, params: Params) -> Handler:
    async def owned(request: Request) -> Response:
        account_id = params.path(request, "account")
        if node.ledger.account(account_id) is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        rows = islice(node.store.state_items(OWNED_COUPONS.scan_prefix(account_id)), MAX_COUPONS + 1)
        items = [
            OwnedCouponView(OWNED_COUPONS.key_parts(k)[1], o.coupon, o.bought_height, o.used_txid, o.used_merchant)
            for k, o in rows
            if isinstance(o, OwnedCoupon)
        ]
        return _json(
            OwnedCouponsBody(account=account_id, items=items[:MAX_COUPONS], truncated=len(items) > MAX_COUPONS)
        )

    return owned


def uses_endpoint(node: Node, params: Params) -> Handler:
    async def uses(request: Request) -> Response:
        merchant_id = params.path(request, "merchant")
        if node.ledger.account(merchant_id) is None:
            raise ApiError(404, "unknown_account", f"no account {merchant_id!r}")
        rows = islice(node.store.state_items(COUPON_USES.scan_prefix(merchant_id)), MAX_COUPONS + 1)
        items = [
            CouponUseView(COUPON_USES.key_parts(k)[1], u.coupon, u.holder, u.height, u.txid)
            for k, u in rows
            if isinstance(u, CouponUse)
        ]
        items.sort(key=lambda u: u.height, reverse=True)
        body = CouponUsesBody(merchant=merchant_id, items=items[:MAX_COUPONS], truncated=len(items) > MAX_COUPONS)
        return _json(body)

    return uses
