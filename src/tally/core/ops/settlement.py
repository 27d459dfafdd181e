"""Settlement between members (protocol 11; docs/settlement.md).

`settle_window` nets a closed window multilaterally and settles it at once in
the prefunded settlement asset (`method: "ledger"`), or marks its net
positions to go out as bank payments (`"bank"`, a pacs.009 file), which
`ack_settlement` closes once the banks confirm. A member's bank adapter
records each file it writes (`record_bank_file`: once per window, member and
kind, with its SHA-256). The issuer's bank acknowledges each payout once
(`ack_payout`): done, or returned, which gives the value back to the account.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext, require_asset
from ..postings import SUPPLY, balance, move
from ..settlement import net_positions, require_settlement, settlement_moves, window_of
from ..tables import BANK_FILES, CONFIG, PAYOUTS, SETTLEMENT, WINDOWS, window_key
from ..types import BankFile, FileName, LimitMinor, Payout, ReasonCode, Sha256Hex, TxBase, TxIdHex, Window, WindowNo
from .exchange import EXCHANGE_SINCE

MAX_FILE_TRANSACTIONS = 100_000  # payments one bank file may hold


class SettleWindow(TxBase, frozen=True, tag="settle_window"):
    """A member settles a closed window: in the prefunded settlement asset, or through the banks."""

    window: WindowNo
    method: Literal["ledger", "bank"] = "ledger"


class AckSettlement(TxBase, frozen=True, tag="ack_settlement"):
    """A member confirms a window's bank payments (pacs.009) were made: the window is settled."""

    window: WindowNo


class AckPayout(TxBase, frozen=True, tag="ack_payout"):
    """The issuer records its bank's answer to a payout, once: paid, or returned with the bank's reason."""

    payout: TxIdHex  # the cash-out's transaction id
    accepted: bool
    reason: ReasonCode | msgspec.UnsetType = msgspec.UNSET  # why the bank returned it


class RecordBankFile(TxBase, frozen=True, tag="record_bank_file"):
    """A member's bank adapter records a file it wrote for a closed window, once: its name and SHA-256."""

    window: WindowNo
    kind: Literal["pain.001", "pacs.009"]
    name: FileName
    sha256: Sha256Hex
    transactions: Annotated[int, Meta(ge=0, le=MAX_FILE_TRANSACTIONS)] = 0
    total_minor: LimitMinor = 0


def require_closed_window(c: TxContext, number: int) -> Window:
    ensure_window_closed(c, number)
    window = c.view.read(WINDOWS, window_key(number))
    ensure(window is not None, Code.UNKNOWN_WINDOW, "nothing happened in window {}", number)
    assert window is not None
    return window


def settle_window(c: TxContext, tx: SettleWindow) -> None:
    window = require_closed_window(c, tx.window)
    ensure(window.status == "open", Code.WINDOW_SETTLED, "window {} is {} already", tx.window, window.status)
    net = net_positions(window.pairs)
    moves = settlement_moves(net)
    if tx.method == "ledger" and moves:
        config = require_settlement(c.view)
        ensure(config.asset != "", Code.NO_SETTLEMENT, "the council has set no settlement asset")
        for member, position in net.items():
            held = balance(c.view, member, config.asset)
            ensure(
                held + position >= 0,
                Code.INSUFFICIENT_PREFUNDING,
                "{} holds {} minor units of {}, its net position is {}",
                member,
                held,
                config.asset,
                position,
            )
        c.post(*(p for m in moves for p in move(m.debtor, m.creditor, config.asset, m.amount_minor)))
    c.view.put(
        WINDOWS.key(window_key(tx.window)),
        msgspec.structs.replace(
            window,
            status="settled" if tx.method == "ledger" or not moves else "bank",
            moves=moves,
            settled_height=c.block.height,
            settled_txid=c.txid,
        ),
    )


def ack_settlement(c: TxContext, tx: AckSettlement) -> None:
    window = require_closed_window(c, tx.window)
    ensure(window.status != "settled", Code.WINDOW_SETTLED, "window {} is settled already", tx.window)
    ensure(window.status == "bank", Code.NOT_AT_BANKS, "window {} was not sent to the banks (settle_window)", tx.window)
    ensure(
        any(c.signer.id in (m.debtor, m.creditor) for m in window.moves),
        Code.NOT_AUTHORIZED,
        "{} is not a party to window {}'s settlement",
        c.signer.id,
        tx.window,
    )
    c.view.put(WINDOWS.key(window_key(tx.window)), msgspec.structs.replace(window, status="settled"))


def ack_payout(c: TxContext, tx: AckPayout) -> None:
    payout = c.view.read(PAYOUTS, tx.payout)
    ensure(payout is not None and isinstance(payout.status, str), Code.UNKNOWN_PAYOUT, "no payout {}", tx.payout)
    assert payout is not None
    asset = require_asset(c.view, payout.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only {}'s issuer acknowledges its payouts", asset.id)
    ensure(
        payout.status == "pending",
        Code.PAYOUT_ACKNOWLEDGED,
        "payout {} is {} already (transaction {})",
        tx.payout,
        payout.status,
        payout.ack_txid,
    )
    if not tx.accepted:
        ensure(isinstance(tx.reason, str), Code.REASON_REQUIRED, "a returned payout names the bank's reason")
        return_payout(c, payout)
    c.view.put(
        PAYOUTS.key(tx.payout),
        msgspec.structs.replace(
            payout,
            status="done" if tx.accepted else "returned",
            ack_txid=c.txid,
            ack_reason=tx.reason if isinstance(tx.reason, str) else msgspec.UNSET,
        ),
    )


def return_payout(c: TxContext, payout: Payout) -> None:
    """A payout the bank returned: its value back to the account, the amount reissued and the issuer's fee back."""
    postings = [*move(SUPPLY, payout.account, payout.asset, payout.amount_minor)] if payout.amount_minor else []
    fee_minor = payout.fee_minor if isinstance(payout.fee_minor, int) else 0
    if fee_minor:
        postings += move(c.signer.id, payout.account, payout.asset, fee_minor)
    if postings:
        c.post(*postings)


def record_bank_file(c: TxContext, tx: RecordBankFile) -> None:
    ensure_window_closed(c, tx.window)
    first = c.view.read(BANK_FILES, window_key(tx.window), c.signer.id, tx.kind)
    ensure(
        first is None,
        Code.FILE_RECORDED,
        "{}'s {} file for window {} is recorded already (sha256 {})",
        c.signer.id,
        tx.kind,
        tx.window,
        first.sha256 if first is not None else "",
    )
    c.view.put(
        BANK_FILES.key(window_key(tx.window), c.signer.id, tx.kind),
        BankFile(
            tx.window, c.signer.id, tx.kind, tx.name, tx.sha256, tx.transactions, tx.total_minor, c.block.height, c.txid
        ),
    )


def ensure_window_closed(c: TxContext, number: int) -> None:
    """A payout file's window may hold no obligations, only cash-outs: closed is enough."""
    config = require_settlement(c.view)
    ensure(number < window_of(config, c.block.height), Code.WINDOW_OPEN, "window {} is still open", number)


def window_reads(number: int) -> list[str]:
    return [SETTLEMENT.key(CONFIG), WINDOWS.key(window_key(number))]


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=SettleWindow,
        rule=settle_window,
        reads=lambda tx: window_reads(tx.window),
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=EXCHANGE_SINCE,
        summary="Net a closed settlement window and settle it in the settlement asset, or through the banks.",
        example=Example("settle a window", "bank-a", 6, {"window": 3, "method": "ledger"}),
    ),
    Operation(
        tx=AckSettlement,
        rule=ack_settlement,
        reads=lambda tx: window_reads(tx.window),
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=EXCHANGE_SINCE,
        summary="Confirm a window's bank payments were made: the window is settled.",
        example=Example("acknowledge a settlement", "bank-b", 1, {"window": 3}),
    ),
    Operation(
        tx=AckPayout,
        rule=ack_payout,
        reads=lambda tx: [PAYOUTS.key(tx.payout)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=EXCHANGE_SINCE,
        summary="Record the bank's answer to a payout once: paid, or returned to the account.",
        example=Example(
            "acknowledge a payout",
            "bank-a",
            7,
            {"payout": "ab" * 32, "accepted": False, "reason": "account_closed"},
        ),
    ),
    Operation(
        tx=RecordBankFile,
        rule=record_bank_file,
        reads=lambda tx: [*window_reads(tx.window), BANK_FILES.key(window_key(tx.window), tx.signer, tx.kind)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=EXCHANGE_SINCE,
        summary="Record a bank file written for a closed window, once: its name and SHA-256.",
        example=Example(
            "record a bank file",
            "bank-a",
            8,
            {
                "window": 3,
                "kind": "pain.001",
                "name": "bank-a-w000000000003-pain.001.xml",
                "sha256": "cd" * 32,
                "transactions": 2,
                "total_minor": 8000,
            },
        ),
    ),
)
