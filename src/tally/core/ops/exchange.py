"""Rates, exchange between programmes and roaming payments (protocol 11; docs/settlement.md).

An issuer publishes its asset's rate within the council's bounds
(`set_rate`). A holder exchanges asset A for asset B in one transaction: A
goes back to A's issuer, B comes out of B's issuer's float (or is issued,
within the quota), and A's issuer owes B's issuer the value (an obligation,
core/settlement.py). A roaming payment does the same inside a payment: the
merchant receives exactly the amount of B it asked for, the holder pays the
least amount of A that carries it. The arithmetic and its one rounding rule
are in core/rates.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import msgspec

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext, require_account, require_active_asset
from ..policy import check_payment
from ..postings import SUPPLY, balance, move
from ..rates import ExchangeQuote, RoamingQuote, fraction_text, quote_exchange, quote_roaming, unit_value, within
from ..settlement import fx_of, record_obligation, require_settlement
from ..state import TxView
from ..tables import (
    ACCOUNTS,
    ASSETS,
    BALANCES,
    CONFIG,
    EXCHANGES,
    LOTS,
    MERCHANTS,
    PAYMENTS,
    RATE_BOUNDS,
    RATES,
    SETTLEMENT,
)
from ..types import (
    AccountId,
    AmountMinor,
    Asset,
    AssetId,
    BasisPoints,
    ClientRef,
    ExchangeResult,
    OptionalAccountId,
    Payment,
    PaymentId,
    Rate,
    Ratio,
    Roaming,
    TxBase,
)
from .payments import ensure_new_payment

EXCHANGE_SINCE = 11  # the protocol version rates, exchange and settlement arrive in
HOLDERS_AND_MERCHANTS: frozenset[str] = frozenset({"holder", "merchant"})


class SetRate(TxBase, frozen=True, tag="set_rate"):
    """An issuer publishes its asset's rate: one minor unit is worth `rate` minor units of its reference currency."""

    asset: AssetId
    rate: Ratio
    source: Literal["float", "issue"] = "float"  # where exchanges into the asset take it from
    fee_bp: BasisPoints = 0  # of what an exchange into the asset pays out
    fee_account: OptionalAccountId = ""  # where that fee goes ("": the issuer keeps it)


class ExchangeAssets(TxBase, frozen=True, tag="exchange"):
    """A holder exchanges `amount_minor` of one asset for another at the published rates."""

    from_asset: AssetId
    to_asset: AssetId
    amount_minor: AmountMinor
    min_out_minor: AmountMinor  # the least the holder accepts: refused, changing nothing, below it
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET


class PayRoaming(TxBase, frozen=True, tag="pay_roaming"):
    """A holder pays a merchant exactly `amount_minor` of `asset` with another asset it holds."""

    asset: AssetId  # what the merchant receives
    merchant: AccountId
    amount_minor: AmountMinor
    payment_id: PaymentId
    pay_asset: AssetId  # what the holder pays with
    max_pay_minor: AmountMinor  # the most of it the holder pays (its quote): refused above it


# --- rates ----------------------------------------------------------------------


def set_rate(c: TxContext, tx: SetRate) -> None:
    asset = require_active_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only {}'s issuer publishes its rate", tx.asset)
    bounds = c.view.read(RATE_BOUNDS, tx.asset)
    ensure(bounds is not None, Code.NO_RATE_BOUNDS, "the council has set no rate bounds for {}", tx.asset)
    assert bounds is not None
    ensure(
        within(tx.rate, bounds.min_rate, bounds.max_rate),
        Code.RATE_OUT_OF_BOUNDS,
        "{}/{} is outside {}/{}..{}/{}",
        tx.rate.num,
        tx.rate.den,
        bounds.min_rate.num,
        bounds.min_rate.den,
        bounds.max_rate.num,
        bounds.max_rate.den,
    )
    fee_account = tx.fee_account or asset.issuer
    require_account(c.view, fee_account)
    c.view.put(
        RATES.key(tx.asset),
        Rate(tx.asset, bounds.currency, tx.rate, tx.source, tx.fee_bp, fee_account, c.block.height, c.txid),
    )


def require_rate(view: TxView, asset_id: str) -> Rate:
    rate = view.read(RATES, asset_id)
    ensure(rate is not None, Code.NO_RATE, "{} has no published rate", asset_id)
    assert rate is not None
    return rate


@dataclass(frozen=True, slots=True)
class Priced:
    """An active asset, its published rate, and one minor unit's value in settlement minor units."""

    asset: Asset
    rate: Rate
    unit: Fraction


def priced(view: TxView, asset_id: str) -> Priced:
    asset = require_active_asset(view, asset_id)
    rate = require_rate(view, asset_id)
    bounds = view.read(RATE_BOUNDS, asset_id)
    assert bounds is not None, "a rate is published within bounds"
    ensure(
        bounds.currency == rate.currency,
        Code.RATE_OUT_OF_BOUNDS,
        "{}'s rate is in {}, the council's bounds since in {}: its issuer publishes it again",
        asset_id,
        rate.currency,
        bounds.currency,
    )
    ensure(
        within(rate.rate, bounds.min_rate, bounds.max_rate),
        Code.RATE_OUT_OF_BOUNDS,
        "{}'s rate is outside the bounds the council set since: its issuer publishes it again",
        asset_id,
    )
    return Priced(asset, rate, unit_value(rate.rate, fx_of(require_settlement(view), rate.currency)))


def exchange_terms(
    view: TxView, from_asset: str, to_asset: str, amount_minor: int
) -> tuple[Priced, Priced, ExchangeQuote]:
    """What exchanging `amount_minor` gives at the rates in `view` (the rule and the quote endpoint share it)."""
    ensure(from_asset != to_asset, Code.SAME_ASSET, "an exchange is between two assets")
    source, target = priced(view, from_asset), priced(view, to_asset)
    quote = quote_exchange(amount_minor, source.unit, target.unit, target.rate.fee_bp)
    ensure(quote.out_minor >= 1, Code.TOO_SMALL, "{} {} buys nothing of {}", amount_minor, from_asset, to_asset)
    ensure_float(view, target, quote.out_minor, quote.fee_minor)
    return source, target, quote


def roaming_terms(view: TxView, asset: str, amount_minor: int, pay_asset: str) -> tuple[Priced, Priced, RoamingQuote]:
    """What paying `amount_minor` of `asset` costs in `pay_asset` (the rule and the quote endpoint share it)."""
    ensure(asset != pay_asset, Code.SAME_ASSET, "a roaming payment pays in another asset; use pay")
    source, target = priced(view, pay_asset), priced(view, asset)
    quote = quote_roaming(amount_minor, source.unit, target.unit)
    ensure_float(view, target, amount_minor, 0)
    return source, target, quote


# --- paying out the asset exchanged into ------------------------------------------


def ensure_float(view: TxView, target: Priced, out_minor: int, fee_minor: int) -> None:
    """The issuer's float covers what an exchange pays out of it (an issuing rate: the quota, when posted)."""
    if target.rate.source != "float":
        return
    needed = out_minor + (fee_minor if target.rate.fee_account != target.asset.issuer else 0)
    held = balance(view, target.asset.issuer, target.asset.id)
    ensure(
        held >= needed,
        Code.INSUFFICIENT_FLOAT,
        "{}'s float of {} is {}, this needs {}",
        target.asset.issuer,
        target.asset.id,
        held,
        needed,
    )


def pay_out_of_float(c: TxContext, target: Priced, to: str, out_minor: int, fee_minor: int) -> None:
    """`out_minor` to `to` and the fee to its account, out of the issuer's float (or issued, within the quota)."""
    asset, rate = target.asset, target.rate
    fee_paid = fee_minor if rate.fee_account != asset.issuer else 0
    source = asset.issuer if rate.source == "float" else SUPPLY
    postings = [*move(source, to, asset.id, out_minor)]
    if fee_paid:
        postings += move(source, rate.fee_account, asset.id, fee_paid)
    c.post(*postings)


# --- exchange ---------------------------------------------------------------------


def exchange(c: TxContext, tx: ExchangeAssets) -> None:
    source, target, quote = exchange_terms(c.view, tx.from_asset, tx.to_asset, tx.amount_minor)
    ensure(
        quote.out_minor >= tx.min_out_minor,
        Code.BELOW_MINIMUM,
        "{} {} would pay {}, less than the {} accepted (the rate moved since the quote, or more was asked)",
        tx.amount_minor,
        tx.from_asset,
        quote.out_minor,
        tx.min_out_minor,
    )
    c.post(*move(c.signer.id, source.asset.issuer, tx.from_asset, tx.amount_minor))
    pay_out_of_float(c, target, c.signer.id, quote.out_minor, quote.fee_minor)
    record_obligation(
        c.view, c.txid, c.block.height, "exchange", source.asset.issuer, target.asset.issuer, quote.value_minor
    )
    c.view.put(
        EXCHANGES.key(c.txid),
        ExchangeResult(
            txid=c.txid,
            holder=c.signer.id,
            from_asset=tx.from_asset,
            from_minor=tx.amount_minor,
            to_asset=tx.to_asset,
            gross_minor=quote.gross_minor,
            fee_minor=quote.fee_minor,
            out_minor=quote.out_minor,
            value_minor=quote.value_minor,
            remainder=fraction_text(quote.remainder),
            from_rate=source.rate.rate,
            to_rate=target.rate.rate,
            height=c.block.height,
        ),
    )


# --- roaming payments ---------------------------------------------------------------


def pay_roaming(c: TxContext, tx: PayRoaming) -> None:
    ensure(tx.asset != tx.pay_asset, Code.SAME_ASSET, "a roaming payment pays in another asset; use pay")
    merchant = require_account(c.view, tx.merchant)
    ensure(merchant.role == "merchant", Code.NOT_MERCHANT, "{!r} is not a merchant", tx.merchant)
    ensure(tx.merchant != c.signer.id, Code.SELF_TRANSFER, "a merchant cannot pay itself")
    ensure_new_payment(c, tx.merchant, tx.payment_id)
    source, target, quote = roaming_terms(c.view, tx.asset, tx.amount_minor, tx.pay_asset)
    check_payment(c, target.asset, c.signer.id, tx.merchant)
    ensure(
        quote.from_minor <= tx.max_pay_minor,
        Code.ABOVE_MAXIMUM,
        "the rate moved: {} {} costs {} {}, more than the {} accepted",
        tx.amount_minor,
        tx.asset,
        quote.from_minor,
        tx.pay_asset,
        tx.max_pay_minor,
    )
    c.post(*move(c.signer.id, source.asset.issuer, tx.pay_asset, quote.from_minor))
    lots = list(c.lots_taken)
    pay_out_of_float(c, target, tx.merchant, tx.amount_minor, 0)
    record_obligation(
        c.view, c.txid, c.block.height, "roaming", source.asset.issuer, target.asset.issuer, quote.value_minor
    )
    c.view.put(
        PAYMENTS.key(tx.merchant, tx.payment_id),
        Payment(
            merchant=tx.merchant,
            payment_id=tx.payment_id,
            payer=c.signer.id,
            asset=tx.asset,
            amount_minor=tx.amount_minor,
            refunded_minor=0,
            txid=c.txid,
            lots=lots,  # the holder's lots of the asset it paid with (a list, so the row stays an array)
            roaming=Roaming(
                asset=tx.pay_asset,
                amount_minor=quote.from_minor,
                issuer=source.asset.issuer,
                value_minor=quote.value_minor,
                refunded_minor=0,
                remainder=fraction_text(quote.remainder),
            ),
        ),
    )


def pay_roaming_reads(tx: PayRoaming) -> list[str]:
    return [
        ASSETS.key(tx.asset),
        ASSETS.key(tx.pay_asset),
        RATES.key(tx.asset),
        RATES.key(tx.pay_asset),
        RATE_BOUNDS.key(tx.asset),
        RATE_BOUNDS.key(tx.pay_asset),
        SETTLEMENT.key(CONFIG),
        ACCOUNTS.key(tx.merchant),
        PAYMENTS.key(tx.merchant, tx.payment_id),
        BALANCES.key(tx.signer, tx.pay_asset),
        MERCHANTS.key(tx.merchant),
        LOTS.key(tx.signer, tx.pay_asset),
    ]


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=SetRate,
        rule=set_rate,
        reads=lambda tx: [ASSETS.key(tx.asset), RATE_BOUNDS.key(tx.asset), RATES.key(tx.asset)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=EXCHANGE_SINCE,
        summary="An issuer publishes its asset's rate against its reference currency, within the council's bounds.",
        example=Example("set a rate", "bank-a", 5, {"asset": "CITY-V", "rate": {"num": 48, "den": 5}}),
    ),
    Operation(
        tx=ExchangeAssets,
        rule=exchange,
        reads=lambda tx: [
            ASSETS.key(tx.from_asset),
            ASSETS.key(tx.to_asset),
            RATES.key(tx.from_asset),
            RATES.key(tx.to_asset),
            RATE_BOUNDS.key(tx.from_asset),
            RATE_BOUNDS.key(tx.to_asset),
            SETTLEMENT.key(CONFIG),
            BALANCES.key(tx.signer, tx.from_asset),
            BALANCES.key(tx.signer, tx.to_asset),
        ],
        parties=lambda tx: [],
        signers=HOLDERS_AND_MERCHANTS,
        client_ref=True,
        since=EXCHANGE_SINCE,
        summary="Exchange one asset for another at the published rates (at least min_out_minor).",
        example=Example(
            "exchange",
            "alice",
            2,
            {
                "from_asset": "CITY-V",
                "to_asset": "SKY-M",
                "amount_minor": 1000,
                "min_out_minor": 95,
                "ref": "x-1",
            },
        ),
    ),
    Operation(
        tx=PayRoaming,
        rule=pay_roaming,
        reads=pay_roaming_reads,
        parties=lambda tx: [tx.merchant],
        since=EXCHANGE_SINCE,
        summary="Pay a merchant exactly amount_minor of its asset with another asset (at most max_pay_minor).",
        example=Example(
            "pay roaming",
            "alice",
            3,
            {
                "asset": "SKY-M",
                "merchant": "cafe",
                "amount_minor": 120,
                "payment_id": "order:2026-12-07:3",
                "pay_asset": "CITY-V",
                "max_pay_minor": 1300,
            },
        ),
    ),
)
