"""Controls on accounts and assets: freezes by a regulator, limits by a member or regulator (protocol 5 on).

A regulator freezes an account or a whole asset with a reason code, and
unfreezes it; the council can do the same by proposal. The member that
registered an account, or a regulator, sets the account's limits in an
asset. What a freeze or a limit stops is checked where value moves, in
core/controls.py.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..errors import Code, ensure
from ..operation import (
    MEMBERS_ONLY,
    REGULATORS_ONLY,
    Example,
    Operation,
    TxContext,
    ensure_registrar_or_regulator,
    require_account,
    require_asset,
)
from ..tables import ACCOUNTS, FREEZES, LIMITS
from ..types import AccountId, AccountLimits, AssetId, FreezeTarget, LimitMinor, ReasonCode, TxBase
from .council import GOVERNANCE_SINCE, freeze_subject, unfreeze_subject

SubjectKind = Literal["account", "asset"]


class FreezeTx(TxBase, frozen=True, tag="freeze"):
    """A regulator freezes an account (value cannot leave it) or an asset (it cannot move)."""

    subject_kind: SubjectKind
    subject: FreezeTarget
    reason: ReasonCode


class UnfreezeTx(TxBase, frozen=True, tag="unfreeze"):
    """A regulator lifts a freeze."""

    subject_kind: SubjectKind
    subject: FreezeTarget


class SetLimits(TxBase, frozen=True, tag="set_limits"):
    """An account's limits in an asset (0: none; all 0: back to its role's default)."""

    account: AccountId
    asset: AssetId
    max_payment_minor: LimitMinor
    daily_out_minor: LimitMinor
    balance_cap_minor: LimitMinor


def freeze(c: TxContext, tx: FreezeTx) -> None:
    freeze_subject(c, tx.subject_kind, tx.subject, tx.reason, c.signer.id)


def unfreeze(c: TxContext, tx: UnfreezeTx) -> None:
    unfreeze_subject(c, tx.subject_kind, tx.subject)


def set_limits(c: TxContext, tx: SetLimits) -> None:
    account = require_account(c.view, tx.account)
    ensure_registrar_or_regulator(c.signer, account)
    ensure(
        account.role in ("holder", "merchant"),
        Code.BAD_PARAMETER,
        "limits are set on holder and merchant accounts, not a {}",
        account.role,
    )
    require_asset(c.view, tx.asset)
    given = bool(tx.max_payment_minor or tx.daily_out_minor or tx.balance_cap_minor)
    had = c.view.read(LIMITS, tx.account, tx.asset) is not None
    if given != had:  # the account's record counts the assets it has limits of its own in
        account = require_account(c.view, tx.account)  # again: the signer's seq may have moved it
        counted = account.limited_assets + (1 if given else -1)
        c.view.put(ACCOUNTS.key(tx.account), msgspec.structs.replace(account, limited_assets=counted))
    limits = AccountLimits(
        max_payment_minor=tx.max_payment_minor,
        daily_out_minor=tx.daily_out_minor,
        balance_cap_minor=tx.balance_cap_minor,
        set_by=c.signer.id,
    )
    c.view.put(LIMITS.key(tx.account, tx.asset), limits if given else None)


def _freeze_parties(tx: FreezeTx | UnfreezeTx) -> list[str]:
    return [tx.subject] if tx.subject_kind == "account" else []


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=FreezeTx,
        rule=freeze,
        reads=lambda tx: [FREEZES.key(tx.subject_kind, tx.subject)],
        parties=_freeze_parties,
        signers=REGULATORS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="A regulator freezes an account or an asset, with a reason code.",
        example=Example("freeze", "fsc", 0, {"subject_kind": "account", "subject": "alice", "reason": "court_order"}),
    ),
    Operation(
        tx=UnfreezeTx,
        rule=unfreeze,
        reads=lambda tx: [FREEZES.key(tx.subject_kind, tx.subject)],
        parties=_freeze_parties,
        signers=REGULATORS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="A regulator lifts a freeze.",
        example=Example("unfreeze", "fsc", 1, {"subject_kind": "account", "subject": "alice"}),
    ),
    Operation(
        tx=SetLimits,
        rule=set_limits,
        reads=lambda tx: [ACCOUNTS.key(tx.account), LIMITS.key(tx.account, tx.asset)],
        parties=lambda tx: [tx.account],
        signers=MEMBERS_ONLY | REGULATORS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="The account's member or a regulator sets its limits in an asset.",
        example=Example(
            "set limits",
            "bank-a",
            5,
            {
                "account": "alice",
                "asset": "CITY-V",
                "max_payment_minor": 50_000,
                "daily_out_minor": 200_000,
                "balance_cap_minor": 2_000_000,
            },
        ),
    ),
)
