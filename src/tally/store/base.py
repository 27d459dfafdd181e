"""The store interface: what the node needs from a database.

SQLite implements it today (`sqlite.py`); PostgreSQL will implement the same
protocol. Nothing outside this package names an implementation:
`open_store` chooses one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from ..core.chain import BlockResult, Head
from ..core.crypto import sha256
from ..core.encoding import canonical
from ..core.execute import Movement
from ..core.ops import SignedTx, tx_type
from ..core.types import BlockHeader, Certificate, StateValue
from .directory import Nearby

__all__ = ["BlockRecord", "Head", "HistoryItem", "Store", "StoredTx", "TxLocation", "record_of"]


class StoredTx(msgspec.Struct, frozen=True):
    """One transaction as the block stores it, with its result (a Struct: one per transaction, cheap to make)."""

    txid: str
    envelope: bytes  # the signed transaction as JSON
    code: str
    message: str
    type: str
    parties: tuple[str, ...]  # every account it names or moves value of (its history lists it), signer first
    signer_key: str = ""  # the key its signature verified against ("" when it did not): part of its result
    movements: tuple[Movement, ...] = ()  # its balance changes, for history (none when rejected)


@dataclass(frozen=True, slots=True)
class BlockRecord:
    header: BlockHeader
    block_hash: str
    state_digest: str
    write_set: bytes  # canonical JSON of the sorted state changes
    writes: dict[str, StateValue | None]
    txs: list[StoredTx]
    certificate: Certificate | None  # None until the validators' votes arrive (etcd ordering)
    results_root: str | None = None  # what votes certify of the results (None under protocol 1)
    sweeps: list[StoredTx] = field(default_factory=list)  # history entries of expired lots (not transactions)


@dataclass(frozen=True, slots=True)
class HistoryItem:
    height: int
    index: int
    txid: str
    type: str
    code: str
    message: str
    envelope: bytes
    time_ms: int  # its block's time
    movements: tuple[Movement, ...] | None  # None: stored before movements were recorded


@dataclass(frozen=True, slots=True)
class TxLocation:
    txid: str
    height: int
    index: int
    code: str
    message: str
    envelope: bytes
    signer_key: str = ""
    type: str = ""
    movements: tuple[Movement, ...] | None = None  # None: stored before movements were recorded


def record_of(
    block: BlockResult, signed: list[SignedTx], envelopes: list[bytes], certificate: Certificate | None
) -> BlockRecord:
    """What a store keeps of an executed block: the one way the pipeline (and the tests) make a record."""
    stored = [
        StoredTx(r.txid, envelope, r.code, r.message, tx_type(s.tx), parties, key, moves)
        for s, envelope, r, parties, key, moves in zip(
            signed, envelopes, block.results, block.parties, block.signer_keys, block.movements, strict=True
        )
    ]
    return BlockRecord(
        block.header,
        block.block_hash,
        block.state_digest,
        block.write_set,
        block.writes,
        stored,
        certificate,
        block.results_root,
        [sweep_entry(block.header, i, moves) for i, moves in enumerate(block.sweeps)],
    )


SWEEP_TYPE = "expire_lots"  # the history entry of a holder's expired lots, swept at a block's start


def sweep_entry(header: BlockHeader, index: int, moves: tuple[Movement, ...]) -> StoredTx:
    """A sweep as a history entry: an id of its own (not a transaction's), what moved, and who it names.

    Its "envelope" is the sweep as JSON (no signature: the ledger's own rule, certified by the block's
    state changes): {"tx": {"type": "expire_lots", "holder", "asset", "amount_minor", "to"}}."""
    holder, asset, amount, to, _ = moves[0]
    body = {"type": SWEEP_TYPE, "holder": holder, "asset": asset, "amount_minor": -amount, "to": to or "burn"}
    entry_id = sha256(f"tally-expiry/{header.chain}/{header.height}/{index}".encode()).hex()
    parties = tuple(m[0] for m in moves)
    return StoredTx(entry_id, canonical({"tx": body}), "ok", "", SWEEP_TYPE, parties, "", moves)


class Store(Protocol):
    def head(self) -> Head | None: ...
    def get_meta(self, key: str) -> bytes | None: ...
    def put_meta(self, key: str, value: bytes) -> None: ...
    def put_state(self, values: dict[str, StateValue]) -> None: ...
    def get_state(self, key: str) -> StateValue | None: ...
    def get_states(self, keys: list[str]) -> dict[str, StateValue]: ...
    def state_items(self, prefix: str = "") -> Iterator[tuple[str, StateValue]]: ...
    def write_block(self, record: BlockRecord) -> None: ...
    def put_certificate(self, certificate: Certificate) -> None: ...
    def merchants_near(
        self,
        lat_e6: int,
        lon_e6: int,
        limit: int,
        asset: str | None = None,
        category: str | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[Nearby]: ...
    def final_height(self) -> int: ...
    def block_header(self, height: int) -> tuple[BlockHeader, str] | None: ...
    def block_results_root(self, height: int) -> str | None: ...
    def block_write_set(self, height: int) -> bytes | None: ...
    def certificate(self, height: int) -> Certificate | None: ...
    def block_txs(self, height: int) -> list[TxLocation]: ...
    def block_sweeps(self, height: int) -> list[TxLocation]:
        """A block's history entries of expired lots swept at its start (protocol 9), in order."""
        ...

    def block_tx_rows(self, height: int) -> list[str]:
        """A block's transaction rows, in order, each as node/scrub.py `tx_row` makes it (built by the database)."""
        ...

    def tx(self, txid: str) -> TxLocation | None: ...
    def known_txids(self, txids: list[str]) -> set[str]: ...
    def history(
        self, account: str, before: tuple[int, int] | None, limit: int, applied: bool | None = None
    ) -> list[HistoryItem]:
        """An account's transactions, newest first, before the cursor; `applied`: only ok (True) or rejected (False)."""
        ...

    def read_snapshot(self) -> AbstractContextManager[None]:
        """Within it, every read of this thread sees the ledger as it was when it began (writers go on)."""
        ...

    def close(self) -> None: ...
