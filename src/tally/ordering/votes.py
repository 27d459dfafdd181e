"""Certificates from many validators, through etcd.

After storing a block each validator puts its vote, its signature over
(chain, height, block hash, state digest), under
`/tally/<chain>/votes/<height>/<validator>`. Every node watches the votes:
once more than two thirds of the validators signed the same hash and digest,
it stores that certificate if its own block agrees, and reports a divergence
if it does not (the node then stops applying blocks). A validator that signs
a wrong digest simply fails to join the certificate.

The same thread publishes how far this node has stored
(`/tally/<chain>/stored/<validator>`) and compacts the log: up to the
position every validator has stored, or, for a validator more than
`limits.log_retention_blocks` behind a quorum, without it (it will catch up
from a peer).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
from pyetcd.events import PutEvent

from ..core.block import block_hash, make_certificate, quorum_size, sign_vote, vote_for, vote_signature_ok
from ..core.chain import Divergence
from ..core.crypto import KeyPair
from ..core.genesis import validators_at
from ..core.limits import THREAD_JOIN_TIMEOUT_S, Limits
from ..core.types import BlockHeader, Certificate, Genesis, Validator, ValidatorSignature
from ..store.base import BlockRecord, Store
from .etcd_client import TRANSIENT, EtcdClient, keys

log = logging.getLogger("tally.votes")

PUBLISH_QUEUE_BLOCKS = 1024
HOUSEKEEPING_S = 0.5
COMPACT_EVERY_BLOCKS = 8  # compact in steps, not after every block
VOTE_RETRY_MIN_S = 0.05
VOTE_RETRY_MAX_S = 2.0


class VoteValue(msgspec.Struct, frozen=True):
    block_hash: str
    state_digest: str
    sig: str


_vote_decoder = msgspec.json.Decoder(VoteValue)


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
    ) -> None:
        self.genesis = genesis
        self.etcd = EtcdClient(endpoints)
        self.store = store
        self.validator_id = validator_id
        self.validator_key = validator_key
        self.limits = limits
        self.on_certificate = on_certificate
        self.on_divergence = on_divergence
        self.keys = keys(genesis.chain)
        self.stop_event = threading.Event()
        self._votes: dict[int, dict[str, VoteValue]] = {}
        self._lock = threading.Lock()
        self._certified = store.final_height()  # every height up to here is certified
        self._done: set[int] = set()  # certified heights above it
        self._to_publish: queue.Queue[tuple[int, BlockHeader, str]] = queue.Queue(PUBLISH_QUEUE_BLOCKS)
        self._revotes: deque[tuple[int, BlockHeader, str]] = deque()  # stored before a restart, not yet certified
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
                self._revotes.append((height, found[0], found[1]))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.etcd.cancel_watches()
        for thread in self._threads:
            thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
        self.etcd.close()

    def publish(self, record: BlockRecord) -> None:
        """Called on the writer thread once a block is stored: vote for it (on our own thread)."""
        self._to_publish.put((record.header.height, record.header, record.state_digest))

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
            height, header, digest = (
                self._revotes.popleft() if self._revotes else self._to_publish.get(timeout=HOUSEKEEPING_S)
            )
        except queue.Empty:
            self._housekeeping()
            return
        self._put_vote(height, header, digest)
        self._evaluate(height)
        if self._to_publish.empty():
            self._housekeeping()

    def _validators(self, height: int) -> dict[str, Validator]:
        return {v.id: v for v in validators_at(self.genesis, height)}

    def _put_vote(self, height: int, header: BlockHeader, digest: str) -> None:
        """Publish our vote, retrying until etcd has it or the node stops: a lost vote could stall finality."""
        hash_hex = block_hash(header)
        signature = sign_vote(
            self.validator_key, self.validator_id, vote_for(self.genesis.chain, height, hash_hex, digest)
        )
        value = msgspec.json.encode(VoteValue(hash_hex, digest, signature.sig))
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
            validator = meta.key.decode().rsplit("/", 1)[1]
            height, position = (int(x) for x in value.decode().split(":"))
            stored[validator] = (height, position)
        validators = validators_at(self.genesis, max(1, self.store.final_height()))
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
        try:
            key = raw_key.decode()
            height_text, validator = key[len(self.keys["votes"]) :].split("/", 1)
            height = int(height_text)
            vote = _vote_decoder.decode(value)
        except (ValueError, msgspec.DecodeError):
            return
        if height < 1 or height <= self._certified or height in self._done:
            return
        known = self._validators(height).get(validator)
        if known is None:
            return
        if not vote_signature_ok(
            known, vote_for(self.genesis.chain, height, vote.block_hash, vote.state_digest), vote.sig
        ):
            return
        with self._lock:
            self._votes.setdefault(height, {})[validator] = vote
        self._evaluate(height)

    def _evaluate(self, height: int) -> None:
        """Certify `height` once a quorum agrees with our stored block; report divergence otherwise."""
        with self._lock:
            votes = dict(self._votes.get(height, {}))
        groups: dict[tuple[str, str], list[str]] = {}
        for validator, vote in votes.items():
            groups.setdefault((vote.block_hash, vote.state_digest), []).append(validator)
        for (hash_hex, digest), signers in groups.items():
            if len(signers) < quorum_size(len(self._validators(height))):
                continue
            found = self.store.block_header(height)
            if found is None:
                return  # not stored here yet: evaluated again once it is
            ours_hash, ours_digest = block_hash(found[0]), found[1]
            if (ours_hash, ours_digest) != (hash_hex, digest):
                self.on_divergence(Divergence(height, ours_digest, digest))
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
            self.on_certificate(make_certificate(vote_for(self.genesis.chain, height, hash_hex, digest), signatures))
            return
