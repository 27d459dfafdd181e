"""Freezes and limits: what the posting engine checks around every movement (protocol 5 on).

A frozen asset does not move at all: no issue, burn, payment or refund of it.
A frozen account cannot send value (pay, transfer, refund, cash out, burn);
value may still arrive (a refund, a payment to a frozen merchant) and is
frozen with the rest. An account's limits in an asset are its own
(`set_limits`) or else its role's default from the council's parameters:
the largest single outgoing amount, the daily outgoing total (days of the
chain's time zone, counted from when a daily limit applies), and a cap on
its balance after any incoming value, refunds included. 0 means no limit.

This runs for every payment, so it reads as little as it can: the council's
parameters once, the asset's freeze record (one key for every payment in the
asset), and the accounts, which the rules read already; an account's own
limits only where its record counts some (`Account.limited_assets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import Code, Rejected, ensure
from .postings import SUPPLY, Posting, post
from .tables import ACCOUNTS, COUNCIL_PARAMS, DAILY_OUT, FREEZES, LIMITS, PARAMS
from .types import Account, AccountLimits, DailyOut, DefaultLimits, Params

if TYPE_CHECKING:
    from .operation import TxContext
    from .state import TxView

MS_PER_DAY = 86_400_000
MS_PER_MINUTE = 60_000
COUNCIL_KEY = PARAMS.key(COUNCIL_PARAMS)
_ACCOUNT_KEY = ACCOUNTS.scan_prefix()  # + account id: the key, without Table.key's checks (hot path)
_ASSET_FREEZE_KEY = FREEZES.scan_prefix("asset")  # + asset id

Limits = AccountLimits | DefaultLimits


def chain_day(timestamp_ms: int, utc_offset_min: int) -> int:
    """The day (since 1970-01-01) a block time falls on in the chain's time zone."""
    return (timestamp_ms + utc_offset_min * MS_PER_MINUTE) // MS_PER_DAY


def council_params(view: TxView) -> Params:
    params = view.get(COUNCIL_KEY)
    assert isinstance(params, Params), "a protocol 5 ledger's genesis holds the council's parameters"
    return params


def limits_of(view: TxView, params: Params, account: Account, asset_id: str) -> Limits | None:
    """The account's own limits in the asset, else its role's default, else None."""
    if account.limited_assets:
        own = view.read(LIMITS, account.id, asset_id)
        if own is not None:
            return own
    for default in params.default_limits:
        if default.role == account.role and default.asset == asset_id:
            return default
    return None


def _account(view: TxView, account_id: str) -> Account:
    account = view.get(_ACCOUNT_KEY + account_id)
    assert isinstance(account, Account), "rules check an account exists before moving its value"
    return account


def _debits(postings: Sequence[Posting]) -> list[tuple[str, str, int]]:
    """(account, asset, amount) leaving each account, net of what the same postings bring back."""
    if len(postings) == 2:  # one move(): its debit comes first
        debit = postings[0]
        return [(debit.account, debit.asset, -debit.amount_minor)] if debit.account != SUPPLY else []
    net: dict[tuple[str, str], int] = {}
    for p in postings:
        if p.account != SUPPLY:
            net[p.account, p.asset] = net.get((p.account, p.asset), 0) + p.amount_minor
    return [(account, asset, -amount) for (account, asset), amount in net.items() if amount < 0]


def post_controlled(c: TxContext, postings: Sequence[Posting]) -> list[int]:
    """Check freezes and outgoing limits, post, then check balance caps; the balances after, as `post` gives."""
    view = c.view
    params = council_params(view)
    for asset_id in {p.asset for p in postings}:
        frozen = view.get(_ASSET_FREEZE_KEY + asset_id)
        if frozen is not None:
            raise Rejected(Code.ASSET_FROZEN, f"asset {asset_id} is frozen ({frozen.reason})")  # type: ignore[union-attr]
    for account_id, asset_id, amount_minor in _debits(postings):
        account = _account(view, account_id)
        if account.frozen:
            reject_frozen(view, account_id)
        if account.limited_assets or params.default_limits:
            limits = limits_of(view, params, account, asset_id)
            if limits is not None:
                check_outgoing_limits(c, params, account_id, asset_id, amount_minor, limits)
    after = post(view, postings)
    for p, balance_after in zip(postings, after, strict=True):
        if p.amount_minor > 0 and p.account != SUPPLY:
            account = _account(view, p.account)
            if account.limited_assets or params.default_limits:
                check_cap(view, params, account, p.asset, balance_after)
    return after


def reject_frozen(view: TxView, account_id: str) -> None:
    frozen = view.read(FREEZES, "account", account_id)
    reason = frozen.reason if frozen is not None else "?"
    raise Rejected(Code.ACCOUNT_FROZEN, f"account {account_id} is frozen ({reason}): value cannot leave it")


def check_outgoing_limits(
    c: TxContext, params: Params, account_id: str, asset_id: str, amount_minor: int, limits: Limits
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
    day = chain_day(c.block.timestamp_ms, params.utc_offset_min)
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


def check_cap(view: TxView, params: Params, account: Account, asset_id: str, balance_after_minor: int) -> None:
    limits = limits_of(view, params, account, asset_id)
    cap = limits.balance_cap_minor if limits is not None else 0
    ensure(
        not cap or balance_after_minor <= cap,
        Code.OVER_BALANCE_CAP,
        "{} may hold at most {} {}",
        account.id,
        cap,
        asset_id,
    )
