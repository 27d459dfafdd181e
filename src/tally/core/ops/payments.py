"""Value: transfers between holders, payments to merchants, refunds and cash-outs."""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import Code, ensure
from ..lots import refund_lots
from ..operation import Example, Operation, TxContext, require_account, require_asset
from ..policy import cash_out_fee, check_payment, check_transfer, count_cash_out
from ..postings import SUPPLY, move
from ..rates import share
from ..settlement import note_payout_window, record_obligation, settlement_config
from ..tables import (
    ACCOUNTS,
    ASSETS,
    BALANCES,
    CASHBACKS,
    CONFIG,
    LOTS,
    MERCHANT_LIMITS,
    MERCHANT_USE,
    MERCHANTS,
    PAYMENTS,
    PAYOUTS,
    SETTLEMENT,
    WINDOW_PAYOUTS,
    window_key,
)
from ..types import (
    AccountId,
    AmountMinor,
    Asset,
    AssetId,
    ClientRef,
    Payment,
    PaymentId,
    Payout,
    PayoutRef,
    Roaming,
    TxBase,
)
from .incentives import claw_back, pay_cashback


class Transfer(TxBase, frozen=True, tag="transfer"):
    """Send value to another account (transferable assets only)."""

    asset: AssetId
    to: AccountId
    amount_minor: AmountMinor
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET  # unique per signer (protocol 3 on)


class Pay(TxBase, frozen=True, tag="pay"):
    """A holder pays a merchant against the merchant's payment request id."""

    asset: AssetId
    merchant: AccountId
    amount_minor: AmountMinor
    payment_id: PaymentId


class Refund(TxBase, frozen=True, tag="refund"):
    """A merchant refunds (part of) a payment to the holder who made it."""

    payment_id: PaymentId
    amount_minor: AmountMinor
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET  # unique per signer (protocol 3 on)


class CashOut(TxBase, frozen=True, tag="cash_out"):
    """Burn value against a payout to the signer's bank account."""

    asset: AssetId
    amount_minor: AmountMinor
    payout_ref: PayoutRef
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET  # unique per signer (protocol 3 on)


def transfer(c: TxContext, tx: Transfer) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(asset.transferable, Code.NOT_TRANSFERABLE, "asset {!r} is not transferable", tx.asset)
    ensure(tx.to != c.signer.id, Code.SELF_TRANSFER, "cannot transfer to oneself")
    receiver = require_account(c.view, tx.to)
    check_transfer(c, asset, c.signer, receiver)
    c.post(*move(c.signer.id, tx.to, tx.asset, tx.amount_minor))


def ensure_new_payment(c: TxContext, merchant: str, payment_id: str) -> None:
    """A merchant's payment id is used once: a second payment with it is `duplicate_payment`, naming the first."""
    first = c.view.read(PAYMENTS, merchant, payment_id)
    ensure(
        first is None,
        Code.DUPLICATE_PAYMENT,
        "payment {!r} to {!r} already made{}",
        payment_id,
        merchant,
        f" by transaction {first.txid}" if first is not None and isinstance(first.txid, str) else "",
    )


def record_payment(c: TxContext, merchant: str, payment_id: str, payer: str, asset: Asset, amount_minor: int) -> None:
    """Move the value from the payer to the merchant and record the payment (what refunds read), with the
    payer's lots it took (protocol 9)."""
    c.post(*move(payer, merchant, asset.id, amount_minor))
    c.view.put(
        PAYMENTS.key(merchant, payment_id),
        Payment(
            merchant=merchant,
            payment_id=payment_id,
            payer=payer,
            asset=asset.id,
            amount_minor=amount_minor,
            refunded_minor=0,
            txid=c.txid if c.rules.client_refs else msgspec.UNSET,  # a payment's key is its payment id
            lots=list(c.lots_taken) if c.lots_taken else msgspec.UNSET,
        ),
    )
    if c.rules.rewards:
        pay_cashback(c, asset, payer, merchant, payment_id, amount_minor)


def pay(c: TxContext, tx: Pay) -> None:
    asset = require_asset(c.view, tx.asset)
    merchant = require_account(c.view, tx.merchant)
    ensure(merchant.role == "merchant", Code.NOT_MERCHANT, "{!r} is not a merchant", tx.merchant)
    ensure(tx.merchant != c.signer.id, Code.SELF_TRANSFER, "a merchant cannot pay itself")
    ensure_new_payment(c, tx.merchant, tx.payment_id)
    check_payment(c, asset, c.signer.id, tx.merchant)
    record_payment(c, tx.merchant, tx.payment_id, c.signer.id, asset, tx.amount_minor)


def refund(c: TxContext, tx: Refund) -> None:
    payment = c.view.read(PAYMENTS, c.signer.id, tx.payment_id)
    ensure(payment is not None, Code.UNKNOWN_PAYMENT, "no payment {!r} to {!r}", tx.payment_id, c.signer.id)
    assert payment is not None
    refunded = payment.refunded_minor + tx.amount_minor
    ensure(
        refunded <= payment.amount_minor,
        Code.REFUND_EXCEEDS_PAYMENT,
        "refunds would reach {} of a {} payment",
        refunded,
        payment.amount_minor,
    )
    if isinstance(payment.roaming, Roaming):
        refund_roaming(c, payment, payment.roaming, tx.amount_minor)
        return
    if isinstance(payment.lots, list):  # the payer gets back the lots the payment took, its last ones first
        c.lots_returning = refund_lots(payment.lots, payment.refunded_minor, tx.amount_minor)
    c.post(*move(c.signer.id, payment.payer, payment.asset, tx.amount_minor))
    c.view.put(PAYMENTS.key(c.signer.id, tx.payment_id), msgspec.structs.replace(payment, refunded_minor=refunded))
    if c.rules.rewards:
        claw_back(c, payment, refunded)


def refund_roaming(c: TxContext, payment: Payment, roaming: Roaming, amount_minor: int) -> None:
    """A roaming payment's refund goes back through the payment's own rate: the merchant's asset returns to its
    issuer, the holder's asset comes back from its issuer in proportion, and the obligation reverses in proportion
    (cumulative shares, so refunding the whole returns exactly what was paid)."""
    before, after = payment.refunded_minor, payment.refunded_minor + amount_minor
    back_minor = share(roaming.amount_minor, after, payment.amount_minor) - roaming.refunded_minor
    value_back = share(roaming.value_minor, after, payment.amount_minor) - share(
        roaming.value_minor, before, payment.amount_minor
    )
    target = require_asset(c.view, payment.asset)
    postings = [*move(c.signer.id, target.issuer, target.id, amount_minor)]
    if back_minor:
        if isinstance(payment.lots, list) and payment.lots:  # the paying asset keeps lots
            c.lots_returning = refund_lots(payment.lots, roaming.refunded_minor, back_minor)
        postings += move(roaming.issuer, payment.payer, roaming.asset, back_minor)
    c.post(*postings)
    record_obligation(c.view, c.txid, c.block.height, "refund", target.issuer, roaming.issuer, value_back)
    c.view.put(
        PAYMENTS.key(c.signer.id, payment.payment_id),
        msgspec.structs.replace(
            payment,
            refunded_minor=after,
            roaming=msgspec.structs.replace(roaming, refunded_minor=roaming.refunded_minor + back_minor),
        ),
    )


def cash_out_allowed(asset: Asset, role: str) -> bool:
    if asset.cash_out == "all":
        return True
    if asset.cash_out == "merchants":
        return role == "merchant"
    return False


def cash_out(c: TxContext, tx: CashOut) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(
        cash_out_allowed(asset, c.signer.role),
        Code.CASH_OUT_NOT_ALLOWED,
        "{} may not cash out {}",
        c.signer.id,
        asset.id,
    )
    count_cash_out(c, asset, c.signer, tx.amount_minor)
    fee_minor = cash_out_fee(asset, c.signer.id, tx.amount_minor)
    pay_out(c, asset, tx.amount_minor, fee_minor, tx.payout_ref)


def pay_out(c: TxContext, asset: Asset, amount_minor: int, fee_minor: int, payout_ref: str) -> None:
    """Burn `amount_minor` less the issuer's fee against a payout to the signer's bank account."""
    paid_minor = amount_minor - fee_minor
    postings = [*move(c.signer.id, SUPPLY, asset.id, paid_minor)] if paid_minor else []
    if fee_minor:
        postings += move(c.signer.id, asset.issuer, asset.id, fee_minor)
    c.post(*postings)
    window: int | msgspec.UnsetType = msgspec.UNSET
    config = settlement_config(c.view) if c.rules.settlement else None
    if config is not None and paid_minor:  # protocol 11: its bank pays it out in this window's file
        window = note_payout_window(c.view, config, c.block.height)
        c.view.put(WINDOW_PAYOUTS.key(window_key(window), c.txid), paid_minor)
    c.view.put(
        PAYOUTS.key(c.txid),
        Payout(
            txid=c.txid,
            account=c.signer.id,
            asset=asset.id,
            amount_minor=paid_minor,
            payout_ref=payout_ref,
            height=c.block.height,
            fee_minor=fee_minor if fee_minor else msgspec.UNSET,
            window=window,
            status="pending" if c.rules.settlement else msgspec.UNSET,
        ),
    )


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=Transfer,
        rule=transfer,
        reads=lambda tx: [
            ASSETS.key(tx.asset),
            ACCOUNTS.key(tx.to),
            BALANCES.key(tx.signer, tx.asset),
            BALANCES.key(tx.to, tx.asset),
        ],
        parties=lambda tx: [tx.to],
        summary="Send value to another account.",
        client_ref=True,
        example=Example("transfer", "alice", 0, {"asset": "CITY-V", "to": "bob", "amount_minor": 1, "ref": "t-1"}),
    ),
    Operation(
        tx=Pay,
        rule=pay,
        reads=lambda tx: [
            ASSETS.key(tx.asset),
            ACCOUNTS.key(tx.merchant),
            PAYMENTS.key(tx.merchant, tx.payment_id),
            BALANCES.key(tx.signer, tx.asset),
            BALANCES.key(tx.merchant, tx.asset),
            MERCHANTS.key(tx.merchant),  # what a policy asset's rules read (core/policy.py, core/lots.py)
            LOTS.key(tx.signer, tx.asset),
        ],
        parties=lambda tx: [tx.merchant],
        summary="Pay a merchant (once per payment id).",
        example=Example(
            "pay",
            "alice",
            1,
            {"asset": "CITY-V", "merchant": "cafe", "amount_minor": 4500, "payment_id": "order:2026-11-22:17"},
        ),
    ),
    Operation(
        tx=Refund,
        rule=refund,
        reads=lambda tx: [PAYMENTS.key(tx.signer, tx.payment_id), CASHBACKS.key(tx.signer, tx.payment_id)],
        parties=lambda tx: [],  # the payer comes from the payment record, through the postings
        summary="A merchant refunds (part of) a payment.",
        client_ref=True,
        example=Example(
            "refund", "cafe", 0, {"payment_id": "order:2026-11-22:17", "amount_minor": 500, "ref": "refund:17-1"}
        ),
    ),
    Operation(
        tx=CashOut,
        rule=cash_out,
        reads=lambda tx: [
            ASSETS.key(tx.asset),
            BALANCES.key(tx.signer, tx.asset),
            MERCHANT_USE.key(tx.signer, tx.asset),
            MERCHANT_LIMITS.key(tx.signer, tx.asset),
            SETTLEMENT.key(CONFIG),
        ],
        parties=lambda tx: [],
        summary="Burn value against a payout to a bank account.",
        client_ref=True,
        example=Example(
            "cash out",
            "cafe",
            1,
            {
                "asset": "CITY-V",
                "amount_minor": 4000,
                "payout_ref": 'KR12 0001 \\ "quoted" \t tab',
                "ref": "cash-out:2026-11-22",
            },
        ),
    ),
)
