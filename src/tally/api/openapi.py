"""The OpenAPI 3.0 description, with schemas generated from the msgspec types."""

from __future__ import annotations

from typing import Any

import msgspec

from ..client.models import (
    AssetsPage,
    BalancesBody,
    BlockBody,
    BlocksPage,
    ChallengeBody,
    ControlsBody,
    CouponsBody,
    CouponUsesBody,
    DirectoryPage,
    ErrorResponse,
    ExchangeQuoteBody,
    FlagsBody,
    HistoryPage,
    IncentivesBody,
    LotsBody,
    MerchantCodeBody,
    MerchantQrBody,
    NetworkBody,
    NewWallet,
    NodeStatusBody,
    OwnedCouponsBody,
    ParseQrRequest,
    PayCodeBody,
    ProposalBody,
    ProposalsPage,
    RatesBody,
    ReportBody,
    RoamingQuoteBody,
    SettlementBody,
    SubmitBatch,
    Submitted,
    SupplyBody,
    TokenBody,
    TokenRequest,
    TxStatusBody,
    WalletOpened,
    WindowDetail,
    WindowsPage,
)
from ..core.block import FullBlock, Receipt, ValidatorsBody
from ..core.encoding import MAX_SAFE_INTEGER
from ..core.limits import Limits
from ..core.ops import SignedTx
from ..core.types import (
    Account,
    AccountId,
    Asset,
    AssetId,
    Certificate,
    Coupon,
    CouponId,
    Genesis,
    Mcc,
    MerchantProfile,
    Params,
    PayCodeDigits,
    Payment,
    PaymentId,
    ProposalId,
)
from .access import ROUTE_POLICY, RoutePolicy
from .openapi_docs import ACCESS_TEXT, EVENTS_EXAMPLE, QR_EXAMPLE, ROUTE_DOCS, TAGS, TOKEN_REQUEST_EXAMPLE, limits_table


def field_pattern(field_type: Any) -> str:
    """The regular expression of an `Annotated[str, Meta(pattern=...)]` field type."""
    found: str = next(m.pattern for m in field_type.__metadata__ if isinstance(m, msgspec.Meta) and m.pattern)
    return found


# --- path and query parameters ------------------------------------------------
# The API checks every parameter against these schemas (api/app.py), and the
# document publishes them. Patterns end in `$(?!\n)` like the field types' do:
# Python's `$` also matches before a final newline, the lookahead refuses it,
# and the same pattern reads the same in ECMAScript (JSON Schema's dialect).

TXID_PATTERN = r"^[0-9a-f]{64}$(?!\n)"
# A history cursor is HEIGHT:INDEX. The store packs both into one signed 64-bit
# position, height << 20 | index (store/sqlite.py): these bounds keep it there.
MAX_CURSOR_HEIGHT = 2**42
MAX_CURSOR_INDEX = 2**20 - 1
CURSOR_PATTERN = r"^[0-9]{1,13}:[0-9]{1,7}$(?!\n)"
BLOCKS_CURSOR_PATTERN = r"^[1-9][0-9]{0,15}$(?!\n)"  # a height: the next page holds the blocks below it
MAX_BLOCKS_PAGE = 100
EVENT_ID_PATTERN = r"^[0-9]{1,16}:[0-9]{1,8}:[0-9]{1,6}$(?!\n)"
EVENT_TYPES_PATTERN = r"^(block|tx|balance)(,(block|tx|balance)){0,2}$(?!\n)"
MAX_ASSETS_PAGE = 500
MAX_PROPOSALS_PAGE = 500
MAX_DIRECTORY_PAGE = 100
DEGREES_PATTERN = r"^-?[0-9]{1,3}(\.[0-9]{1,6})?$(?!\n)"  # decimal degrees; the range is checked on use
DIRECTORY_CURSOR_PATTERN = r"^[0-9]{1,15}:[a-z0-9][a-z0-9._-]{0,63}$(?!\n)"  # DISTANCE_MM:MERCHANT
QR_AMOUNT_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,8})?$(?!\n)"
QR_PAYMENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,25}$(?!\n)"  # an EMV reference label holds 25 characters
# Printable text, no control characters, no space at either end.
QR_TEXT_PATTERN = r"^[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?$(?!\n)"

MAX_WINDOW_NUMBER = 10**12 - 1  # settlement windows (core/tables.py window_key: 12 digits)

PATH_PARAMS: dict[str, dict[str, Any]] = {
    "txid": {"type": "string", "pattern": TXID_PATTERN, "minLength": 64, "maxLength": 64},
    "account": {"type": "string", "pattern": field_pattern(AccountId), "minLength": 1, "maxLength": 64},
    "asset": {"type": "string", "pattern": field_pattern(AssetId), "minLength": 1, "maxLength": 32},
    "merchant": {"type": "string", "pattern": field_pattern(AccountId), "minLength": 1, "maxLength": 64},
    "payment_id": {"type": "string", "pattern": field_pattern(PaymentId), "minLength": 1, "maxLength": 64},
    "height": {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER},
    "code": {"type": "string", "pattern": field_pattern(PayCodeDigits), "minLength": 20, "maxLength": 20},
    "proposal": {"type": "string", "pattern": field_pattern(ProposalId), "minLength": 1, "maxLength": 64},
    "coupon": {"type": "string", "pattern": field_pattern(CouponId), "minLength": 1, "maxLength": 64},
    "window": {"type": "integer", "minimum": 0, "maximum": MAX_WINDOW_NUMBER},
}


MAX_WINDOWS_PAGE = 100
_ASSET_SCHEMA = {"type": "string", "pattern": field_pattern(AssetId), "minLength": 1, "maxLength": 32}


def query_params(limits: Limits) -> dict[str, dict[str, Any]]:
    """Every query parameter by key (ROUTES names the keys): its name, description and schema."""
    return {
        "wait_ms": {
            "name": "wait_ms",
            "description": "Wait up to this many milliseconds for finality",
            "schema": {"type": "integer", "minimum": 0, "maximum": limits.max_wait_ms, "default": 0},
        },
        "history_limit": {
            "name": "limit",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": limits.max_history_page, "default": 50},
        },
        "cursor": {
            "name": "cursor",
            "description": (
                "HEIGHT:INDEX from the previous page's next_cursor"
                f" (HEIGHT at most {MAX_CURSOR_HEIGHT}, INDEX at most {MAX_CURSOR_INDEX})"
            ),
            "schema": {"type": "string", "pattern": CURSOR_PATTERN, "minLength": 3, "maxLength": 21},
        },
        "history_status": {
            "name": "status",
            "description": "Only applied transactions, or only rejected ones (default: both)",
            "schema": {"type": "string", "enum": ["applied", "rejected"]},
        },
        "blocks_limit": {
            "name": "limit",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BLOCKS_PAGE, "default": 20},
        },
        "blocks_cursor": {
            "name": "cursor",
            "description": "The previous page's next_cursor: blocks below that height (default: from the newest)",
            "schema": {"type": "string", "pattern": BLOCKS_CURSOR_PATTERN, "minLength": 1, "maxLength": 16},
        },
        "assets_limit": {
            "name": "limit",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ASSETS_PAGE, "default": 100},
        },
        "events_types": {
            "name": "types",
            "description": "Comma-separated kinds: block, tx, balance (default: all)",
            "schema": {"type": "string", "pattern": EVENT_TYPES_PATTERN, "minLength": 2, "maxLength": 20},
        },
        "events_account": {
            "name": "account",
            "description": "Only transactions touching this account, and its balance changes",
            "schema": {"type": "string", "pattern": field_pattern(AccountId), "minLength": 1, "maxLength": 64},
        },
        "events_merchant": {
            "name": "merchant",
            "description": "Only payments to this merchant, the refunds, charges and cash-outs it signed, its balances",
            "schema": {"type": "string", "pattern": field_pattern(AccountId), "minLength": 1, "maxLength": 64},
        },
        "events_asset": {
            "name": "asset",
            "description": "Only transactions and balance changes in this asset",
            "schema": {"type": "string", "pattern": field_pattern(AssetId), "minLength": 1, "maxLength": 32},
        },
        "events_cursor": {
            "name": "cursor",
            "description": "Start after this event id (HEIGHT:INDEX:K; 0:0:0 from the first block; default: from now)",
            "schema": {"type": "string", "pattern": EVENT_ID_PATTERN, "minLength": 5, "maxLength": 32},
        },
        "qr_asset": {
            "name": "asset",
            "description": "The asset the code is paid in (required)",
            "schema": {"type": "string", "pattern": field_pattern(AssetId), "minLength": 1, "maxLength": 32},
        },
        "qr_amount": {
            "name": "amount",
            "description": "In the asset's unit (12.50): a dynamic code for one payment, good for three minutes",
            "schema": {"type": "string", "pattern": QR_AMOUNT_PATTERN, "minLength": 1, "maxLength": 25},
        },
        "qr_payment_id": {
            "name": "payment_id",
            "description": "The payment request a dynamic code is for (default: a new random one)",
            "schema": {"type": "string", "pattern": QR_PAYMENT_ID_PATTERN, "minLength": 1, "maxLength": 25},
        },
        "qr_name": {
            "name": "name",
            "description": "Merchant name shown by the payer's wallet (default: the account id)",
            "schema": {"type": "string", "pattern": QR_TEXT_PATTERN, "minLength": 1, "maxLength": 25},
        },
        "qr_city": {
            "name": "city",
            "description": "Merchant city (default: Seoul)",
            "schema": {"type": "string", "pattern": QR_TEXT_PATTERN, "minLength": 1, "maxLength": 15},
        },
        "qr_mcc": {
            "name": "mcc",
            "description": "Merchant category code, ISO 18245 (default: 5999)",
            "schema": {"type": "string", "pattern": r"^[0-9]{4}$(?!\n)", "minLength": 4, "maxLength": 4},
        },
        "qr_format": {
            "name": "format",
            "description": "json (payload, content and SVG), svg or png",
            "schema": {"type": "string", "enum": ["json", "svg", "png"]},
        },
        "assets_cursor": {
            "name": "cursor",
            "description": "The previous page's next_cursor: assets after that id (ids in ascending order)",
            "schema": {"type": "string", "pattern": field_pattern(AssetId), "minLength": 1, "maxLength": 32},
        },
        "proposals_limit": {
            "name": "limit",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PROPOSALS_PAGE, "default": 100},
        },
        "proposals_cursor": {
            "name": "cursor",
            "description": "The previous page's next_cursor: proposals after that id (ids in ascending order)",
            "schema": {"type": "string", "pattern": field_pattern(ProposalId), "minLength": 1, "maxLength": 64},
        },
        "directory_lat": {
            "name": "lat",
            "description": "Latitude of the point, decimal degrees (up to 6 decimals)",
            "schema": {"type": "string", "pattern": DEGREES_PATTERN, "minLength": 1, "maxLength": 11},
        },
        "directory_lon": {
            "name": "lon",
            "description": "Longitude of the point, decimal degrees (up to 6 decimals)",
            "schema": {"type": "string", "pattern": DEGREES_PATTERN, "minLength": 1, "maxLength": 11},
        },
        "directory_asset": {
            "name": "asset",
            "description": "Only merchants that accept this asset",
            "schema": {"type": "string", "pattern": field_pattern(AssetId), "minLength": 1, "maxLength": 32},
        },
        "directory_category": {
            "name": "category",
            "description": "Only merchants of this ISO 18245 category (MCC)",
            "schema": {"type": "string", "pattern": field_pattern(Mcc), "minLength": 4, "maxLength": 4},
        },
        "directory_limit": {
            "name": "limit",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DIRECTORY_PAGE, "default": 20},
        },
        "quote_from": {"name": "from_asset", "description": "The asset exchanged (required)", "schema": _ASSET_SCHEMA},
        "quote_to": {"name": "to_asset", "description": "The asset received (required)", "schema": _ASSET_SCHEMA},
        "quote_amount": {
            "name": "amount_minor",
            "description": "Exchange: of from_asset; roaming: of asset, what the merchant receives (required)",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER},
        },
        "quote_asset": {"name": "asset", "description": "The merchant's asset (required)", "schema": _ASSET_SCHEMA},
        "quote_pay_asset": {
            "name": "pay_asset",
            "description": "The asset the holder pays with (required)",
            "schema": _ASSET_SCHEMA,
        },
        "windows_limit": {
            "name": "limit",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_WINDOWS_PAGE, "default": 20},
        },
        "windows_cursor": {
            "name": "cursor",
            "description": "The previous page's next_cursor: windows before that number",
            "schema": {"type": "string", "pattern": r"^[0-9]{1,12}$(?!\n)", "minLength": 1, "maxLength": 12},
        },
        "report_window": {
            "name": "window",
            "description": "The settlement window (required)",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WINDOW_NUMBER, "default": 0},
        },
        "report_member": {
            "name": "member",
            "description": "Only this member's row",
            "schema": {"type": "string", "pattern": field_pattern(AccountId), "minLength": 1, "maxLength": 64},
        },
        "report_format": {
            "name": "format",
            "description": "json (default) or csv",
            "schema": {"type": "string", "enum": ["json", "csv"]},
        },
        "directory_cursor": {
            "name": "cursor",
            "description": "The previous page's next_cursor: merchants farther than it (DISTANCE_MM:MERCHANT)",
            "schema": {"type": "string", "pattern": DIRECTORY_CURSOR_PATTERN, "minLength": 3, "maxLength": 80},
        },
    }


# (method, path, summary, request body type, success status, response type, query parameter keys)
ROUTES: list[tuple[str, str, str, Any, int, Any, list[str]]] = [
    (
        "post",
        "/v1/auth/challenge",
        "A single-use challenge (60 s) to sign for a read token",
        None,
        200,
        ChallengeBody,
        [],
    ),
    (
        "post",
        "/v1/auth/token",
        "A read token (bearer, at most 15 minutes) for a principal's signature over a challenge",
        TokenRequest,
        200,
        TokenBody,
        [],
    ),
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
        ["history_limit", "cursor", "history_status"],
    ),
    ("get", "/v1/assets", "Assets, by id", None, 200, AssetsPage, ["assets_limit", "assets_cursor"]),
    ("get", "/v1/assets/{asset}", "An asset", None, 200, Asset, []),
    (
        "get",
        "/v1/assets/{asset}/supply",
        "An asset's quota, issued, burned and outstanding value, and its freeze",
        None,
        200,
        SupplyBody,
        [],
    ),
    (
        "get",
        "/v1/accounts/{account}/lots",
        "An account's lots with their expiries, and its latest expired lots (protocol 9)",
        None,
        200,
        LotsBody,
        [],
    ),
    (
        "get",
        "/v1/assets/{asset}/incentives",
        "An asset's incentive rules (cashback) and what each budget has left (protocol 10)",
        None,
        200,
        IncentivesBody,
        [],
    ),
    ("get", "/v1/coupons", "The coupon mall: every listed coupon (protocol 10)", None, 200, CouponsBody, []),
    ("get", "/v1/coupons/{coupon}", "A coupon in the mall: price, stock, validity, merchants", None, 200, Coupon, []),
    (
        "get",
        "/v1/accounts/{account}/coupons",
        "The coupons an account bought, used or not (protocol 10)",
        None,
        200,
        OwnedCouponsBody,
        [],
    ),
    (
        "get",
        "/v1/merchants/{merchant}/coupons",
        "Coupons used at a merchant, newest first (protocol 10)",
        None,
        200,
        CouponUsesBody,
        [],
    ),
    (
        "get",
        "/v1/rates",
        "Every published rate, with its bounds, and the FX rates (protocol 11)",
        None,
        200,
        RatesBody,
        [],
    ),
    (
        "get",
        "/v1/quote/exchange",
        "Exactly what an exchange signed now would give, by core/rates.py's rounding rule",
        None,
        200,
        ExchangeQuoteBody,
        ["quote_from", "quote_to", "quote_amount"],
    ),
    (
        "get",
        "/v1/quote/roaming",
        "Exactly what paying a merchant amount_minor of its asset with another asset costs",
        None,
        200,
        RoamingQuoteBody,
        ["quote_asset", "quote_pay_asset", "quote_amount"],
    ),
    (
        "get",
        "/v1/settlement",
        "How members settle, the current window and the positions not yet settled, live",
        None,
        200,
        SettlementBody,
        [],
    ),
    (
        "get",
        "/v1/settlement/windows",
        "Settlement windows that hold obligations, newest first",
        None,
        200,
        WindowsPage,
        ["windows_limit", "windows_cursor"],
    ),
    (
        "get",
        "/v1/settlement/windows/{window}",
        "A window: positions, settlement, obligations, payouts and bank files",
        None,
        200,
        WindowDetail,
        [],
    ),
    (
        "get",
        "/v1/settlement/report",
        "Per member: obligations, net position, settlement status, payouts and files (JSON or CSV)",
        None,
        200,
        ReportBody,
        ["report_window", "report_member", "report_format"],
    ),
    (
        "get",
        "/v1/assets/{asset}/flags",
        "Merchants the voucher-cashing guard flagged in an asset (protocol 8)",
        None,
        200,
        FlagsBody,
        [],
    ),
    (
        "get",
        "/v1/accounts/{account}/controls",
        "What limits an account: its freeze and reason, its limits and today's total, a pending key recovery",
        None,
        200,
        ControlsBody,
        [],
    ),
    ("get", "/v1/council", "The council: its members, threshold and parameters", None, 200, Params, []),
    (
        "get",
        "/v1/proposals",
        "Council proposals, by id, with their votes and outcome",
        None,
        200,
        ProposalsPage,
        ["proposals_limit", "proposals_cursor"],
    ),
    ("get", "/v1/proposals/{proposal}", "A council proposal", None, 200, ProposalBody, []),
    (
        "get",
        "/v1/merchants/{merchant}/payments/{payment_id}",
        "A payment a merchant received, with what was refunded",
        None,
        200,
        Payment,
        [],
    ),
    (
        "get",
        "/v1/merchants/{merchant}/qr",
        "A merchant-presented QR code (EMVCo): static, or dynamic for one payment of an amount",
        None,
        200,
        MerchantQrBody,
        ["qr_asset", "qr_amount", "qr_payment_id", "qr_name", "qr_city", "qr_mcc", "qr_format"],
    ),
    (
        "post",
        "/v1/qr/parse",
        "Check a scanned merchant QR payload and read it",
        ParseQrRequest,
        200,
        MerchantCodeBody,
        [],
    ),
    (
        "get",
        "/v1/codes/{code}",
        "A holder's one-time payment code: open, charged or expired",
        None,
        200,
        PayCodeBody,
        [],
    ),
    ("get", "/v1/blocks", "Latest blocks, newest first", None, 200, BlocksPage, ["blocks_limit", "blocks_cursor"]),
    ("get", "/v1/blocks/{height}", "A block", None, 200, BlockBody, []),
    ("get", "/v1/blocks/{height}/certificate", "A block's certificate", None, 200, Certificate, []),
    ("get", "/v1/blocks/{height}/full", "A final block with its transactions (for peers)", None, 200, FullBlock, []),
    ("get", "/v1/status", "Node status, divergence and limits", None, 200, NodeStatusBody, []),
    (
        "get",
        "/v1/network",
        "Every validator as this node sees it: heights, finality, digest agreement",
        None,
        200,
        NetworkBody,
        [],
    ),
    (
        "post",
        "/demo/v1/wallets",
        "Demo node only: a demo member registers a holder account for a browser-made key, with welcome value",
        NewWallet,
        201,
        WalletOpened,
        [],
    ),
    ("get", "/v1/genesis", "The genesis: chain id, members, validator set", None, 200, Genesis, []),
    (
        "get",
        "/v1/directory",
        "Merchants nearest a point (protocol 7 registry), nearest first, filtered by asset and category",
        None,
        200,
        DirectoryPage,
        [
            "directory_lat",
            "directory_lon",
            "directory_asset",
            "directory_category",
            "directory_limit",
            "directory_cursor",
        ],
    ),
    ("get", "/v1/merchants/{merchant}", "A merchant's registry entry (protocol 7)", None, 200, MerchantProfile, []),
    (
        "get",
        "/v1/validators",
        "The validator sets (protocol 6: changed by the council) and the certified changes a light client follows",
        None,
        200,
        ValidatorsBody,
        [],
    ),
]


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
    queries = query_params(limits)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, status, response, query in ROUTES:
        params = [
            {"name": name[1:-1], "in": "path", "required": True, "schema": dict(PATH_PARAMS[name[1:-1]])}
            for name in path.split("/")
            if name.startswith("{")
        ] + [
            {
                "name": queries[q]["name"],
                "in": "query",
                "required": False,
                "description": queries[q]["description"],
                "schema": dict(queries[q]["schema"]),
            }
            for q in query
        ]
        tag, example = ROUTE_DOCS[path]
        success: dict[str, Any] = {"schema": by_type[response]}
        if example is not None:
            success["example"] = example
        operation: dict[str, Any] = {
            "summary": summary,
            "tags": [tag],
            "parameters": params,
            "responses": {
                str(status): {"description": "success", "content": {"application/json": success}},
                "4XX": {
                    "description": "error with a stable code",
                    "content": {"application/json": {"schema": error_ref}},
                },
            },
        }
        if request is not None:
            body = {"schema": by_type[request], "example": request_example(request)}
            operation["requestBody"] = {"required": True, "content": {"application/json": body}}
        secure(operation, ROUTE_POLICY[path], error_ref)
        if path == "/v1/transactions" or path == "/v1/transactions/batch":
            operation["responses"]["503"] = {
                "description": "mempool full: retry after the Retry-After header's seconds",
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(path, {})[method] = operation
    paths["/v1/events"] = {"get": events_operation(queries, error_ref)}
    secure(paths["/v1/events"]["get"], ROUTE_POLICY["/v1/events"], error_ref)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Tally node API",
            "version": "1",
            "description": (
                "Signed transactions in, final receipts out. Amounts are integers in the asset's minor unit."
                ' Every error is `{"error": {"code", "message", "details", "request_id"}}` with a'
                " stable code.\n\n" + ACCESS_TEXT + "\n\n## Limits\n\n" + limits_table(limits)
            ),
        },
        "tags": [{"name": name, "description": description} for name, description in TAGS],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {BEARER: BEARER_SCHEME}},
    }


BEARER = "readToken"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A read token from POST /v1/auth/token (docs/access.md): at most 15 minutes, this node only",
}
ACCESS_NOTES = {
    "account": "Needs a read token whose principal may read the account `{param}` names: the account itself, the"
    " member that registered it, an auditor or a regulator (401 auth_required, token_expired, token_invalid;"
    " 403 not_permitted).",
    "issuer": "Needs a read token of the issuer of the asset `{param}` names, an auditor or a regulator (401"
    " auth_required, token_expired, token_invalid; 403 not_permitted).",
    "full_blocks": "Needs a read token of a member, auditor, regulator or validator (401 auth_required,"
    " token_expired, token_invalid; 403 not_permitted).",
    "events": "Block events are public. `tx` and `balance` events need a read token (the `Authorization` header, or"
    " `access_token` for browsers' EventSource): the stream then carries the events of the accounts its principal"
    " may read (auditors and regulators: all), a transaction with only those accounts' balance changes.",
}


def secure(operation: dict[str, Any], policy: RoutePolicy, error_ref: Any) -> None:
    """Say who may call a route (api/access.py ROUTE_POLICY): its security requirement, a note and the 401/403."""
    if policy.access == "public":
        operation["security"] = []
        return
    optional = policy.access == "events"
    operation["security"] = [{}, {BEARER: []}] if optional else [{BEARER: []}]
    operation["description"] = ACCESS_NOTES[policy.access].format(param=policy.param)
    refused = {"content": {"application/json": {"schema": error_ref}}}
    operation["responses"]["401"] = {"description": "auth_required, token_expired or token_invalid", **refused}
    operation["responses"]["403"] = {"description": "not_permitted: the principal may not read this", **refused}


def request_example(request: Any) -> Any:
    """A request body's example: a signed payment from the test vectors' keys."""
    from ..client.signer import sign_tx
    from ..client.vectors import vector_key, vector_txs

    if request is ParseQrRequest:
        return {"payload": QR_EXAMPLE}
    if request is TokenRequest:
        return TOKEN_REQUEST_EXAMPLE
    if request is NewWallet:
        return {"account": "w-k3x9q2", "public_key": "d4a0021f3c3447e805907012f13a646988750311c7196ba42e6c50b37b3bc350"}
    pay = next(sign_tx(tx, vector_key(signer)) for _, signer, tx in vector_txs() if type(tx).__name__ == "Pay")
    return msgspec.to_builtins(pay if request is SignedTx else {"txs": [pay]})


def events_operation(queries: dict[str, dict[str, Any]], error_ref: Any) -> dict[str, Any]:
    """GET /v1/events: a text/event-stream, documented by hand (its body is not one JSON value)."""
    names = ["events_types", "events_account", "events_merchant", "events_asset", "events_cursor"]
    return {
        "summary": "Final blocks, transactions and balance changes as server-sent events (resume with Last-Event-ID)",
        "tags": ["events"],
        "parameters": [
            {
                "name": queries[n]["name"],
                "in": "query",
                "required": False,
                "description": queries[n]["description"],
                "schema": dict(queries[n]["schema"]),
            }
            for n in names
        ]
        + [
            {
                "name": "access_token",
                "in": "query",
                "required": False,
                "description": "A read token, for clients that cannot send headers (browsers' EventSource)",
                "schema": {
                    "type": "string",
                    "maxLength": 2048,
                    "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$(?!\n)",
                },
            },
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "Resume after this event id",
                "schema": dict(queries["events_cursor"]["schema"]),
            },
        ],
        "responses": {
            "200": {"description": "an event stream", "content": {"text/event-stream": {"example": EVENTS_EXAMPLE}}},
            "4XX": {"description": "error with a stable code", "content": {"application/json": {"schema": error_ref}}},
            "503": {"description": "too_many_streams", "content": {"application/json": {"schema": error_ref}}},
        },
    }
