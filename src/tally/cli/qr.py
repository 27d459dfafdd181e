"""`tally qr` and `tally code`: paying at the counter from the command line.

- `tally qr merchant M --asset A [--amount 12.50]`: the merchant's QR code
  (static, or dynamic for one payment), its payload printed, drawn in the
  terminal (`--show`) or saved (`--png`, `--svg`).
- `tally qr parse PAYLOAD`: what a scanned code says, checked by the node.
- `tally qr pay PAYLOAD --key holder.json`: pay a merchant's code (a static
  one takes `--amount`); the payment expires with the code.
- `tally code open --key holder.json --asset A --limit 30`: a one-time
  payment code (20 digits, three minutes) for a merchant to charge; the
  merchant runs `tally tx charge --code DIGITS --amount 12.50 ...`.
- `tally code show DIGITS`: open, charged or expired.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import click
import msgspec
import segno

from ..client import Signer, TallyClient
from ..client.amounts import format_minor, to_minor
from ..client.keys import read_keyfile
from ..core.ops import BY_TYPE
from ..qr import render
from .common import emit_json, json_option, talking_to, url_option
from .tx import check_key, send

CODE_DIGITS = 20


def new_code() -> str:
    """20 random digits (about 66 bits): a consumer-presented payment code."""
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def show_in_terminal(payload: str) -> None:
    segno.make_qr(payload, error=render.ERROR_LEVEL).terminal(compact=True)


@click.group()
def qr() -> None:
    """Merchant QR codes (EMVCo merchant-presented): make, read, pay."""


@qr.command("merchant")
@click.argument("merchant")
@click.option("--asset", required=True, help="The asset the code is paid in.")
@click.option("--amount", default=None, help="A dynamic code for one payment of this amount (asset's unit).")
@click.option("--payment-id", default=None, help="The payment request id of a dynamic code (default: a new one).")
@click.option("--name", default=None, help="Merchant name shown to the payer (25 characters).")
@click.option("--city", default=None, help="Merchant city (15 characters).")
@click.option("--png", "png_path", type=click.Path(path_type=Path), default=None, help="Save the code as PNG.")
@click.option("--svg", "svg_path", type=click.Path(path_type=Path), default=None, help="Save the code as SVG.")
@click.option("--show", is_flag=True, help="Draw the code in the terminal.")
@json_option
@url_option
def merchant_qr(
    merchant: str,
    asset: str,
    amount: str | None,
    payment_id: str | None,
    name: str | None,
    city: str | None,
    png_path: Path | None,
    svg_path: Path | None,
    show: bool,
    as_json: bool,
    url: str,
) -> None:
    """A merchant's QR code: static (the payer types the amount) or dynamic (--amount: one payment, 3 minutes)."""
    with talking_to(url) as client:
        made = client.merchant_qr(merchant, asset, amount, payment_id, name, city)
    if png_path is not None:
        png_path.write_bytes(render.png(made.payload))
    if svg_path is not None:
        svg_path.write_text(made.svg, encoding="utf-8")
    if as_json:
        emit_json(made)
        return
    if show:
        show_in_terminal(made.payload)
    kind = f"dynamic: {made.amount} {made.asset}, payment {made.payment_id}" if made.dynamic else "static"
    expiry = f", expires at {_clock(made.expires_ms)}" if made.expires_ms is not None else ""
    click.echo(f"{kind}{expiry}")
    click.echo(made.payload)


def _clock(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000))


@qr.command("parse")
@click.argument("payload")
@json_option
@url_option
def parse_qr(payload: str, as_json: bool, url: str) -> None:
    """Check a scanned merchant code against this node's chain and clock, and say what it asks."""
    with talking_to(url) as client:
        code = client.parse_qr(payload)
    if as_json:
        emit_json(code)
        return
    click.echo(f"merchant {code.merchant} ({code.name}, {code.city}), asset {code.asset}")
    if code.dynamic:
        click.echo(f"amount {code.amount}, payment {code.payment_id}, expires at {_clock(code.expires_ms or 0)}")
    else:
        click.echo("static code: the payer gives the amount")


@qr.command("pay")
@click.argument("payload")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path), help="The payer's key file.")
@click.option("--amount", default=None, help="Amount in the asset's unit (static codes only).")
@json_option
@url_option
def pay_qr(payload: str, key_path: Path, amount: str | None, as_json: bool, url: str) -> None:
    """Pay a merchant's QR code; the payment expires when a dynamic code does."""
    with talking_to(url) as client:
        code = client.parse_qr(payload)
        decimals = client.asset(code.asset).decimals
    if code.dynamic:
        if amount is not None:
            raise click.UsageError("this code names its amount; pay it without --amount")
        amount_minor = code.amount_minor
        payment_id = code.payment_id
        ttl_ms = max(1, (code.expires_ms or 0) - time.time_ns() // 1_000_000)
    else:
        if amount is None:
            raise click.UsageError("a static code names no amount: give --amount")
        amount_minor = to_minor(amount, decimals)
        payment_id = "qr-" + secrets.token_hex(8)
        ttl_ms = 600_000
    assert amount_minor is not None and payment_id is not None
    if not as_json:
        click.echo(f"paying {format_minor(amount_minor, decimals)} {code.asset} to {code.merchant} ({code.name})")
    fields = {"asset": code.asset, "merchant": code.merchant, "amount_minor": amount_minor, "payment_id": payment_id}
    send(BY_TYPE["pay"], key_path, url, None, True, as_json, fields, False, ttl_ms)


@click.group()
def code() -> None:
    """One-time payment codes a holder shows and a merchant charges."""


@code.command("open")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path), help="The holder's key file.")
@click.option("--asset", required=True, help="The asset the merchant may charge.")
@click.option("--limit", required=True, help="The most the merchant may charge, in the asset's unit.")
@click.option("--show", is_flag=True, help="Draw the code in the terminal.")
@json_option
@url_option
def open_code(key_path: Path, asset: str, limit: str, show: bool, as_json: bool, url: str) -> None:
    """Open a one-time payment code (three minutes); show its digits to the merchant."""
    digits = new_code()
    with talking_to(url, key_path) as client:
        limit_minor = to_minor(limit, client.asset(asset).decimals)
        keyfile = read_keyfile(key_path)
        check_key(client, key_path, keyfile)
        signer = Signer(keyfile.id, keyfile.keypair(), client.genesis().chain, client.next_seq(keyfile.id))
        status = client.wait_final(client.submit(signer.open_code(digits, asset, limit_minor)))
    if as_json:
        emit_json({"code": digits, "status": msgspec.to_builtins(status)})
    elif status.code == "ok":
        if show:
            show_in_terminal(digits)
        click.echo(f"code {digits} (good for 3 minutes, up to {limit} {asset})")
    else:
        click.echo(f"rejected {status.code}: {status.message}")
    if status.code != "ok":
        raise SystemExit(1)


@code.command("show")
@click.argument("digits")
@json_option
@url_option
def show_code(digits: str, as_json: bool, url: str) -> None:
    """A payment code as the ledger holds it: open, charged or expired."""
    with talking_to(url) as client:
        found = client.pay_code(digits.replace(" ", ""))
        decimals = _decimals(client, found.asset)
    if as_json:
        emit_json(found)
        return
    click.echo(
        f"{found.status}: {found.holder}, up to {format_minor(found.limit_minor, decimals)} {found.asset},"
        f" until {_clock(found.expires_ms)}" + (f", charged by {found.charged_txid}" if found.charged_txid else "")
    )


def _decimals(client: TallyClient, asset: str) -> int:
    return client.asset(asset).decimals
