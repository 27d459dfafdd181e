"""The coupon mall (protocol 10 on): coupons priced in points, bought by holders, used once at a merchant.

The issuer of a points asset lists a coupon (`list_coupon`): its name, its price in those points, how
many it sells (its stock), until when it is sold and used, and the merchants where it is used. A holder
buys one (`buy_coupon`): the price moves from the holder to the issuer, and the stock goes down by one;
transactions execute one after another in a block, so however many holders buy at once, the stock never
goes below zero and the ones after the last are refused `out_of_stock`. The holder uses it once at one
of its merchants (`use_coupon`), before it expires; the merchant's point of sale sees the use.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext, require_account, require_active_asset
from ..postings import move
from ..tables import ACCOUNTS, ASSETS, COUPON_USES, COUPONS, OWNED_COUPONS
from ..types import (
    MAX_COUPON_MERCHANTS,
    MAX_COUPON_STOCK,
    AccountId,
    AmountMinor,
    ClientRef,
    Coupon,
    CouponId,
    CouponUse,
    Name,
    OwnedCoupon,
    TimeMs,
    TxBase,
    TxId,
)
from .incentives import REWARDS_SINCE

HOLDERS_ONLY = frozenset({"holder"})


class ListCoupon(TxBase, frozen=True, tag="list_coupon"):
    """The issuer of a points asset lists a coupon in the mall, priced in those points."""

    coupon: CouponId
    name: Name
    price_asset: Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$(?!\n)")]
    price_minor: AmountMinor
    stock: Annotated[int, Meta(ge=1, le=MAX_COUPON_STOCK)]
    valid_until_ms: TimeMs
    merchants: Annotated[list[AccountId], Meta(min_length=1, max_length=MAX_COUPON_MERCHANTS)]


class BuyCoupon(TxBase, frozen=True, tag="buy_coupon"):
    """A holder buys a coupon with points (its transaction id names the coupon it owns)."""

    coupon: CouponId
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET


class UseCoupon(TxBase, frozen=True, tag="use_coupon"):
    """A holder uses a coupon it bought, once, at one of the coupon's merchants."""

    bought: TxId  # the transaction that bought it
    merchant: AccountId


def list_coupon(c: TxContext, tx: ListCoupon) -> None:
    ensure(c.view.read(COUPONS, tx.coupon) is None, Code.COUPON_EXISTS, "coupon {!r} is listed already", tx.coupon)
    asset = require_active_asset(c.view, tx.price_asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "coupons are priced in the lister's own points")
    ensure(tx.valid_until_ms > c.block.timestamp_ms, Code.COUPON_EXPIRED, "the coupon would be expired already")
    ensure(len(set(tx.merchants)) == len(tx.merchants), Code.BAD_PARAMETER, "a merchant is listed twice")
    for merchant_id in tx.merchants:
        merchant = require_account(c.view, merchant_id)
        ensure(merchant.role == "merchant", Code.NOT_MERCHANT, "{!r} is not a merchant", merchant_id)
    coupon = Coupon(
        id=tx.coupon,
        issuer=c.signer.id,
        name=tx.name,
        price_asset=tx.price_asset,
        price_minor=tx.price_minor,
        stock=tx.stock,
        sold=0,
        valid_until_ms=tx.valid_until_ms,
        merchants=list(tx.merchants),
        height=c.block.height,
    )
    c.view.put(COUPONS.key(tx.coupon), coupon)


def require_coupon(c: TxContext, coupon_id: str) -> Coupon:
    coupon = c.view.read(COUPONS, coupon_id)
    ensure(coupon is not None, Code.UNKNOWN_COUPON, "no coupon {!r} in the mall", coupon_id)
    assert coupon is not None
    ensure(c.block.timestamp_ms < coupon.valid_until_ms, Code.COUPON_EXPIRED, "coupon {!r} has expired", coupon_id)
    return coupon


def buy_coupon(c: TxContext, tx: BuyCoupon) -> None:
    coupon = require_coupon(c, tx.coupon)
    ensure(coupon.stock > 0, Code.OUT_OF_STOCK, "coupon {!r} is sold out ({} sold)", tx.coupon, coupon.sold)
    c.post(*move(c.signer.id, coupon.issuer, coupon.price_asset, coupon.price_minor))
    assert coupon.stock - 1 >= 0
    c.view.put(COUPONS.key(tx.coupon), msgspec.structs.replace(coupon, stock=coupon.stock - 1, sold=coupon.sold + 1))
    c.view.put(OWNED_COUPONS.key(c.signer.id, c.txid), OwnedCoupon(coupon=tx.coupon, bought_height=c.block.height))


def use_coupon(c: TxContext, tx: UseCoupon) -> None:
    owned = c.view.read(OWNED_COUPONS, c.signer.id, tx.bought)
    ensure(owned is not None, Code.UNKNOWN_COUPON, "{} bought no coupon in transaction {}", c.signer.id, tx.bought)
    assert owned is not None
    ensure(owned.used_txid == "", Code.COUPON_USED, "that coupon was used in transaction {}", owned.used_txid)
    coupon = require_coupon(c, owned.coupon)
    ensure(
        tx.merchant in coupon.merchants,
        Code.WRONG_MERCHANT,
        "coupon {!r} is used at {} only",
        coupon.id,
        ", ".join(coupon.merchants),
    )
    used = msgspec.structs.replace(owned, used_txid=c.txid, used_merchant=tx.merchant, used_height=c.block.height)
    c.view.put(OWNED_COUPONS.key(c.signer.id, tx.bought), used)
    c.view.put(
        COUPON_USES.key(tx.merchant, tx.bought),
        CouponUse(coupon=coupon.id, holder=c.signer.id, height=c.block.height, txid=c.txid),
    )


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=ListCoupon,
        rule=list_coupon,
        reads=lambda tx: [COUPONS.key(tx.coupon), ASSETS.key(tx.price_asset), *map(ACCOUNTS.key, tx.merchants)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=REWARDS_SINCE,
        summary="The issuer of a points asset lists a coupon in the mall (price, stock, validity, merchants).",
        example=Example(
            "list a coupon",
            "bank-a",
            10,
            {
                "coupon": "americano-2027",
                "name": "One Americano",
                "price_asset": "CITY-V",
                "price_minor": 4_000,
                "stock": 500,
                "valid_until_ms": 1_830_000_000_000,
                "merchants": ["cafe"],
            },
        ),
    ),
    Operation(
        tx=BuyCoupon,
        rule=buy_coupon,
        reads=lambda tx: [COUPONS.key(tx.coupon)],
        parties=lambda tx: [],  # the issuer comes through the postings
        signers=HOLDERS_ONLY,
        since=REWARDS_SINCE,
        client_ref=True,
        summary="A holder buys a coupon with points.",
        example=Example("buy a coupon", "alice", 4, {"coupon": "americano-2027", "ref": "coupon:1"}),
    ),
    Operation(
        tx=UseCoupon,
        rule=use_coupon,
        reads=lambda tx: [OWNED_COUPONS.key(tx.signer, tx.bought)],  # then its coupon
        parties=lambda tx: [tx.merchant],
        signers=HOLDERS_ONLY,
        since=REWARDS_SINCE,
        summary="A holder uses a coupon it bought, once, at one of its merchants.",
        example=Example("use a coupon", "alice", 5, {"bought": "ab" * 32, "merchant": "cafe"}),
    ),
)
