"""`tally coupons list | mine | used`: the coupon mall, a holder's coupons, a merchant's uses (protocol 10).

Coupons are listed, bought and used with `tally tx list-coupon | buy-coupon | use-coupon`.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..client.amounts import format_minor
from .common import emit_json, json_option, reader_option, table, talking_to, url_option


@click.group()
def coupons() -> None:
    """The coupon mall: what is on sale, what a holder bought, what a merchant took."""


@coupons.command("list")
@url_option
@json_option
def mall(url: str, as_json: bool) -> None:
    """Every coupon in the mall: price, stock left, validity, merchants."""
    with talking_to(url) as client:
        found = client.coupons()
        decimals = {a: client.asset(a).decimals for a in {c.price_asset for c in found.items}}
    if as_json:
        emit_json(found)
        return
    rows = []
    for c in found.items:
        price = f"{format_minor(c.price_minor, decimals[c.price_asset])} {c.price_asset}"
        rows.append([c.id, c.name, price, str(c.stock), str(c.sold), ", ".join(c.merchants)])
    table(["COUPON", "NAME", "PRICE", "LEFT", "SOLD", "USED AT"], rows, right={3, 4})


@coupons.command("mine")
@click.argument("account")
@url_option
@reader_option
@json_option
def mine(account: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """The coupons an account bought; use one with `tally tx use-coupon --bought TXID`."""
    with talking_to(url, key_path) as client:
        found = client.owned_coupons(account)
    if as_json:
        emit_json(found)
        return
    rows = [[o.coupon, o.bought_txid, f"used at {o.used_merchant}" if o.used_txid else "unused"] for o in found.items]
    table(["COUPON", "BOUGHT (TXID)", "STATE"], rows)


@coupons.command("used")
@click.argument("merchant")
@url_option
@reader_option
@json_option
def used(merchant: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """Coupons used at a merchant, newest first (--key: the merchant's, its member's, a supervisor's)."""
    with talking_to(url, key_path) as client:
        found = client.coupon_uses(merchant)
    if as_json:
        emit_json(found)
        return
    table(["COUPON", "HOLDER", "BLOCK", "TXID"], [[u.coupon, u.holder, str(u.height), u.txid] for u in found.items])
