"""QR codes at the counter: a merchant's code to show, a scanned code checked, a holder's payment code.

- GET /v1/merchants/{merchant}/qr: the merchant-presented code (EMVCo MPM)
  for an asset, dynamic when it names an amount (one payment, three minutes),
  as JSON with an SVG drawing, or as SVG or PNG alone (`format`).
- POST /v1/qr/parse: a scanned payload checked against this chain and the
  node's clock, with the amount in minor units; a refused payload answers 422
  with the reason as `qr_<reason>` (qr_bad_crc, qr_expired, qr_foreign_chain...).
- GET /v1/codes/{code}: a consumer-presented payment code as the ledger holds
  it (open, charged or expired), for the POS before it charges.
"""

from __future__ import annotations

import secrets
import time
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from .. import qr
from ..client.amounts import AmountError, format_minor, to_minor
from ..client.models import MerchantCodeBody, MerchantQrBody, ParseQrRequest, PayCodeBody
from ..core.types import Asset
from ..node.node import Node
from ..qr import render
from .errors import ApiError
from .params import Params
from .responses import Handler
from .responses import json_response as _json

DEFAULT_CITY = "Seoul"
_parse_decoder = msgspec.json.Decoder(ParseQrRequest)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _qr_error(err: qr.QrError, status: int) -> ApiError:
    return ApiError(status, f"qr_{err.reason}", err.message)


def _asset(node: Node, asset_id: str) -> Asset:
    found = node.ledger.asset(asset_id)
    if found is None:
        raise ApiError(404, "unknown_asset", f"no asset {asset_id!r}")
    return found


def merchant_qr_endpoint(node: Node, params: Params) -> Handler:
    async def merchant_qr(request: Request) -> Response:
        merchant = params.path(request, "merchant")
        kind = params.string(request, "qr_format") or "json"
        asset_id = params.string(request, "qr_asset")
        if asset_id is None:
            raise ApiError(400, "invalid_query", "asset is required: the asset this code is paid in")
        account = node.ledger.account(merchant)
        if account is None:
            raise ApiError(404, "unknown_account", f"no account {merchant!r}")
        if account.role != "merchant":
            raise ApiError(422, "not_merchant", f"{merchant!r} is not a merchant")
        asset = _asset(node, asset_id)
        amount_text = params.string(request, "qr_amount")
        amount_minor = None
        if amount_text is not None:
            try:
                amount_minor = to_minor(amount_text, asset.decimals)
            except AmountError as exc:
                raise ApiError(400, "invalid_amount", str(exc)) from None
        name = params.string(request, "qr_name") or merchant[: qr.merchant.MAX_NAME_CHARS]
        city = params.string(request, "qr_city") or DEFAULT_CITY
        mcc = params.string(request, "qr_mcc") or qr.merchant.DEFAULT_MCC
        code = qr.MerchantCode(node.genesis.chain, merchant, asset.id, name, city, mcc)
        if amount_minor is not None:
            payment_id = params.string(request, "qr_payment_id") or f"qr-{secrets.token_hex(8)}"
            amount = format_minor(amount_minor, asset.decimals)
            code = qr.dynamic_code(
                node.genesis.chain, merchant, asset.id, amount, payment_id, name, city, _now_ms(), mcc=mcc
            )
        try:
            payload = qr.encode(code)
        except qr.QrError as err:
            raise _qr_error(err, 400) from None
        if kind == "png":
            return Response(render.png(payload), media_type="image/png")
        if kind == "svg":
            return Response(render.svg(payload), media_type="image/svg+xml")
        return _json(
            MerchantQrBody(
                payload=payload,
                dynamic=code.dynamic,
                merchant=merchant,
                asset=asset.id,
                amount=code.amount,
                amount_minor=amount_minor,
                payment_id=code.payment_id,
                expires_ms=code.expires_ms,
                svg=render.svg(payload),
            )
        )

    return merchant_qr


def parse_qr_endpoint(node: Node, params: Params) -> Handler:
    async def parse_qr(request: Request) -> Response:
        payload = params.decode(_parse_decoder, await params.body(request)).payload
        try:
            code = qr.parse(payload, node.genesis.chain, _now_ms())
        except qr.QrError as err:
            raise _qr_error(err, 422) from None
        asset = _asset(node, code.asset)
        amount_minor = None
        if code.amount is not None:
            try:
                amount_minor = to_minor(code.amount, asset.decimals)
            except AmountError as exc:
                raise ApiError(422, "qr_bad_value", f"amount: {exc}") from None
        return _json(
            MerchantCodeBody(
                chain=code.chain,
                merchant=code.merchant,
                asset=code.asset,
                name=code.name,
                city=code.city,
                mcc=code.mcc,
                country=code.country,
                currency=code.currency,
                dynamic=code.dynamic,
                amount=code.amount,
                amount_minor=amount_minor,
                payment_id=code.payment_id,
                expires_ms=code.expires_ms,
            )
        )

    return parse_qr


def pay_code_endpoint(node: Node, params: Params) -> Handler:
    async def pay_code(request: Request) -> Response:
        digits = params.path(request, "code")
        found = node.ledger.pay_code(digits)
        if found is None:
            raise ApiError(404, "unknown_code", f"no payment code {digits}")
        status: Literal["open", "charged", "expired"]
        if found.charged_txid:
            status = "charged"
        elif node.stored_head.timestamp_ms > found.expires_ms:
            status = "expired"
        else:
            status = "open"
        return _json(
            PayCodeBody(
                code=found.code,
                holder=found.holder,
                asset=found.asset,
                limit_minor=found.limit_minor,
                expires_ms=found.expires_ms,
                status=status,
                charged_txid=found.charged_txid or None,
            )
        )

    return pay_code
