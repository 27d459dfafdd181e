"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..core.ops import SignedTx

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


class ErrorResponse(msgspec.Struct, frozen=True):
    error: ErrorBody


class BalancesBody(msgspec.Struct, frozen=True):
    account: str
    balances: dict[str, int]


class HistoryEntry(msgspec.Struct, frozen=True):
    height: int
    index: int
    txid: str
    type: str
    code: str
    tx: dict[str, Any]


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
