"""What asset policies add (protocol 8 on): local-currency sales, remainder refunds, merchants' limits.

- `sell`: the issuer records a resident's purchase of local currency at the
  policy's discount: the buyer paid `paid_minor` at its bank (against
  `bank_ref`) and receives `face_minor`; the paid part is issued, the
  discount comes out of the policy's budget account, and the face value
  counts against the buyer's monthly cap.
- `redeem_remainder`: a holder takes back its unused balance (burned against
  a payout to its bank) once it has spent the policy's share of the value it
  received.
- `set_merchant_limit`: the issuer sets a merchant's monthly cash-out cap and
  usual redemptions in its asset, from the merchant's registered size.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import Code, ensure
from ..lots import lot_policy, spendable
from ..operation import (
    MEMBERS_ONLY,
    Example,
    Operation,
    TxContext,
    require_account,
    require_active_asset,
    require_asset,
)
from ..policy import (
    BASIS_POINTS,
    POLICY_SINCE,
    count_received,
    ensure_not_expired,
    policy_of,
    refresh_usual,
    refund_threshold_pct,
)
from ..postings import SUPPLY, balance, move
from ..tables import ACCOUNTS, ASSETS, BALANCES, HOLDER_USE, LOTS, MERCHANT_LIMITS, MERCHANT_USE, PURCHASES
from ..types import (
    AccountId,
    AmountMinor,
    AssetId,
    AssetPolicy,
    ClientRef,
    LimitMinor,
    MerchantLimit,
    PayoutRef,
    Purchase,
    TxBase,
)
from .payments import pay_out


class Sell(TxBase, frozen=True, tag="sell"):
    """The issuer sells local currency to a resident at its policy's discount."""

    asset: AssetId
    buyer: AccountId
    face_minor: AmountMinor  # what the buyer receives
    paid_minor: LimitMinor  # what the buyer paid at its bank: face less the discount
    bank_ref: PayoutRef  # the bank's reference for that payment
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET


class RedeemRemainder(TxBase, frozen=True, tag="redeem_remainder"):
    """A holder takes back its unused balance once it has spent the policy's share."""

    asset: AssetId
    payout_ref: PayoutRef
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET


class SetMerchantLimit(TxBase, frozen=True, tag="set_merchant_limit"):
    """The issuer sets a merchant's monthly cash-out cap and usual redemptions in its asset."""

    merchant: AccountId
    asset: AssetId
    cash_out_monthly_minor: LimitMinor  # 0: the policy's cap
    usual_monthly_minor: LimitMinor  # 0: measured by last month's redemptions


def discount_policy(asset_id: str, policy: AssetPolicy | None) -> AssetPolicy:
    ensure(
        policy is not None and policy.discount_bp > 0,
        Code.NO_DISCOUNT,
        "{} is not sold at a discount (its policy names none)",
        asset_id,
    )
    assert policy is not None
    return policy


def sell(c: TxContext, tx: Sell) -> None:
    asset = require_active_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer sells it")
    policy = discount_policy(tx.asset, policy_of(asset))
    incentive_minor = tx.face_minor * policy.discount_bp // BASIS_POINTS
    ensure(
        tx.paid_minor == tx.face_minor - incentive_minor,
        Code.WRONG_PRICE,
        "{} of {} costs {} at a {} bp discount, not {}",
        tx.face_minor,
        tx.asset,
        tx.face_minor - incentive_minor,
        policy.discount_bp,
        tx.paid_minor,
    )
    buyer = require_account(c.view, tx.buyer)
    ensure(buyer.role == "holder", Code.WRONG_ROLE, "{!r} is a {}: residents (holders) buy", tx.buyer, buyer.role)
    budget_minor = balance(c.view, policy.budget_account, tx.asset)
    ensure(
        budget_minor >= incentive_minor,
        Code.BUDGET_EXHAUSTED,
        "the budget account {} holds {} {}, the discount needs {}",
        policy.budget_account,
        budget_minor,
        tx.asset,
        incentive_minor,
    )
    count_received(c, asset, buyer, tx.face_minor)
    postings = [*move(SUPPLY, tx.buyer, tx.asset, tx.paid_minor)] if tx.paid_minor else []
    if incentive_minor:
        postings += move(policy.budget_account, tx.buyer, tx.asset, incentive_minor)
    c.post(*postings)
    c.view.put(
        PURCHASES.key(c.txid),
        Purchase(
            txid=c.txid,
            seller=c.signer.id,
            buyer=tx.buyer,
            asset=tx.asset,
            face_minor=tx.face_minor,
            paid_minor=tx.paid_minor,
            incentive_minor=incentive_minor,
            budget_account=policy.budget_account,
            bank_ref=tx.bank_ref,
            height=c.block.height,
        ),
    )


def redeem_remainder(c: TxContext, tx: RedeemRemainder) -> None:
    asset = require_asset(c.view, tx.asset)
    policy = policy_of(asset)
    ensure(
        policy is not None and policy.refund_pct > 0,
        Code.CASH_OUT_NOT_ALLOWED,
        "{}'s policy gives holders no remainder refund",
        tx.asset,
    )
    assert policy is not None
    ensure_not_expired(c, asset, policy)
    lots = c.view.read(LOTS, c.signer.id, tx.asset) if lot_policy(asset) is not None else None
    held_minor = spendable(lots, c.block.timestamp_ms) if lots is not None else balance(c.view, c.signer.id, tx.asset)
    ensure(held_minor > 0, Code.INSUFFICIENT_FUNDS, "{} holds no {}", c.signer.id, tx.asset)
    use = c.view.read(HOLDER_USE, c.signer.id, tx.asset)
    face_minor = use.face_minor if use is not None else 0
    spent_minor = max(face_minor - held_minor, 0)
    pct = refund_threshold_pct(policy, face_minor)
    ensure(
        face_minor > 0 and spent_minor * 100 >= pct * face_minor,
        Code.REFUND_THRESHOLD_NOT_REACHED,
        "{} has spent {} of the {} {} it received; the remainder comes back from {}%",
        c.signer.id,
        spent_minor,
        face_minor,
        tx.asset,
        pct,
    )
    assert use is not None
    c.view.put(HOLDER_USE.key(c.signer.id, tx.asset), msgspec.structs.replace(use, face_minor=0))
    pay_out(c, asset, held_minor, 0, tx.payout_ref)


def set_merchant_limit(c: TxContext, tx: SetMerchantLimit) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer sets its merchants' limits")
    merchant = require_account(c.view, tx.merchant)
    ensure(merchant.role == "merchant", Code.NOT_MERCHANT, "{!r} is a {}, not a merchant", tx.merchant, merchant.role)
    limit = MerchantLimit(
        cash_out_monthly_minor=tx.cash_out_monthly_minor,
        usual_monthly_minor=tx.usual_monthly_minor,
        set_by=c.signer.id,
        height=c.block.height,
    )
    given = tx.cash_out_monthly_minor or tx.usual_monthly_minor
    c.view.put(MERCHANT_LIMITS.key(tx.merchant, tx.asset), limit if given else None)
    refresh_usual(c, asset, tx.merchant)


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=Sell,
        rule=sell,
        reads=lambda tx: [
            ASSETS.key(tx.asset),
            ACCOUNTS.key(tx.buyer),
            BALANCES.key(tx.buyer, tx.asset),
            HOLDER_USE.key(tx.buyer, tx.asset),
        ],
        parties=lambda tx: [tx.buyer],  # the budget account comes through the postings
        signers=MEMBERS_ONLY,
        since=POLICY_SINCE,
        client_ref=True,
        summary="The issuer sells local currency to a resident at its policy's discount.",
        example=Example(
            "sell local currency at a discount",
            "bank-a",
            7,
            {
                "asset": "CITY-V",
                "buyer": "alice",
                "face_minor": 10_000_000,
                "paid_minor": 9_000_000,
                "bank_ref": "KB 2026-12-07 000123",
                "ref": "sell:000123",
            },
        ),
    ),
    Operation(
        tx=RedeemRemainder,
        rule=redeem_remainder,
        reads=lambda tx: [ASSETS.key(tx.asset), BALANCES.key(tx.signer, tx.asset), HOLDER_USE.key(tx.signer, tx.asset)],
        parties=lambda tx: [],
        signers=frozenset({"holder"}),
        since=POLICY_SINCE,
        client_ref=True,
        summary="A holder takes back its unused balance once it has spent the policy's share.",
        example=Example(
            "take back the remainder",
            "alice",
            3,
            {"asset": "CITY-V", "payout_ref": "KR12 0001 alice", "ref": "remainder:1"},
        ),
    ),
    Operation(
        tx=SetMerchantLimit,
        rule=set_merchant_limit,
        reads=lambda tx: [
            ASSETS.key(tx.asset),
            ACCOUNTS.key(tx.merchant),
            MERCHANT_LIMITS.key(tx.merchant, tx.asset),
            MERCHANT_USE.key(tx.merchant, tx.asset),
        ],
        parties=lambda tx: [tx.merchant],
        signers=MEMBERS_ONLY,
        since=POLICY_SINCE,
        summary="The issuer sets a merchant's monthly cash-out cap and usual redemptions in its asset.",
        example=Example(
            "set a merchant's cash-out cap",
            "bank-a",
            8,
            {"merchant": "cafe", "asset": "CITY-V", "cash_out_monthly_minor": 500_000_000, "usual_monthly_minor": 0},
        ),
    ),
)
