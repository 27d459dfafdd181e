"""One block transition: `apply_block(genesis, head, state, batch) -> BlockResult`.

Everything that turns an ordered batch into a block lives here, in the style
of a specification's state transition: the protocol version of the height,
block time, execution, the write-set and chained state digest, the header,
its hash and the vote a validator signs. The node's pipeline, `tally audit`,
`tally node repair` and the tests all make blocks through it, so they cannot
disagree about what a block is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from .block import (
    GENESIS_HASH,
    block_hash,
    clamp_timestamp,
    genesis_digest,
    next_state_digest,
    results_root,
    tx_root,
    tx_signing_bytes,
    vote_for,
)
from .execute import BlockContext, Entry, Movement, execute_block, write_set_bytes
from .ops import SignedTx
from .protocol import rules_for, version_at
from .state import StateReader
from .tables import ACCOUNTS, SCHEDULE, VALIDATOR_SETS
from .types import BlockHeader, Genesis, StateValue, TxResult, ValidatorSchedule, Vote


@dataclass(frozen=True, slots=True)
class Head:
    """Where a chain stands after a block (or at genesis, height 0)."""

    height: int
    block_hash: str
    state_digest: str
    timestamp_ms: int
    log_position: int


def genesis_head(genesis: Genesis) -> Head:
    return Head(0, GENESIS_HASH, genesis_digest(genesis), genesis.genesis_time_ms, 0)


@dataclass(frozen=True, slots=True)
class Batch:
    """What the orderer fixed for the next block: who proposed it, when, where in its log, and the transactions."""

    proposer: str
    timestamp_ms: int  # the proposer's clock; the block clamps it to be non-decreasing
    log_position: int
    entries: Sequence[Entry]


@dataclass(frozen=True, slots=True)
class BlockResult:
    header: BlockHeader
    block_hash: str
    state_digest: str
    write_set: bytes  # canonical JSON of the sorted state changes
    writes: dict[str, StateValue | None]
    results: list[TxResult]
    parties: list[tuple[str, ...]]  # per transaction, for history
    movements: list[tuple[Movement, ...]]  # per transaction, for history: balance changes
    signer_keys: list[str]  # per transaction: the key its signature verified against ("" when it did not)
    results_root: str | None  # what the vote certifies of the results (None under protocol 1)
    vote: Vote  # what a validator signs for this block
    sweeps: list[tuple[Movement, ...]] = field(default_factory=list)  # per holder whose lots expired (protocol 9)

    @property
    def head(self) -> Head:
        h = self.header
        return Head(h.height, self.block_hash, self.state_digest, h.timestamp_ms, h.log_position)


class Divergence(Exception):
    """This node's digest differs from the one a quorum of validators certified."""

    def __init__(self, height: int, ours: str, certified: str) -> None:
        super().__init__(f"divergence at height {height}: our digest {ours}, certified {certified}")
        self.height = height
        self.ours = ours
        self.certified = certified


def apply_block(genesis: Genesis, head: Head, state: StateReader, batch: Batch) -> BlockResult:
    """Execute the next block on `state` (which reflects `head`); nothing is written to it."""
    height = head.height + 1
    version = version_at(genesis, height)
    rules = rules_for(version)
    timestamp_ms = clamp_timestamp(batch.timestamp_ms, head.timestamp_ms)
    keys = verified_keys(state, batch.entries)
    outcome = execute_block(state, BlockContext(genesis.chain, height, timestamp_ms), batch.entries, rules)
    schedule = schedule_left(state, outcome.writes) if rules.validator_changes else None
    root = (
        results_root([(r.txid, r.code, k) for r, k in zip(outcome.results, keys, strict=True)], schedule)
        if rules.certify_results
        else None
    )
    write_set = write_set_bytes(outcome.writes)
    digest = next_state_digest(head.state_digest, height, write_set)
    header = BlockHeader(
        chain=genesis.chain,
        height=height,
        prev_hash=head.block_hash,
        timestamp_ms=timestamp_ms,
        tx_root=tx_root([e.txid for e in batch.entries]),
        tx_count=len(batch.entries),
        proposer=batch.proposer,
        log_position=batch.log_position,
        protocol=version if version > 1 else msgspec.UNSET,
    )
    hash_hex = block_hash(header)
    return BlockResult(
        header=header,
        block_hash=hash_hex,
        state_digest=digest,
        write_set=write_set,
        writes=outcome.writes,
        results=outcome.results,
        parties=outcome.parties,
        movements=outcome.movements,
        signer_keys=keys,
        results_root=root,
        vote=vote_for(genesis.chain, height, hash_hex, digest, root),
        sweeps=outcome.sweeps,
    )


def schedule_left(state: StateReader, writes: dict[str, StateValue | None]) -> ValidatorSchedule:
    """The validator schedule as a block leaves it: its own write, else the state's (protocol 6)."""
    key = VALIDATOR_SETS.key(SCHEDULE)
    schedule = writes[key] if key in writes else state.get(key)
    assert isinstance(schedule, ValidatorSchedule), "a protocol 6 ledger's genesis holds the validator schedule"
    return schedule


def verified_keys(state: StateReader, entries: Sequence[Entry]) -> list[str]:
    """Per entry, the signer's key in `state` (the block's start) when its signature verified, else ""."""
    keys = []
    for entry in entries:
        account = ACCOUNTS.read(state.get, entry.tx.signer) if entry.signature_ok else None
        keys.append(account.public_key if account is not None else "")
    return keys


def signature_checks(state: StateReader, signed: Sequence[SignedTx]) -> list[tuple[bytes, bytes, bytes]]:
    """(public key, message, signature) per transaction, the key being the signer's in `state`.

    An unknown signer gets an empty key, which never verifies.
    """
    items = []
    for s in signed:
        account = ACCOUNTS.read(state.get, s.tx.signer)
        key = bytes.fromhex(account.public_key) if account is not None else b""
        items.append((key, tx_signing_bytes(s), bytes.fromhex(s.sig)))
    return items
