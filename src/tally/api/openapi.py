"""The OpenAPI 3.0 description, with schemas generated from the msgspec types."""

from __future__ import annotations

from typing import Any

import msgspec

from ..core.block import FullBlock, Receipt
from ..core.limits import Limits
from ..core.ops import SignedTx
from ..core.types import Account, Asset, Certificate, Genesis
from .schemas import (
    BalancesBody,
    BlockBody,
    ErrorResponse,
    HistoryPage,
    NodeStatusBody,
    SubmitBatch,
    Submitted,
    TxStatusBody,
)

# (method, path, summary, request body type, success status, response type, query params)
ROUTES: list[tuple[str, str, str, Any, int, Any, list[str]]] = [
    ("post", "/v1/transactions", "Submit one signed transaction", SignedTx, 202, Submitted, []),
    ("post", "/v1/transactions/batch", "Submit a batch, admitted whole or not at all", SubmitBatch, 202, Submitted, []),
    (
        "get",
        "/v1/transactions/{txid}",
        "A transaction's status (wait_ms: wait until final)",
        None,
        200,
        TxStatusBody,
        ["wait_ms"],
    ),
    (
        "get",
        "/v1/transactions/{txid}/receipt",
        "Receipt of a final transaction, verifiable offline",
        None,
        200,
        Receipt,
        ["wait_ms"],
    ),
    ("get", "/v1/accounts/{account}", "An account", None, 200, Account, []),
    (
        "get",
        "/v1/accounts/{account}/balances",
        "An account's balances by asset (minor units)",
        None,
        200,
        BalancesBody,
        [],
    ),
    (
        "get",
        "/v1/accounts/{account}/history",
        "An account's transactions, newest first",
        None,
        200,
        HistoryPage,
        ["limit", "cursor"],
    ),
    ("get", "/v1/assets", "Every asset", None, 200, list[Asset], []),
    ("get", "/v1/assets/{asset}", "An asset", None, 200, Asset, []),
    ("get", "/v1/blocks", "Latest blocks, newest first", None, 200, list[BlockBody], ["limit", "before"]),
    ("get", "/v1/blocks/{height}", "A block", None, 200, BlockBody, []),
    ("get", "/v1/blocks/{height}/certificate", "A block's certificate", None, 200, Certificate, []),
    ("get", "/v1/blocks/{height}/full", "A final block with its transactions (for peers)", None, 200, FullBlock, []),
    ("get", "/v1/status", "Node status, divergence and limits", None, 200, NodeStatusBody, []),
    ("get", "/v1/genesis", "The genesis: chain id, members, validator set", None, 200, Genesis, []),
]

QUERY_DOCS = {
    "wait_ms": "Wait up to this many milliseconds for finality (at most max_wait_ms)",
    "limit": "Page size",
    "cursor": "HEIGHT:INDEX from the previous page's next_cursor",
    "before": "Only blocks below this height",
}


def to_openapi_30(schema: Any) -> Any:
    """msgspec writes JSON Schema 2020-12 (OpenAPI 3.1); rewrite the two constructs
    OpenAPI 3.0 lacks, so that 3.0 tools (the bundled Swagger UI among them) read it:
    `anyOf [X, {"type": "null"}]` becomes X with `nullable: true`, and a tuple's
    `prefixItems` becomes `items` of the first item's schema."""
    if isinstance(schema, list | tuple):
        return type(schema)(to_openapi_30(item) for item in schema)
    if not isinstance(schema, dict):
        return schema
    out = {key: to_openapi_30(value) for key, value in schema.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            out.update({"allOf": rest, "nullable": True})
        elif len(rest) == 1:
            out.update({**rest[0], "nullable": True})
        else:
            out.update({"anyOf": rest, "nullable": True})
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")[0]
    return out


def openapi_document(limits: Limits) -> dict[str, Any]:
    types = [t for route in ROUTES for t in (route[3], route[5]) if t is not None] + [ErrorResponse]
    schemas, components = to_openapi_30(
        msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    )
    by_type = dict(zip(types, schemas, strict=True))
    error_ref = by_type[ErrorResponse]
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, status, response, query in ROUTES:
        params = [
            {"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for name in path.split("/")
            if name.startswith("{")
        ] + [
            {"name": q, "in": "query", "required": False, "description": QUERY_DOCS[q], "schema": {"type": "string"}}
            for q in query
        ]
        operation: dict[str, Any] = {
            "summary": summary,
            "parameters": params,
            "responses": {
                str(status): {"description": "success", "content": {"application/json": {"schema": by_type[response]}}},
                "4XX": {
                    "description": "error with a stable code",
                    "content": {"application/json": {"schema": error_ref}},
                },
            },
        }
        if request is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[request]}}}
        if method == "post":
            operation["responses"]["503"] = {
                "description": "mempool full: retry after the Retry-After header's seconds",
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Tally node API",
            "version": "1",
            "description": (
                "Signed transactions in, final receipts out. Limits: "
                + ", ".join(f"{k}={v}" for k, v in msgspec.structs.asdict(limits).items())
            ),
        },
        "paths": paths,
        "components": {"schemas": components},
    }
