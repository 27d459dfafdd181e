"""Request and response bodies of the HTTP API: the node serves them, the SDK decodes them (typed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ..core.ops import SignedTx
from ..core.types import Asset

MAX_BATCH_TXS_SCHEMA = 2000


class SubmitBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    txs: Annotated[list[SignedTx], Meta(min_length=1, max_length=MAX_BATCH_TXS_SCHEMA)]


class Submitted(msgspec.Struct, frozen=True):
    txids: list[str]
    status: str = "accepted"


class TxStatusBody(msgspec.Struct, frozen=True):
    txid: str
    status: str
    code: str
    message: str
    height: int


class ErrorDetail(msgspec.Struct, frozen=True):
    index: int
    txid: str
    code: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: list[ErrorDetail] = []
    request_id: str = ""  # also the response's X-Request-Id header and on the node's log line


class ErrorResponse(msgspec.Struct, frozen=True):
    error: ErrorBody


class BalancesBody(msgspec.Struct, frozen=True):
    account: str
    balances: dict[str, int]


class MovementBody(msgspec.Struct, frozen=True):
    """One balance change of the account whose history it is."""

    asset: str
    amount_minor: int  # signed: + in, - out
    counterparty: str | None  # whom it came from or went to; null: issued to oneself or burned
    balance_after_minor: int


class HistoryEntry(msgspec.Struct, frozen=True):
    height: int
    index: int
    txid: str
    type: str
    time_ms: int  # its block's time
    status: Literal["applied", "rejected"]
    code: str  # "ok", or why it was rejected
    message: str  # the rejection's reason ("" when applied)
    movements: list[MovementBody] | None  # this account's balance changes (null: stored before they were kept)
    tx: dict[str, Any]


# Every list endpoint answers one shape: a page of items and the cursor of the next page (null: no more).


class HistoryPage(msgspec.Struct, frozen=True):
    account: str
    items: list[HistoryEntry]
    next_cursor: str | None


class BlockBody(msgspec.Struct, frozen=True):
    height: int
    hash: str
    state_digest: str
    header: dict[str, Any]
    txids: list[str]
    final: bool


class BlocksPage(msgspec.Struct, frozen=True):
    items: list[BlockBody]
    next_cursor: str | None


class AssetsPage(msgspec.Struct, frozen=True):
    items: list[Asset]
    next_cursor: str | None


class UnavailableBody(msgspec.Struct, frozen=True):
    """Why the node takes no transactions: node_stopped, node_diverged or storage_tampered."""

    code: str
    message: str


class DivergenceBody(msgspec.Struct, frozen=True):
    """The first height where this node's digest differs from the certified one."""

    height: int
    our_digest: str
    certified_digest: str


class NodeStatusBody(msgspec.Struct, frozen=True):
    chain: str
    validator: str
    height: int
    final_height: int
    state_digest: str
    mempool_txs: int
    mempool_max_txs: int
    healthy: bool
    orderer: str
    divergence: DivergenceBody | None
    limits: dict[str, int]
    unavailable: UnavailableBody | None = None  # set once the node stopped taking transactions
    event_streams: int = 0  # open GET /v1/events streams


# --- the event stream (GET /v1/events) ---------------------------------------------


class MovementEventBody(msgspec.Struct, frozen=True):
    account: str
    asset: str
    amount_minor: int  # signed: + in, - out
    counterparty: str | None
    balance_after_minor: int


class TxEvent(msgspec.Struct, frozen=True):
    """A final transaction, applied or rejected, with every balance change it made."""

    txid: str
    height: int
    index: int
    time_ms: int
    type: str
    status: Literal["applied", "rejected"]
    code: str
    message: str
    movements: list[MovementEventBody]
    tx: dict[str, Any]


class BalanceEvent(msgspec.Struct, frozen=True):
    """One account's balance of one asset changed in a final transaction."""

    account: str
    asset: str
    amount_minor: int
    counterparty: str | None
    balance_after_minor: int
    txid: str
    height: int
    time_ms: int


class BlockEvent(msgspec.Struct, frozen=True):
    """A block became final."""

    height: int
    hash: str
    time_ms: int
    tx_count: int


class LedgerEvent(msgspec.Struct, frozen=True):
    """One event of the stream: its id (resume after it), kind and body."""

    id: str
    kind: Literal["block", "tx", "balance"]
    data: TxEvent | BalanceEvent | BlockEvent


EVENT_TYPES: dict[str, type[TxEvent] | type[BalanceEvent] | type[BlockEvent]] = {
    "tx": TxEvent,
    "balance": BalanceEvent,
    "block": BlockEvent,
}
