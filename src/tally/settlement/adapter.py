"""A member's bank adapter: settle closed windows, write its bank files, record them on the ledger.

One pass (`run_once`) over the newest settlement windows does, for each closed window:

1. settle it, when the adapter is set to (`settle`): in the prefunded settlement asset, or, when a
   debtor is short of prefunding, through the banks (`settle_window`);
2. write the member's files into the drop folder, one per window and kind, written once and never
   rewritten: a pain.001 with the payouts (cash-outs) of the assets the member issues, and a pacs.009 with
   the net settlement payments it owes when the window settles through the banks;
3. record each file on the ledger with its SHA-256 (`record_bank_file`, once per window, member and kind).

A file's bytes are a pure function of the ledger (times come from the window's last block), so a pass
repeated after a crash or a node restart finds the same bytes on disk and on the ledger and writes
nothing twice; a file on disk whose bytes differ from what the ledger says is a `BankFileConflict`, never
overwritten. Banks answer with acknowledgements that the issuer records (`ack_payout`, `ack_settlement`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from ..client import Signer, TallyClient
from ..client.keys import KeyFile
from ..client.models import RateView, WindowDetail, WindowView
from ..core.types import Asset, Payout
from .instructions import BankParty, CustomerCreditTransfer, InterbankTransfer, PayoutFile, SettlementFile
from .iso20022 import render_pacs009, render_pain001, sha256_hex

MAX_WINDOWS_PER_PASS = 100  # the newest windows one pass looks at
FINAL_TIMEOUT_MS = 30_000


class BankAccountConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    bic: str
    account: str


class AdapterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The adapter's file (JSON): whose adapter it is, the members' banks, currencies and what it settles."""

    member: str
    banks: dict[str, BankAccountConfig]  # every member it may pay or be paid by, its own included
    currencies: dict[str, int]  # ISO 4217 code -> decimals (KRW 0, USD 2)
    asset_currency: dict[str, str] = {}  # an asset paid out one for one in a currency (e-money, local currency)
    settle: Literal["ledger", "bank", "off"] = "off"  # "ledger": settlement asset first, banks if short


class AdapterRefused(Exception):
    """The ledger refused a transaction the adapter needed (its code says why)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BankFileConflict(Exception):
    """A file on disk or on the ledger differs from the one the ledger's window gives: nothing is overwritten."""


@dataclass
class PassReport:
    """What one pass did."""

    settled: list[tuple[int, str]] = field(default_factory=list)  # (window, method)
    written: list[Path] = field(default_factory=list)
    recorded: list[tuple[int, str, str]] = field(default_factory=list)  # (window, kind, sha256)


def read_config(path: Path) -> AdapterConfig:
    return msgspec.json.decode(path.read_bytes(), type=AdapterConfig)


def party(config: AdapterConfig, member: str) -> BankParty:
    bank = config.banks.get(member)
    if bank is None:
        raise ValueError(f"the adapter's config names no bank for member {member!r}")
    return BankParty(bank.name, bank.bic, bank.account)


def file_name(member: str, window: int, kind: str) -> str:
    return f"{member}-w{window:012d}-{kind}.xml"


def write_once(folder: Path, name: str, content: bytes) -> bool:
    """Write `content` as `folder/name` unless it is there; True when written. Never rewrites a file."""
    final = folder / name
    if final.exists():
        if sha256_hex(final.read_bytes()) != sha256_hex(content):
            raise BankFileConflict(f"{final} exists with other content; it is never rewritten")
        return False
    temp = folder / f".{name}.{os.getpid()}.tmp"
    with open(temp, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temp, final)  # fails if another pass wrote it meanwhile: never replaced
    except FileExistsError:
        return write_once(folder, name, content)
    finally:
        temp.unlink()
    return True


class BankAdapter:
    """A member's adapter, talking to its node as the member (reads with its token, signs with its key)."""

    def __init__(self, client: TallyClient, key: KeyFile, config: AdapterConfig, drop: Path) -> None:
        assert key.id == config.member, "the adapter signs as its member"
        self.client = client
        self.key = key
        self.config = config
        self.drop = drop
        self.chain = client.genesis().chain
        self.assets: dict[str, Asset] = {}
        self.rates: dict[str, RateView] | None = None

    def run_once(self) -> PassReport:
        self.assets, self.rates = {}, None  # read once a pass
        report = PassReport()
        self.drop.mkdir(parents=True, exist_ok=True)
        for view in reversed(self.client.windows(limit=MAX_WINDOWS_PER_PASS).items):  # oldest first
            if not view.closed:
                continue
            if view.status == "open" and view.obligations and self.config.settle != "off":
                method = self.settle(view.window)
                if method:
                    report.settled.append((view.window, method))
            detail = self.client.window(view.window)
            recorded = {f.kind: f.sha256 for f in detail.files if f.member == self.config.member}
            for kind, sha in recorded.items():  # sent already: never written again, only checked
                self.check_on_disk(view.window, kind, sha)
            for kind, content, count, total in self.files(detail, skip=set(recorded)):
                self.deliver(detail, kind, content, count, total, report)
        return report

    def check_on_disk(self, window: int, kind: str, sha: str) -> None:
        """A recorded file still in the drop folder must be the one recorded; a file the bank took is not written
        again (the ledger's record is what says it was sent)."""
        path = self.drop / file_name(self.config.member, window, kind)
        if path.exists() and sha256_hex(path.read_bytes()) != sha:
            raise BankFileConflict(f"{path} differs from the file recorded on the ledger (sha256 {sha})")

    # --- settling -----------------------------------------------------------------------------

    def submit(self, tx_type: str, **fields: object) -> str:
        signer = Signer(self.key.id, self.key.keypair(), self.chain, self.client.next_seq(self.key.id))
        status = self.client.wait_final(self.client.submit(signer.build(tx_type, **fields)), FINAL_TIMEOUT_MS)
        return status.code

    def settle(self, window: int) -> str:
        """Settle a closed window; the method it settled by ("" when another member had already)."""
        methods = ["ledger", "bank"] if self.config.settle == "ledger" else ["bank"]
        for method in methods:
            code = self.submit("settle_window", window=window, method=method)
            if code == "ok":
                return method
            if code == "window_settled":
                return ""
            if code not in ("insufficient_prefunding", "no_settlement"):
                raise AdapterRefused(code, f"settle_window {window} ({method}) was refused: {code}")
        return ""

    # --- files ----------------------------------------------------------------------------------

    def files(self, detail: WindowDetail, skip: set[str]) -> list[tuple[str, bytes, int, int]]:
        """The member's files for a window not yet recorded (kinds in `skip` are): (kind, bytes, transactions,
        total in minor units). A payout its issuer recorded as returned before any file is left out."""
        created_ms = self.window_time_ms(detail.window)
        date = datetime.fromtimestamp(created_ms / 1000, UTC).date().isoformat()
        out: list[tuple[str, bytes, int, int]] = []
        mine = [
            p
            for p in detail.payouts
            if p.status != "returned" and self.issuer_of(p.asset) == self.config.member and "pain.001" not in skip
        ]
        if mine:
            transfers = tuple(self.transfer(p) for p in mine)
            content = render_pain001(
                PayoutFile(
                    message_id=f"T-{self.config.member[:16]}-W{detail.window.window}-P"[:35],
                    created_ms=created_ms,
                    execution_date=date,
                    debtor=party(self.config, self.config.member),
                    transfers=transfers,
                )
            )
            out.append(("pain.001", content, len(transfers), sum(t.amount_minor for t in transfers)))
        owed = [m for m in detail.window.moves if m.debtor == self.config.member]
        if "pacs.009" not in skip and owed and self.settled_by_bank(detail):
            currency = detail.window.currency
            interbank = tuple(
                InterbankTransfer(
                    end_to_end_id=f"W{detail.window.window}-{m.debtor}-{m.creditor}"[:35],
                    amount_minor=m.amount_minor,
                    currency=currency,
                    decimals=self.config.currencies[currency],
                    debtor=party(self.config, m.debtor),
                    creditor=party(self.config, m.creditor),
                )
                for m in owed
            )
            content = render_pacs009(
                SettlementFile(
                    message_id=f"T-{self.config.member[:16]}-W{detail.window.window}-S"[:35],
                    created_ms=created_ms,
                    settlement_date=date,
                    transfers=interbank,
                )
            )
            out.append(("pacs.009", content, len(interbank), sum(t.amount_minor for t in interbank)))
        return out

    def settled_by_bank(self, detail: WindowDetail) -> bool:
        """A window settled through the banks: in "bank" now, or settled by the banks' acknowledgement."""
        mine = self.config.member
        return detail.window.status == "bank" or any(f.kind == "pacs.009" and f.member == mine for f in detail.files)

    def window_time_ms(self, window: WindowView) -> int:
        """The block time of the window's last block (files are a function of the ledger, not the clock)."""
        header = self.client.block(window.last_height).header
        return int(header["timestamp_ms"])

    def asset(self, asset_id: str) -> Asset:
        if asset_id not in self.assets:
            self.assets[asset_id] = self.client.asset(asset_id)
        return self.assets[asset_id]

    def issuer_of(self, asset_id: str) -> str:
        return self.asset(asset_id).issuer

    def transfer(self, payout: Payout) -> CustomerCreditTransfer:
        currency, amount_minor = self.payout_amount(payout)
        return CustomerCreditTransfer(
            end_to_end_id=payout.txid,
            amount_minor=amount_minor,
            currency=currency,
            decimals=self.config.currencies[currency],
            creditor_name=payout.account,
            creditor_account=payout.payout_ref,
            remittance=f"tally cash-out {payout.asset}",
        )

    def payout_amount(self, payout: Payout) -> tuple[str, int]:
        """A payout in money: one for one in its configured currency, else at the asset's published rate
        (rounded down, as every amount paid to a holder)."""
        asset = self.asset(payout.asset)
        currency = self.config.asset_currency.get(payout.asset)
        if currency is not None:
            shift = self.config.currencies[currency] - asset.decimals
            amount = payout.amount_minor * 10**shift if shift >= 0 else payout.amount_minor // 10**-shift
            return currency, amount
        if self.rates is None:
            self.rates = {r.asset: r for r in self.client.rates().items}
        rate = self.rates.get(payout.asset)
        if rate is None:
            raise ValueError(f"{payout.asset} has no currency in the adapter's config and no published rate")
        return rate.currency, payout.amount_minor * rate.rate.num // rate.rate.den

    def deliver(self, detail: WindowDetail, kind: str, content: bytes, count: int, total: int, r: PassReport) -> None:
        """Write a file not yet recorded (once: a file already there must have these bytes), then record it."""
        window = detail.window.window
        name = file_name(self.config.member, window, kind)
        sha = sha256_hex(content)
        if write_once(self.drop, name, content):
            r.written.append(self.drop / name)
        fields = {"window": window, "kind": kind, "name": name, "sha256": sha}
        code = self.submit("record_bank_file", **fields, transactions=count, total_minor=total)
        if code == "file_recorded":  # another pass of this member's recorded it meanwhile: the same bytes?
            again = next(
                f for f in self.client.window(window).files if f.member == self.config.member and f.kind == kind
            )
            if again.sha256 != sha:
                raise BankFileConflict(f"window {window}'s {kind} on the ledger has sha256 {again.sha256}, not {sha}")
            return
        if code != "ok":
            raise AdapterRefused(code, f"record_bank_file for window {window} ({kind}) was refused: {code}")
        r.recorded.append((window, kind, sha))
