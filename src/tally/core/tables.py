"""The ledger's state, declared once: one table per kind of record.

State is a flat map from string keys to records. A table names its key
prefix, its key fields and its record type; from that come every key, the
storage encoding (msgpack, the type following from the prefix) and typed
reads. Nothing else in the project spells a key.

A record is stored as a msgpack array of its fields in declaration order (a
trailing unset field left out), without the field names a map would repeat
in every row: state rows are most of what a block writes. Rows written
before that (msgpack maps) still decode. Only storage changes: the state
digest is taken of canonical JSON (execute.py), never of these bytes.

Keys sort so that an account's balances sit together: `bal/<account>/<asset>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from .types import (
    Account,
    AccountLimits,
    Asset,
    BankFile,
    Cashback,
    Coupon,
    CouponUse,
    DailyOut,
    ExchangeResult,
    ExpiredLots,
    Freeze,
    HolderLots,
    HolderUse,
    Incentives,
    LotChunk,
    LotSchedule,
    MerchantFlag,
    MerchantLimit,
    MerchantProfile,
    MerchantUse,
    Obligation,
    OwnedCoupon,
    Params,
    PayCode,
    Payment,
    Payout,
    Proposal,
    Purchase,
    Rate,
    RateBounds,
    Recovery,
    RefUse,
    Settlement,
    StateValue,
    ValidatorSchedule,
    Window,
)

R = TypeVar("R")

SEPARATOR = "/"
_encoder = msgspec.msgpack.Encoder()
MSGPACK_MAP_MARKERS = (0xDE, 0xDF)  # map 16 and map 32 (fixmaps are 0x80-0x8f)


def _row_type(record: type[Any]) -> type[Any]:
    """The stored form of a record type: the same fields and types, as an array (int stays int)."""
    if record is int:
        return int
    fields = [(f.name, f.type) if f.required else (f.name, f.type, f.default) for f in msgspec.structs.fields(record)]
    return msgspec.defstruct(f"Stored{record.__name__}", fields, array_like=True, frozen=True)


class Table(Generic[R]):
    """One kind of state record: `prefix/field1/field2...` -> R."""

    __slots__ = ("_decoder", "_head", "_map_decoder", "fields", "prefix", "record")

    def __init__(self, prefix: str, fields: tuple[str, ...], record: type[R]) -> None:
        assert SEPARATOR not in prefix and fields
        self.prefix = prefix
        self.fields = fields
        self.record = record
        self._head = prefix + SEPARATOR
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(_row_type(record))
        self._map_decoder: msgspec.msgpack.Decoder[R] = msgspec.msgpack.Decoder(record)  # rows stored as maps

    def key(self, *parts: str) -> str:
        assert len(parts) == len(self.fields), f"{self.prefix} keys have {len(self.fields)} parts"
        return self._head + SEPARATOR.join(parts)

    def scan_prefix(self, *parts: str) -> str:
        """The key prefix of every record whose first key fields are `parts` (all records when none)."""
        assert len(parts) < len(self.fields)
        return self.prefix + SEPARATOR + "".join(p + SEPARATOR for p in parts)

    def key_parts(self, key: str) -> tuple[str, ...]:
        parts = key.split(SEPARATOR)
        assert parts[0] == self.prefix and len(parts) == len(self.fields) + 1, key
        return tuple(parts[1:])

    def decode(self, data: bytes) -> R:
        """A stored row: a field array (or, written by an older version, a map) as the table's record."""
        if self.record is int:
            return self._decoder.decode(data)  # type: ignore[no-any-return]
        if data[:1] and (data[0] & 0xF0 == 0x80 or data[0] in MSGPACK_MAP_MARKERS):
            return self._map_decoder.decode(data)
        return self.record(*msgspec.structs.astuple(self._decoder.decode(data)))

    def read(self, get: Callable[[str], Any], *parts: str) -> R | None:
        """The record at these key parts through a reader's `get`, or None."""
        value = get(self.key(*parts))
        assert value is None or isinstance(value, self.record), (self.prefix, value)
        return value

    def __repr__(self) -> str:
        return f"Table({self.prefix!r}, {self.fields!r}, {self.record.__name__})"


ACCOUNTS: Table[Account] = Table("acct", ("account",), Account)
ASSETS: Table[Asset] = Table("asset", ("asset",), Asset)
BALANCES: Table[int] = Table("bal", ("account", "asset"), int)  # minor units; a zero balance is no record
PAYMENTS: Table[Payment] = Table("pay", ("merchant", "payment_id"), Payment)
PAYOUTS: Table[Payout] = Table("payout", ("txid",), Payout)
REFS: Table[RefUse] = Table("ref", ("account", "ref"), RefUse)  # a signer's used client references
PAY_CODES: Table[PayCode] = Table("code", ("code",), PayCode)  # consumer-presented payment codes (protocol 4)
# Governance (protocol 5 on).
PARAMS: Table[Params] = Table("params", ("name",), Params)  # one record, PARAMS.key(COUNCIL_PARAMS)
PROPOSALS: Table[Proposal] = Table("proposal", ("proposal",), Proposal)
FREEZES: Table[Freeze] = Table("freeze", ("kind", "subject"), Freeze)  # kind: "account" or "asset"
LIMITS: Table[AccountLimits] = Table("limits", ("account", "asset"), AccountLimits)
DAILY_OUT: Table[DailyOut] = Table("daily", ("account", "asset"), DailyOut)  # only where a daily limit applies
RECOVERIES: Table[Recovery] = Table("recovery", ("account",), Recovery)
COUNCIL_PARAMS = "council"
# Validator-set changes (protocol 6 on): one record, VALIDATOR_SETS.key(SCHEDULE).
VALIDATOR_SETS: Table[ValidatorSchedule] = Table("validators", ("name",), ValidatorSchedule)
SCHEDULE = "schedule"
# The merchant registry (protocol 7 on); the store indexes it by location for the directory.
MERCHANTS: Table[MerchantProfile] = Table("merchant", ("merchant",), MerchantProfile)
# Asset policies (protocol 8 on; core/policy.py): only where a policy's rule needs them.
HOLDER_USE: Table[HolderUse] = Table("holder", ("account", "asset"), HolderUse)
MERCHANT_USE: Table[MerchantUse] = Table("muse", ("merchant", "asset"), MerchantUse)
MERCHANT_LIMITS: Table[MerchantLimit] = Table("mlimit", ("merchant", "asset"), MerchantLimit)
FLAGS: Table[MerchantFlag] = Table("flag", ("asset", "merchant"), MerchantFlag)  # the latest flag per merchant
PURCHASES: Table[Purchase] = Table("purchase", ("txid",), Purchase)
# Lots (protocol 9 on; core/lots.py).
LOTS: Table[HolderLots] = Table("lots", ("account", "asset"), HolderLots)
EXPIRED: Table[ExpiredLots] = Table("expired", ("account", "asset"), ExpiredLots)
LOT_SCHEDULE: Table[LotSchedule] = Table("lotsched", ("name",), LotSchedule)  # one record, LOT_SCHEDULE.key(SCHEDULE)
LOT_CHUNKS: Table[LotChunk] = Table("lotq", ("asset", "expires_ms", "chunk"), LotChunk)
# Incentives (protocol 10 on; core/ops/incentives.py).
INCENTIVES: Table[Incentives] = Table("incentives", ("asset",), Incentives)
CASHBACKS: Table[Cashback] = Table("cashback", ("merchant", "payment_id"), Cashback)
CASHBACK_USE: Table[int] = Table("cbuse", ("holder", "asset", "rule"), int)  # what a holder got from a rule
# The coupon mall (protocol 10 on; core/ops/coupons.py).
COUPONS: Table[Coupon] = Table("coupon", ("coupon",), Coupon)
OWNED_COUPONS: Table[OwnedCoupon] = Table("owned", ("holder", "bought_txid"), OwnedCoupon)
COUPON_USES: Table[CouponUse] = Table("cuse", ("merchant", "bought_txid"), CouponUse)

RATE_BOUNDS: Table[RateBounds] = Table("ratebounds", ("asset",), RateBounds)  # protocol 11: rates and settlement
RATES: Table[Rate] = Table("rate", ("asset",), Rate)
SETTLEMENT: Table[Settlement] = Table("settlement", ("name",), Settlement)  # one record, SETTLEMENT.key(CONFIG)
CONFIG = "config"
WINDOWS: Table[Window] = Table("window", ("window",), Window)  # window numbers as window_key(n)
OBLIGATIONS: Table[Obligation] = Table("obligation", ("window", "txid"), Obligation)
EXCHANGES: Table[ExchangeResult] = Table("exchange", ("txid",), ExchangeResult)
WINDOW_PAYOUTS: Table[int] = Table("wpayout", ("window", "txid"), int)  # a window's cash-outs: their amounts
BANK_FILES: Table[BankFile] = Table("bankfile", ("window", "member", "kind"), BankFile)


def window_key(window: int) -> str:
    """A window number as a key part that sorts in order (12 digits)."""
    assert 0 <= window < 10**12
    return f"{window:012d}"


TABLES: dict[str, Table[Any]] = {
    t.prefix: t
    for t in (
        ACCOUNTS,
        ASSETS,
        BALANCES,
        PAYMENTS,
        PAYOUTS,
        REFS,
        PAY_CODES,
        PARAMS,
        PROPOSALS,
        FREEZES,
        LIMITS,
        DAILY_OUT,
        RECOVERIES,
        VALIDATOR_SETS,
        MERCHANTS,
        HOLDER_USE,
        MERCHANT_USE,
        MERCHANT_LIMITS,
        FLAGS,
        PURCHASES,
        LOTS,
        EXPIRED,
        LOT_SCHEDULE,
        LOT_CHUNKS,
        INCENTIVES,
        CASHBACKS,
        CASHBACK_USE,
        COUPONS,
        OWNED_COUPONS,
        COUPON_USES,
        RATE_BOUNDS,
        RATES,
        SETTLEMENT,
        WINDOWS,
        OBLIGATIONS,
        EXCHANGES,
        WINDOW_PAYOUTS,
        BANK_FILES,
    )
}


def table_of(key: str) -> Table[Any]:
    return TABLES[key.split(SEPARATOR, 1)[0]]


def encode_value(value: StateValue) -> bytes:
    """A state record as stored: msgpack, a record as the array of its fields (its table follows from the key)."""
    if isinstance(value, int):
        return _encoder.encode(value)
    row = msgspec.structs.astuple(value)
    defaults = _TRAILING_DEFAULTS.get(type(value), ())
    while row and (row[-1] is msgspec.UNSET or (len(row) <= len(defaults) and row[-1] == defaults[len(row) - 1])):
        row = row[:-1]  # an unset (or, omit_defaults, default) trailing field is left out, as a map leaves it out
    if msgspec.UNSET in row:  # an unset field before a set one (an asset with incentives but no policy): a map
        return _encoder.encode(value)
    return _encoder.encode(row)


def _defaults(record: type[Any]) -> tuple[Any, ...]:
    """Per field, its default where the record omits defaults (msgspec's omit_defaults), else a marker."""
    marker = object()
    if not record.__struct_config__.omit_defaults:
        return ()
    return tuple(marker if f.required else f.default for f in msgspec.structs.fields(record))


def decode_value(key: str, data: bytes) -> StateValue:
    value: StateValue = table_of(key).decode(data)
    return value


_TRAILING_DEFAULTS: dict[type, tuple[Any, ...]] = {
    t.record: _defaults(t.record) for t in TABLES.values() if t.record is not int
}
