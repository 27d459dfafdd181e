"""Freezes and limits: what the posting engine checks around every movement (protocol 5 on).

A frozen asset does not move at all: no issue, burn, payment or refund of it.
A frozen account cannot send value (pay, transfer, refund, cash out, burn);
value may still arrive (a refund, a payment to a frozen merchant) and is
frozen with the rest. An account's limits in an asset are its own
(`set_limits`) or else its role's default from the council's parameters:
the largest single outgoing amount, the daily outgoing total (days of the
chain's time zone, counted from when a daily limit applies), and a cap on
its balance after any incoming value, refunds included. 0 means no limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import Code, ensure
from .postings import SUPPLY, Posting
from .tables import ACCOUNTS, COUNCIL_PARAMS, DAILY_OUT, FREEZES, LIMITS, PARAMS
from .types import Account, AccountLimits, DailyOut, DefaultLimits

if TYPE_CHECKING:
    from .operation import TxContext
    from .state import TxView

MS_PER_DAY = 86_400_000
MS_PER_MINUTE = 60_000


def chain_day(timestamp_ms: int, utc_offset_min: int) -> int:
    """The day (since 1970-01-01) a block time falls on in the chain's time zone."""
    return (timestamp_ms + utc_offset_min * MS_PER_MINUTE) // MS_PER_DAY


def limits_of(view: TxView, account: Account, asset_id: str) -> AccountLimits | DefaultLimits | None:
    """The account's own limits in the asset, else its role's default, else None.

    An account without limits of its own (`limited_assets` 0: most) reads only the council's parameters,
    which every block reads: a payment costs no extra state read.
    """
    if account.limited_assets:
        own = view.read(LIMITS, account.id, asset_id)
        if own is not None:
            return own
    params = view.read(PARAMS, COUNCIL_PARAMS)
    if params is None or not params.default_limits:
        return None
    return next((d for d in params.default_limits if d.role == account.role and d.asset == asset_id), None)


def _account(view: TxView, account_id: str) -> Account:
    account = view.read(ACCOUNTS, account_id)
    assert account is not None, "rules check an account exists before moving its value"
    return account


def ensure_asset_not_frozen(view: TxView, asset_id: str) -> None:
    frozen = view.read(FREEZES, "asset", asset_id)
    if frozen is not None:
        ensure(False, Code.ASSET_FROZEN, "asset {} is frozen ({})", asset_id, frozen.reason)


def ensure_account_not_frozen(view: TxView, account: Account) -> None:
    if account.frozen:
        frozen = view.read(FREEZES, "account", account.id)
        reason = frozen.reason if frozen is not None else "?"
        ensure(False, Code.ACCOUNT_FROZEN, "account {} is frozen ({}): value cannot leave it", account.id, reason)


def _debits(postings: Sequence[Posting]) -> dict[tuple[str, str], int]:
    """What leaves each account, per asset, net of what the same postings bring back."""
    net: dict[tuple[str, str], int] = {}
    for p in postings:
        if p.account != SUPPLY:
            net[p.account, p.asset] = net.get((p.account, p.asset), 0) + p.amount_minor
    return {key: -amount for key, amount in net.items() if amount < 0}


def check_outgoing(c: TxContext, postings: Sequence[Posting]) -> None:
    """Before value moves: no frozen asset or sender, and each sender within its limits."""
    view = c.view
    for asset_id in dict.fromkeys(p.asset for p in postings):
        ensure_asset_not_frozen(view, asset_id)
    for (account_id, asset_id), amount_minor in _debits(postings).items():
        account = _account(view, account_id)
        ensure_account_not_frozen(view, account)
        limits = limits_of(view, account, asset_id)
        if limits is not None:
            check_payment_limits(c, account_id, asset_id, amount_minor, limits)


def check_payment_limits(
    c: TxContext, account_id: str, asset_id: str, amount_minor: int, limits: AccountLimits | DefaultLimits
) -> None:
    largest = limits.max_payment_minor
    ensure(
        not largest or amount_minor <= largest,
        Code.OVER_PAYMENT_LIMIT,
        "{} may send at most {} {} at once",
        account_id,
        largest,
        asset_id,
    )
    if not limits.daily_out_minor:
        return
    day = chain_day(c.block.timestamp_ms, _utc_offset_min(c.view))
    spent = c.view.read(DAILY_OUT, account_id, asset_id)
    spent_minor = spent.out_minor if spent is not None and spent.day == day else 0
    ensure(
        spent_minor + amount_minor <= limits.daily_out_minor,
        Code.OVER_DAILY_LIMIT,
        "{} has sent {} of its daily {} {}",
        account_id,
        spent_minor,
        limits.daily_out_minor,
        asset_id,
    )
    c.view.put(DAILY_OUT.key(account_id, asset_id), DailyOut(day=day, out_minor=spent_minor + amount_minor))


def _utc_offset_min(view: TxView) -> int:
    params = view.read(PARAMS, COUNCIL_PARAMS)
    assert params is not None, "governance rules run on ledgers whose genesis holds the council's parameters"
    return params.utc_offset_min


def check_caps(c: TxContext, postings: Sequence[Posting], balances_after: Sequence[int]) -> None:
    """After value moved: no receiving account above its balance cap."""
    for p, after in zip(postings, balances_after, strict=True):
        if p.amount_minor <= 0 or p.account == SUPPLY:
            continue
        limits = limits_of(c.view, _account(c.view, p.account), p.asset)
        if limits is None or not limits.balance_cap_minor:
            continue
        ensure(
            after <= limits.balance_cap_minor,
            Code.OVER_BALANCE_CAP,
            "{} may hold at most {} {}",
            p.account,
            limits.balance_cap_minor,
            p.asset,
        )
