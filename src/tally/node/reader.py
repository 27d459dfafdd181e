"""What the API may read of a node: committed state and stored blocks, typed.

Every read here answers from the store, so two reads of one account (its
record and its balances) never disagree about which block they reflect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import msgspec

from ..core.block import FullBlock, Receipt, ValidatorChange, make_receipt, schedule_proof
from ..core.ops import SignedTx
from ..core.protocol import rules_for
from ..core.tables import ACCOUNTS, ASSETS, BALANCES, PAY_CODES, PAYMENTS, SCHEDULE, VALIDATOR_SETS, Table
from ..core.types import Account, Asset, BlockHeader, Certificate, PayCode, Payment, ValidatorSchedule
from ..core.validators import change_heights, schedule_after
from ..store.base import SWEEP_TYPE, HistoryItem, Store

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StoredBlock:
    header: BlockHeader
    state_digest: str
    txids: list[str]


_signed_decoder = msgspec.json.Decoder(SignedTx)


def records_after(store: Store, table: Table[R], after: str | None, limit: int) -> list[R]:
    """Up to `limit` records of a one-field table in key order, those after `after` when given (a page)."""
    assert limit > 0 and len(table.fields) == 1
    found: list[R] = []
    for key, value in store.state_items(table.scan_prefix()):
        assert isinstance(value, table.record)
        if after is not None and table.key_parts(key)[0] <= after:
            continue
        found.append(value)
        if len(found) == limit:
            break
    return found


class LedgerReader:
    def __init__(self, store: Store) -> None:
        self._store = store

    def account(self, account_id: str) -> Account | None:
        return ACCOUNTS.read(self._store.get_state, account_id)

    def balances(self, account_id: str) -> dict[str, int]:
        """Every non-zero balance of an account, by asset, in minor units."""
        prefix = BALANCES.scan_prefix(account_id)
        found: dict[str, int] = {}
        for key, value in self._store.state_items(prefix):
            assert isinstance(value, int)
            found[BALANCES.key_parts(key)[1]] = value
        return found

    def payment(self, merchant: str, payment_id: str) -> Payment | None:
        return PAYMENTS.read(self._store.get_state, merchant, payment_id)

    def pay_code(self, code: str) -> PayCode | None:
        return PAY_CODES.read(self._store.get_state, code)

    def asset(self, asset_id: str) -> Asset | None:
        return ASSETS.read(self._store.get_state, asset_id)

    def assets(self, after: str | None = None, limit: int = 100) -> list[Asset]:
        """Up to `limit` assets in id order, those after `after` when given."""
        return records_after(self._store, ASSETS, after, limit)

    def history(
        self, account_id: str, before: tuple[int, int] | None, limit: int, applied: bool | None = None
    ) -> list[HistoryItem]:
        return self._store.history(account_id, before, limit, applied)

    def block(self, height: int) -> StoredBlock | None:
        found = self._store.block_header(height)
        if found is None:
            return None
        return StoredBlock(found[0], found[1], [t.txid for t in self._store.block_txs(height)])

    def certificate(self, height: int) -> Certificate | None:
        return self._store.certificate(height)

    def full_block(self, height: int) -> FullBlock | None:
        """A final block with its transactions as stored, for peers catching up."""
        found = self._store.block_header(height)
        cert = self._store.certificate(height)
        if found is None or cert is None:
            return None
        rows = self._store.block_txs(height)
        return FullBlock(found[0], found[1], [msgspec.Raw(r.envelope) for r in rows], cert)

    def receipt(self, txid: str, final_height: int) -> Receipt | None:
        """The receipt of a final transaction: its block, certificate and the paths that prove its result."""
        found = self._store.tx(txid)
        if found is None or found.height > final_height or found.type == SWEEP_TYPE:
            return None  # (a sweep of expired lots is no transaction: its block's state changes prove it)
        header_and_digest = self._store.block_header(found.height)
        certificate = self._store.certificate(found.height)
        if header_and_digest is None or certificate is None:
            return None
        rows = self._store.block_txs(found.height)
        header = header_and_digest[0]
        return make_receipt(
            [_signed_decoder.decode(r.envelope) for r in rows],
            [r.code for r in rows],
            [r.signer_key for r in rows],
            found.index,
            header,
            certificate,
            self._schedule_left(header),
        )

    def validator_schedule(self) -> ValidatorSchedule | None:
        """The validator schedule as the newest stored block left it (None before protocol 6)."""
        return VALIDATOR_SETS.read(self._store.get_state, SCHEDULE)

    def _schedule_left(self, header: BlockHeader) -> ValidatorSchedule | None:
        """The schedule a protocol 6 block left: its results tree's last leaf."""
        version = header.protocol if isinstance(header.protocol, int) else 1
        if not rules_for(version).validator_changes:
            return None
        schedule = self.validator_schedule()
        assert schedule is not None, "a protocol 6 ledger's genesis holds the validator schedule"
        return schedule_after(schedule, header.height)

    def validator_changes(self, final_height: int) -> list[ValidatorChange]:
        """Every final block that changed the validator schedule, with what proves the change."""
        schedule = self.validator_schedule()
        if schedule is None:
            return []
        changes = []
        for height in change_heights(schedule):
            found = self._store.block_header(height)
            certificate = self._store.certificate(height)
            if height > final_height or found is None or certificate is None:
                break
            rows = self._store.block_txs(height)
            left = schedule_after(schedule, height)
            path = schedule_proof([(r.txid, r.code, r.signer_key) for r in rows], left)
            changes.append(ValidatorChange(found[0], certificate, left, path))
        return changes
