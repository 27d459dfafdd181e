"""Rates, quotes and settlement routes (protocol 11; docs/settlement.md).

Rates and quotes are public: what a holder is offered. Positions, windows and reports are for members,
auditors and regulators (access `full_blocks`): what members owe each other.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from ..client.models import (
    ExchangeQuoteBody,
    MemberPosition,
    PairView,
    RatesBody,
    RateView,
    ReportBody,
    ReportRow,
    RoamingQuoteBody,
    SettlementBody,
    WindowDetail,
    WindowsPage,
    WindowView,
)
from ..client.reports import report_csv
from ..core.errors import Rejected
from ..core.ops.exchange import exchange_terms, roaming_terms
from ..core.rates import fraction_text, unit_value
from ..core.settlement import add_to_pairs, fx_of, net_positions, settlement_config, window_bounds, window_of
from ..core.state import TxView
from ..core.tables import (
    BANK_FILES,
    OBLIGATIONS,
    PAYOUTS,
    RATE_BOUNDS,
    RATES,
    WINDOW_PAYOUTS,
    WINDOWS,
    window_key,
)
from ..core.types import BankFile, FxRate, Obligation, PairPosition, Payout, Rate, Ratio, Settlement, StateValue, Window
from ..node.node import Node
from .errors import ApiError
from .params import Params
from .records import records_under
from .responses import Handler
from .responses import json_response as _json

MAX_RATES = 1_000  # rates one answer lists (by asset id)
MAX_OPEN_WINDOWS = 1_000  # unsettled windows the live positions add up
MAX_WINDOW_ITEMS = 5_000  # obligations or payouts one window answer lists
MAX_WINDOWS_SCANNED = 100_000


class StoreView:
    """Committed state as the core's rules read it (no writes)."""

    def __init__(self, node: Node) -> None:
        self._get = node.store.get_state

    def get(self, key: str) -> StateValue | None:
        value: StateValue | None = self._get(key)
        return value


def read_view(node: Node) -> TxView:
    return TxView(StoreView(node), {})


def require_config(node: Node) -> Settlement:
    config = settlement_config(read_view(node))
    if config is None:
        raise ApiError(404, "no_settlement", "the council has not set how members settle")
    return config


def refused(err: Rejected) -> ApiError:
    """A rule that would refuse the transaction: the same stable code, nothing signed."""
    status = 404 if err.code.value in ("unknown_asset", "unknown_account") else 409
    return ApiError(status, err.code.value, err.message)


# --- rates and quotes ---------------------------------------------------------------------------


def rates_endpoint(node: Node, params: Params) -> Handler:
    async def rates(request: Request) -> Response:
        view = read_view(node)
        config = settlement_config(view)
        found, more = records_under(node, RATES.scan_prefix(), Rate, MAX_RATES)
        items = [rate_view(view, config, rate) for _, rate in found]
        fx = [FxRate(f.currency, Ratio(f.num, f.den)) for f in config.fx] if config else []
        return _json(RatesBody(config.currency if config else "", fx, items, more))

    return rates


def rate_view(view: TxView, config: Settlement | None, rate: Rate) -> RateView:
    bounds = view.read(RATE_BOUNDS, rate.asset)
    assert bounds is not None, "a rate is published within bounds"
    try:
        unit = fraction_text(unit_value(rate.rate, fx_of(config, rate.currency))) if config else ""
    except Rejected:  # no FX rate for its currency
        unit = ""
    return RateView(
        rate.asset,
        rate.currency,
        rate.rate,
        bounds.min_rate,
        bounds.max_rate,
        rate.source,
        rate.fee_bp,
        rate.fee_account,
        rate.height,
        unit,
    )


def exchange_quote_endpoint(node: Node, params: Params) -> Handler:
    async def quote(request: Request) -> Response:
        from_asset, to_asset = required(params, request, "quote_from"), required(params, request, "quote_to")
        amount_minor = required_amount(params, request)
        view = read_view(node)
        try:
            source, target, q = exchange_terms(view, from_asset, to_asset, amount_minor)
        except Rejected as err:
            raise refused(err) from err
        config = require_config(node)
        return _json(
            ExchangeQuoteBody(
                from_asset,
                to_asset,
                amount_minor,
                q.value_minor,
                q.gross_minor,
                q.fee_minor,
                q.out_minor,
                fraction_text(q.remainder),
                source.rate.rate,
                target.rate.rate,
                config.currency,
                node.stored_head.height,
            )
        )

    return quote


def roaming_quote_endpoint(node: Node, params: Params) -> Handler:
    async def quote(request: Request) -> Response:
        asset, pay_asset = required(params, request, "quote_asset"), required(params, request, "quote_pay_asset")
        amount_minor = required_amount(params, request)
        try:
            source, target, q = roaming_terms(read_view(node), asset, amount_minor, pay_asset)
        except Rejected as err:
            raise refused(err) from err
        config = require_config(node)
        return _json(
            RoamingQuoteBody(
                asset,
                amount_minor,
                pay_asset,
                q.from_minor,
                q.value_minor,
                fraction_text(q.remainder),
                source.rate.rate,
                target.rate.rate,
                config.currency,
                node.stored_head.height,
            )
        )

    return quote


def required_amount(params: Params, request: Request) -> int:
    if request.query_params.get("amount_minor") is None:
        raise ApiError(400, "invalid_query", "amount_minor is required")
    return params.integer(request, "quote_amount")


def required(params: Params, request: Request, key: str) -> str:
    value = params.string(request, key)
    if value is None:
        raise ApiError(400, "invalid_query", f"{params.queries[key]['name']} is required")
    return value


# --- positions and windows ---------------------------------------------------------------------


def pair_views(pairs: list[PairPosition]) -> list[PairView]:
    return [PairView(p.debtor, p.creditor, p.amount_minor) for p in pairs]


def window_view(window: Window, current: int) -> WindowView:
    return WindowView(
        window.window,
        window.first_height,
        window.last_height,
        window.currency,
        window.status,
        window.window < current,
        window.obligations,
        window.gross_minor,
        pair_views(window.pairs),
        [MemberPosition(m, v) for m, v in net_positions(window.pairs).items()],
        [PairView(m.debtor, m.creditor, m.amount_minor) for m in window.moves],
        window.settled_height,
        window.settled_txid,
    )


def settlement_endpoint(node: Node, params: Params) -> Handler:
    async def settlement(request: Request) -> Response:
        config = require_config(node)
        height = node.stored_head.height
        current = window_of(config, height)
        unsettled = [w for w in all_windows(node) if w.status != "settled"][-MAX_OPEN_WINDOWS:]
        pairs: list[PairPosition] = []
        for w in unsettled:
            for p in w.pairs:
                pairs = add_to_pairs(pairs, p.debtor, p.creditor, p.amount_minor)
        return _json(
            SettlementBody(
                config.currency,
                config.window_blocks,
                config.asset,
                [FxRate(f.currency, Ratio(f.num, f.den)) for f in config.fx],
                height,
                current,
                [MemberPosition(m, v) for m, v in net_positions(pairs).items()],
                pair_views(pairs),
                [window_view(w, current) for w in unsettled],
            )
        )

    return settlement


def all_windows(node: Node) -> list[Window]:
    return [w for _, w in records_under(node, WINDOWS.scan_prefix(), Window, MAX_WINDOWS_SCANNED)[0]]


def current_window(node: Node) -> int:
    """The window the chain is in: every window before it is closed."""
    return window_of(require_config(node), node.stored_head.height)


def windows_endpoint(node: Node, params: Params) -> Handler:
    async def windows(request: Request) -> Response:
        limit = params.integer(request, "windows_limit")
        before = params.string(request, "windows_cursor")
        current = current_window(node)
        found = [w for w in reversed(all_windows(node)) if before is None or w.window < int(before)]
        page = found[:limit]
        more = len(found) > limit
        return _json(WindowsPage([window_view(w, current) for w in page], str(page[-1].window) if more else None))

    return windows


def window_number(request: Request) -> int:
    raw = str(request.path_params["window"])
    if not raw.isdigit() or len(raw) > 12:
        raise ApiError(400, "invalid_path", "window is an integer from 0 to 999999999999")
    return int(raw)


def window_detail(node: Node, number: int) -> WindowDetail:
    current = current_window(node)
    window = WINDOWS.read(node.store.get_state, window_key(number))
    if window is None:
        if number >= current + 1:
            raise ApiError(404, "unknown_window", f"window {number} has not begun")
        config = require_config(node)
        first, last = window_bounds(config, number) if number >= config.base_window else (0, 0)
        window = Window(number, first, last, config.currency, 0, 0, [], "open")  # nothing happened in it
    obligations, more = records_under(node, OBLIGATIONS.scan_prefix(window_key(number)), Obligation, MAX_WINDOW_ITEMS)
    paid, more_paid = records_under(node, WINDOW_PAYOUTS.scan_prefix(window_key(number)), int, MAX_WINDOW_ITEMS)
    payouts = [PAYOUTS.read(node.store.get_state, WINDOW_PAYOUTS.key_parts(k)[1]) for k, _ in paid]
    files, _ = records_under(node, BANK_FILES.scan_prefix(window_key(number)), BankFile, 1_000)
    return WindowDetail(
        window_view(window, current),
        [o for _, o in obligations],
        [p for p in payouts if p is not None],
        [f for _, f in files],
        more or more_paid,
    )


def window_endpoint(node: Node, params: Params) -> Handler:
    async def window(request: Request) -> Response:
        return _json(window_detail(node, window_number(request)))

    return window


# --- reports -------------------------------------------------------------------------------------


def report_rows(node: Node, detail: WindowDetail, issuer_of: Callable[[str], str]) -> list[ReportRow]:
    """One row per member that owes, is owed, pays out or wrote a file in the window."""
    w = detail.window
    owes: dict[str, int] = {}
    owed: dict[str, int] = {}
    for o in detail.obligations:
        owes[o.debtor] = owes.get(o.debtor, 0) + o.amount_minor
        owed[o.creditor] = owed.get(o.creditor, 0) + o.amount_minor
    net = {m.member: m.net_minor for m in w.members}
    settled: dict[str, int] = {}
    for m in w.moves:
        settled[m.debtor] = settled.get(m.debtor, 0) - m.amount_minor
        settled[m.creditor] = settled.get(m.creditor, 0) + m.amount_minor
    payouts: dict[str, list[Payout]] = {}
    for p in detail.payouts:
        payouts.setdefault(issuer_of(p.asset), []).append(p)
    files: dict[str, list[str]] = {}
    for f in detail.files:
        files.setdefault(f.member, []).append(f"{f.kind} {f.sha256}")
    members = sorted(owes.keys() | owed.keys() | payouts.keys() | files.keys())
    return [
        ReportRow(
            window=w.window,
            member=m,
            status="closed" if w.closed and w.status == "open" else w.status,
            owes_minor=owes.get(m, 0),
            owed_minor=owed.get(m, 0),
            net_minor=net.get(m, 0),
            settled_minor=settled.get(m, 0) if w.status == "settled" else 0,
            payouts=len(payouts.get(m, [])),
            payouts_by_asset=by_asset(payouts.get(m, [])),
            payouts_done=sum(1 for p in payouts.get(m, []) if p.status == "done"),
            payouts_returned=sum(1 for p in payouts.get(m, []) if p.status == "returned"),
            files="; ".join(files.get(m, [])),
        )
        for m in members
    ]


def by_asset(payouts: list[Payout]) -> str:
    totals: dict[str, int] = {}
    for p in payouts:
        totals[p.asset] = totals.get(p.asset, 0) + p.amount_minor
    return "; ".join(f"{asset} {total}" for asset, total in sorted(totals.items()))


def report_endpoint(node: Node, params: Params) -> Handler:
    async def report(request: Request) -> Response:
        if request.query_params.get("window") is None:
            raise ApiError(400, "invalid_query", "window is required")
        number = params.integer(request, "report_window")
        member = params.string(request, "report_member")
        detail = window_detail(node, number)

        def issuer_of(asset_id: str) -> str:
            asset = node.ledger.asset(asset_id)
            return asset.issuer if asset is not None else ""

        rows = [r for r in report_rows(node, detail, issuer_of) if member is None or r.member == member]
        if params.string(request, "report_format") == "csv":
            return Response(report_csv(rows), media_type="text/csv; charset=utf-8")
        return _json(ReportBody(detail.window.currency, rows, detail.truncated))

    return report
