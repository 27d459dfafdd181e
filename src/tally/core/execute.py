"""The state transition: the envelope every transaction shares, then its rule.

`execute_block` applies an ordered list of transactions to a state and returns
each transaction's result, the accounts it touched and the block's write-set.
It is pure and deterministic: no clock, randomness, floats, or unordered
iteration. Every transaction either applies whole or not at all; a rejected
one changes nothing (under protocol version 1 not even its sequence number)
and is recorded with its code.

The rules themselves are declared per transaction type in `core/ops/`.
Signatures are checked before execution (by admission, and again by
`tally audit`), against the signer's key in the state the block starts from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from .encoding import canonical
from .errors import Code, Rejected, ensure
from .operation import MEMBERS_ONLY, BlockContext, Operation, TxContext
from .ops import Tx, operation_of
from .postings import SUPPLY
from .protocol import Rules
from .state import StateReader, TxView
from .tables import ACCOUNTS
from .types import OK, Account, StateValue, TxResult

__all__ = ["BlockContext", "BlockOutcome", "Entry", "execute_block", "prefetch_keys", "write_set_bytes"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A transaction to execute, named by its id (SHA-256 of its canonical bytes)."""

    txid: str
    tx: Tx
    signature_ok: bool = True  # checked by the node against the signer's key at block start


@dataclass(frozen=True, slots=True)
class BlockOutcome:
    results: list[TxResult]
    parties: list[tuple[str, ...]]  # per transaction: every account it names or moves value of, signer first
    writes: dict[str, StateValue | None]


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


def check_signer_role(signer: Account, op: Operation[Any]) -> None:
    if op.signers == MEMBERS_ONLY:
        ensure(signer.role == "member", Code.NOT_AUTHORIZED, "only a member institution may do this")
    else:
        ensure(signer.role in op.signers, Code.NOT_AUTHORIZED, "a {} may not sign {}", signer.role, op.type)


def _parties(tx: Tx, named: Sequence[str], c: TxContext | None) -> tuple[str, ...]:
    accounts = [tx.signer, *named]
    if c is not None:
        accounts += [p.account for p in c.postings]
    return tuple(a for a in dict.fromkeys(accounts) if a != SUPPLY)


def apply_tx(view: TxView, entry: Entry, ctx: BlockContext, rules: Rules) -> tuple[TxResult, tuple[str, ...]]:
    """Apply one transaction whole, or reject it having changed nothing.

    `rules` are the block's protocol version's switches; version 1 has none,
    and a later version's rule change reads its switch here or in its rule.
    """
    tx = entry.tx
    op = operation_of(tx)
    named = list(op.parties(tx))
    try:
        signer = check_envelope(view, entry, ctx)
        check_signer_role(signer, op)
        view.put(ACCOUNTS.key(signer.id), msgspec.structs.replace(signer, seq=signer.seq + 1))
        c = TxContext(view, signer, entry.txid, ctx)
        op.rule(c, tx)
    except Rejected as rejected:
        view.discard()
        return TxResult(txid=entry.txid, code=rejected.code.value, message=rejected.message), _parties(tx, named, None)
    view.commit()
    return TxResult(txid=entry.txid, code=OK), _parties(tx, named, c)


def execute_block(state: StateReader, ctx: BlockContext, entries: Sequence[Entry], rules: Rules) -> BlockOutcome:
    block_writes: dict[str, StateValue | None] = {}
    view = TxView(state, block_writes)
    results: list[TxResult] = []
    parties: list[tuple[str, ...]] = []
    for entry in entries:
        result, touched = apply_tx(view, entry, ctx, rules)
        results.append(result)
        parties.append(touched)
    return BlockOutcome(results=results, parties=parties, writes=block_writes)


def write_set_bytes(writes: dict[str, StateValue | None]) -> bytes:
    """The block's state changes, sorted by key, as canonical JSON."""
    return canonical([[key, writes[key]] for key in sorted(writes)])


def prefetch_keys(tx: Tx) -> list[str]:
    """State keys a transaction will likely read: a hint for batching reads.

    Only a hint: execution reads whatever it needs, so a missing key costs a
    read, never correctness.
    """
    return [ACCOUNTS.key(tx.signer), *operation_of(tx).reads(tx)]
