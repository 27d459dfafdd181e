"""The state transition: the envelope every transaction shares, then its rule.

`execute_block` applies an ordered list of transactions to a state and returns
each transaction's result, the accounts it touched and the block's write-set.
It is pure and deterministic: no clock, randomness, floats, or unordered
iteration. Every transaction either applies whole or not at all, and is
recorded with its code. A rejected one changes nothing but, from protocol
version 3 on, its signer's sequence number when its envelope held (so the
signer's next transaction is not stranded behind it). Value-moving types
claim their client reference (`ref`) first, from version 3 on.

The rules themselves are declared per transaction type in `core/ops/`.
Signatures are checked before execution (by admission, and again by
`tally audit`), against the signer's key in the state the block starts from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .controls import COUNCIL_KEY
from .encoding import canonical
from .errors import Code, Rejected, ensure
from .limits import MAX_BLOCK_TXS_BOUND
from .lots import sweep
from .operation import MEMBERS_ONLY, BlockContext, Operation, TxContext
from .ops import Tx, operation_of
from .postings import SUPPLY
from .protocol import Rules
from .state import StateReader, TxView
from .tables import ACCOUNTS, REFS
from .types import OK, Account, Params, RefUse, StateValue, TxResult

__all__ = ["BlockContext", "BlockOutcome", "Entry", "Movement", "execute_block", "prefetch_keys", "write_set_bytes"]


class Entry(msgspec.Struct, frozen=True):
    """A transaction to execute, named by its id (SHA-256 of its canonical bytes)."""

    txid: str
    tx: Tx
    signature_ok: bool = True  # checked by the node against the signer's key at block start


# What one applied transaction did to one account's balance of one asset, for history:
# (account, asset, amount_minor: signed, + in / - out, counterparty: "" for the supply, balance_after_minor).
Movement = tuple[str, str, int, str, int]


@dataclass(frozen=True, slots=True)
class BlockOutcome:
    results: list[TxResult]
    parties: list[tuple[str, ...]]  # per transaction: every account it names or moves value of, signer first
    movements: list[tuple[Movement, ...]]  # per transaction: its balance changes (none when rejected)
    writes: dict[str, StateValue | None]
    sweeps: list[tuple[Movement, ...]] = field(default_factory=list)  # per holder swept at its start (lots)


def check_envelope(view: TxView, entry: Entry, ctx: BlockContext) -> Account:
    """Chain, expiry, signer, signature and sequence: what every type shares."""
    tx = entry.tx
    ensure(tx.chain == ctx.chain, Code.WRONG_CHAIN, "transaction is for chain {!r}", tx.chain)
    ensure(ctx.timestamp_ms <= tx.expires_ms, Code.EXPIRED, "transaction expired before its block")
    signer = view.read(ACCOUNTS, tx.signer)
    ensure(signer is not None, Code.UNKNOWN_SIGNER, "no account {!r}", tx.signer)
    assert signer is not None
    ensure(entry.signature_ok, Code.BAD_SIGNATURE, "signature does not verify against {!r}'s key", tx.signer)
    ensure(tx.seq >= signer.seq, Code.SEQ_STALE, "seq {} already used (next is {})", tx.seq, signer.seq)
    ensure(tx.seq == signer.seq, Code.SEQ_FUTURE, "seq {} is ahead (next is {})", tx.seq, signer.seq)
    return signer


def check_supported(op: Operation[Any], rules: Rules) -> None:
    ensure(
        rules.version >= op.since,
        Code.TYPE_NOT_SUPPORTED,
        "{} arrives in protocol version {}; this block runs version {}",
        op.type,
        op.since,
        rules.version,
    )


def check_signer_role(signer: Account, op: Operation[Any], rules: Rules) -> None:
    """The signer's role is one the type names (`Operation.signers`): `wrong_role` from protocol 5 on.

    Before version 5 the code was `not_authorized`, as it was then.
    """
    if rules.governance:
        ensure(signer.role in op.signers, Code.WRONG_ROLE, "a {} may not sign {}", signer.role, op.type)
    elif op.signers == MEMBERS_ONLY:
        ensure(signer.role == "member", Code.NOT_AUTHORIZED, "only a member institution may do this")
    else:
        ensure(signer.role in op.signers, Code.NOT_AUTHORIZED, "a {} may not sign {}", signer.role, op.type)


def claim_ref(c: TxContext, op: Operation[Any], tx: Tx) -> None:
    """A value-moving transaction's client reference: present, and not used before by its signer."""
    if not op.client_ref:
        return
    ref = op.ref(tx)
    if not c.rules.client_refs:
        ensure(ref is None, Code.REF_NOT_SUPPORTED, "this ledger's protocol version takes no client references")
        return
    ensure(ref is not None, Code.REF_REQUIRED, "a {} carries a client reference (ref)", op.type)
    assert ref is not None
    first = c.view.read(REFS, c.signer.id, ref)
    if first is not None:
        raise Rejected(Code.DUPLICATE_REF, f"ref {ref!r} was used by transaction {first.txid} (block {first.height})")
    c.view.put(REFS.key(c.signer.id, ref), RefUse(txid=c.txid, height=c.block.height))


def _parties(tx: Tx, named: Sequence[str], c: TxContext | None) -> tuple[str, ...]:
    accounts = dict.fromkeys((tx.signer, *named))  # first mention first, once
    if c is not None:
        for posting in c.postings:
            accounts[posting.account] = None
        for account in c.named:  # e.g. the member a passed proposal admitted
            accounts[account] = None
    accounts.pop(SUPPLY, None)
    return tuple(accounts)


def movements(c: TxContext) -> tuple[Movement, ...]:
    """Each account's net change per asset, whom it came from or went to, and the balance after.

    The counterparty of a credit is the first account debited of that asset
    (of a debit, the first credited); the supply's side is the signer when it
    issues to someone else, else "" (value issued to oneself, or burned).
    """
    postings, after = c.postings, c.balances_after
    if len(postings) == 2:  # one move(): the common case, without the general bookkeeping
        debit, credit = postings
        if credit.account == SUPPLY:  # burned, cashed out
            burner = c.signer.id if c.signer.id != debit.account else ""
            return ((debit.account, debit.asset, debit.amount_minor, burner, after[0]),)
        if debit.account == SUPPLY:  # issued
            issuer = c.signer.id if c.signer.id != credit.account else ""
            return ((credit.account, credit.asset, credit.amount_minor, issuer, after[1]),)
        return (
            (debit.account, debit.asset, debit.amount_minor, credit.account, after[0]),
            (credit.account, credit.asset, credit.amount_minor, debit.account, after[1]),
        )
    net: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], int] = {}
    for p, balance_after in zip(postings, after, strict=True):
        net[p.account, p.asset] = net.get((p.account, p.asset), 0) + p.amount_minor
        last[p.account, p.asset] = balance_after
    out = []
    for (account, asset), amount in net.items():
        if account == SUPPLY or amount == 0:
            continue
        other = next((a for (a, s), v in net.items() if s == asset and v and (v < 0) != (amount < 0)), SUPPLY)
        out.append((account, asset, amount, _counterparty(c, account, other), last[account, asset]))
    return tuple(out)


def _counterparty(c: TxContext, account: str, other: str) -> str:
    if other != SUPPLY:
        return other
    return c.signer.id if c.signer.id != account else ""


def _rejected(entry: Entry, rejected: Rejected) -> TxResult:
    return TxResult(txid=entry.txid, code=rejected.code.value, message=rejected.message)


Applied = tuple[TxResult, tuple[str, ...], tuple[Movement, ...]]


def apply_tx(view: TxView, entry: Entry, ctx: BlockContext, rules: Rules) -> Applied:
    """Apply one transaction whole, or reject it having changed nothing (but, from version 3, its seq).

    `rules` are the block's protocol version's switches (core/protocol.py).
    """
    tx = entry.tx
    op = operation_of(tx)
    named = list(op.parties(tx))
    try:
        signer = check_envelope(view, entry, ctx)
    except Rejected as rejected:  # an envelope failure changes nothing under every version
        view.discard()
        return _rejected(entry, rejected), _parties(tx, named, None), ()
    advanced = msgspec.structs.replace(signer, seq=signer.seq + 1)
    view.put(ACCOUNTS.key(signer.id), advanced)
    c = TxContext(view, signer, entry.txid, ctx, rules)
    try:
        check_supported(op, rules)
        check_signer_role(signer, op, rules)
        claim_ref(c, op, tx)
        op.rule(c, tx)
    except Rejected as rejected:
        view.discard()
        if rules.rejected_consumes_seq:
            view.put(ACCOUNTS.key(signer.id), advanced)
            view.commit()
        return _rejected(entry, rejected), _parties(tx, named, None), ()
    view.commit()
    return TxResult(txid=entry.txid, code=OK), _parties(tx, named, c), movements(c)


def block_txs_bound(state: StateReader, rules: Rules) -> int:
    """How many of a block's transactions execute: the council's `max_block_txs` (protocol 5), else all."""
    params = state.get(COUNCIL_KEY) if rules.governance else None
    return params.max_block_txs if isinstance(params, Params) and params.max_block_txs else MAX_BLOCK_TXS_BOUND


def _beyond_bound(entry: Entry, bound: int) -> Applied:
    """A transaction past the block's bound changes nothing, not even its seq: sign it again and resubmit."""
    result = TxResult(
        txid=entry.txid, code=Code.BLOCK_FULL.value, message=f"the block holds {bound} transactions at most"
    )
    return result, _parties(entry.tx, list(operation_of(entry.tx).parties(entry.tx)), None), ()


def execute_block(state: StateReader, ctx: BlockContext, entries: Sequence[Entry], rules: Rules) -> BlockOutcome:
    block_writes: dict[str, StateValue | None] = {}
    view = TxView(state, block_writes)
    results: list[TxResult] = []
    parties: list[tuple[str, ...]] = []
    moved: list[tuple[Movement, ...]] = []
    bound = block_txs_bound(state, rules)  # as the block starts: a proposal in it changes the next block's
    swept = sweep(view, ctx.timestamp_ms, ctx.height) if rules.lots else []  # expired lots, before its txs
    for index, entry in enumerate(entries):
        if index < bound:
            result, touched, changes = apply_tx(view, entry, ctx, rules)
        else:
            result, touched, changes = _beyond_bound(entry, bound)
        results.append(result)
        parties.append(touched)
        moved.append(changes)
    return BlockOutcome(results=results, parties=parties, movements=moved, writes=block_writes, sweeps=swept)


def write_set_bytes(writes: dict[str, StateValue | None]) -> bytes:
    """The block's state changes, sorted by key, as canonical JSON."""
    return canonical([[key, writes[key]] for key in sorted(writes)])


def prefetch_keys(tx: Tx) -> list[str]:
    """State keys a transaction will likely read: a hint for batching reads.

    Only a hint: execution reads whatever it needs, so a missing key costs a
    read, never correctness.
    """
    op = operation_of(tx)
    ref = op.ref(tx)
    refs = [REFS.key(tx.signer, ref)] if ref is not None else []
    return [ACCOUNTS.key(tx.signer), *op.reads(tx), *refs]
