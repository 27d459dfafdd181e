"""Keys: an account rotates its own key; its member recovers it to a new key after a delay (protocol 5 on).

Rotation is signed by the current key and takes effect for the next block
(signatures are checked against the key in force at the block's start).
Recovery is the lost phone: the member that registered the account starts
it with the new key; the old key can cancel it (so can the member) until
the council's `recovery_delay_ms` of block time has passed, after which the
member completes it. A rotation by the old key also ends a pending recovery.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..controls import council_params
from ..errors import Code, ensure
from ..operation import ANY_ROLE, MEMBERS_ONLY, Example, Operation, TxContext, require_account
from ..tables import ACCOUNTS, COUNCIL_PARAMS, PARAMS, RECOVERIES
from ..types import AccountId, PublicKeyHex, Recovery, TxBase
from .council import GOVERNANCE_SINCE


class RotateKey(TxBase, frozen=True, tag="rotate_key"):
    """An account replaces its key, signed by the current one."""

    new_public_key: PublicKeyHex


class StartRecovery(TxBase, frozen=True, tag="start_recovery"):
    """The account's member starts moving it to a new key (the old key may cancel within the delay)."""

    account: AccountId
    new_public_key: PublicKeyHex


class CancelRecovery(TxBase, frozen=True, tag="cancel_recovery"):
    """The account (its old key) or its member cancels a pending recovery."""

    account: AccountId


class CompleteRecovery(TxBase, frozen=True, tag="complete_recovery"):
    """After the delay, the member completes the recovery: the new key is the account's key."""

    account: AccountId


def rotate_key(c: TxContext, tx: RotateKey) -> None:
    ensure(tx.new_public_key != c.signer.public_key, Code.SAME_KEY, "that is the account's key already")
    rotated = msgspec.structs.replace(c.signer, seq=c.signer.seq + 1, public_key=tx.new_public_key)
    c.view.put(ACCOUNTS.key(c.signer.id), rotated)  # the engine advanced seq already: keep it
    c.view.put(RECOVERIES.key(c.signer.id), None)


def start_recovery(c: TxContext, tx: StartRecovery) -> None:
    account = require_account(c.view, tx.account)
    ensure(
        account.member == c.signer.id and account.id != c.signer.id,
        Code.NOT_AUTHORIZED,
        "only the member that registered {!r} ({}) may recover it",
        tx.account,
        account.member,
    )
    ensure(
        c.view.read(RECOVERIES, tx.account) is None, Code.RECOVERY_PENDING, "a recovery of {!r} is pending", tx.account
    )
    ensure(tx.new_public_key != account.public_key, Code.SAME_KEY, "that is the account's key already")
    delay_ms = council_params(c.view).recovery_delay_ms
    c.view.put(
        RECOVERIES.key(tx.account),
        Recovery(
            new_public_key=tx.new_public_key,
            member=c.signer.id,
            started_height=c.block.height,
            completes_ms=c.block.timestamp_ms + delay_ms,
            txid=c.txid,
        ),
    )


def require_recovery(c: TxContext, account_id: str) -> Recovery:
    recovery = c.view.read(RECOVERIES, account_id)
    ensure(recovery is not None, Code.NO_RECOVERY, "no recovery of {!r} is pending", account_id)
    assert recovery is not None
    return recovery


def cancel_recovery(c: TxContext, tx: CancelRecovery) -> None:
    recovery = require_recovery(c, tx.account)
    ensure(
        c.signer.id in (tx.account, recovery.member),
        Code.NOT_AUTHORIZED,
        "only {!r} or its member may cancel its recovery",
        tx.account,
    )
    c.view.put(RECOVERIES.key(tx.account), None)


def complete_recovery(c: TxContext, tx: CompleteRecovery) -> None:
    recovery = require_recovery(c, tx.account)
    ensure(recovery.member == c.signer.id, Code.NOT_AUTHORIZED, "only {} may complete it", recovery.member)
    ensure(
        c.block.timestamp_ms >= recovery.completes_ms,
        Code.RECOVERY_NOT_DUE,
        "the old key may cancel until block time {}",
        recovery.completes_ms,
    )
    account = require_account(c.view, tx.account)
    c.view.put(ACCOUNTS.key(tx.account), msgspec.structs.replace(account, public_key=recovery.new_public_key))
    c.view.put(RECOVERIES.key(tx.account), None)


NEW_KEY = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"

OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=RotateKey,
        rule=rotate_key,
        reads=lambda tx: [RECOVERIES.key(tx.signer)],
        parties=lambda tx: [],
        signers=ANY_ROLE,
        since=GOVERNANCE_SINCE,
        summary="An account replaces its key (signed by the current key).",
        example=Example("rotate a key", "alice", 2, {"new_public_key": NEW_KEY}),
    ),
    Operation(
        tx=StartRecovery,
        rule=start_recovery,
        reads=lambda tx: [ACCOUNTS.key(tx.account), RECOVERIES.key(tx.account), PARAMS.key(COUNCIL_PARAMS)],
        parties=lambda tx: [tx.account],
        signers=MEMBERS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="The account's member starts recovering it to a new key.",
        example=Example("start a recovery", "bank-a", 6, {"account": "alice", "new_public_key": NEW_KEY}),
    ),
    Operation(
        tx=CancelRecovery,
        rule=cancel_recovery,
        reads=lambda tx: [RECOVERIES.key(tx.account)],
        parties=lambda tx: [tx.account],
        signers=ANY_ROLE,
        since=GOVERNANCE_SINCE,
        summary="The account's old key (or its member) cancels a pending recovery.",
        example=Example("cancel a recovery", "alice", 3, {"account": "alice"}),
    ),
    Operation(
        tx=CompleteRecovery,
        rule=complete_recovery,
        reads=lambda tx: [RECOVERIES.key(tx.account), ACCOUNTS.key(tx.account)],
        parties=lambda tx: [tx.account],
        signers=MEMBERS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="After the delay, the member completes a recovery.",
        example=Example("complete a recovery", "bank-a", 7, {"account": "alice"}),
    ),
)
