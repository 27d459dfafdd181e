"""The live event stream's events, read from final blocks in ledger order.

Every event has a position in the ledger, `height:index:k` (its id on the
wire): a transaction is `H:I:0`, its balance changes `H:I:1..n`, the block
itself `H:BLOCK_INDEX:0`, after all its transactions. The stream is the
store read in that order, only up to the final height: so a client resuming
from the last id it saw (`Last-Event-ID`) gets every later event exactly
once, across reconnects and node restarts alike, and a slow client only
reads the store at its own pace (it never holds the node back).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from ..core.block import block_hash
from ..core.ops import Tx, operation_of
from ..store.base import SWEEP_TYPE, Store, TxLocation

BLOCK_INDEX = 1 << 20  # after every transaction index of a block (they are numbered in 20 bits)
KINDS = ("block", "tx", "balance")
EVENT_ID_RE = re.compile(r"([0-9]{1,16}):([0-9]{1,8}):([0-9]{1,6})")

Position = tuple[int, int, int]  # (height, index, k)

_plain_decoder = msgspec.json.Decoder()


def parse_event_id(text: str) -> Position | None:
    """The position an event id names (None when it is not one)."""
    found = EVENT_ID_RE.fullmatch(text)
    return None if found is None else (int(found[1]), int(found[2]), int(found[3]))


def event_id(position: Position) -> str:
    return f"{position[0]}:{position[1]}:{position[2]}"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a stream carries: kinds, and for tx and balance events an account, merchant or asset."""

    kinds: frozenset[str] = frozenset(KINDS)
    account: str | None = None
    merchant: str | None = None  # its payments and refunds, and its balance changes
    asset: str | None = None

    def tx_wanted(self, row: TxLocation, parties: set[str], assets: set[str], tx: dict[str, Any]) -> bool:
        if "tx" not in self.kinds:
            return False
        if self.account is not None and self.account not in parties:
            return False
        if self.merchant is not None and not _merchant_of(row.type, tx, self.merchant):
            return False
        return self.asset is None or self.asset in assets

    def balance_wanted(self, account: str, asset: str) -> bool:
        if "balance" not in self.kinds:
            return False
        if self.account is not None and account != self.account:
            return False
        if self.merchant is not None and account != self.merchant:
            return False
        return self.asset is None or asset == self.asset


SIGNED_BY_MERCHANT = frozenset({"refund", "charge", "cash_out"})  # a merchant's own: refunds, charged codes, payouts


def tx_parties(tx_type: str, tx: dict[str, Any], moved: list[str]) -> set[str]:
    """Every account a transaction event concerns: its signer, those it names, those whose balance moved (a sweep
    of expired lots: the holder and the issuer it moved to)."""
    if tx_type == SWEEP_TYPE:
        return set(moved)
    typed = msgspec.convert(tx, Tx)
    return {tx["signer"], *operation_of(typed).parties(typed), *moved}


def _merchant_of(tx_type: str, tx: dict[str, Any], merchant: str) -> bool:
    """A payment or a coupon's use at the merchant, or a refund, a charged payment code or a cash-out it signed."""
    return (tx_type in ("pay", "use_coupon") and tx.get("merchant") == merchant) or (
        tx_type in SIGNED_BY_MERCHANT and tx.get("signer") == merchant
    )


@dataclass(frozen=True, slots=True)
class Event:
    position: Position
    kind: str  # "block", "tx" or "balance"
    data: dict[str, Any]


def block_events(store: Store, height: int, after: Position, wanted: EventFilter) -> Iterator[Event]:
    """The wanted events of one stored block that come after `after`, in order."""
    found = store.block_header(height)
    assert found is not None, f"final block {height} is stored"
    header, _digest = found
    rows = store.block_txs(height)
    for row in [*rows, *store.block_sweeps(height)]:  # the block's transactions, then its sweeps of expired lots
        if (height, row.index, len(row.movements or ())) > after:  # its last event comes after `after`
            yield from _tx_events(row, header.timestamp_ms, after, wanted)
    position = (height, BLOCK_INDEX, 0)
    if "block" in wanted.kinds and position > after:
        data = {"height": height, "hash": block_hash(header), "time_ms": header.timestamp_ms, "tx_count": len(rows)}
        yield Event(position, "block", data)


def _tx_events(row: TxLocation, time_ms: int, after: Position, wanted: EventFilter) -> Iterator[Event]:
    tx = _plain_decoder.decode(row.envelope)["tx"]
    movements = row.movements or ()
    parties = tx_parties(row.type, tx, [m[0] for m in movements])
    assets = {m[1] for m in movements} | ({tx["asset"]} if "asset" in tx else set())
    position = (row.height, row.index, 0)
    moves: list[dict[str, Any]] = [
        {"account": a, "asset": s, "amount_minor": v, "counterparty": c or None, "balance_after_minor": b}
        for a, s, v, c, b in movements
    ]
    if position > after and wanted.tx_wanted(row, parties, assets, tx):
        data = {
            "txid": row.txid,
            "height": row.height,
            "index": row.index,
            "time_ms": time_ms,
            "type": row.type,
            "status": "applied" if row.code == "ok" else "rejected",
            "code": row.code,
            "message": row.message,
            "movements": moves,
            "tx": tx,
        }
        yield Event(position, "tx", data)
    for k, (move, (account, asset, *_)) in enumerate(zip(moves, movements, strict=True), start=1):
        position = (row.height, row.index, k)
        if position > after and wanted.balance_wanted(account, asset):
            yield Event(position, "balance", {**move, "txid": row.txid, "height": row.height, "time_ms": time_ms})
