"""The coupon mall's routes (protocol 10): the mall, one coupon, a holder's coupons, a merchant's uses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import CouponsBody, CouponUsesBody, CouponUseView, OwnedCouponsBody, OwnedCouponView
from ..core.tables import COUPON_USES, COUPONS, OWNED_COUPONS
from ..core.types import Coupon, CouponUse, OwnedCoupon
from ..node.node import Node
from .errors import ApiError
from .params import Params
from .records import known_account, records_under
from .responses import Handler
from .responses import json_response as _json

MAX_COUPONS = 500  # what one answer lists; `truncated` says when there are more


def mall_endpoint(node: Node, params: Params) -> Handler:
    async def mall(request: Request) -> Response:
        found, more = records_under(node, COUPONS.scan_prefix(), Coupon, MAX_COUPONS)
        return _json(CouponsBody(items=[c for _, c in found], truncated=more))

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
        account_id = known_account(node, params.path(request, "account")).id
        found, more = records_under(node, OWNED_COUPONS.scan_prefix(account_id), OwnedCoupon, MAX_COUPONS)
        items = [
            OwnedCouponView(
                OWNED_COUPONS.key_parts(k)[1], o.coupon, o.bought_height, o.used_txid, o.used_merchant, o.used_height
            )
            for k, o in found
        ]
        return _json(OwnedCouponsBody(account=account_id, items=items, truncated=more))

    return owned


def uses_endpoint(node: Node, params: Params) -> Handler:
    async def uses(request: Request) -> Response:
        merchant_id = known_account(node, params.path(request, "merchant")).id
        found, more = records_under(node, COUPON_USES.scan_prefix(merchant_id), CouponUse, MAX_COUPONS)
        items = [CouponUseView(COUPON_USES.key_parts(k)[1], u.coupon, u.holder, u.height, u.txid) for k, u in found]
        items.sort(key=lambda u: u.height, reverse=True)
        return _json(CouponUsesBody(merchant=merchant_id, items=items, truncated=more))

    return uses
