"""`tally policy show | flags`: an asset's policy in words, and the merchants its guard flagged (protocol 8).

A policy is set with the asset (`tally tx create-asset --policy JSON`) and changed by the council
(`tally council propose set-policy`); docs/issuers.md walks through both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ..client.amounts import format_minor
from ..core.types import Asset, AssetPolicy, MerchantFlag
from .common import emit_json, json_option, reader_option, table, talking_to, url_option

DAY_MS = 86_400_000


@click.group()
def policy() -> None:
    """Asset policies: what an asset enforces, and the merchants its voucher-cashing guard flagged."""


def month_name(month: int) -> str:
    """A ledger month (months since January 1970, in the chain's time zone) as YYYY-MM."""
    return f"{1970 + month // 12}-{month % 12 + 1:02d}"


def _lifetime(p: AssetPolicy) -> str:
    if not p.lot_lifetime_ms and not p.valid_until_ms:
        return "never"
    when = f"{p.lot_lifetime_ms / DAY_MS:g} days after issue, at the day's end" if p.lot_lifetime_ms else "at its end"
    return f"{when}; the rest goes {'to the issuer' if p.expired_to == 'issuer' else 'burned'}"


def _pct_bp(bp: int) -> str:
    return f"{bp / 100:g}%"


def policy_lines(asset: Asset) -> list[tuple[str, str]]:
    """The asset's rules, one (what, rule) pair each, amounts in the asset's unit."""
    p = asset.policy if isinstance(asset.policy, AssetPolicy) else AssetPolicy()

    def amount(minor: int, none: str = "none") -> str:
        return format_minor(minor, asset.decimals) if minor else none

    where = []
    if p.categories:
        where.append("categories " + ", ".join(p.categories))
    if p.regions:
        where.append("regions " + ", ".join(p.regions))
    refund = "none"
    if p.refund_pct:
        refund = f"once {p.refund_pct}% is spent"
        if p.small_face_minor:
            refund += f" ({p.small_refund_pct}% up to {amount(p.small_face_minor)})"
    discount = "none"
    if p.discount_bp:
        discount = f"{_pct_bp(p.discount_bp)} off, paid by {p.budget_account}"
    cap = p.merchant_cash_out_cap_minor
    guard = f"cash-out cap {amount(cap)} a month" if cap else "no cash-out cap"
    if p.flag_multiple:
        guard += f"; flagged past {p.flag_multiple}x usual redemptions"
    return [
        ("spent at", "; ".join(where) if where else "any merchant"),
        ("valid until", f"block time {p.valid_until_ms}" if p.valid_until_ms else "no end"),
        ("lots expire", _lifetime(p)),
        ("holder cap", amount(p.holder_cap_minor)),
        ("monthly cap", amount(p.monthly_cap_minor)),
        ("who pays", "holders and merchants" if p.merchants_pay else "holders"),
        ("transferable", "between holders" if asset.transferable else "no"),
        ("cash-out", f"{asset.cash_out}, fee {_pct_bp(p.cash_out_fee_bp)}"),
        ("remainder refund", refund),
        ("discount", discount),
        ("merchants", guard),
    ]


def flag_row(f: MerchantFlag, decimals: int) -> list[str]:
    redeemed, usual = format_minor(f.redeemed_minor, decimals), format_minor(f.usual_minor, decimals)
    return [f.merchant, month_name(f.month), redeemed, usual, f"{f.multiple}x", f"block {f.height}"]


@policy.command("show")
@click.argument("asset")
@url_option
@json_option
def show(asset: str, url: str, as_json: bool) -> None:
    """An asset's policy, rule by rule."""
    with talking_to(url) as client:
        found = client.asset(asset)
    if as_json:
        emit_json(found.policy if isinstance(found.policy, AssetPolicy) else None)
        return
    click.echo(f"{found.id}: {found.name} ({found.kind}, issued by {found.issuer})")
    if not isinstance(found.policy, AssetPolicy):
        click.echo("no policy: spent anywhere, by anyone, without caps")
        return
    table(["RULE", "VALUE"], policy_lines(found))


@policy.command("flags")
@click.argument("asset")
@url_option
@reader_option
@json_option
def flags(asset: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """Merchants the voucher-cashing guard flagged in an asset (--key: its issuer, an auditor or a regulator)."""
    with talking_to(url, key_path) as client:
        found = client.flags(asset)
        decimals = client.asset(asset).decimals
    if as_json:
        emit_json(found)
        return
    if not found.flags:
        click.echo(f"no merchant flagged in {asset}")
        return
    rows = [flag_row(f, decimals) for f in found.flags]
    table(["MERCHANT", "MONTH", "REDEEMED", "USUAL", "PAST", "FLAGGED AT"], rows, right={2, 3})


@click.command()
@click.argument("account")
@url_option
@reader_option
@json_option
def lots(account: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """An account's lots, first to expire first, and its latest expired ones (--key: who reads)."""
    with talking_to(url, key_path) as client:
        found = client.lots(account)
        decimals = {item.asset: client.asset(item.asset).decimals for item in found.items}
    if as_json:
        emit_json(found)
        return
    if not found.items:
        click.echo(f"{account} holds no lots")
        return
    rows = []
    for item in found.items:
        for lot in item.lots:
            state = "expired, to be swept" if lot.expired else "spendable"
            rows.append(
                [item.asset, format_minor(lot.amount_minor, decimals[item.asset]), _time(lot.expires_ms), state]
            )
        for gone in item.expired:
            to = "to the issuer" if gone.to == "issuer" else "burned"
            row = [item.asset, format_minor(gone.amount_minor, decimals[item.asset]), _time(gone.expires_ms)]
            rows.append([*row, f"expired: {to} at block {gone.height}"])
    table(["ASSET", "AMOUNT", "EXPIRES (UTC)", "STATE"], rows, right={1})


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@policy.command("incentives")
@click.argument("asset")
@url_option
@json_option
def incentives(asset: str, url: str, as_json: bool) -> None:
    """An asset's cashback rules and what each budget account has left."""
    with talking_to(url) as client:
        found = client.incentives(asset)
        decimals = client.asset(asset).decimals
    if as_json:
        emit_json(found)
        return
    if not found.items:
        click.echo(f"no incentive rules in {asset}")
        return
    rows = []
    for item in found.items:
        rule = item.rule
        where = "; ".join(
            part
            for part in (
                "categories " + ", ".join(rule.categories) if rule.categories else "",
                "regions " + ", ".join(rule.regions) if rule.regions else "",
            )
            if part
        )
        cap = format_minor(rule.cap_per_holder_minor, decimals) if rule.cap_per_holder_minor else "none"
        left = f"{format_minor(item.budget_minor, decimals)} in {rule.budget_account}"
        rows.append(
            [rule.id, _pct_bp(rule.rate_bp), where or "any merchant", cap, left, "yes" if item.active else "no"]
        )
    table(["RULE", "CASHBACK", "AT", "CAP A HOLDER", "BUDGET LEFT", "RUNNING"], rows)
