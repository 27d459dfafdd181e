"""The node's HTTP API. Every route is listed in `openapi.ROUTES` too."""

from __future__ import annotations

import logging
from json import JSONDecoder
from pathlib import Path
from typing import Any

import msgspec
import swagger_ui_bundle
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..client.models import (
    AssetsPage,
    BalancesBody,
    BlockBody,
    BlocksPage,
    ErrorDetail,
    HistoryEntry,
    HistoryPage,
    MovementBody,
    SubmitBatch,
    Submitted,
    TxStatusBody,
)
from ..core.block import block_hash
from ..core.encoding import to_plain
from ..core.ops import OPERATIONS, SignedTx
from ..node.admission import BatchRejected
from ..node.node import Node, NodeUnavailable
from ..ordering.mempool import MempoolFull
from ..store.base import SWEEP_TYPE, HistoryItem
from ..web import APPS, web_routes
from .access import ReadAccess, policy_of
from .backpressure import RefusedBatches
from .coupons import coupon_endpoint, mall_endpoint, owned_endpoint, uses_endpoint
from .desk import desk_endpoint
from .errors import ApiError, error_response
from .events import events_endpoint
from .governance import controls_endpoint, council_endpoint, proposal_endpoint, proposals_endpoint, supply_endpoint
from .merchants import directory_endpoint, merchant_endpoint
from .network import network_endpoint
from .observe import HttpMetrics, RequestLog
from .openapi import openapi_document
from .params import Params
from .policies import flags_endpoint, incentives_endpoint, lots_endpoint
from .qr import merchant_qr_endpoint, parse_qr_endpoint, pay_code_endpoint
from .responses import Handler
from .responses import json_response as json
from .settlement import (
    exchange_quote_endpoint,
    rates_endpoint,
    report_endpoint,
    roaming_quote_endpoint,
    settlement_endpoint,
    window_endpoint,
    windows_endpoint,
)
from .status import node_status_body
from .validators import validators_endpoint

log = logging.getLogger("tally.api")

_single_decoder = msgspec.json.Decoder(SignedTx)
_batch_decoder = msgspec.json.Decoder(SubmitBatch)
_plain_decoder = msgspec.json.Decoder()


def history_entry(account_id: str, item: HistoryItem) -> HistoryEntry:
    """One line of an account's history: its own balance changes, the block time, applied or why not."""
    applied = item.code == "ok"
    movements = (
        None
        if item.movements is None
        else [
            MovementBody(asset, amount, counterparty or None, after)
            for account, asset, amount, counterparty, after in item.movements
            if account == account_id
        ]
    )
    return HistoryEntry(
        height=item.height,
        index=item.index,
        txid=item.txid,
        type=item.type,
        time_ms=item.time_ms,
        status="applied" if applied else "rejected",
        code=item.code,
        message="" if applied else item.message,
        movements=movements,
        tx=_plain_decoder.decode(item.envelope)["tx"],
    )


# --- duplicate keys -----------------------------------------------------------
# msgspec keeps the last of two equal keys in an object (other parsers keep the
# first), and a signed transaction's canonical form has each key once: such a
# body is refused. The check runs once per submitted transaction, after decoding.


def _required_keys(struct_type: Any) -> int:
    """How many keys a JSON object decoded as `struct_type` had at least: its required fields, its tag."""
    required = sum(1 for field in msgspec.structs.fields(struct_type) if field.required)
    return required + (struct_type.__struct_config__.tag_field is not None)


_TX_KEYS: dict[type, int] = {op.tx: _required_keys(op.tx) for op in OPERATIONS}
# Optional fields (a value-moving type's `ref`): a key each when present (not UNSET).
_TX_OPTIONAL: dict[type, tuple[str, ...]] = {
    op.tx: tuple(f.name for f in msgspec.structs.fields(op.tx) if not f.required) for op in OPERATIONS
}


def _tx_keys(tx: Any) -> int:
    kind = type(tx)
    return _TX_KEYS.get(kind, 0) + sum(getattr(tx, name) is not msgspec.UNSET for name in _TX_OPTIONAL.get(kind, ()))


_SIGNED_KEYS = _required_keys(SignedTx)
_BATCH_KEYS = _required_keys(SubmitBatch)


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


_pairs_decoder = JSONDecoder(object_pairs_hook=_unique_pairs)


def refuse_duplicate_keys(body: bytes, txs: list[SignedTx], outer_keys: int) -> None:
    """Refuse a body, already decoded by msgspec into `txs` (so well formed JSON), with a key twice in an object.

    Outside strings every ':' of a JSON text ends a key, so the body's ':'
    count, less the ':' inside its strings, is its number of keys. The decoded
    structs bound the distinct keys from below: their required fields, tags and
    optional fields given (`outer_keys` for the objects around the transactions). When the two counts
    meet there is no room for a duplicate:
    1. no ':' inside strings: compared at once (about 0.2 us per transaction);
    2. ':' inside strings, no backslash (so every string reads as decoded): the
       ':' of the transactions' string fields are taken off first;
    3. otherwise (escapes in strings) the stdlib's parser lists
       every object's keys.
    """
    keys = outer_keys + _SIGNED_KEYS * len(txs) + sum([_tx_keys(s.tx) for s in txs])
    colons = body.count(b":")
    if colons == keys:
        return
    if b"\\" not in body:
        in_strings = sum([v.count(":") for s in txs for v in msgspec.structs.astuple(s.tx) if type(v) is str])
        if colons - in_strings == keys:
            return
    try:
        _pairs_decoder.decode(body.decode("utf-8"))
    except _DuplicateKey as dup:
        raise ApiError(
            400, "duplicate_key", f"key {dup.args[0]!r} appears twice in one JSON object; each key appears once"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", str(exc)) from None


def create_app(node: Node) -> Starlette:
    limits = node.limits
    params = Params(limits)
    path_param, int_query, string_query, cursor_query = params.path, params.integer, params.string, params.cursor
    read_body, decode = params.body, params.decode

    refused_batches = RefusedBatches(node.mempool)
    access = ReadAccess(node, params)  # who may read what: api/access.py ROUTE_POLICY
    auth_challenge, auth_token = access.endpoints()

    def mempool_full() -> ApiError:
        return ApiError(
            503,
            "mempool_full",
            "the node's mempool is full; retry later",
            headers={"Retry-After": str(limits.retry_after_s)},
        )

    async def admit(batch: list[SignedTx], body_key: bytes | None = None) -> Response:
        if len(batch) > limits.max_batch_txs:
            raise ApiError(413, "batch_too_large", f"a batch holds at most {limits.max_batch_txs} transactions")
        try:
            txids = await node.submit(batch)
        except NodeUnavailable as unavailable:
            raise ApiError(503, unavailable.code, unavailable.message) from None
        except MempoolFull as full:
            if body_key is not None:
                refused_batches.refused(body_key, full.new_txs)
            raise mempool_full() from None
        except BatchRejected as rejected:
            for f in rejected.failures:
                node.metrics.refused.labels(f.code).inc()
            first = rejected.failures[0]
            raise ApiError(
                422 if first.code != "bad_signature" else 401,
                first.code,
                f"{len(rejected.failures)} transaction(s) refused; nothing was admitted",
                [ErrorDetail(f.index, f.txid, f.code, f.message) for f in rejected.failures],
            ) from None
        return json(Submitted(txids=txids), status=202)

    async def submit_one(request: Request) -> Response:
        body = await read_body(request)
        signed: SignedTx = decode(_single_decoder, body)
        refuse_duplicate_keys(body, [signed], 0)
        return await admit([signed])

    async def submit_batch(request: Request) -> Response:
        body = await read_body(request)
        body_key = RefusedBatches.key(body)
        if refused_batches.still_full(body_key):  # a retry of a batch refused for room, still no room
            raise mempool_full()
        try:
            batch: SubmitBatch = decode(_batch_decoder, body)
        except ApiError as err:
            if err.message.startswith("Expected `array` of length <=") and err.message.endswith("`$.txs`"):
                raise ApiError(
                    413, "batch_too_large", f"a batch holds at most {limits.max_batch_txs} transactions"
                ) from None
            raise
        refuse_duplicate_keys(body, batch.txs, _BATCH_KEYS)
        return await admit(batch.txs, body_key)

    def status_body(txid: str) -> TxStatusBody:
        s = node.status(txid)
        return TxStatusBody(s.txid, s.status, s.code, s.message, s.height)

    async def tx_status(request: Request) -> Response:
        txid = path_param(request, "txid")
        wait_ms = int_query(request, "wait_ms")
        if wait_ms:
            await node.wait(txid, wait_ms)
        body = status_body(txid)
        if body.status == "unknown":
            raise ApiError(404, "unknown_tx", f"no transaction {txid}")
        return json(body)

    async def tx_receipt(request: Request) -> Response:
        txid = path_param(request, "txid")
        wait_ms = int_query(request, "wait_ms")
        if wait_ms:
            await node.wait(txid, wait_ms)
        found = node.store.tx(txid)
        if found is not None and found.type == SWEEP_TYPE:
            raise ApiError(
                404, "no_receipt", f"{txid} is a sweep of expired lots, not a transaction: its block proves it"
            )
        receipt = node.receipt(txid)
        if receipt is None:
            raise ApiError(404, "not_final", f"transaction {txid} is not final (or unknown)")
        return json(receipt)

    async def account(request: Request) -> Response:
        account_id = path_param(request, "account")
        value = node.ledger.account(account_id)
        if value is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        return json(value)

    async def balances(request: Request) -> Response:
        account_id = path_param(request, "account")
        if node.ledger.account(account_id) is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        return json(BalancesBody(account=account_id, balances=node.ledger.balances(account_id)))

    async def history(request: Request) -> Response:
        account_id = path_param(request, "account")
        limit = int_query(request, "history_limit")
        before = cursor_query(request)
        status = string_query(request, "history_status")
        if node.ledger.account(account_id) is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        applied = None if status is None else status == "applied"
        items = node.ledger.history(account_id, before, limit, applied)
        entries = [history_entry(account_id, i) for i in items]
        next_cursor = f"{items[-1].height}:{items[-1].index}" if len(items) == limit else None
        return json(HistoryPage(account=account_id, items=entries, next_cursor=next_cursor))

    async def assets(request: Request) -> Response:
        limit = int_query(request, "assets_limit")
        after = string_query(request, "assets_cursor")
        found = node.ledger.assets(after, limit)
        return json(AssetsPage(items=found, next_cursor=found[-1].id if len(found) == limit else None))

    async def payment(request: Request) -> Response:
        merchant, payment_id = path_param(request, "merchant"), path_param(request, "payment_id")
        value = node.ledger.payment(merchant, payment_id)
        if value is None:
            raise ApiError(404, "unknown_payment", f"no payment {payment_id!r} to {merchant!r}")
        return json(value)

    async def asset(request: Request) -> Response:
        asset_id = path_param(request, "asset")
        value = node.ledger.asset(asset_id)
        if value is None:
            raise ApiError(404, "unknown_asset", f"no asset {asset_id!r}")
        return json(value)

    def block_body(height: int) -> BlockBody:
        found = node.ledger.block(height)
        if found is None:
            raise ApiError(404, "unknown_block", f"no block at height {height}")
        return BlockBody(
            height=height,
            hash=block_hash(found.header),
            state_digest=found.state_digest,
            header=to_plain(found.header),
            txids=found.txids,
            final=height <= node.final_height,
        )

    async def blocks(request: Request) -> Response:
        head = node.stored_head.height
        limit = int_query(request, "blocks_limit")
        cursor = string_query(request, "blocks_cursor")
        top = min(int(cursor) - 1, head) if cursor is not None else head
        heights = range(top, max(0, top - limit), -1)
        next_cursor = str(heights[-1]) if len(heights) == limit and heights[-1] > 1 else None
        return json(BlocksPage(items=[block_body(h) for h in heights], next_cursor=next_cursor))

    async def block(request: Request) -> Response:
        return json(block_body(params.height(request)))

    async def full_block(request: Request) -> Response:
        """A final block with its transactions and certificate, for peers catching up (members, auditors,
        regulators and validators: api/access.py)."""
        height = params.height(request)
        block = node.ledger.full_block(height)
        if block is None:
            raise ApiError(404, "not_final", f"no final block at height {height}")
        return json(block)

    async def certificate(request: Request) -> Response:
        height = params.height(request)
        cert = node.ledger.certificate(height)
        if cert is None:
            raise ApiError(404, "unknown_block", f"no block at height {height}")
        return json(cert)

    async def node_status(request: Request) -> Response:
        return json(node_status_body(node))

    async def genesis(request: Request) -> Response:
        return json(node.genesis)

    async def health(request: Request) -> Response:
        if node.tampered is not None:
            return JSONResponse({"status": "tampered"}, status_code=503)
        if node.diverged() is not None:
            return JSONResponse({"status": "diverged"}, status_code=503)
        if not node.healthy:
            return JSONResponse({"status": "failed"}, status_code=503)
        return JSONResponse({"status": "ok", "height": node.stored_head.height})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return json(openapi_document(limits))

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML)

    async def root(request: Request) -> Response:
        apps = {app: f"/{app}/" for app in APPS}
        return JSONResponse({"name": "tally", "chain": node.genesis.chain, "api": "/v1", "docs": "/docs", "apps": apps})

    def guarded(handler: Handler, serves_ledger: bool = True) -> Handler:
        """Errors as the API's error body; ledger data refused once the storage scrub found it changed."""

        async def run(request: Request) -> Response:
            try:
                if serves_ledger and node.tampered is not None:
                    raise ApiError(
                        503, "storage_tampered", f"this node's storage was changed under it: {node.tampered}"
                    )
                return await handler(request)
            except ApiError as err:
                return error_response(err)

        return run

    def route(path: str, handler: Handler, methods: list[str] | None = None, serves_ledger: bool = True) -> Route:
        """A route behind its access policy (api/access.py ROUTE_POLICY), its errors as the API's error body."""
        return Route(path, guarded(access.protect(path, handler), serves_ledger), methods=methods)

    routes = [
        route("/", root),
        route("/v1/auth/challenge", auth_challenge, methods=["POST"], serves_ledger=False),
        route("/v1/auth/token", auth_token, methods=["POST"]),  # reads the principal's key from the ledger
        route("/v1/transactions", submit_one, methods=["POST"]),
        route("/v1/transactions/batch", submit_batch, methods=["POST"]),
        route("/v1/transactions/{txid}", tx_status),
        route("/v1/transactions/{txid}/receipt", tx_receipt),
        route("/v1/accounts/{account}", account),
        route("/v1/accounts/{account}/balances", balances),
        route("/v1/accounts/{account}/history", history),
        route("/v1/accounts/{account}/controls", controls_endpoint(node, params)),
        route("/v1/assets", assets),
        route("/v1/assets/{asset}", asset),
        route("/v1/assets/{asset}/supply", supply_endpoint(node, params)),
        route("/v1/council", council_endpoint(node)),
        route("/v1/proposals", proposals_endpoint(node, params)),
        route("/v1/proposals/{proposal}", proposal_endpoint(node, params)),
        route("/v1/merchants/{merchant}/payments/{payment_id}", payment),
        route("/v1/merchants/{merchant}/qr", merchant_qr_endpoint(node, params)),
        route("/v1/qr/parse", parse_qr_endpoint(node, params), methods=["POST"]),
        route("/v1/codes/{code}", pay_code_endpoint(node, params)),
        route("/v1/network", network_endpoint(node), serves_ledger=False),
        route("/demo/v1/wallets", desk_endpoint(node, params), methods=["POST"]),
        *web_routes(),
        route("/v1/events", events_endpoint(node, access)),
        route("/v1/blocks", blocks),
        route("/v1/blocks/{height}", block),
        route("/v1/blocks/{height}/certificate", certificate),
        route("/v1/blocks/{height}/full", full_block),
        route("/v1/status", node_status, serves_ledger=False),
        route("/v1/genesis", genesis, serves_ledger=False),
        route("/v1/validators", validators_endpoint(node)),
        route("/v1/directory", directory_endpoint(node, params)),
        route("/v1/merchants/{merchant}", merchant_endpoint(node, params)),
        route("/v1/assets/{asset}/flags", flags_endpoint(node, params)),
        route("/v1/assets/{asset}/incentives", incentives_endpoint(node, params)),
        route("/v1/accounts/{account}/lots", lots_endpoint(node, params)),
        route("/v1/coupons", mall_endpoint(node, params)),
        route("/v1/coupons/{coupon}", coupon_endpoint(node, params)),
        route("/v1/accounts/{account}/coupons", owned_endpoint(node, params)),
        route("/v1/merchants/{merchant}/coupons", uses_endpoint(node, params)),
        route("/v1/rates", rates_endpoint(node, params)),
        route("/v1/quote/exchange", exchange_quote_endpoint(node, params)),
        route("/v1/quote/roaming", roaming_quote_endpoint(node, params)),
        route("/v1/settlement", settlement_endpoint(node, params)),
        route("/v1/settlement/windows", windows_endpoint(node, params)),
        route("/v1/settlement/windows/{window}", window_endpoint(node, params)),
        route("/v1/settlement/report", report_endpoint(node, params)),
        Route("/health", access.protect("/health", health)),
        Route("/metrics", access.protect("/metrics", metrics)),
        Route("/openapi.json", access.protect("/openapi.json", openapi)),
        Route("/docs", access.protect("/docs", docs)),
        Mount("/docs/static", StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path))),
    ]
    for each in routes:  # every route has its policy: one missing is a mistake, found here
        policy_of(getattr(each, "path", ""))

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        if code != 405:
            return error_response(ApiError(code, "not_found", "no such route"))
        # Starlette names the route's methods in the exception's Allow header.
        allow = (getattr(exc, "headers", None) or {}).get("Allow", "GET, HEAD")
        allowed = ", ".join(sorted({method.strip() for method in allow.split(",") if method.strip()}))
        return error_response(
            ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {allowed}",
                headers={"Allow": allowed},
            )
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path, exc_info=exc)
        return error_response(ApiError(500, "internal", "internal error; nothing was changed"))

    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestLog, metrics=HttpMetrics(node.metrics.registry))],
        exception_handlers={404: not_found, 405: not_found, Exception: server_error},
    )


DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Tally API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>
"""
