"""The state transition: one small function per transaction type.

`execute_block` applies an ordered list of transactions to a state and returns
each transaction's result and the block's write-set. It is pure and
deterministic: no clock, randomness, floats, or unordered iteration. Every
transaction either applies whole or not at all; a rejected one changes nothing
(its sequence number is not consumed) and is recorded with its code.

Signatures are checked before execution (by admission, and again by
`tally audit`), against the signer's key in the state the block starts from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from .encoding import MAX_SAFE_INTEGER, canonical
from .errors import Code, Rejected, ensure
from .state import (
    StateReader,
    TxView,
    account_key,
    asset_key,
    balance_key,
    payment_key,
    payout_key,
)
from .types import (
    OK,
    Account,
    Asset,
    CashOut,
    CreateAsset,
    Issue,
    Pay,
    Payment,
    Payout,
    Refund,
    RegisterAccount,
    StateValue,
    Transfer,
    Tx,
    TxResult,
)


@dataclass(frozen=True, slots=True)
class BlockContext:
    chain: str
    height: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A transaction to execute, named by its id (SHA-256 of its canonical bytes)."""

    txid: str
    tx: Tx
    signature_ok: bool = True  # checked by the node against the signer's key at block start


@dataclass(frozen=True, slots=True)
class BlockOutcome:
    results: list[TxResult]
    writes: dict[str, StateValue | None]


# --- shared rules ----------------------------------------------------------


def require_account(view: TxView, account_id: str) -> Account:
    account = view.account(account_id)
    ensure(account is not None, Code.UNKNOWN_ACCOUNT, "no account {!r}", account_id)
    assert account is not None
    return account


def require_asset(view: TxView, asset_id: str) -> Asset:
    asset = view.asset(asset_id)
    ensure(asset is not None, Code.UNKNOWN_ASSET, "no asset {!r}", asset_id)
    assert asset is not None
    return asset


def require_member(signer: Account) -> None:
    ensure(signer.role == "member", Code.NOT_AUTHORIZED, "only a member institution may do this")


def debit(view: TxView, account_id: str, asset_id: str, amount_minor: int) -> None:
    balance = view.balance(account_id, asset_id)
    ensure(
        balance >= amount_minor,
        Code.INSUFFICIENT_FUNDS,
        "{} holds {} {}, needs {}",
        account_id,
        balance,
        asset_id,
        amount_minor,
    )
    view.set_balance(account_id, asset_id, balance - amount_minor)


def credit(view: TxView, account_id: str, asset_id: str, amount_minor: int) -> None:
    balance = view.balance(account_id, asset_id)
    assert balance + amount_minor <= MAX_SAFE_INTEGER, "a balance never exceeds its asset's supply"
    view.set_balance(account_id, asset_id, balance + amount_minor)


def move(view: TxView, source: str, target: str, asset_id: str, amount_minor: int) -> None:
    debit(view, source, asset_id, amount_minor)
    credit(view, target, asset_id, amount_minor)


def new_asset_status() -> Literal["active"]:
    """The status a created asset starts in.

    Council approval (a later issue) plugs in here: assets will start
    "proposed" and rules will require "active".
    """
    return "active"


# --- one function per transaction type -------------------------------------


def register_account(view: TxView, signer: Account, tx: RegisterAccount, txid: str, ctx: BlockContext) -> None:
    require_member(signer)
    ensure(view.account(tx.account) is None, Code.ACCOUNT_EXISTS, "account {!r} exists", tx.account)
    view.put(
        account_key(tx.account),
        Account(id=tx.account, role=tx.role, public_key=tx.public_key, member=signer.id, seq=0),
    )


def create_asset(view: TxView, signer: Account, tx: CreateAsset, txid: str, ctx: BlockContext) -> None:
    require_member(signer)
    ensure(view.asset(tx.asset) is None, Code.ASSET_EXISTS, "asset {!r} exists", tx.asset)
    view.put(
        asset_key(tx.asset),
        Asset(
            id=tx.asset,
            name=tx.name,
            kind=tx.kind,
            decimals=tx.decimals,
            issuer=signer.id,
            transferable=tx.transferable,
            cash_out=tx.cash_out,
            status=new_asset_status(),
            issued_minor=0,
            burned_minor=0,
        ),
    )


def issue(view: TxView, signer: Account, tx: Issue, txid: str, ctx: BlockContext) -> None:
    asset = require_asset(view, tx.asset)
    ensure(asset.issuer == signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer may issue it")
    require_account(view, tx.to)
    issued = asset.issued_minor + tx.amount_minor
    ensure(issued <= MAX_SAFE_INTEGER, Code.SUPPLY_OVERFLOW, "issued supply too large")
    credit(view, tx.to, tx.asset, tx.amount_minor)
    view.put(asset_key(asset.id), _replace(asset, issued_minor=issued))


def transfer(view: TxView, signer: Account, tx: Transfer, txid: str, ctx: BlockContext) -> None:
    asset = require_asset(view, tx.asset)
    ensure(asset.transferable, Code.NOT_TRANSFERABLE, "asset {!r} is not transferable", tx.asset)
    ensure(tx.to != signer.id, Code.SELF_TRANSFER, "cannot transfer to oneself")
    require_account(view, tx.to)
    move(view, signer.id, tx.to, tx.asset, tx.amount_minor)


def pay(view: TxView, signer: Account, tx: Pay, txid: str, ctx: BlockContext) -> None:
    require_asset(view, tx.asset)
    merchant = require_account(view, tx.merchant)
    ensure(merchant.role == "merchant", Code.NOT_MERCHANT, "{!r} is not a merchant", tx.merchant)
    ensure(tx.merchant != signer.id, Code.SELF_TRANSFER, "a merchant cannot pay itself")
    ensure(
        view.payment(tx.merchant, tx.payment_id) is None,
        Code.DUPLICATE_PAYMENT,
        "payment {!r} to {!r} already made",
        tx.payment_id,
        tx.merchant,
    )
    move(view, signer.id, tx.merchant, tx.asset, tx.amount_minor)
    view.put(
        payment_key(tx.merchant, tx.payment_id),
        Payment(
            merchant=tx.merchant,
            payment_id=tx.payment_id,
            payer=signer.id,
            asset=tx.asset,
            amount_minor=tx.amount_minor,
            refunded_minor=0,
        ),
    )


def refund(view: TxView, signer: Account, tx: Refund, txid: str, ctx: BlockContext) -> None:
    payment = view.payment(signer.id, tx.payment_id)
    ensure(payment is not None, Code.UNKNOWN_PAYMENT, "no payment {!r} to {!r}", tx.payment_id, signer.id)
    assert payment is not None
    refunded = payment.refunded_minor + tx.amount_minor
    ensure(
        refunded <= payment.amount_minor,
        Code.REFUND_EXCEEDS_PAYMENT,
        "refunds would reach {} of a {} payment",
        refunded,
        payment.amount_minor,
    )
    move(view, signer.id, payment.payer, payment.asset, tx.amount_minor)
    view.put(payment_key(signer.id, tx.payment_id), _replace(payment, refunded_minor=refunded))


def cash_out(view: TxView, signer: Account, tx: CashOut, txid: str, ctx: BlockContext) -> None:
    asset = require_asset(view, tx.asset)
    ensure(cash_out_allowed(asset, signer), Code.CASH_OUT_NOT_ALLOWED, "{} may not cash out {}", signer.id, asset.id)
    debit(view, signer.id, tx.asset, tx.amount_minor)
    view.put(asset_key(asset.id), _replace(asset, burned_minor=asset.burned_minor + tx.amount_minor))
    view.put(
        payout_key(txid),
        Payout(
            txid=txid,
            account=signer.id,
            asset=tx.asset,
            amount_minor=tx.amount_minor,
            payout_ref=tx.payout_ref,
            height=ctx.height,
        ),
    )


def cash_out_allowed(asset: Asset, account: Account) -> bool:
    if asset.cash_out == "all":
        return True
    if asset.cash_out == "merchants":
        return account.role == "merchant"
    return False


Rule = Callable[[TxView, Account, Any, str, BlockContext], None]

RULES: dict[type, Rule] = {
    RegisterAccount: register_account,
    CreateAsset: create_asset,
    Issue: issue,
    Transfer: transfer,
    Pay: pay,
    Refund: refund,
    CashOut: cash_out,
}


# --- the envelope and the block --------------------------------------------


def check_envelope(view: TxView, entry: Entry, ctx: BlockContext) -> Account:
    """Chain, expiry, signer, signature and sequence: what every type shares."""
    tx = entry.tx
    ensure(tx.chain == ctx.chain, Code.WRONG_CHAIN, "transaction is for chain {!r}", tx.chain)
    ensure(ctx.timestamp_ms <= tx.expires_ms, Code.EXPIRED, "transaction expired before its block")
    signer = view.account(tx.signer)
    ensure(signer is not None, Code.UNKNOWN_SIGNER, "no account {!r}", tx.signer)
    assert signer is not None
    ensure(entry.signature_ok, Code.BAD_SIGNATURE, "signature does not verify against {!r}'s key", tx.signer)
    ensure(tx.seq >= signer.seq, Code.SEQ_STALE, "seq {} already used (next is {})", tx.seq, signer.seq)
    ensure(tx.seq == signer.seq, Code.SEQ_FUTURE, "seq {} is ahead (next is {})", tx.seq, signer.seq)
    return signer


def apply_tx(view: TxView, entry: Entry, ctx: BlockContext) -> TxResult:
    """Apply one transaction whole, or reject it having changed nothing."""
    try:
        signer = check_envelope(view, entry, ctx)
        view.put(account_key(signer.id), _replace(signer, seq=signer.seq + 1))
        RULES[type(entry.tx)](view, signer, entry.tx, entry.txid, ctx)
    except Rejected as rejected:
        view.writes = {}
        return TxResult(txid=entry.txid, code=rejected.code.value, message=rejected.message)
    view.commit()
    return TxResult(txid=entry.txid, code=OK)


def execute_block(state: StateReader, ctx: BlockContext, entries: Sequence[Entry]) -> BlockOutcome:
    block_writes: dict[str, StateValue | None] = {}
    view = TxView(state, block_writes)
    results = [apply_tx(view, entry, ctx) for entry in entries]
    return BlockOutcome(results=results, writes=block_writes)


def write_set_bytes(writes: dict[str, StateValue | None]) -> bytes:
    """The block's state changes, sorted by key, as canonical JSON."""
    return canonical([[key, writes[key]] for key in sorted(writes)])


def _replace(record: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(record, **changes)


def prefetch_keys(tx: Tx) -> list[str]:
    """State keys a transaction will likely read: a hint for batching reads.

    Only a hint: execution reads whatever it needs, so a missing key costs a
    read, never correctness.
    """
    keys = [account_key(tx.signer)]
    if isinstance(tx, RegisterAccount):
        keys.append(account_key(tx.account))
    elif isinstance(tx, CreateAsset):
        keys.append(asset_key(tx.asset))
    elif isinstance(tx, Issue | Transfer):
        keys += [
            asset_key(tx.asset),
            account_key(tx.to),
            balance_key(tx.signer, tx.asset),
            balance_key(tx.to, tx.asset),
        ]
    elif isinstance(tx, Pay):
        keys += [
            asset_key(tx.asset),
            account_key(tx.merchant),
            payment_key(tx.merchant, tx.payment_id),
            balance_key(tx.signer, tx.asset),
            balance_key(tx.merchant, tx.asset),
        ]
    elif isinstance(tx, Refund):
        keys.append(payment_key(tx.signer, tx.payment_id))
    elif isinstance(tx, CashOut):
        keys += [asset_key(tx.asset), balance_key(tx.signer, tx.asset)]
    return keys
