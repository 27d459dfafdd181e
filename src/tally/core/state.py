"""State keys and the layered view the state transition reads and writes.

State is a flat map from string keys to records. Keys sort so that an
account's balances sit together. Execution never writes to the base state: it
writes into a block layer, and each transaction into its own layer on top,
which is merged into the block layer only when every rule has passed.
"""

from __future__ import annotations

from typing import Protocol

from .types import Account, Asset, Payment, Payout, StateValue


class StateReader(Protocol):
    """Read access to committed state (the node backs it with its store)."""

    def get(self, key: str) -> StateValue | None: ...


def account_key(account_id: str) -> str:
    return f"acct/{account_id}"


def asset_key(asset_id: str) -> str:
    return f"asset/{asset_id}"


def balance_key(account_id: str, asset_id: str) -> str:
    return f"bal/{account_id}/{asset_id}"


def payment_key(merchant_id: str, payment_id: str) -> str:
    return f"pay/{merchant_id}/{payment_id}"


def payout_key(txid: str) -> str:
    return f"payout/{txid}"


class MemoryState:
    """A plain in-memory state; genesis, tests and `tally audit` use it."""

    def __init__(self, values: dict[str, StateValue] | None = None) -> None:
        self.values: dict[str, StateValue] = dict(values or {})

    def get(self, key: str) -> StateValue | None:
        return self.values.get(key)

    def apply(self, writes: dict[str, StateValue | None]) -> None:
        for key, value in writes.items():
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value


_MISSING = object()


class TxView:
    """One transaction's reads and writes over a block layer and a base."""

    __slots__ = ("base", "block_writes", "writes")

    def __init__(self, base: StateReader, block_writes: dict[str, StateValue | None]) -> None:
        self.base = base
        self.block_writes = block_writes
        self.writes: dict[str, StateValue | None] = {}

    def get(self, key: str) -> StateValue | None:
        value = self.writes.get(key, _MISSING)
        if value is _MISSING:
            value = self.block_writes.get(key, _MISSING)
            if value is _MISSING:
                return self.base.get(key)
        return value  # type: ignore[return-value]

    def put(self, key: str, value: StateValue | None) -> None:
        self.writes[key] = value

    def commit(self) -> None:
        self.block_writes.update(self.writes)
        self.writes = {}

    # Typed reads: each returns None when the record is absent.

    def account(self, account_id: str) -> Account | None:
        value = self.get(account_key(account_id))
        assert value is None or isinstance(value, Account)
        return value

    def asset(self, asset_id: str) -> Asset | None:
        value = self.get(asset_key(asset_id))
        assert value is None or isinstance(value, Asset)
        return value

    def balance(self, account_id: str, asset_id: str) -> int:
        value = self.get(balance_key(account_id, asset_id))
        assert value is None or isinstance(value, int)
        return value or 0

    def payment(self, merchant_id: str, payment_id: str) -> Payment | None:
        value = self.get(payment_key(merchant_id, payment_id))
        assert value is None or isinstance(value, Payment)
        return value

    def payout(self, txid: str) -> Payout | None:
        value = self.get(payout_key(txid))
        assert value is None or isinstance(value, Payout)
        return value

    def set_balance(self, account_id: str, asset_id: str, amount_minor: int) -> None:
        assert amount_minor >= 0, "a balance never goes negative"
        self.put(balance_key(account_id, asset_id), amount_minor if amount_minor else None)
