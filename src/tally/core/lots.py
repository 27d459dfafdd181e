"""Lots (protocol 9 on): value that expires, held by holders lot by lot, first to expire spent first.

An asset whose policy has a lot lifetime (`lot_lifetime_ms`) tracks lots: every holder's balance in it
is the sum of its lots (`HolderLots`), each with the block time it expires at. Value issued or sold to
a holder (or reaching it from an account that is not a holder: a budget account) is a new lot expiring
at the end of the chain day its lifetime ends on, or at the asset's end if that is sooner; value a
holder spends leaves from the lot that expires first; a holder's transfer
carries its lots to the receiver; a merchant's refund returns the lots the payment took (its last ones
first). Merchants', members' and budget accounts' balances have no lots.

A lot is not spent from its expiry on, though its value stays in the balance until the sweep: at the
start of every block, before its transactions, the holders whose lots have expired are swept, each
expired remainder going to the issuer or burned (`expired_to`), and recorded for the holder
(`EXPIRED`). The sweep's queue is a schedule of buckets (asset, expiry) over chunks of at most
`CHUNK_ACCOUNTS` accounts; a block sweeps at most `MAX_SWEEP_CHUNKS` chunks, so a million lots
expiring at once are swept over about a thousand blocks and no block is slow.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from .controls import MS_PER_DAY, MS_PER_MINUTE, chain_day
from .errors import Code, Rejected, ensure
from .postings import SUPPLY, Posting, balance, move, post
from .state import TxView
from .tables import ACCOUNTS, ASSETS, EXPIRED, LOT_CHUNKS, LOT_SCHEDULE, LOTS, SCHEDULE
from .types import (
    Account,
    Asset,
    AssetPolicy,
    ExpiredLot,
    ExpiredLots,
    HolderLots,
    Lot,
    LotBucket,
    LotChunk,
    LotSchedule,
)

if TYPE_CHECKING:
    from .operation import TxContext

LOTS_SINCE = 9  # the protocol version lots arrive in
MAX_LOTS = 64  # lots one holder holds in one asset (`too_many_lots` beyond)
MAX_BUCKETS = 4_096  # (asset, expiry) pairs waiting to be swept (`lot_schedule_full` beyond)
CHUNK_ACCOUNTS = 128  # accounts per chunk of a bucket
MAX_SWEEP_CHUNKS = 8  # chunks a block sweeps: at most 1,024 holders' expiries per block
MAX_EXPIRED_SHOWN = 16  # expired lots a holder's record keeps
_SCHEDULE_KEY = LOT_SCHEDULE.key(SCHEDULE)


def tracks_lots(policy: AssetPolicy | None) -> bool:
    """Holders hold the asset lot by lot: it has a lot lifetime."""
    return policy is not None and policy.lot_lifetime_ms > 0


def ends_at_once(policy: AssetPolicy | None) -> bool:
    """All the asset's value expires at its end: an end, no lot lifetime."""
    return policy is not None and policy.valid_until_ms > 0 and not policy.lot_lifetime_ms


def ensure_lots_fixed(lots_rules: bool, before: AssetPolicy | None, after: AssetPolicy) -> None:
    """Lot lifetimes arrive in protocol 9; whether and how an asset's value expires is fixed at its creation
    (`before` None: it is being created), since its holders' balances are held as lots, or not."""
    ensure(lots_rules or not after.lot_lifetime_ms, Code.BAD_PARAMETER, "lot lifetimes arrive in protocol 9")
    if before is None or not lots_rules:
        return
    ensure(
        before.lot_lifetime_ms == after.lot_lifetime_ms
        and (before.valid_until_ms > 0) == (after.valid_until_ms > 0)
        and (not ends_at_once(before) or before.valid_until_ms == after.valid_until_ms),
        Code.BAD_PARAMETER,
        "an asset's lot lifetime, whether it has an end, and an end without a lifetime are fixed when it is created",
    )


def lot_policy(asset: Asset) -> AssetPolicy | None:
    """The asset's policy when it tracks lots, else None."""
    policy = asset.policy
    return policy if isinstance(policy, AssetPolicy) and tracks_lots(policy) else None


def lot_expiry(policy: AssetPolicy, now_ms: int, utc_offset_min: int) -> int:
    """When value issued at `now_ms` expires: the end of the chain day its lifetime ends on, or the end."""
    expiry = 0
    if policy.lot_lifetime_ms:
        day = chain_day(now_ms + policy.lot_lifetime_ms, utc_offset_min)
        expiry = (day + 1) * MS_PER_DAY - utc_offset_min * MS_PER_MINUTE  # the next midnight, chain time
    if policy.valid_until_ms and (not expiry or policy.valid_until_ms < expiry):
        expiry = policy.valid_until_ms
    assert expiry > now_ms, "an expired asset issues nothing (asset_expired comes first)"
    return expiry


def spendable(lots: HolderLots | None, now_ms: int) -> int:
    """What a holder may spend: its lots not yet expired."""
    return sum(lot.amount_minor for lot in lots.lots if lot.expires_ms > now_ms) if lots is not None else 0


# --- lots through the posting engine -----------------------------------------------


def take(
    held: list[Lot], amount_minor: int, now_ms: int, account_id: str, asset_id: str
) -> tuple[list[Lot], list[Lot]]:
    """Take `amount_minor` from the unexpired lots, first to expire first: (lots left, lots taken)."""
    usable = sum(lot.amount_minor for lot in held if lot.expires_ms > now_ms)
    ensure(
        usable >= amount_minor,
        Code.INSUFFICIENT_FUNDS,
        "{} may spend {} {}: the rest of its balance has expired",
        account_id,
        usable,
        asset_id,
    )
    left: list[Lot] = []
    taken: list[Lot] = []
    need = amount_minor
    for lot in held:
        if need == 0 or lot.expires_ms <= now_ms:
            left.append(lot)
            continue
        part = min(need, lot.amount_minor)
        taken.append(Lot(lot.expires_ms, part))
        need -= part
        if part < lot.amount_minor:
            left.append(Lot(lot.expires_ms, lot.amount_minor - part))
    assert need == 0
    return left, taken


def add(held: list[Lot], lot: Lot) -> tuple[list[Lot], bool]:
    """A lot merged into a holder's lots (one per expiry, in order): (lots, whether its expiry is new)."""
    expiries = [existing.expires_ms for existing in held]
    at = bisect.bisect_left(expiries, lot.expires_ms)
    if at < len(held) and held[at].expires_ms == lot.expires_ms:
        merged = Lot(lot.expires_ms, held[at].amount_minor + lot.amount_minor)
        return [*held[:at], merged, *held[at + 1 :]], False
    ensure(len(held) < MAX_LOTS, Code.TOO_MANY_LOTS, "a holder holds at most {} lots of an asset", MAX_LOTS)
    return [*held[:at], lot, *held[at:]], True


def post_asset_lots(c: TxContext, asset: Asset, policy: AssetPolicy, postings: Sequence[tuple[Posting, int]]) -> None:
    """After the engine posted (each posting with its balance after): holders' lots follow their balances
    in an asset that tracks lots, and holders of an asset that ends at once are listed for its sweep when
    their balance rises from zero."""
    if tracks_lots(policy):
        _post_asset_lots(c, asset, policy, [p for p, _ in postings])
    elif policy.valid_until_ms:
        for p, after in postings:
            if 0 < p.amount_minor == after and _holder(c, policy, p.account):
                schedule(c.view, asset.id, policy.valid_until_ms, p.account)


def _holder(c: TxContext, policy: AssetPolicy, account_id: str) -> Account | None:
    """The account when its value in the asset is held as lots: a holder, not the budget account."""
    if account_id in (SUPPLY, policy.budget_account):
        return None
    account = c.view.read(ACCOUNTS, account_id)
    return account if account is not None and account.role == "holder" else None


def _post_asset_lots(c: TxContext, asset: Asset, policy: AssetPolicy, postings: list[Posting]) -> None:
    now_ms = c.block.timestamp_ms
    moving: list[Lot] = list(c.lots_returning)  # a refund's lots, else what holders spend in this transaction
    for p in postings:
        if p.amount_minor < 0 and _holder(c, policy, p.account) is not None:
            record = c.view.read(LOTS, p.account, asset.id)
            left, taken = take(record.lots if record else [], -p.amount_minor, now_ms, p.account, asset.id)
            c.view.put(LOTS.key(p.account, asset.id), HolderLots(left) if left else None)
            moving += taken
            c.lots_taken += taken
    for p in postings:
        if p.amount_minor > 0 and _holder(c, policy, p.account) is not None:
            gained, moving = _split(moving, p.amount_minor)
            if not gained:  # from the supply, a budget account or a merchant: a new lot
                gained = [Lot(lot_expiry(policy, now_ms, _utc_offset(c)), p.amount_minor)]
            record = c.view.read(LOTS, p.account, asset.id)
            held = record.lots if record else []
            for lot in gained:
                held, new = add(held, lot)
                if new:
                    schedule(c.view, asset.id, lot.expires_ms, p.account)
            c.view.put(LOTS.key(p.account, asset.id), HolderLots(held))


def _split(lots: list[Lot], amount_minor: int) -> tuple[list[Lot], list[Lot]]:
    """The first `amount_minor` of `lots` (all of it, or none when `lots` is empty), and the rest."""
    if not lots:
        return [], []
    gained: list[Lot] = []
    rest = list(lots)
    need = amount_minor
    while need and rest:
        first = rest.pop(0)
        part = min(need, first.amount_minor)
        gained.append(Lot(first.expires_ms, part))
        if part < first.amount_minor:
            rest.insert(0, Lot(first.expires_ms, first.amount_minor - part))
        need -= part
    assert need == 0, "value reaching holders comes from the lots moving, all or none"
    return gained, rest


def _utc_offset(c: TxContext) -> int:
    from .controls import council_params

    return council_params(c.view).utc_offset_min


def refund_lots(lots: list[Lot], refunded_before_minor: int, amount_minor: int) -> list[Lot]:
    """The lots a refund returns: the payment's last ones first, past what earlier refunds returned."""
    out: list[Lot] = []
    skip, need = refunded_before_minor, amount_minor
    for lot in reversed(lots):
        amount = lot.amount_minor
        dropped = min(skip, amount)
        skip -= dropped
        amount -= dropped
        part = min(need, amount)
        if part:
            out.append(Lot(lot.expires_ms, part))
            need -= part
    assert need == 0, "refunds of a payment never exceed it"
    return sorted(out, key=lambda lot: lot.expires_ms)


# --- the sweep's queue ------------------------------------------------------------------


def schedule(view: TxView, asset_id: str, expires_ms: int, account_id: str) -> None:
    """List the holder in the bucket of (asset, expiry), adding the bucket to the schedule if new."""
    found = view.get(_SCHEDULE_KEY)
    buckets = found.buckets if isinstance(found, LotSchedule) else []
    keys = [(b.expires_ms, b.asset) for b in buckets]
    at = bisect.bisect_left(keys, (expires_ms, asset_id))
    if at < len(buckets) and keys[at] == (expires_ms, asset_id):
        bucket = buckets[at]
        if bucket.last_size < CHUNK_ACCOUNTS:
            chunk_key = LOT_CHUNKS.key(asset_id, str(expires_ms), str(bucket.chunks - 1))
            chunk = view.get(chunk_key)
            assert isinstance(chunk, LotChunk)
            view.put(chunk_key, LotChunk([*chunk.accounts, account_id]))
            bucket = msgspec.structs.replace(bucket, last_size=bucket.last_size + 1)
        else:
            view.put(LOT_CHUNKS.key(asset_id, str(expires_ms), str(bucket.chunks)), LotChunk([account_id]))
            bucket = msgspec.structs.replace(bucket, chunks=bucket.chunks + 1, last_size=1)
        buckets = [*buckets[:at], bucket, *buckets[at + 1 :]]
    else:
        ensure(len(buckets) < MAX_BUCKETS, Code.LOT_SCHEDULE_FULL, "{} expiries are waiting already", MAX_BUCKETS)
        view.put(LOT_CHUNKS.key(asset_id, str(expires_ms), "0"), LotChunk([account_id]))
        added = LotBucket(expires_ms=expires_ms, asset=asset_id, chunks=1, last_size=1, swept=0)
        buckets = [*buckets[:at], added, *buckets[at:]]
    view.put(_SCHEDULE_KEY, LotSchedule(buckets))


Swept = tuple[tuple[str, str, int, str, int], ...]  # a holder's sweep: its movements, as history keeps them


def sweep(view: TxView, now_ms: int, height: int) -> list[Swept]:
    """At a block's start: sweep up to MAX_SWEEP_CHUNKS chunks of due buckets; per holder swept, its movements
    (holder, asset, -amount, issuer or "", balance after) and, going to the issuer, the issuer's."""
    found = view.get(_SCHEDULE_KEY)
    if not isinstance(found, LotSchedule) or not found.buckets or found.buckets[0].expires_ms > now_ms:
        return []
    buckets = list(found.buckets)
    swept: list[Swept] = []
    for _ in range(MAX_SWEEP_CHUNKS):
        if not buckets or buckets[0].expires_ms > now_ms:
            break
        bucket = buckets[0]
        chunk_key = LOT_CHUNKS.key(bucket.asset, str(bucket.expires_ms), str(bucket.swept))
        chunk = view.get(chunk_key)
        assert isinstance(chunk, LotChunk)
        for account_id in chunk.accounts:
            moved = sweep_holder(view, bucket.asset, account_id, now_ms, height)
            if moved:
                swept.append(moved)
        view.put(chunk_key, None)
        if bucket.swept + 1 == bucket.chunks:
            buckets.pop(0)
        else:
            buckets[0] = msgspec.structs.replace(bucket, swept=bucket.swept + 1)
    view.put(_SCHEDULE_KEY, LotSchedule(buckets) if buckets else None)
    view.commit()
    return swept


def sweep_holder(view: TxView, asset_id: str, account_id: str, now_ms: int, height: int) -> Swept:
    """Move a holder's expired lots of an asset to its issuer (or burn them); the movements (none: nothing due)."""
    asset = view.read(ASSETS, asset_id)
    assert asset is not None and isinstance(asset.policy, AssetPolicy)
    if ends_at_once(asset.policy):  # no lots: the whole balance ends at the asset's end
        held = balance(view, account_id, asset_id)
        record = HolderLots([Lot(asset.policy.valid_until_ms, held)] if held else [])
    else:
        found = view.read(LOTS, account_id, asset_id)
        record = found if found is not None else HolderLots([])
    expired = [lot for lot in record.lots if lot.expires_ms <= now_ms]
    if not expired:
        return ()  # spent before it expired (or listed twice): nothing left to sweep
    left = [lot for lot in record.lots if lot.expires_ms > now_ms]
    amount = sum(lot.amount_minor for lot in expired)
    to = asset.policy.expired_to
    target = SUPPLY if to == "burn" else asset.issuer
    try:
        holder_after, target_after = post(view, move(account_id, target, asset_id, amount))
    except Rejected:  # pragma: no cover - lots sum to the balance, and the supply takes any burn
        raise AssertionError("a holder's lots sum to its balance") from None
    if not ends_at_once(asset.policy):
        view.put(LOTS.key(account_id, asset_id), HolderLots(left) if left else None)
    shown = view.read(EXPIRED, account_id, asset_id)
    latest = [
        *(shown.expired if shown else []),
        *(ExpiredLot(lot.expires_ms, lot.amount_minor, height, to) for lot in expired),
    ]
    view.put(EXPIRED.key(account_id, asset_id), ExpiredLots(latest[-MAX_EXPIRED_SHOWN:]))
    if target == SUPPLY:
        return ((account_id, asset_id, -amount, "", holder_after),)
    return ((account_id, asset_id, -amount, target, holder_after), (target, asset_id, amount, account_id, target_after))
