"""`tally tx TYPE`: sign one transaction with a key file and submit it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..client import Signer, TallyClient, TallyError
from ..core.types import SignedTx
from ..node.config import read_keyfile

DEFAULT_URL = "http://127.0.0.1:8750"


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--url", default=DEFAULT_URL, show_default=True, help="The node's API.")(f)
    f = click.option(
        "--key", "key_path", required=True, type=click.Path(exists=True, path_type=Path), help="Signer's key file."
    )(f)
    f = click.option("--seq", type=int, default=None, help="Sequence number (default: ask the node).")(f)
    f = click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until final.")(f)
    return f


def _send(key_path: Path, url: str, seq: int | None, wait: bool, build: Callable[[Signer], SignedTx]) -> None:
    keyfile = read_keyfile(key_path)
    try:
        with TallyClient(url) as client:
            chain = client.genesis().chain
            next_seq = client.next_seq(keyfile.id) if seq is None else seq
            signed = build(Signer(keyfile.id, keyfile.keypair(), chain, next_seq))
            txid = client.submit(signed)
            if not wait:
                click.echo(json.dumps({"txid": txid, "status": "accepted"}))
                return
            status = client.wait_final(txid)
    except TallyError as exc:
        detail = f" {json.dumps(exc.details)}" if exc.details else ""
        raise click.ClickException(f"{exc.code}: {exc.message}{detail}") from None
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(status))
    if status["code"] != "ok":
        raise SystemExit(1)


@click.group()
def tx() -> None:
    """Sign and submit transactions."""


@tx.command("register")
@_common
@click.option("--account", required=True)
@click.option("--public-key", required=True, help="The account's Ed25519 public key (hex).")
@click.option("--role", type=click.Choice(["holder", "merchant"]), required=True)
def register(key_path: Path, url: str, seq: int | None, wait: bool, account: str, public_key: str, role: str) -> None:
    """A member registers a holder or merchant account."""
    _send(key_path, url, seq, wait, lambda s: s.register_account(account, public_key, role))


@tx.command("create-asset")
@_common
@click.option("--asset", required=True)
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["points", "voucher", "local_currency", "emoney", "coupon"]), required=True)
@click.option("--decimals", type=int, default=0, show_default=True)
@click.option("--transferable/--not-transferable", default=True, show_default=True)
@click.option("--cash-out", type=click.Choice(["none", "merchants", "all"]), default="none", show_default=True)
def create_asset(
    key_path: Path,
    url: str,
    seq: int | None,
    wait: bool,
    asset: str,
    name: str,
    kind: str,
    decimals: int,
    transferable: bool,
    cash_out: str,
) -> None:
    """A member creates an asset it issues."""
    _send(key_path, url, seq, wait, lambda s: s.create_asset(asset, name, kind, decimals, transferable, cash_out))  # type: ignore[arg-type]


@tx.command("issue")
@_common
@click.option("--asset", required=True)
@click.option("--to", required=True)
@click.option("--amount", "amount_minor", type=int, required=True, help="Minor units.")
def issue(key_path: Path, url: str, seq: int | None, wait: bool, asset: str, to: str, amount_minor: int) -> None:
    """The issuer issues value to an account."""
    _send(key_path, url, seq, wait, lambda s: s.issue(asset, to, amount_minor))


@tx.command("transfer")
@_common
@click.option("--asset", required=True)
@click.option("--to", required=True)
@click.option("--amount", "amount_minor", type=int, required=True, help="Minor units.")
def transfer(key_path: Path, url: str, seq: int | None, wait: bool, asset: str, to: str, amount_minor: int) -> None:
    """Send value to another account."""
    _send(key_path, url, seq, wait, lambda s: s.transfer(asset, to, amount_minor))


@tx.command("pay")
@_common
@click.option("--asset", required=True)
@click.option("--merchant", required=True)
@click.option("--amount", "amount_minor", type=int, required=True, help="Minor units.")
@click.option("--payment-id", required=True, help="The merchant's payment request id.")
def pay(
    key_path: Path, url: str, seq: int | None, wait: bool, asset: str, merchant: str, amount_minor: int, payment_id: str
) -> None:
    """Pay a merchant (idempotent on the payment id)."""
    _send(key_path, url, seq, wait, lambda s: s.pay(asset, merchant, amount_minor, payment_id))


@tx.command("refund")
@_common
@click.option("--payment-id", required=True)
@click.option("--amount", "amount_minor", type=int, required=True, help="Minor units.")
def refund(key_path: Path, url: str, seq: int | None, wait: bool, payment_id: str, amount_minor: int) -> None:
    """A merchant refunds (part of) a payment."""
    _send(key_path, url, seq, wait, lambda s: s.refund(payment_id, amount_minor))


@tx.command("cash-out")
@_common
@click.option("--asset", required=True)
@click.option("--amount", "amount_minor", type=int, required=True, help="Minor units.")
@click.option("--payout-ref", required=True, help="The bank account to pay out to.")
def cash_out(
    key_path: Path, url: str, seq: int | None, wait: bool, asset: str, amount_minor: int, payout_ref: str
) -> None:
    """Burn value against a payout to a bank account."""
    _send(key_path, url, seq, wait, lambda s: s.cash_out(asset, amount_minor, payout_ref))
