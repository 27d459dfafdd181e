"""The ledger's data types: transactions, state records, blocks, certificates.

All are msgspec structs. Transactions and requests forbid unknown fields and
carry their limits in their field types, so decoding is validation.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .encoding import MAX_SAFE_INTEGER

# --- field types with their limits -----------------------------------------

AccountId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
AssetId = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]
ChainId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
AmountMinor = Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]
Seq = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
TimeMs = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
PublicKeyHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
SignatureHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{128}$")]
HashHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
PaymentId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
Name = Annotated[str, Meta(min_length=1, max_length=80)]
PayoutRef = Annotated[str, Meta(min_length=1, max_length=80)]
Decimals = Annotated[int, Meta(ge=0, le=8)]

Role = Literal["member", "holder", "merchant"]
AssetKind = Literal["points", "voucher", "local_currency", "emoney", "coupon"]
CashOutPolicy = Literal["none", "merchants", "all"]

# --- transactions ----------------------------------------------------------


class TxBase(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    """Fields every transaction carries (the envelope's replay protection)."""

    chain: ChainId
    signer: AccountId
    seq: Seq
    expires_ms: TimeMs


class RegisterAccount(TxBase, frozen=True, tag="register_account"):
    """A member registers a holder or merchant account for its customer."""

    account: AccountId
    public_key: PublicKeyHex
    role: Literal["holder", "merchant"]


class CreateAsset(TxBase, frozen=True, tag="create_asset"):
    """A member creates an asset it will issue (council approval: later)."""

    asset: AssetId
    name: Name
    kind: AssetKind
    decimals: Decimals
    transferable: bool
    cash_out: CashOutPolicy


class Issue(TxBase, frozen=True, tag="issue"):
    asset: AssetId
    to: AccountId
    amount_minor: AmountMinor


class Transfer(TxBase, frozen=True, tag="transfer"):
    asset: AssetId
    to: AccountId
    amount_minor: AmountMinor


class Pay(TxBase, frozen=True, tag="pay"):
    """A holder pays a merchant against the merchant's payment request id."""

    asset: AssetId
    merchant: AccountId
    amount_minor: AmountMinor
    payment_id: PaymentId


class Refund(TxBase, frozen=True, tag="refund"):
    """A merchant refunds (part of) a payment to the holder who made it."""

    payment_id: PaymentId
    amount_minor: AmountMinor


class CashOut(TxBase, frozen=True, tag="cash_out"):
    """Burn value against a payout to the signer's bank account."""

    asset: AssetId
    amount_minor: AmountMinor
    payout_ref: PayoutRef


Tx = RegisterAccount | CreateAsset | Issue | Transfer | Pay | Refund | CashOut
TX_TYPES: tuple[type[TxBase], ...] = (
    RegisterAccount,
    CreateAsset,
    Issue,
    Transfer,
    Pay,
    Refund,
    CashOut,
)


class SignedTx(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A transaction and the signer's Ed25519 signature over its canonical bytes."""

    tx: Tx
    sig: SignatureHex


# --- state records ---------------------------------------------------------


class Account(msgspec.Struct, frozen=True):
    id: str
    role: Role
    public_key: str
    member: str  # the member that registered it (itself for a member)
    seq: int  # the next sequence number this account must sign with


class Asset(msgspec.Struct, frozen=True):
    id: str
    name: str
    kind: AssetKind
    decimals: int
    issuer: str
    transferable: bool
    cash_out: CashOutPolicy
    status: Literal["active"]  # "proposed" arrives with council approval
    issued_minor: int
    burned_minor: int


class Payment(msgspec.Struct, frozen=True):
    merchant: str
    payment_id: str
    payer: str
    asset: str
    amount_minor: int
    refunded_minor: int


class Payout(msgspec.Struct, frozen=True):
    txid: str
    account: str
    asset: str
    amount_minor: int
    payout_ref: str
    height: int


StateValue = Account | Asset | Payment | Payout | int

# --- blocks and certificates -----------------------------------------------


class BlockHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the orderer fixes; its hash names the block."""

    chain: str
    height: int
    prev_hash: str
    timestamp_ms: int
    tx_root: str
    tx_count: int
    proposer: str
    log_position: int  # where the orderer put the batch: the height (solo) or etcd revision


class Vote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The message a validator signs after executing a block."""

    kind: Literal["tally-block-vote-v1"]
    chain: str
    height: int
    block_hash: str
    state_digest: str


class ValidatorSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    validator: str
    sig: SignatureHex


class Certificate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain: str
    height: int
    block_hash: str
    state_digest: str
    signatures: list[ValidatorSignature]


class TxResult(msgspec.Struct, frozen=True):
    txid: str
    code: str  # "ok" or a rejection Code
    message: str = ""


OK = "ok"

# --- genesis ---------------------------------------------------------------


class GenesisMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: AccountId
    name: Name
    public_key: PublicKeyHex


class Validator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: AccountId
    public_key: PublicKeyHex
    api_url: str = ""  # where peers fetch this validator's blocks


class Genesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain: ChainId
    genesis_time_ms: TimeMs
    members: list[GenesisMember]
    validators: list[Validator]
    etcd_endpoints: list[str] = []  # empty: each node orders alone (solo)


def tx_type(tx: TxBase) -> str:
    """The transaction's `type` tag, e.g. "pay"."""
    return str(type(tx).__struct_config__.tag)
