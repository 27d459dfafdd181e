"""`tally rates`, `tally quote`, `tally settlement`: published rates, exact quotes, and settlement between members.

Exchanges and roaming payments are signed with `tally tx exchange` and `tally tx pay-roaming`, rates with
`tally tx set-rate`; the council sets bounds and the settlement configuration (`tally council propose
set-rate-bounds | set-settlement`). docs/settlement.md walks through a window end to end.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..client.amounts import format_minor
from ..client.keys import read_keyfile
from ..client.models import PairView, WindowView
from ..client.reports import report_csv
from .common import emit_json, json_option, reader_option, table, talking_to, url_option


def money(amount_minor: int, currency: str, decimals: dict[str, int]) -> str:
    return f"{format_minor(amount_minor, decimals.get(currency, 0))} {currency}"


CURRENCY_DECIMALS = {"KRW": 0, "JPY": 0, "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2}  # how the CLI prints amounts


@click.command("rates")
@url_option
@json_option
def rates(url: str, as_json: bool) -> None:
    """Every published rate: one minor unit of the asset in minor units of its reference currency."""
    with talking_to(url) as client:
        found = client.rates()
    if as_json:
        emit_json(found)
        return
    rows = [
        [
            r.asset,
            f"{r.rate.num}/{r.rate.den}",
            r.currency,
            f"{r.min_rate.num}/{r.min_rate.den} .. {r.max_rate.num}/{r.max_rate.den}",
            r.source,
            f"{r.fee_bp / 100:g}%",
            str(r.height),
            r.unit_value,
        ]
        for r in found.items
    ]
    table(["ASSET", "RATE", "CURRENCY", "BOUNDS", "SOURCE", "FEE", "SINCE", f"IN {found.settlement_currency}"], rows)
    for fx in found.fx:
        click.echo(f"FX: 1 minor unit of {fx.currency} = {fx.rate.num}/{fx.rate.den} of {found.settlement_currency}")


@click.group()
def quote() -> None:
    """Exactly what an exchange or a roaming payment signed now would give or cost."""


@quote.command("exchange")
@click.argument("from_asset")
@click.argument("to_asset")
@click.argument("amount_minor", type=int)
@url_option
@json_option
def quote_exchange(from_asset: str, to_asset: str, amount_minor: int, url: str, as_json: bool) -> None:
    """AMOUNT_MINOR of FROM_ASSET exchanged into TO_ASSET: sign --min-out-minor at most what it gives."""
    with talking_to(url) as client:
        q = client.quote_exchange(from_asset, to_asset, amount_minor)
    if as_json:
        emit_json(q)
        return
    click.echo(f"{amount_minor} {from_asset} -> {q.out_minor} {to_asset} (gross {q.gross_minor}, fee {q.fee_minor})")
    click.echo(f"obligation {q.value_minor} {q.settlement_currency} minor units, remainder {q.remainder}")


@quote.command("roaming")
@click.argument("asset")
@click.argument("amount_minor", type=int)
@click.argument("pay_asset")
@url_option
@json_option
def quote_roaming(asset: str, amount_minor: int, pay_asset: str, url: str, as_json: bool) -> None:
    """Paying a merchant exactly AMOUNT_MINOR of ASSET with PAY_ASSET: sign --max-pay-minor at least its cost."""
    with talking_to(url) as client:
        q = client.quote_roaming(asset, amount_minor, pay_asset)
    if as_json:
        emit_json(q)
        return
    click.echo(f"{amount_minor} {asset} costs {q.pay_minor} {pay_asset}")
    click.echo(f"obligation {q.value_minor} {q.settlement_currency} minor units, remainder {q.remainder}")


@click.group()
def settlement() -> None:
    """Settlement between members: positions, windows, reports, and the bank adapter."""


def _pairs(pairs: list[PairView], currency: str) -> None:
    if not pairs:
        click.echo("  no open positions")
        return
    rows = [[p.debtor, p.creditor, money(p.amount_minor, currency, CURRENCY_DECIMALS)] for p in pairs]
    table(["OWES", "TO", "AMOUNT"], rows, right={2})


def _window_line(w: WindowView) -> str:
    state = "closed, to be settled" if w.closed and w.status == "open" else w.status if w.closed else "open (current)"
    return f"window {w.window} (blocks {w.first_height}..{w.last_height}): {state}, {w.obligations} obligations"


@settlement.command("show")
@url_option
@reader_option
@json_option
def show(url: str, key_path: Path | None, as_json: bool) -> None:
    """The settlement configuration, the current window and every position not yet settled (--key: a member's)."""
    with talking_to(url, key_path) as client:
        found = client.settlement()
    if as_json:
        emit_json(found)
        return
    asset = found.asset or "none: through the banks"
    click.echo(f"settles in {found.currency}, windows of {found.window_blocks} blocks, settlement asset {asset}")
    click.echo(f"height {found.height}, window {found.current_window}")
    click.echo("unsettled positions:")
    _pairs(found.unsettled_pairs, found.currency)
    for m in found.unsettled:
        click.echo(f"  {m.member}: {money(m.net_minor, found.currency, CURRENCY_DECIMALS)}")


@settlement.command("windows")
@click.option("--limit", type=int, default=20, show_default=True)
@url_option
@reader_option
@json_option
def windows(limit: int, url: str, key_path: Path | None, as_json: bool) -> None:
    """Settlement windows that hold obligations or payouts, newest first."""
    with talking_to(url, key_path) as client:
        found = client.windows(limit=limit)
    if as_json:
        emit_json(found)
        return
    for w in found.items:
        click.echo(_window_line(w))
        _pairs(w.pairs, w.currency)


@settlement.command("report")
@click.option("--window", "window", type=int, required=True)
@click.option("--member", default=None, help="Only this member's row.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV, for a spreadsheet.")
@url_option
@reader_option
@json_option
def report(window: int, member: str | None, as_csv: bool, url: str, key_path: Path | None, as_json: bool) -> None:
    """Per member: obligations, net position, settlement status, payouts and files for one window."""
    with talking_to(url, key_path) as client:
        found = client.settlement_report(window, member)
    if as_json:
        emit_json(found)
        return
    if as_csv:
        click.echo(report_csv(found.rows), nl=False)
        return
    d = CURRENCY_DECIMALS
    rows = [
        [
            r.member,
            r.status,
            money(r.owes_minor, found.currency, d),
            money(r.owed_minor, found.currency, d),
            money(r.net_minor, found.currency, d),
            money(r.settled_minor, found.currency, d),
            f"{r.payouts} ({r.payouts_done} done, {r.payouts_returned} returned)",
            str(len(r.files.split("; "))) if r.files else "0",
        ]
        for r in found.rows
    ]
    table(["MEMBER", "STATUS", "OWES", "OWED", "NET", "SETTLED", "PAYOUTS", "FILES"], rows, right={2, 3, 4, 5})


@settlement.command("run")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path), help="The member's key file.")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="Adapter config (JSON).")
@click.option("--drop", required=True, type=click.Path(path_type=Path), help="The folder the bank picks files up from.")
@click.option("--every-s", type=float, default=0, help="Run a pass this often until stopped (0: one pass).")
@url_option
def run(key_path: Path, config_path: Path, drop: Path, every_s: float, url: str) -> None:
    """The member's bank adapter: settle closed windows, write its bank files once, record them on the ledger."""
    import msgspec

    from ..settlement.adapter import AdapterRefused, BankAdapter, BankFileConflict, read_config

    try:
        config = read_config(config_path)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as error:
        raise click.ClickException(f"adapter config {config_path}: {error}") from None
    key = read_keyfile(key_path)
    if key.id != config.member:
        raise click.ClickException(f"{key_path} is {key.id!r}'s key; the adapter config is {config.member!r}'s")
    if every_s < 0:
        raise click.BadParameter("a pass every 0 seconds (once) or more", param_hint="--every-s")
    with talking_to(url, key_path) as client:
        adapter = BankAdapter(client, key, config, drop)
        while True:
            try:
                done = adapter.run_once()
            except (ValueError, BankFileConflict, AdapterRefused) as error:
                raise click.ClickException(f"bank adapter: {error}") from None
            for window, method in done.settled:
                said = (
                    "settled window {} in the settlement asset" if method == "ledger" else "sent window {} to the banks"
                )
                click.echo(said.format(window))
            for path in done.written:
                click.echo(f"wrote {path}")
            for window, kind, sha in done.recorded:
                click.echo(f"recorded window {window} {kind} sha256 {sha}")
            if not (done.settled or done.written or done.recorded):
                click.echo("nothing to do: every closed window is settled and its files recorded")
            if every_s == 0:
                return
            time.sleep(every_s)  # the adapter's own schedule between passes (not a test synchronisation)
