"""What a transaction type is: one `Operation` declaration in its family module.

A declaration names the transaction's struct (its `type` tag and fields),
who may sign it, the state keys it reads (a prefetch hint), its rule, and the
accounts it names. From the registry of declarations (`core/ops`) come
decoding, execution, prefetching, history indexing, the SDK's builders, the
CLI's commands, the OpenAPI schema and the test vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar, get_args

import msgspec

from .controls import post_controlled
from .errors import Code, ensure
from .policy_postings import after_postings
from .postings import Posting, post
from .protocol import Rules
from .state import TxView
from .tables import ACCOUNTS, ASSETS
from .types import Account, Asset, Lot, Role, TxBase

T = TypeVar("T", bound=TxBase)

# Who may sign a type (`Operation.signers`), enforced from protocol 5 on (before: members-only types only).
ANY_ROLE: frozenset[str] = frozenset(get_args(Role)) - {"retired"}
MEMBERS_ONLY: frozenset[str] = frozenset({"member"})
VALUE_HOLDERS: frozenset[str] = frozenset({"member", "holder", "merchant"})  # accounts that hold and move value
MERCHANTS_ONLY: frozenset[str] = frozenset({"merchant"})
REGULATORS_ONLY: frozenset[str] = frozenset({"regulator"})


@dataclass(frozen=True, slots=True)
class BlockContext:
    chain: str
    height: int
    timestamp_ms: int


class TxContext(msgspec.Struct):
    """What a rule sees: the state view, the signer's account, the transaction's id, its block and rules."""

    view: TxView
    signer: Account
    txid: str
    block: BlockContext
    rules: Rules
    postings: list[Posting] = msgspec.field(default_factory=list)
    balances_after: list[int] = msgspec.field(default_factory=list)  # per posting, as the engine left it
    named: list[str] = msgspec.field(default_factory=list)  # accounts a rule changed beyond those the tx names
    lots_taken: list[Lot] = msgspec.field(default_factory=list)  # holders' lots its postings spent (protocol 9)
    lots_returning: list[Lot] = msgspec.field(default_factory=list)  # a refund's lots, back to the payer

    def post(self, *postings: Posting) -> None:
        """Move value through the posting engine; the postings and balances after are kept for history.

        From protocol 5 on, freezes and limits are checked first (core/controls.py), and
        balance caps after; from protocol 8 on, policy assets' holder caps too (core/policy.py).
        """
        after = post_controlled(self, postings) if self.rules.governance else post(self.view, postings)
        if self.rules.asset_policy:
            after_postings(self, postings, after)
        self.balances_after.extend(after)
        self.postings.extend(postings)


@dataclass(frozen=True)
class Example:
    """A sample transaction for the test vectors: who signs it and its own fields."""

    description: str
    signer: str
    seq: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One transaction type, declared once."""

    tx: type[T]
    rule: Callable[[TxContext, T], None]
    reads: Callable[[T], Iterable[str]]  # state keys beyond the signer's account (a hint: a miss costs a read)
    parties: Callable[[T], Iterable[str]]  # accounts the transaction names; the engine adds those it posts to
    summary: str  # one line: CLI help, OpenAPI, docs
    example: Example
    signers: frozenset[str] = VALUE_HOLDERS  # roles allowed to sign it
    client_ref: bool = False  # it moves value and carries `ref`, unique per signer (protocol 3 on)
    since: int = 1  # the protocol version it arrives in (core/protocol.py); earlier: type_not_supported
    cli_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.tx.__struct_config__.tag)

    @property
    def fields(self) -> tuple[str, ...]:
        """The transaction's own fields, beyond the envelope, in declaration order."""
        return tuple(f for f in self.tx.__struct_fields__ if f not in ENVELOPE_FIELDS)

    @cached_property
    def required_fields(self) -> tuple[str, ...]:
        """The own fields a transaction must carry (the others have defaults)."""
        required = {f.name for f in msgspec.structs.fields(self.tx) if f.required}
        return tuple(f for f in self.fields if f in required)

    def ref(self, tx: T) -> str | None:
        """The transaction's client reference (None: it carries none)."""
        ref = getattr(tx, "ref", None) if self.client_ref else None
        return ref if isinstance(ref, str) else None


ENVELOPE_FIELDS = frozenset(TxBase.__struct_fields__)


# --- checks shared by rules ---------------------------------------------------


def require_account(view: TxView, account_id: str) -> Account:
    account = view.read(ACCOUNTS, account_id)
    ensure(account is not None, Code.UNKNOWN_ACCOUNT, "no account {!r}", account_id)
    assert account is not None
    return account


def require_asset(view: TxView, asset_id: str) -> Asset:
    asset = view.read(ASSETS, asset_id)
    ensure(asset is not None, Code.UNKNOWN_ASSET, "no asset {!r}", asset_id)
    assert asset is not None
    return asset


def require_active_asset(view: TxView, asset_id: str) -> Asset:
    asset = require_asset(view, asset_id)
    ensure(asset.status == "active", Code.ASSET_NOT_ACTIVE, "asset {!r} awaits the council's approval", asset_id)
    return asset


def ensure_registrar_or_regulator(signer: Account, account: Account) -> None:
    """An account's controls are set by the member that registered it, or by a regulator."""
    ensure(
        signer.role == "regulator" or account.member == signer.id,
        Code.NOT_AUTHORIZED,
        "only {!r}'s member ({}) or a regulator may do this",
        account.id,
        account.member,
    )
