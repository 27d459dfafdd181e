"""Certificates from many validators, through etcd.

After storing a block each validator puts its vote, its signature over
(chain, height, block hash, state digest and, from protocol 2, the results
root), under `/tally/<chain>/votes/<height>/<validator>`, but only if the
block's time was at most `limits.block_time_precision_ms` ahead of its own
clock when it first saw the block's log entry: a block stamped by a fast
clock is never final, and its proposer is named in the log and the metric
`tally_untimely_blocks_total`. Every node watches the votes:
once more than two thirds of the validators signed the same hash and digest,
it stores that certificate if its own block agrees, and reports a divergence
if it does not (the node then stops applying blocks). A validator that signs
a wrong digest simply fails to join the certificate.

The same thread publishes how far this node has stored
(`/tally/<chain>/stored/<validator>`) and compacts the log: up to the
position every validator has stored, or, for a validator more than
`limits.log_retention_blocks` behind a quorum, without it (it will catch up
from a peer).

Every value read from etcd is untrusted: votes and progress records are
decoded with strict types, and what fails is ignored and reported
(`on_ignored`), never allowed to stop the watch, the count or compaction.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from pyetcd.events import PutEvent

from ..core.block import block_hash, make_certificate, quorum_size, sign_vote, vote_for, vote_signature_ok
from ..core.chain import Divergence
from ..core.crypto import KeyPair
from ..core.limits import THREAD_JOIN_TIMEOUT_S, Limits
from ..core.types import BlockHeader, Certificate, Genesis, SignatureHex, Validator, ValidatorSignature
from ..store.base import BlockRecord, Store
from .base import OnIgnored, log_ignored
from .clock import clock_ms
from .etcd_client import TRANSIENT, EtcdClient, keys
from .peers import TlsPaths
from .validator_book import ValidatorBook

log = logging.getLogger("tally.votes")

PUBLISH_QUEUE_BLOCKS = 1024
MAX_HELD_VOTE_HEIGHTS = 4096  # votes for heights this far past the certified one are ignored, not held
HOUSEKEEPING_S = 0.5
COMPACT_EVERY_BLOCKS = 8  # compact in steps, not after every block
VOTE_RETRY_MIN_S = 0.05
VOTE_RETRY_MAX_S = 2.0


Hex32 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}\Z")]
MAX_VOTE_HEIGHT = 2**53 - 1
_PROGRESS_RE = re.compile(r"([0-9]{1,15}):([0-9]{1,15})")  # "height:log_position", as published


class VoteValue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    block_hash: Hex32
    state_digest: Hex32
    sig: SignatureHex
    results_root: Hex32 | msgspec.UnsetType = msgspec.UNSET  # protocol 2 on


_vote_decoder = msgspec.json.Decoder(VoteValue)


@dataclass(frozen=True, slots=True)
class _ToVote:
    height: int
    header: BlockHeader
    state_digest: str
    results_root: str | None
    seen_ms: int  # our clock when we first saw its log entry; 0: judge against the clock now (a re-vote)


# Called with (proposer, height, ms ahead of our clock) for a block this validator refuses to vote for.
OnUntimely = Callable[[str, int, int], None]


def _no_metric(proposer: str, height: int, ahead_ms: int) -> None:
    pass


def vote_key(prefix: str, height: int, validator: str) -> str:
    return f"{prefix}{height:012d}/{validator}"


class VoteBoard:
    def __init__(
        self,
        genesis: Genesis,
        endpoints: list[str],
        store: Store,
        validator_id: str,
        validator_key: KeyPair,
        limits: Limits,
        on_certificate: Callable[[Certificate], None],
        on_divergence: Callable[[Divergence], None],
        on_ignored: OnIgnored = log_ignored,
        on_untimely: OnUntimely = _no_metric,
        tls: TlsPaths | None = None,
        validators: ValidatorBook | None = None,
    ) -> None:
        self.genesis = genesis
        head = store.head()
        self.validators = validators or ValidatorBook(genesis, store.get_state, head.height if head else 0)
        self.on_ignored = on_ignored
        self.on_untimely = on_untimely
        self.etcd = EtcdClient(endpoints, tls)
        self.store = store
        self.validator_id = validator_id
        self.validator_key = validator_key
        self.limits = limits
        self.on_certificate = on_certificate
        self.on_divergence = on_divergence
        self.keys = keys(genesis.chain)
        self.stop_event = threading.Event()
        self._votes: dict[int, dict[str, VoteValue]] = {}
        self._unchecked: dict[int, dict[str, VoteValue]] = {}  # for heights whose validator set is not known yet
        self._lock = threading.Lock()
        self._certified = store.final_height()  # every height up to here is certified
        self._done: set[int] = set()  # certified heights above it
        self._to_publish: queue.Queue[_ToVote] = queue.Queue(PUBLISH_QUEUE_BLOCKS)
        self._revotes: deque[_ToVote] = deque()  # stored before a restart, not yet certified
        self._compacted_position = 0
        self._votes_kept_from = 1
        self._threads = [
            threading.Thread(target=self._publish_loop, name="tally-votes-out", daemon=True),
            threading.Thread(target=self._watch_loop, name="tally-votes-in", daemon=True),
        ]

    def start(self) -> None:
        """Start the threads; blocks stored before a restart and not yet certified get our vote (on our thread)."""
        head = self.store.head()
        for height in range(self._certified + 1, (head.height if head else 0) + 1):
            found = self.store.block_header(height)
            if found is not None:
                self._revotes.append(_ToVote(height, found[0], found[1], self.store.block_results_root(height), 0))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.etcd.cancel_watches()
        for thread in self._threads:
            thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
        self.etcd.close()

    def publish(self, record: BlockRecord, seen_ms: int) -> None:
        """Called on the writer thread once a block is stored: vote for it (on our own thread).

        `seen_ms` is our clock when the orderer first saw the block's log entry.
        """
        self._to_publish.put(
            _ToVote(record.header.height, record.header, record.state_digest, record.results_root, seen_ms)
        )

    # --- our votes and housekeeping -------------------------------------------

    def _publish_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._publish_next()
            except Exception:  # never let one bad round stop the votes: log, back off, go on
                log.exception("vote publishing failed; continuing")
                self.stop_event.wait(HOUSEKEEPING_S)

    def _publish_next(self) -> None:
        try:
            block = self._revotes.popleft() if self._revotes else self._to_publish.get(timeout=HOUSEKEEPING_S)
        except queue.Empty:
            self._housekeeping()
            return
        if self.validator_id in self._validators(block.height) and self._timely(block):
            self._put_vote(block)
        self._evaluate(block.height)
        if self._to_publish.empty():
            self._housekeeping()

    def _validators(self, height: int) -> dict[str, Validator]:
        return {v.id: v for v in self.validators.history().at(height)}

    def _timely(self, block: _ToVote) -> bool:
        """Proposer-based time: vote only if the block's time was not ahead of our clock (within precision)."""
        seen_ms = block.seen_ms or clock_ms()
        ahead_ms = block.header.timestamp_ms - seen_ms
        if ahead_ms <= self.limits.block_time_precision_ms:
            return True
        log.error(
            "block %d: its time is %d ms ahead of this validator's clock (precision %d ms): not voting;"
            " proposer %s has a fast clock or stamps blocks wrongly",
            block.height,
            ahead_ms,
            self.limits.block_time_precision_ms,
            block.header.proposer,
        )
        self.on_untimely(block.header.proposer, block.height, ahead_ms)
        return False

    def _put_vote(self, block: _ToVote) -> None:
        """Publish our vote, retrying until etcd has it or the node stops: a lost vote could stall finality."""
        height, digest = block.height, block.state_digest
        hash_hex = block_hash(block.header)
        vote = vote_for(self.genesis.chain, height, hash_hex, digest, block.results_root)
        signature = sign_vote(self.validator_key, self.validator_id, vote)
        value = msgspec.json.encode(VoteValue(hash_hex, digest, signature.sig, vote.results_root))
        key = vote_key(self.keys["votes"], height, self.validator_id)
        backoff_s = VOTE_RETRY_MIN_S
        while not self.stop_event.is_set():
            try:
                self.etcd.call(lambda c: c.put(key, value), self.stop_event)
                return
            except TRANSIENT:
                log.warning("etcd unreachable: vote for block %d not yet published; retrying", height)
            self.stop_event.wait(backoff_s)
            backoff_s = min(backoff_s * 2, VOTE_RETRY_MAX_S)

    def _housekeeping(self) -> None:
        head = self.store.head()
        if head is None:
            return
        try:
            mine = f"{head.height}:{head.log_position}".encode()
            self.etcd.call(lambda c: c.put(self.keys["stored"] + self.validator_id, mine), self.stop_event)
            self._compact()
        except TRANSIENT:
            if not self.stop_event.is_set():  # when stopping, calls give up at once: not an outage
                log.warning("etcd unreachable: progress not published")

    def _compact(self) -> None:
        stored: dict[str, tuple[int, int]] = {}
        entries: list[tuple[bytes, Any]] = self.etcd.call(
            lambda c: list(c.get_prefix(self.keys["stored"])), self.stop_event
        )
        for value, meta in entries:
            progress = self._progress(meta.key, value)
            if progress is not None:
                stored[progress[0]] = progress[1]
        validators = self.validators.history().at(max(1, self.store.final_height()))
        positions = sorted((stored.get(v.id, (0, 0)) for v in validators), reverse=True)
        everyone = positions[-1]
        quorum_height = positions[quorum_size(len(validators)) - 1][0]
        target = everyone
        lagging_floor = quorum_height - self.limits.log_retention_blocks
        if lagging_floor > everyone[0]:
            found = self.store.block_header(lagging_floor)
            if found is not None:
                target = (lagging_floor, found[0].log_position)
        height, position = target
        log.debug("compaction: stored %s, target %s (compacted to %d)", stored, target, self._compacted_position)
        if position <= self._compacted_position or height < self._votes_kept_from + COMPACT_EVERY_BLOCKS:
            return
        try:
            self.etcd.client().compact(position)  # once: another node may have compacted further
        except Exception as exc:
            log.debug("compact %d: %s", position, exc)
        for h in range(self._votes_kept_from, height):
            prefix = f"{self.keys['votes']}{h:012d}/"
            self.etcd.call(lambda c: c.delete_prefix(prefix), self.stop_event)  # noqa: B023 - called at once
        self._compacted_position = position
        self._votes_kept_from = max(self._votes_kept_from, height)
        log.info("etcd log compacted to revision %d (block %d)", position, height)

    def _progress(self, raw_key: bytes, value: bytes) -> tuple[str, tuple[int, int]] | None:
        """(validator, (height, log position)) of a progress record; None (reported) when malformed."""
        key = raw_key.decode("utf-8", "replace")
        validator = key[len(self.keys["stored"]) :]
        match = _PROGRESS_RE.fullmatch(value.decode("ascii", "replace"))
        if match is None or validator not in self._validators(max(1, self.store.final_height())):
            self.on_ignored("progress", key, "not HEIGHT:POSITION of a validator")
            return None
        return validator, (int(match[1]), int(match[2]))

    # --- everyone's votes ------------------------------------------------------

    def _watch_loop(self) -> None:
        while not self.stop_event.is_set():
            client = self.etcd.client()
            try:
                response_revision = self._load_existing(client)
                events, cancel = self.etcd.watch(client, True, self.keys["votes"], response_revision + 1)
                try:
                    for event in events:
                        if self.stop_event.is_set():
                            return
                        if isinstance(event, PutEvent):
                            self._record(event.key, event.value)
                finally:
                    cancel()
            except TRANSIENT:
                self.etcd.fail_over(client)
                self.stop_event.wait(0.05)  # back off before watching through the next member
            except Exception:
                log.exception("vote watch restarted")
                self.etcd.fail_over(client)
                self.stop_event.wait(0.05)

    def _load_existing(self, client: Any) -> int:
        response = client.get_prefix_response(self.keys["votes"])
        for kv in response.kvs:
            self._record(kv.key, kv.value)
        return int(response.header.revision)

    def _record(self, raw_key: bytes, value: bytes) -> None:
        """Count one vote read from etcd; anything malformed is ignored (etcd's contents are untrusted)."""
        key = raw_key.decode("utf-8", "replace")
        height_text, _, validator = key[len(self.keys["votes"]) :].partition("/")
        if not height_text.isascii() or not height_text.isdigit() or not 1 <= int(height_text) <= MAX_VOTE_HEIGHT:
            self.on_ignored("vote", key, "not a vote key (HEIGHT/VALIDATOR)")
            return
        height = int(height_text)
        try:
            vote = _vote_decoder.decode(value)
        except msgspec.DecodeError as exc:
            self.on_ignored("vote", key, str(exc))
            return
        if height <= self._certified or height in self._done:
            return
        if not self.validators.history().knows(height):
            self._hold(height, validator, vote, key)
            return
        self._check(height, validator, vote, key)
        self._evaluate(height)

    def _hold(self, height: int, validator: str, vote: VoteValue, key: str) -> None:
        """Keep a vote for a height whose set is not known yet, bounded; it is checked once execution gets there."""
        if height > self._certified + MAX_HELD_VOTE_HEIGHTS:
            self.on_ignored("vote", key, f"height {height} is too far ahead of block {self._certified}")
            return
        with self._lock:
            self._unchecked.setdefault(height, {})[validator] = vote

    def _check(self, height: int, validator: str, vote: VoteValue, key: str) -> None:
        """Count a vote whose height's validator set is known: signed by a validator of that set, or ignored."""
        known = self._validators(height).get(validator)
        root = vote.results_root if isinstance(vote.results_root, str) else None
        if known is None or not vote_signature_ok(
            known, vote_for(self.genesis.chain, height, vote.block_hash, vote.state_digest, root), vote.sig
        ):
            self.on_ignored("vote", key, "not signed by that validator")
            return
        with self._lock:
            self._votes.setdefault(height, {})[validator] = vote

    def _evaluate(self, height: int) -> None:
        """Certify `height` once a quorum agrees with our stored block; report divergence otherwise."""
        with self._lock:
            held = self._unchecked.pop(height, {}) if self.validators.history().knows(height) else {}
        for validator, vote in held.items():
            self._check(height, validator, vote, vote_key(self.keys["votes"], height, validator))
        with self._lock:
            votes = dict(self._votes.get(height, {}))
        groups: dict[tuple[str, str, str | None], list[str]] = {}
        for validator, vote in votes.items():
            root = vote.results_root if isinstance(vote.results_root, str) else None
            groups.setdefault((vote.block_hash, vote.state_digest, root), []).append(validator)
        for (hash_hex, digest, root), signers in groups.items():
            if len(signers) < quorum_size(len(self._validators(height))):
                continue
            found = self.store.block_header(height)
            if found is None:
                return  # not stored here yet: evaluated again once it is
            ours_hash, ours_digest = block_hash(found[0]), found[1]
            if (ours_hash, ours_digest) != (hash_hex, digest):
                self.on_divergence(Divergence(height, ours_digest, digest))
                return
            ours_root = self.store.block_results_root(height)
            if ours_root != root:
                self.on_divergence(Divergence(height, f"results {ours_root}", f"results {root}"))
                return
            signatures = [ValidatorSignature(v, votes[v].sig) for v in signers]
            with self._lock:
                if height <= self._certified or height in self._done:
                    return
                self._votes.pop(height, None)
                self._done.add(height)
                while self._certified + 1 in self._done:
                    self._done.discard(self._certified + 1)
                    self._certified += 1
            certified = vote_for(self.genesis.chain, height, hash_hex, digest, root)
            self.on_certificate(make_certificate(certified, signatures))
            return
