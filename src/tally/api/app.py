"""The node's HTTP API. Every route is listed in `openapi.ROUTES` too."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import swagger_ui_bundle
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..core.block import block_hash
from ..core.encoding import to_plain
from ..core.ops import SignedTx
from ..node.admission import BatchRejected
from ..node.node import Node
from ..ordering.mempool import MempoolFull
from .errors import ApiError, error_response
from .openapi import openapi_document
from .schemas import (
    BalancesBody,
    BlockBody,
    DivergenceBody,
    ErrorDetail,
    HistoryEntry,
    HistoryPage,
    NodeStatusBody,
    SubmitBatch,
    Submitted,
    TxStatusBody,
)

log = logging.getLogger("tally.api")

_single_decoder = msgspec.json.Decoder(SignedTx)
_batch_decoder = msgspec.json.Decoder(SubmitBatch)
_plain_decoder = msgspec.json.Decoder()
_ACCOUNT_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_ASSET_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
_TXID_RE = re.compile(r"^[0-9a-f]{64}$")

Handler = Callable[[Request], Awaitable[Response]]


def json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json", headers=headers)


def divergence_body(node: Node) -> DivergenceBody | None:
    found = node.diverged()
    if found is None:
        return None
    return DivergenceBody(height=found.height, our_digest=found.ours, certified_digest=found.certified)


def create_app(node: Node) -> Starlette:
    limits = node.limits

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limits.max_body_bytes):
            raise ApiError(413, "body_too_large", f"request bodies are limited to {limits.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise ApiError(413, "body_too_large", f"request bodies are limited to {limits.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
        try:
            return decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise ApiError(400, "malformed_json", str(exc)) from None

    async def admit(batch: list[SignedTx]) -> Response:
        if len(batch) > limits.max_batch_txs:
            raise ApiError(413, "batch_too_large", f"a batch holds at most {limits.max_batch_txs} transactions")
        try:
            txids = await node.submit(batch)
        except MempoolFull:
            raise ApiError(
                503,
                "mempool_full",
                "the node's mempool is full; retry later",
                headers={"Retry-After": str(limits.retry_after_s)},
            ) from None
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
        return await admit([decode(_single_decoder, await read_body(request))])

    async def submit_batch(request: Request) -> Response:
        try:
            batch: SubmitBatch = decode(_batch_decoder, await read_body(request))
        except ApiError as err:
            if err.message.startswith("Expected `array` of length <=") and err.message.endswith("`$.txs`"):
                raise ApiError(
                    413, "batch_too_large", f"a batch holds at most {limits.max_batch_txs} transactions"
                ) from None
            raise
        return await admit(batch.txs)

    def path_param(request: Request, name: str, pattern: re.Pattern[str]) -> str:
        value = str(request.path_params[name])
        if not pattern.match(value):
            raise ApiError(400, "invalid_path", f"{name} {value!r} is not well formed")
        return value

    def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"-?[0-9]{1,16}", raw) or not low <= int(raw) <= high:
            raise ApiError(400, "invalid_query", f"{name} must be an integer from {low} to {high}")
        return int(raw)

    def status_body(txid: str) -> TxStatusBody:
        s = node.status(txid)
        return TxStatusBody(s.txid, s.status, s.code, s.message, s.height)

    async def tx_status(request: Request) -> Response:
        txid = path_param(request, "txid", _TXID_RE)
        wait_ms = int_query(request, "wait_ms", 0, 0, limits.max_wait_ms)
        if wait_ms:
            await node.wait(txid, wait_ms)
        body = status_body(txid)
        if body.status == "unknown":
            raise ApiError(404, "unknown_tx", f"no transaction {txid}")
        return json(body)

    async def tx_receipt(request: Request) -> Response:
        txid = path_param(request, "txid", _TXID_RE)
        wait_ms = int_query(request, "wait_ms", 0, 0, limits.max_wait_ms)
        if wait_ms:
            await node.wait(txid, wait_ms)
        receipt = node.receipt(txid)
        if receipt is None:
            raise ApiError(404, "not_final", f"transaction {txid} is not final (or unknown)")
        return json(receipt)

    async def account(request: Request) -> Response:
        account_id = path_param(request, "account", _ACCOUNT_RE)
        value = node.ledger.account(account_id)
        if value is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        return json(value)

    async def balances(request: Request) -> Response:
        account_id = path_param(request, "account", _ACCOUNT_RE)
        if node.ledger.account(account_id) is None:
            raise ApiError(404, "unknown_account", f"no account {account_id!r}")
        return json(BalancesBody(account=account_id, balances=node.ledger.balances(account_id)))

    async def history(request: Request) -> Response:
        account_id = path_param(request, "account", _ACCOUNT_RE)
        limit = int_query(request, "limit", 50, 1, limits.max_history_page)
        cursor = request.query_params.get("cursor")
        before: tuple[int, int] | None = None
        if cursor is not None:
            match = re.fullmatch(r"([0-9]{1,15}):([0-9]{1,9})", cursor)
            if not match:
                raise ApiError(400, "invalid_query", "cursor is HEIGHT:INDEX as returned in next_cursor")
            before = (int(match[1]), int(match[2]))
        items = node.ledger.history(account_id, before, limit)
        entries = [
            HistoryEntry(i.height, i.index, i.txid, i.type, i.code, _plain_decoder.decode(i.envelope)["tx"])
            for i in items
        ]
        next_cursor = f"{items[-1].height}:{items[-1].index}" if len(items) == limit else None
        return json(HistoryPage(account=account_id, items=entries, next_cursor=next_cursor))

    async def assets(request: Request) -> Response:
        return json(node.ledger.assets())

    async def asset(request: Request) -> Response:
        asset_id = path_param(request, "asset", _ASSET_RE)
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
        limit = int_query(request, "limit", 20, 1, 100)
        before = int_query(request, "before", head + 1, 1, 2**53)
        top = min(before - 1, head)
        return json([block_body(h) for h in range(top, max(0, top - limit), -1)])

    async def block(request: Request) -> Response:
        return json(block_body(int_query_path(request)))

    def int_query_path(request: Request) -> int:
        raw = str(request.path_params["height"])
        if not re.fullmatch(r"[0-9]{1,15}", raw) or int(raw) < 1:
            raise ApiError(400, "invalid_path", "height is a positive integer")
        return int(raw)

    async def full_block(request: Request) -> Response:
        """A final block with its transactions and certificate, for peers catching up."""
        height = int_query_path(request)
        block = node.ledger.full_block(height)
        if block is None:
            raise ApiError(404, "not_final", f"no final block at height {height}")
        return json(block)

    async def certificate(request: Request) -> Response:
        height = int_query_path(request)
        cert = node.ledger.certificate(height)
        if cert is None:
            raise ApiError(404, "unknown_block", f"no block at height {height}")
        return json(cert)

    async def node_status(request: Request) -> Response:
        head = node.stored_head
        return json(
            NodeStatusBody(
                chain=node.genesis.chain,
                validator=node.settings.validator_id,
                height=head.height,
                final_height=node.final_height,
                state_digest=head.state_digest,
                mempool_txs=node.mempool_size,
                mempool_max_txs=limits.mempool_max_txs,
                healthy=node.healthy,
                orderer=node.settings.orderer,
                divergence=divergence_body(node),
                limits=msgspec.structs.asdict(limits),
            )
        )

    async def genesis(request: Request) -> Response:
        return json(node.genesis)

    async def health(request: Request) -> Response:
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
        return JSONResponse({"name": "tally", "chain": node.genesis.chain, "api": "/v1", "docs": "/docs"})

    def guarded(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as err:
                return error_response(err)

        return run

    routes = [
        Route("/", guarded(root)),
        Route("/v1/transactions", guarded(submit_one), methods=["POST"]),
        Route("/v1/transactions/batch", guarded(submit_batch), methods=["POST"]),
        Route("/v1/transactions/{txid}", guarded(tx_status)),
        Route("/v1/transactions/{txid}/receipt", guarded(tx_receipt)),
        Route("/v1/accounts/{account}", guarded(account)),
        Route("/v1/accounts/{account}/balances", guarded(balances)),
        Route("/v1/accounts/{account}/history", guarded(history)),
        Route("/v1/assets", guarded(assets)),
        Route("/v1/assets/{asset}", guarded(asset)),
        Route("/v1/blocks", guarded(blocks)),
        Route("/v1/blocks/{height}", guarded(block)),
        Route("/v1/blocks/{height}/certificate", guarded(certificate)),
        Route("/v1/blocks/{height}/full", guarded(full_block)),
        Route("/v1/status", guarded(node_status)),
        Route("/v1/genesis", guarded(genesis)),
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/docs", docs),
        Mount("/docs/static", StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path))),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        return error_response(ApiError(code, "not_found" if code == 404 else "method_not_allowed", "no such route"))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path, exc_info=exc)
        return error_response(ApiError(500, "internal", "internal error; nothing was changed"))

    return Starlette(
        routes=routes,
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
