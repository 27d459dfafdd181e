"""The ledger's state, declared once: one table per kind of record.

State is a flat map from string keys to records. A table names its key
prefix, its key fields and its record type; from that come every key, the
storage encoding (msgpack, the type following from the prefix) and typed
reads. Nothing else in the project spells a key.

Keys sort so that an account's balances sit together: `bal/<account>/<asset>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from .types import Account, Asset, PayCode, Payment, Payout, RefUse, StateValue

R = TypeVar("R")

SEPARATOR = "/"


class Table(Generic[R]):
    """One kind of state record: `prefix/field1/field2...` -> R."""

    __slots__ = ("_decoder", "fields", "prefix", "record")

    def __init__(self, prefix: str, fields: tuple[str, ...], record: type[R]) -> None:
        assert SEPARATOR not in prefix and fields
        self.prefix = prefix
        self.fields = fields
        self.record = record
        self._decoder: msgspec.msgpack.Decoder[R] = msgspec.msgpack.Decoder(record)

    def key(self, *parts: str) -> str:
        assert len(parts) == len(self.fields), f"{self.prefix} keys have {len(self.fields)} parts"
        return self.prefix + SEPARATOR + SEPARATOR.join(parts)

    def scan_prefix(self, *parts: str) -> str:
        """The key prefix of every record whose first key fields are `parts` (all records when none)."""
        assert len(parts) < len(self.fields)
        return self.prefix + SEPARATOR + "".join(p + SEPARATOR for p in parts)

    def key_parts(self, key: str) -> tuple[str, ...]:
        parts = key.split(SEPARATOR)
        assert parts[0] == self.prefix and len(parts) == len(self.fields) + 1, key
        return tuple(parts[1:])

    def decode(self, data: bytes) -> R:
        return self._decoder.decode(data)

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

TABLES: dict[str, Table[Any]] = {t.prefix: t for t in (ACCOUNTS, ASSETS, BALANCES, PAYMENTS, PAYOUTS, REFS, PAY_CODES)}

_encoder = msgspec.msgpack.Encoder()


def table_of(key: str) -> Table[Any]:
    return TABLES[key.split(SEPARATOR, 1)[0]]


def encode_value(value: StateValue) -> bytes:
    """A state record as stored (msgpack; its table follows from the key)."""
    return _encoder.encode(value)


def decode_value(key: str, data: bytes) -> StateValue:
    value: StateValue = table_of(key).decode(data)
    return value
