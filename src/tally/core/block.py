"""Block hashes, the chained state digest, votes, certificates and receipts."""

from __future__ import annotations

from typing import Final

import msgspec

from .crypto import PUBLIC_KEY_BYTES, KeyPair, sha256, verify
from .encoding import MAX_SAFE_INTEGER, canonical
from .merkle import merkle_proof, merkle_root, proof_sides, verify_proof
from .ops import SignedTx
from .protocol import rules_for, version_at
from .types import (
    OK,
    BlockHeader,
    Certificate,
    Genesis,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
    ValidatorSignature,
    Vote,
)
from .validators import ValidatorHistory, genesis_history, schedule_leaf

GENESIS_HASH = "00" * 32  # the "previous hash" of block 1
STATE_DOMAIN = b"tally-state-v1"
VOTE_KIND_V1: Final = "tally-block-vote-v1"  # protocol 1: block hash and state digest
VOTE_KIND: Final = "tally-block-vote-v2"  # protocol 2 on: and the results root
NO_KEY = bytes(PUBLIC_KEY_BYTES)  # a result leaf's key when the signature did not verify


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


def result_leaf(index: int, txid: str, code: str, signer_key: str) -> bytes:
    """One transaction's result as a leaf of the block's results tree.

    index (4 bytes, big-endian) || txid (32 bytes) || the public key its
    signature verified against (32 bytes; zeros when it did not verify, or
    the signer was unknown) || result code (UTF-8, the rest). Every part but
    the last has a fixed length, so no two results share a leaf.
    """
    key = bytes.fromhex(signer_key) if signer_key else NO_KEY
    assert len(key) == PUBLIC_KEY_BYTES
    return index.to_bytes(4, "big") + bytes.fromhex(txid) + key + code.encode()


def results_leaves(results: list[tuple[str, str, str]], schedule: ValidatorSchedule | None = None) -> list[bytes]:
    """The results tree's leaves: (txid, code, signer key) per transaction, in block order, and from
    protocol 6 one last leaf, the validator schedule the block leaves (core/validators.py)."""
    leaves = [result_leaf(i, txid, code, key) for i, (txid, code, key) in enumerate(results)]
    if schedule is not None:
        leaves.append(schedule_leaf(schedule))
    return leaves


def results_root(results: list[tuple[str, str, str]], schedule: ValidatorSchedule | None = None) -> str:
    """Merkle root over `results_leaves`."""
    return merkle_root(results_leaves(results, schedule)).hex()


def results_tree_size(height_version: int, tx_count: int) -> int:
    """How many leaves a block's results tree has under its protocol version."""
    return tx_count + (1 if rules_for(height_version).validator_changes else 0)


def clamp_timestamp(proposed_ms: int, prev_ms: int) -> int:
    """Block time never goes backwards."""
    return max(proposed_ms, prev_ms)


# --- votes and certificates -------------------------------------------------


def vote_for(
    chain: str, height: int, block_hash_hex: str, state_digest: str, results_root_hex: str | None = None
) -> Vote:
    """The vote for a block: version 2 when it certifies a results root, version 1 (protocol 1) when not."""
    if results_root_hex is None:
        return Vote(kind=VOTE_KIND_V1, chain=chain, height=height, block_hash=block_hash_hex, state_digest=state_digest)
    return Vote(
        kind=VOTE_KIND,
        chain=chain,
        height=height,
        block_hash=block_hash_hex,
        state_digest=state_digest,
        results_root=results_root_hex,
    )


def certificate_vote(cert: Certificate) -> Vote:
    """The vote a certificate's signatures sign."""
    root = cert.results_root if isinstance(cert.results_root, str) else None
    return vote_for(cert.chain, cert.height, cert.block_hash, cert.state_digest, root)


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
        vote.chain,
        vote.height,
        vote.block_hash,
        vote.state_digest,
        sorted(signatures, key=lambda s: s.validator),
        vote.results_root,
    )


def quorum_size(validator_count: int) -> int:
    """Smallest count that is more than two thirds of the validators."""
    return (2 * validator_count) // 3 + 1


def valid_signers(cert: Certificate, validators: list[Validator]) -> set[str]:
    """The distinct validators whose signature on the certificate's vote checks."""
    by_id = {v.id: v for v in validators}
    vote = certificate_vote(cert)
    good: set[str] = set()
    for signature in cert.signatures:
        validator = by_id.get(signature.validator)
        if validator is not None and vote_signature_ok(validator, vote, signature.sig):
            good.add(signature.validator)
    return good


def certificate_fault(
    cert: Certificate,
    history: ValidatorHistory,
    header: BlockHeader,
    state_digest: str | None = None,
    results_root_hex: str | None = None,
) -> str | None:
    """Why `cert` does not make `header` final (None when it does).

    The one certificate check: the chain, the block (height and hash), the
    protocol version the genesis gives that height, the results root where
    that version certifies results, the state digest and results root when
    the caller knows them, and a quorum of valid signatures of the validator
    set at that height (`history`: core/validators.py).
    """
    genesis = history.genesis
    if cert.chain != genesis.chain or header.chain != genesis.chain:
        return "wrong chain"
    if cert.height != header.height or cert.block_hash != block_hash(header):
        return "certificate is for another block"
    version = version_at(genesis, header.height)
    if (header.protocol if isinstance(header.protocol, int) else 1) != version:
        return f"block names protocol {header.protocol}, the genesis gives its height version {version}"
    if rules_for(version).certify_results != isinstance(cert.results_root, str):
        return f"certificate {'lacks' if version > 1 else 'has'} a results root under protocol {version}"
    if state_digest is not None and cert.state_digest != state_digest:
        return "certificate is for another state digest"
    if results_root_hex is not None and cert.results_root != results_root_hex:
        return "certificate is for other results"
    if not history.knows(header.height):
        return f"the validator set of height {header.height} is not known here yet"
    validators = history.at(header.height)
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
    """Everything needed to check offline that a transaction is final, and with what result."""

    signed_tx: SignedTx
    txid: str
    code: str
    index: int
    merkle_path: list[tuple[str, str]]  # txid up to the header's tx_root
    header: BlockHeader
    certificate: Certificate
    signer_key: str = ""  # the key its signature verified against ("" when it did not)
    results_path: list[tuple[str, str]] = []  # its result leaf up to the certificate's results_root


def make_receipt(
    signed_txs: list[SignedTx],
    codes: list[str],
    signer_keys: list[str],
    index: int,
    header: BlockHeader,
    certificate: Certificate,
    schedule: ValidatorSchedule | None = None,
) -> Receipt:
    """The receipt of the transaction at `index` of a certified block, from the block's transactions and results.

    `schedule`: the validator schedule the block left, for a protocol 6 block (its results tree's last leaf).
    """
    txids = [txid_of(tx_signing_bytes(s)) for s in signed_txs]
    tx_path = merkle_proof([bytes.fromhex(t) for t in txids], index)
    results_path = (
        merkle_proof(results_leaves(list(zip(txids, codes, signer_keys, strict=True)), schedule), index)
        if isinstance(certificate.results_root, str)
        else []
    )
    return Receipt(
        signed_tx=signed_txs[index],
        txid=txids[index],
        code=codes[index],
        index=index,
        merkle_path=[(side, h.hex()) for side, h in tx_path],
        header=header,
        certificate=certificate,
        signer_key=signer_keys[index],
        results_path=[(side, h.hex()) for side, h in results_path],
    )


class ValidatorChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A certified change of the validator schedule, for a light client (GET /v1/validators).

    The block that made the change, its certificate, the schedule it left and
    the path from that schedule's leaf (the results tree's last) to the
    certificate's results root.
    """

    header: BlockHeader
    certificate: Certificate
    schedule: ValidatorSchedule
    schedule_path: list[tuple[str, str]]


class ValidatorsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """GET /v1/validators: the schedule as the newest final block left it, and the changes that prove it."""

    final_height: int
    notice_blocks: int  # a change takes effect at least this many blocks after the block that passed it
    sets: list[ValidatorSet]
    changes: list[ValidatorChange]  # oldest first: what `verify_receipt` and `follow_changes` take


def schedule_proof(results: list[tuple[str, str, str]], schedule: ValidatorSchedule) -> list[tuple[str, str]]:
    """The path from a protocol 6 block's schedule leaf to its results root."""
    leaves = results_leaves(results, schedule)
    return [(side, h.hex()) for side, h in merkle_proof(leaves, len(leaves) - 1)]


class ChangeRefused(ValueError):
    """A validator-set change that does not follow from the sets before it."""


def follow_changes(genesis: Genesis, changes: list[ValidatorChange]) -> ValidatorHistory:
    """The validator history a light client knows from the genesis and the certified changes, in order.

    Each change's certificate must carry a quorum of the set its height had
    before the change, its schedule must lead to the certified results root,
    and it may only append sets to the schedule the history had. Raises ChangeRefused naming the first that fails.
    """
    history = genesis_history(genesis)
    if not rules_for(version_at(genesis, 1)).validator_changes:
        if changes:
            raise ChangeRefused("this chain's protocol has no validator-set changes")
        return history
    for change in changes:
        header, cert = change.header, change.certificate
        fault = certificate_fault(cert, history, header)
        if fault is not None:
            raise ChangeRefused(f"change at height {header.height}: {fault}")
        leaf = schedule_leaf(change.schedule)
        size = header.tx_count + 1
        assert isinstance(cert.results_root, str)  # certificate_fault holds: protocol 6 certifies results
        if not _path_leads(change.schedule_path, size - 1, size, leaf, cert.results_root):
            raise ChangeRefused(f"change at height {header.height}: its schedule is not the certified one")
        if tuple(change.schedule.sets[: len(history.sets)]) != history.sets:
            raise ChangeRefused(f"change at height {header.height}: it rewrites sets scheduled before it")
        try:
            # a light client takes the changes it is given as all there are: every later height is known
            history = ValidatorHistory(genesis, tuple(change.schedule.sets), MAX_SAFE_INTEGER)
        except AssertionError:
            raise ChangeRefused(f"change at height {header.height}: its sets are out of order") from None
    return history


def _path_leads(path: list[tuple[str, str]], index: int, size: int, leaf: bytes, root_hex: str) -> bool:
    """The path has the shape of leaf `index` in a `size`-leaf tree and leads from `leaf` to the root."""
    if [side for side, _ in path] != proof_sides(index, size):
        return False
    return verify_proof(leaf, [(side, bytes.fromhex(h)) for side, h in path], bytes.fromhex(root_hex))


def _signature_fault(receipt: Receipt, message: bytes) -> str | None:
    if not receipt.signer_key:
        return "an accepted transaction's receipt must name its signer's key" if receipt.code == OK else None
    if not verify(bytes.fromhex(receipt.signer_key), message, bytes.fromhex(receipt.signed_tx.sig)):
        return "signature does not verify against the signer's key"
    return None


def verify_receipt(
    receipt: Receipt, genesis: Genesis, changes: list[ValidatorChange] | None = None
) -> tuple[bool, str]:
    """Check a receipt against the genesis and the validator-set changes; returns (ok, reason).

    It holds when the transaction (its id, its signature under the key the
    validators checked it against) sits at `index` of a block that a quorum
    of the validator set at that height certified, together with this
    result `code`: changing any field makes it fail. `changes`: the
    certified validator-set changes up to the receipt's block (protocol 6),
    as GET /v1/validators serves them; none, the genesis's set.
    """
    try:
        history = follow_changes(genesis, changes or [])
        fault = _receipt_fault(receipt, history)
    except ChangeRefused as refused:
        fault = str(refused)
    except (ValueError, IndexError):
        fault = "malformed receipt"
    return (False, fault) if fault is not None else (True, "ok")


def _receipt_fault(receipt: Receipt, history: ValidatorHistory) -> str | None:
    genesis = history.genesis
    header, cert = receipt.header, receipt.certificate
    message = tx_signing_bytes(receipt.signed_tx)
    if txid_of(message) != receipt.txid:
        return "txid does not match the transaction"
    if header.chain != genesis.chain or cert.chain != genesis.chain:
        return "wrong chain"
    if not 0 <= receipt.index < header.tx_count:
        return "index is outside the block"
    fault = _signature_fault(receipt, message)
    if fault is not None:
        return fault
    if not _path_leads(
        receipt.merkle_path, receipt.index, header.tx_count, bytes.fromhex(receipt.txid), header.tx_root
    ):
        return "merkle path does not lead from the txid at this index to the block's tx_root"
    version = version_at(genesis, header.height)
    if not rules_for(version).certify_results or not isinstance(cert.results_root, str):
        return "this block's protocol does not certify results"
    leaf = result_leaf(receipt.index, receipt.txid, receipt.code, receipt.signer_key)
    size = results_tree_size(version, header.tx_count)
    if not _path_leads(receipt.results_path, receipt.index, size, leaf, cert.results_root):
        return "results path does not lead from this result to the certified results root"
    return certificate_fault(cert, history, header)
