"""Block hashes, the chained state digest, votes, certificates and receipts."""

from __future__ import annotations

from typing import Final

import msgspec

from .crypto import KeyPair, sha256, verify
from .encoding import canonical
from .genesis import validators_at
from .merkle import EMPTY_ROOT, merkle_root, verify_proof
from .ops import SignedTx
from .types import BlockHeader, Certificate, Genesis, Validator, ValidatorSignature, Vote

GENESIS_HASH = "00" * 32  # the "previous hash" of block 1
STATE_DOMAIN = b"tally-state-v1"
VOTE_KIND: Final = "tally-block-vote-v1"


def tx_signing_bytes(signed: SignedTx) -> bytes:
    return canonical(signed.tx)


def txid_of(signing_bytes: bytes) -> str:
    return sha256(signing_bytes).hex()


def tx_root(txids: list[str]) -> str:
    return merkle_root([bytes.fromhex(t) for t in txids]).hex()


def block_hash(header: BlockHeader) -> str:
    return sha256(canonical(header)).hex()


def genesis_digest(genesis: Genesis) -> str:
    return sha256(STATE_DOMAIN + canonical(genesis)).hex()


def next_state_digest(prev_digest: str, height: int, write_set: bytes) -> str:
    """Chain a block's sorted write-set onto the previous digest."""
    return sha256(STATE_DOMAIN + bytes.fromhex(prev_digest) + height.to_bytes(8, "big") + sha256(write_set)).hex()


def clamp_timestamp(proposed_ms: int, prev_ms: int) -> int:
    """Block time never goes backwards."""
    return max(proposed_ms, prev_ms)


# --- votes and certificates -------------------------------------------------


def vote_for(chain: str, height: int, block_hash_hex: str, state_digest: str) -> Vote:
    return Vote(kind=VOTE_KIND, chain=chain, height=height, block_hash=block_hash_hex, state_digest=state_digest)


def sign_vote(key: KeyPair, validator_id: str, vote: Vote) -> ValidatorSignature:
    return ValidatorSignature(validator=validator_id, sig=key.sign(canonical(vote)).hex())


def vote_signature_ok(validator: Validator, vote: Vote, sig_hex: str) -> bool:
    """True when `sig_hex` is the validator's signature of the vote (False for anything malformed)."""
    try:
        signature = bytes.fromhex(sig_hex)
    except ValueError:
        return False
    return verify(bytes.fromhex(validator.public_key), canonical(vote), signature)


def make_certificate(vote: Vote, signatures: list[ValidatorSignature]) -> Certificate:
    """The certificate of a vote, signatures sorted by validator."""
    return Certificate(
        vote.chain, vote.height, vote.block_hash, vote.state_digest, sorted(signatures, key=lambda s: s.validator)
    )


def quorum_size(validator_count: int) -> int:
    """Smallest count that is more than two thirds of the validators."""
    return (2 * validator_count) // 3 + 1


def valid_signers(cert: Certificate, validators: list[Validator]) -> set[str]:
    """The distinct validators whose signature on the certificate's vote checks."""
    by_id = {v.id: v for v in validators}
    vote = vote_for(cert.chain, cert.height, cert.block_hash, cert.state_digest)
    good: set[str] = set()
    for signature in cert.signatures:
        validator = by_id.get(signature.validator)
        if validator is not None and vote_signature_ok(validator, vote, signature.sig):
            good.add(signature.validator)
    return good


def certificate_fault(
    cert: Certificate, genesis: Genesis, header: BlockHeader, state_digest: str | None = None
) -> str | None:
    """Why `cert` does not make `header` final (None when it does).

    The one certificate check: the chain, the block (height and hash), the
    state digest when the caller knows it, and a quorum of valid signatures
    of the validator set at that height.
    """
    if cert.chain != genesis.chain or header.chain != genesis.chain:
        return "wrong chain"
    if cert.height != header.height or cert.block_hash != block_hash(header):
        return "certificate is for another block"
    if state_digest is not None and cert.state_digest != state_digest:
        return "certificate is for another state digest"
    validators = validators_at(genesis, header.height)
    if len(valid_signers(cert, validators)) < quorum_size(len(validators)):
        return "certificate lacks a quorum of valid validator signatures"
    return None


# --- what nodes and clients exchange -----------------------------------------


class FullBlock(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A final block as a peer serves it: GET /v1/blocks/{height}/full."""

    header: BlockHeader
    state_digest: str
    txs: list[msgspec.Raw]  # the signed transactions, as stored
    certificate: Certificate


class Receipt(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything needed to check offline that a transaction is final."""

    signed_tx: SignedTx
    txid: str
    code: str
    index: int
    merkle_path: list[tuple[str, str]]
    header: BlockHeader
    certificate: Certificate


def verify_receipt(receipt: Receipt, genesis: Genesis) -> tuple[bool, str]:
    """Check a receipt against the validator set; returns (ok, reason)."""
    if txid_of(tx_signing_bytes(receipt.signed_tx)) != receipt.txid:
        return False, "txid does not match the transaction"
    header = receipt.header
    if header.chain != genesis.chain or receipt.certificate.chain != genesis.chain:
        return False, "wrong chain"
    path = [(side, bytes.fromhex(h)) for side, h in receipt.merkle_path]
    root = bytes.fromhex(header.tx_root) if header.tx_count else EMPTY_ROOT
    if not verify_proof(bytes.fromhex(receipt.txid), path, root):
        return False, "merkle path does not lead to the block's tx_root"
    fault = certificate_fault(receipt.certificate, genesis, header)
    if fault is not None:
        return False, fault
    return True, "ok"
