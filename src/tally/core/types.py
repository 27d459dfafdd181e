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

AccountId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$(?!\n)")]
AssetId = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$(?!\n)")]
ChainId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$(?!\n)")]
AmountMinor = Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]
Seq = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
TimeMs = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
PublicKeyHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
SignatureHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{128}$(?!\n)")]
PaymentId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$(?!\n)")]
# A consumer-presented payment code: 20 digits, made at random by the holder's wallet (about 66 bits).
PayCodeDigits = Annotated[str, Meta(pattern=r"^[0-9]{20}$(?!\n)")]
ClientRef = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$(?!\n)")]  # unique per signer (protocol 3)
Name = Annotated[str, Meta(min_length=1, max_length=80)]
PayoutRef = Annotated[str, Meta(min_length=1, max_length=80)]
Decimals = Annotated[int, Meta(ge=0, le=8)]
ProtocolVersion = Annotated[int, Meta(ge=1, le=1_000)]

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


# The transaction types live in their family modules (core/ops/); the registry
# there builds the tagged union `Tx` and `SignedTx`.


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
    # The paying transaction (protocol 3 on). Older payments leave it out, so their stored bytes hold.
    txid: str | msgspec.UnsetType = msgspec.UNSET


class Payout(msgspec.Struct, frozen=True):
    txid: str
    account: str
    asset: str
    amount_minor: int
    payout_ref: str
    height: int


class PayCode(msgspec.Struct, frozen=True):
    """A consumer-presented payment code: one charge by a merchant, up to a limit, before it expires."""

    code: str
    holder: str
    asset: str
    limit_minor: int
    expires_ms: int  # block time: the block that opened it plus CODE_TTL_MS
    opened_txid: str
    charged_txid: str = ""  # the charge that used it ("" while unused)


class RefUse(msgspec.Struct, frozen=True):
    """The transaction that used a signer's client reference (protocol 3 on)."""

    txid: str
    height: int


StateValue = Account | Asset | Payment | Payout | RefUse | PayCode | int

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
    # The rules the block executes under (core/protocol.py). Version 1 headers
    # leave it out, so blocks written before it existed keep their hashes.
    protocol: int | msgspec.UnsetType = msgspec.UNSET


VoteKind = Literal["tally-block-vote-v1", "tally-block-vote-v2"]


class Vote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The message a validator signs after executing a block.

    Version 2 (protocol 2 on) adds `results_root`, the Merkle root over every
    transaction's result (core/block.py `result_leaf`), so a certificate
    proves each result, not only that the transaction is in the block.
    """

    kind: VoteKind
    chain: str
    height: int
    block_hash: str
    state_digest: str
    results_root: str | msgspec.UnsetType = msgspec.UNSET


class ValidatorSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    validator: str
    sig: SignatureHex


class Certificate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain: str
    height: int
    block_hash: str
    state_digest: str
    signatures: list[ValidatorSignature]
    results_root: str | msgspec.UnsetType = msgspec.UNSET  # protocol 2 on: the results the signatures certify


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
    protocol: ProtocolVersion | msgspec.UnsetType = msgspec.UNSET  # the rules from height 1; absent: version 1
