"""Incentives (protocol 10 on): cashback an asset's issuer pays on the payments its rules match.

The issuer keeps up to `MAX_INCENTIVE_RULES` rules per asset (`set_incentive` adds or replaces one by
id; a rule whose `until_ms` has passed pays nothing). A payment (`pay`, `charge`) matches a rule when
its block time is within the rule's period and its merchant's registry entry is in the rule's
categories and regions (a rule naming neither matches every merchant). The first matching rule pays
the holder `amount × rate_bp / 10000` (rounded down), no more than what is left of the holder's cap
under that rule nor than the budget account holds, out of the budget account: its own record
(`cashback/<merchant>/<payment id>`) and a movement of the payment's transaction. A refund claws back
the same share of the cashback as it refunds of the payment, into the budget account.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext, require_account, require_asset
from ..policy import BASIS_POINTS, region_within
from ..postings import balance, move
from ..tables import ASSETS, CASHBACK_USE, CASHBACKS, INCENTIVES, MERCHANTS
from ..types import MAX_INCENTIVE_RULES, Asset, AssetId, Cashback, IncentiveRule, Incentives, Payment, TxBase

REWARDS_SINCE = 10  # the protocol version incentives and coupons arrive in


class SetIncentive(TxBase, frozen=True, tag="set_incentive"):
    """The asset's issuer adds an incentive rule, or replaces the one with the same id."""

    asset: AssetId
    rule: IncentiveRule


def set_incentive(c: TxContext, tx: SetIncentive) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer sets its incentives")
    require_account(c.view, tx.rule.budget_account)
    ensure(
        not tx.rule.until_ms or tx.rule.until_ms > tx.rule.from_ms,
        Code.BAD_PARAMETER,
        "an incentive ends after it starts",
    )
    found = c.view.read(INCENTIVES, tx.asset)
    others = [r for r in (found.rules if found else []) if r.id != tx.rule.id]
    ensure(len(others) < MAX_INCENTIVE_RULES, Code.TOO_MANY_RULES, "an asset has {} rules at most", MAX_INCENTIVE_RULES)
    rules = [*others, tx.rule]
    c.view.put(INCENTIVES.key(tx.asset), Incentives(rules))
    c.view.put(ASSETS.key(tx.asset), msgspec.structs.replace(asset, incentive_rules=len(rules)))


def matches(c: TxContext, rule: IncentiveRule, merchant_id: str) -> bool:
    now = c.block.timestamp_ms
    if now < rule.from_ms or (rule.until_ms and now >= rule.until_ms):
        return False
    if not rule.categories and not rule.regions:
        return True
    profile = c.view.read(MERCHANTS, merchant_id)
    if profile is None:
        return False
    in_category = not rule.categories or profile.category in rule.categories
    return in_category and (not rule.regions or any(region_within(profile.region, r) for r in rule.regions))


def pay_cashback(c: TxContext, asset: Asset, payer: str, merchant: str, payment_id: str, amount_minor: int) -> None:
    """After a payment: the first matching rule's cashback to the payer, out of its budget account."""
    if not isinstance(asset.incentive_rules, int) or not asset.incentive_rules:
        return
    found = c.view.read(INCENTIVES, asset.id)
    assert found is not None
    rule = next((r for r in found.rules if matches(c, r, merchant)), None)
    if rule is None or payer == rule.budget_account:
        return
    got_minor = c.view.read(CASHBACK_USE, payer, asset.id, rule.id) or 0
    cashback_minor = amount_minor * rule.rate_bp // BASIS_POINTS
    if rule.cap_per_holder_minor:
        cashback_minor = min(cashback_minor, max(rule.cap_per_holder_minor - got_minor, 0))
    cashback_minor = min(cashback_minor, balance(c.view, rule.budget_account, asset.id))
    if cashback_minor <= 0:
        return
    c.post(*move(rule.budget_account, payer, asset.id, cashback_minor))
    c.view.put(CASHBACK_USE.key(payer, asset.id, rule.id), got_minor + cashback_minor)
    c.view.put(
        CASHBACKS.key(merchant, payment_id),
        Cashback(
            holder=payer,
            asset=asset.id,
            rule=rule.id,
            amount_minor=cashback_minor,
            clawed_minor=0,
            budget_account=rule.budget_account,
            txid=c.txid,
        ),
    )


def claw_back(c: TxContext, payment: Payment, refunded_after_minor: int) -> None:
    """After a refund: the cashback's share of what is now refunded goes back to the budget account."""
    cashback = c.view.read(CASHBACKS, payment.merchant, payment.payment_id)
    if cashback is None:
        return
    due_minor = cashback.amount_minor * refunded_after_minor // payment.amount_minor
    claw_minor = due_minor - cashback.clawed_minor
    if claw_minor <= 0:
        return
    c.post(*move(cashback.holder, cashback.budget_account, cashback.asset, claw_minor))
    got_minor = c.view.read(CASHBACK_USE, cashback.holder, cashback.asset, cashback.rule) or 0
    c.view.put(CASHBACK_USE.key(cashback.holder, cashback.asset, cashback.rule), max(got_minor - claw_minor, 0) or None)
    c.view.put(
        CASHBACKS.key(payment.merchant, payment.payment_id), msgspec.structs.replace(cashback, clawed_minor=due_minor)
    )


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=SetIncentive,
        rule=set_incentive,
        reads=lambda tx: [ASSETS.key(tx.asset), INCENTIVES.key(tx.asset)],
        parties=lambda tx: [tx.rule.budget_account],
        signers=MEMBERS_ONLY,
        since=REWARDS_SINCE,
        summary="The asset's issuer adds or replaces an incentive rule (cashback on matching payments).",
        example=Example(
            "set a cashback rule",
            "bank-a",
            9,
            {
                "asset": "CITY-V",
                "rule": {
                    "id": "winter-cafes",
                    "rate_bp": 500,
                    "budget_account": "city-budget",
                    "categories": ["5814"],
                    "regions": ["KR-11"],
                    "from_ms": 1_800_000_000_000,
                    "until_ms": 1_807_776_000_000,
                    "cap_per_holder_minor": 1_000_000,
                },
            },
        ),
    ),
)
