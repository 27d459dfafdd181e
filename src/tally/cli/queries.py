"""Read commands: balances and history in the asset's own unit, accounts, assets, node status.

Each prints a table with a header, or with --json the API's answer as JSON. An account's reads
(`balance`, `history`, `account`) take `--key KEYFILE`: who reads, the account itself, its member,
an auditor or a regulator (docs/access.md); `tally token --key KEYFILE` prints a read token for curl.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ..client import TallyClient
from ..client.amounts import format_minor
from ..client.auth import Reader, ReadTokens
from ..client.keys import read_keyfile
from ..client.models import MAX_TOKEN_TTL_S, HistoryEntry
from ..core.types import Asset
from .common import emit_json, json_option, reader_option, table, talking_to, url_option


class AssetBook:
    """Assets by id, fetched once each: their decimals and names for display."""

    def __init__(self, client: TallyClient) -> None:
        self.client = client
        self.known: dict[str, Asset] = {}

    def get(self, asset_id: str) -> Asset:
        if asset_id not in self.known:
            self.known[asset_id] = self.client.asset(asset_id)
        return self.known[asset_id]

    def amount(self, asset_id: str, minor: int, signed: bool = False) -> str:
        text = format_minor(minor, self.get(asset_id).decimals)
        return f"+{text}" if signed and minor > 0 else text


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.command()
@click.argument("account")
@url_option
@reader_option
@json_option
def balance(account: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """An account's balances, in each asset's own unit (--key: who reads)."""
    with talking_to(url, key_path) as client:
        balances = client.balances(account)
        book = AssetBook(client)
        rows = [(a, book.get(a).name, book.amount(a, m), str(m)) for a, m in sorted(balances.items())]
    if as_json:
        emit_json({"account": account, "balances": balances})
        return
    if not rows:
        click.echo(f"{account} holds nothing")
        return
    table(["ASSET", "NAME", "BALANCE", "MINOR UNITS"], rows, right={2, 3})


def _history_rows(account: str, items: list[HistoryEntry], book: AssetBook) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for item in items:
        when = _time(item.time_ms)
        if item.status == "rejected":
            rows.append((when, item.type, "", "", "", "", f"rejected: {item.code}"))
            continue
        moves = item.movements or []
        if not moves:  # applied, no balance of this account moved (e.g. an issuer's issue to someone)
            rows.append((when, item.type, "", "", "", "", "ok"))
        for move in moves:
            direction = "in" if move.amount_minor > 0 else "out"
            rows.append(
                (
                    when,
                    item.type,
                    move.asset,
                    f"{direction} {book.amount(move.asset, abs(move.amount_minor))}",
                    move.counterparty or ("issued" if move.amount_minor > 0 else "burned"),
                    book.amount(move.asset, move.balance_after_minor),
                    "ok",
                )
            )
    return rows


@click.command()
@click.argument("account")
@url_option
@reader_option
@json_option
@click.option("--limit", default=20, show_default=True, help="How many entries, newest first.")
@click.option("--cursor", default=None, help="Continue from a previous page's next cursor.")
@click.option("--rejected", "only", flag_value="rejected", default=None, help="Only rejected transactions.")
@click.option("--applied", "only", flag_value="applied", help="Only applied transactions.")
def history(
    account: str, url: str, key_path: Path | None, as_json: bool, limit: int, cursor: str | None, only: str | None
) -> None:
    """An account's latest transactions: time, type, asset, in/out, counterparty, balance after (--key: who reads)."""
    with talking_to(url, key_path) as client:
        page = client.history(account, limit=limit, cursor=cursor, status=only)
        rows = _history_rows(account, page.items, AssetBook(client))
    if as_json:
        emit_json(page)
        return
    table(["TIME (UTC)", "TYPE", "ASSET", "AMOUNT", "COUNTERPARTY", "BALANCE AFTER", "RESULT"], rows, right={3, 5})
    if page.next_cursor:
        key = f" --key {key_path}" if key_path is not None else ""
        click.echo(f"more: tally history {account}{key} --cursor {page.next_cursor}")


@click.command()
@click.argument("account_id")
@url_option
@reader_option
@json_option
def account(account_id: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """An account: role, key, the member that registered it, next seq (--key: who reads)."""
    with talking_to(url, key_path) as client:
        found = client.account(account_id)
    if as_json:
        emit_json(found)
        return
    table(
        ["ACCOUNT", "ROLE", "MEMBER", "NEXT SEQ", "PUBLIC KEY"],
        [(found.id, found.role, found.member, str(found.seq), found.public_key)],
    )


@click.command()
@url_option
@json_option
def assets(url: str, as_json: bool) -> None:
    """Every asset: name, kind, decimals, issuer and outstanding supply."""
    found: list[Asset] = []
    with talking_to(url) as client:
        cursor = None
        while True:
            page = client.assets(cursor=cursor)
            found += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    if as_json:
        emit_json(found)
        return
    rows = [
        (a.id, a.name, a.kind, str(a.decimals), a.issuer, format_minor(a.issued_minor - a.burned_minor, a.decimals))
        for a in found
    ]
    table(["ASSET", "NAME", "KIND", "DECIMALS", "ISSUER", "OUTSTANDING"], rows, right={5})


@click.command()
@url_option
@json_option
def status(url: str, as_json: bool) -> None:
    """The node: chain, height, finality, mempool and health."""
    with talking_to(url) as client:
        found = client.node_status()
    if as_json:
        emit_json(found)
        return
    health = "healthy" if found.healthy else "NOT healthy"
    if found.unavailable is not None:
        health += f" ({found.unavailable.code}: {found.unavailable.message})"
    click.echo(f"chain {found.chain}, validator {found.validator}, {health}")
    click.echo(
        f"height {found.height}, final {found.final_height}, mempool {found.mempool_txs}/{found.mempool_max_txs}"
    )


@click.command()
@url_option
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Key file of who reads (env TALLY_KEY).",
    envvar="TALLY_KEY",
)
@click.option("--validator", is_flag=True, help="The key file is a validator's (for full blocks), not an account's.")
@click.option("--ttl-s", type=click.IntRange(1, MAX_TOKEN_TTL_S), default=MAX_TOKEN_TTL_S, show_default=True)
@json_option
def token(url: str, key_path: Path, validator: bool, ttl_s: int, as_json: bool) -> None:
    """A read token for the key file's account (or validator): send it as 'Authorization: Bearer TOKEN'."""
    with talking_to(url) as client:
        keyfile = read_keyfile(key_path)
        reader = Reader(keyfile.id, keyfile.keypair(), "validator" if validator else "account")
        found = ReadTokens(reader, ttl_s=ttl_s).authenticate(client.http)
    if as_json:
        emit_json(found)
        return
    click.echo(found.token)


COMMANDS = (balance, history, assets, status, token)  # `account`: cli/governance.py groups it
