"""Accounts: a member registers its customers' holder and merchant accounts."""

from __future__ import annotations

from typing import Any, Literal

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext
from ..tables import ACCOUNTS
from ..types import Account, AccountId, PublicKeyHex, TxBase


class RegisterAccount(TxBase, frozen=True, tag="register_account"):
    """A member registers a holder or merchant account for its customer."""

    account: AccountId
    public_key: PublicKeyHex
    role: Literal["holder", "merchant"]


def register_account(c: TxContext, tx: RegisterAccount) -> None:
    ensure(c.view.read(ACCOUNTS, tx.account) is None, Code.ACCOUNT_EXISTS, "account {!r} exists", tx.account)
    c.view.put(
        ACCOUNTS.key(tx.account),
        Account(id=tx.account, role=tx.role, public_key=tx.public_key, member=c.signer.id, seq=0),
    )


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=RegisterAccount,
        rule=register_account,
        reads=lambda tx: [ACCOUNTS.key(tx.account)],
        parties=lambda tx: [tx.account],
        signers=MEMBERS_ONLY,
        summary="A member registers a holder or merchant account.",
        example=Example(
            "register a holder",
            "bank-a",
            0,
            {
                "account": "alice",
                "public_key": "d4a0021f3c3447e805907012f13a646988750311c7196ba42e6c50b37b3bc350",
                "role": "holder",
            },
        ),
    ),
)
