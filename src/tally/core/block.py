"""Block hashes, the chained state digest, votes, certificates and receipts."""

from __future__ import annotations

import msgspec

from .crypto import KeyPair, sha256, verify
from .encoding import canonical
from .merkle import EMPTY_ROOT, merkle_root, verify_proof
from .types import BlockHeader, Certificate, Genesis, SignedTx, Validator, ValidatorSignature, Vote

GENESIS_HASH = "00" * 32
STATE_DOMAIN = b"tally-state-v1"


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


def vote_for(chain: str, height: int, block_hash_hex: str, state_digest: str) -> Vote:
    return Vote(
        kind="tally-block-vote-v1", chain=chain, height=height, block_hash=block_hash_hex, state_digest=state_digest
    )


def sign_vote(key: KeyPair, validator_id: str, vote: Vote) -> ValidatorSignature:
    return ValidatorSignature(validator=validator_id, sig=key.sign(canonical(vote)).hex())


def quorum_size(validator_count: int) -> int:
    """Smallest count that is more than two thirds of the validators."""
    return (2 * validator_count) // 3 + 1


def valid_signers(cert: Certificate, validators: list[Validator]) -> set[str]:
    """The distinct validators whose signature on the certificate's vote checks."""
    keys = {v.id: bytes.fromhex(v.public_key) for v in validators}
    message = canonical(vote_for(cert.chain, cert.height, cert.block_hash, cert.state_digest))
    good: set[str] = set()
    for signature in cert.signatures:
        key = keys.get(signature.validator)
        if key is not None and verify(key, message, bytes.fromhex(signature.sig)):
            good.add(signature.validator)
    return good


def certificate_is_final(cert: Certificate, validators: list[Validator]) -> bool:
    return len(valid_signers(cert, validators)) >= quorum_size(len(validators))


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
    header, cert = receipt.header, receipt.certificate
    if header.chain != genesis.chain or cert.chain != genesis.chain:
        return False, "wrong chain"
    path = [(side, bytes.fromhex(h)) for side, h in receipt.merkle_path]
    root = bytes.fromhex(header.tx_root) if header.tx_count else EMPTY_ROOT
    if not verify_proof(bytes.fromhex(receipt.txid), path, root):
        return False, "merkle path does not lead to the block's tx_root"
    if cert.height != header.height or cert.block_hash != block_hash(header):
        return False, "certificate is for another block"
    if not certificate_is_final(cert, genesis.validators):
        return False, "certificate lacks a quorum of valid validator signatures"
    return True, "ok"
