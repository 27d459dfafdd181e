"""`etcd` ordering: one log in an etcd cluster (Raft), executed by every node.

* Proposer: each node takes batches from its own mempool and appends them,
  signed with its node key, to the single key `/tally/<chain>/log`. Each put
  is a new etcd revision; revision order is block order. A batch is bounded
  by `limits.max_log_batch_bytes` (etcd refuses requests over 1.5 MiB).
* Follower: each node watches that key from the revision after its last
  stored block and hands every batch, in order, to its pipeline, with the
  time its own clock showed when it first saw the entry (the vote board
  votes only for blocks whose time was then within the stated precision).
  An entry that is not a well-formed, proposer-signed batch is dropped
  whole: it makes no block, on every node alike, and is counted and logged.
  When the node's next revision has been compacted away, it fetches the
  missing blocks from peers (with their certificates) and then watches again.

etcd orders; it is not trusted with content. Anyone who can write to etcd can
put entries, but only a validator's key makes one a block, and every node
checks every transaction it delivers (signatures, rules).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..client.auth import Reader
from ..core.block import tx_signing_bytes, txid_of
from ..core.crypto import KeyPair, verify
from ..core.limits import MAX_BLOCK_TXS_BOUND, STOP_POLL_S, THREAD_JOIN_TIMEOUT_S, Limits
from ..core.ops import SignedTx
from ..core.types import Genesis, TimeMs, Validator
from ..store.base import Store
from .base import OnIgnored, OrderedBatch, log_ignored
from .clock import clock_ms
from .etcd_client import TRANSIENT, Compacted, EtcdClient, keys
from .mempool import Admitted, Mempool
from .peers import Peers, TlsPaths
from .validator_book import ValidatorBook

log = logging.getLogger("tally.etcd")

DELIVERY_QUEUE_BATCHES = 8
PEER_RETRY_S = 0.2


ProposerId = Annotated[str, Meta(min_length=1, max_length=64)]


class LogBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    proposer: ProposerId
    timestamp_ms: TimeMs  # bounded to what every store holds: a larger one drops the entry
    txs: list[bytes]  # signed transactions as JSON


class LogEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    body: bytes  # msgpack of LogBody
    sig: bytes  # the proposer's node key over body


_body_decoder = msgspec.msgpack.Decoder(LogBody)
_entry_decoder = msgspec.msgpack.Decoder(LogEntry)
_signed_decoder = msgspec.json.Decoder(SignedTx)


ENTRY_OVERHEAD_BYTES = 8  # msgpack framing per transaction, counted generously


def chunk_by_bytes(envelopes: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """Split transactions, in order, into batches whose log entries stay under `max_bytes`."""
    chunks: list[list[bytes]] = []
    size = 0
    for envelope in envelopes:
        cost = len(envelope) + ENTRY_OVERHEAD_BYTES
        if not chunks or size + cost > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(envelope)
        size += cost
    return chunks


def encode_entry(key: KeyPair, proposer: str, timestamp_ms: int, envelopes: list[bytes]) -> bytes:
    body = msgspec.msgpack.encode(LogBody(proposer, timestamp_ms, envelopes))
    return msgspec.msgpack.encode(LogEntry(body, key.sign(body)))


@dataclass(frozen=True, slots=True)
class DecodedEntry:
    proposer: str
    timestamp_ms: int
    txs: list[Admitted]


class DroppedEntry(Exception):
    """A log entry that makes no block: malformed, or not signed by a validator."""


def decode_entry(value: bytes, validators: list[Validator]) -> DecodedEntry:
    """The proposer, its timestamp and the transactions of a log entry; raises DroppedEntry."""
    keys_by_id = {v.id: bytes.fromhex(v.public_key) for v in validators}
    try:
        entry = _entry_decoder.decode(value)
        body = _body_decoder.decode(entry.body)
    except msgspec.DecodeError as exc:
        raise DroppedEntry(f"malformed entry: {exc}") from None
    key = keys_by_id.get(body.proposer)
    if key is None:
        raise DroppedEntry(f"proposer {body.proposer!r} is not a validator")
    if not verify(key, entry.body, entry.sig):
        raise DroppedEntry(f"proposer signature of {body.proposer!r} does not verify")
    txs = []
    for envelope in body.txs:
        try:
            signed = _signed_decoder.decode(envelope)
        except msgspec.DecodeError:
            continue  # not a transaction: dropped, the same way on every node
        txs.append(Admitted(txid_of(tx_signing_bytes(signed)), signed, envelope, 0))
    return DecodedEntry(body.proposer, body.timestamp_ms, txs)


class EtcdOrderer:
    def __init__(
        self,
        genesis: Genesis,
        endpoints: list[str],
        peers: list[str],
        mempool: Mempool,
        store: Store,
        validator_id: str,
        validator_key: KeyPair,
        limits: Limits,
        on_ignored: OnIgnored = log_ignored,
        tls: TlsPaths | None = None,
        ledger_bound: Callable[[], int] = lambda: MAX_BLOCK_TXS_BOUND,
        validators: ValidatorBook | None = None,
    ) -> None:
        self.genesis = genesis
        head = store.head()
        self.validators = validators or ValidatorBook(genesis, store.get_state, head.height if head else 0)
        self.on_ignored = on_ignored
        self.etcd = EtcdClient(endpoints, tls)
        self.peers = Peers(peers, self.validators.history, Reader(validator_id, validator_key, "validator"), tls)
        self.mempool = mempool
        self.store = store
        self.validator_id = validator_id
        self.validator_key = validator_key
        self.limits = limits
        self.ledger_bound = ledger_bound  # the council's bound on a block (protocol 5), read at each cut
        self.log_key = keys(genesis.chain)["log"]
        self.next_height = head.height + 1 if head else 1
        self.next_revision = head.log_position + 1 if head else 1
        self.stop_event = threading.Event()
        self._halted = threading.Event()  # no more proposals: the node stopped applying blocks
        self._deliveries: queue.Queue[OrderedBatch] = queue.Queue(DELIVERY_QUEUE_BATCHES)
        self._threads = [
            threading.Thread(target=self._propose_loop, name="tally-propose", daemon=True),
            threading.Thread(target=self._follow_loop, name="tally-follow", daemon=True),
        ]

    def start(self) -> None:
        log.info("following the etcd log from revision %d (block %d)", self.next_revision, self.next_height)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.mempool.wake()
        self.etcd.cancel_watches()
        for thread in self._threads:
            thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
        self.etcd.close()
        self.peers.close()

    def next_batch(self, stop: threading.Event) -> OrderedBatch | None:
        try:
            return self._deliveries.get(timeout=STOP_POLL_S)
        except queue.Empty:
            return None

    def stored(self, height: int, position: int) -> None:
        pass  # the vote board publishes progress and compacts

    def halt_proposals(self) -> None:
        """A node that stopped applying blocks must not put its mempool on the log for others to finalise."""
        self._halted.set()
        self.mempool.wake()

    # --- proposing -------------------------------------------------------------

    def _propose_loop(self) -> None:
        while not self.stop_event.is_set() and not self._halted.is_set():
            if not self._validating():
                self.stop_event.wait(STOP_POLL_S)  # not in the set its batches would land in: they would be dropped
                continue
            most = min(self.limits.max_block_txs, self.ledger_bound())
            txs = self.mempool.take(most, self.limits.block_interval_ms, self.stop_event)
            if self._halted.is_set():
                log.warning("proposals halted: %d transactions of this node's mempool are not proposed", len(txs))
                return
            for chunk in chunk_by_bytes([a.envelope for a in txs], self.limits.max_log_batch_bytes):
                self._append(chunk)

    def _validating(self) -> bool:
        """This node is in the validator set from the follower's next height to the furthest known one."""
        history = self.validators.history()
        first = min(self.next_height, history.known_through)
        ahead = min(history.known_through, self.next_height + 2 * DELIVERY_QUEUE_BATCHES)
        return self.validator_id in history.ids_at(first) and self.validator_id in history.ids_at(ahead)

    def _append(self, envelopes: list[bytes]) -> None:
        """Put one batch on the log, retrying (with fail-over) until it is there or the node stops."""
        value = encode_entry(self.validator_key, self.validator_id, clock_ms(), envelopes)
        while not self.stop_event.is_set():
            try:
                self.etcd.call(lambda c: c.put(self.log_key, value), self.stop_event)
                return
            except TRANSIENT:
                log.warning("etcd unreachable; %d transactions wait to be proposed", len(envelopes))
            except Exception:  # an error etcd's client does not classify: log and retry
                log.exception("proposing a batch failed; retrying")
                self.stop_event.wait(0.5)

    # --- following -------------------------------------------------------------

    def _deliver(self, batch: OrderedBatch) -> None:
        while not self.stop_event.is_set():
            try:
                self._deliveries.put(batch, timeout=STOP_POLL_S)
                self.next_height += 1
                self.next_revision = batch.position + 1
                return
            except queue.Full:
                continue

    def _follow_loop(self) -> None:
        while not self.stop_event.is_set():
            client = self.etcd.client()
            try:
                self._watch(client)
            except Compacted:
                log.info("etcd log compacted past revision %d: fetching blocks from peers", self.next_revision)
                self._catch_up_from_peers()
            except TRANSIENT:
                self.etcd.fail_over(client)
                self.stop_event.wait(0.05)  # back off before watching through the next member
            except Exception:  # an error etcd's client does not classify: log, move on, retry
                log.exception("etcd log watch failed; watching again")
                self.etcd.fail_over(client)
                self.stop_event.wait(0.5)

    def _watch(self, client: Any) -> None:
        events, cancel = self.etcd.watch(client, False, self.log_key, self.next_revision)
        try:
            for event in events:
                if self.stop_event.is_set():
                    return
                if event.mod_revision < self.next_revision:
                    continue
                seen_ms = clock_ms()
                history = self.validators.wait_known(self.next_height, self.stop_event)  # the bound on running ahead
                if history is None:
                    return
                try:
                    entry = decode_entry(event.value, history.at(self.next_height))
                except DroppedEntry as dropped:
                    self.on_ignored("log", f"{self.log_key}@{event.mod_revision}", str(dropped))
                    self.next_revision = event.mod_revision + 1  # no block: the next entry makes the next one
                    continue
                mine = entry.proposer == self.validator_id and all(self.mempool.contains(a.txid) for a in entry.txs)
                batch = OrderedBatch(
                    event.mod_revision, entry.proposer, entry.timestamp_ms, entry.txs, verified=mine, seen_ms=seen_ms
                )
                self._deliver(batch)
        finally:
            cancel()

    def _catch_up_from_peers(self) -> None:
        """Fetch final blocks from peers until etcd's log covers what comes next."""
        while not self.stop_event.is_set():
            batch = self.peers.fetch(self.next_height)
            if batch is None:  # no peer has it final yet: wait, then watch etcd again
                self.stop_event.wait(PEER_RETRY_S)
                return
            self._deliver(batch)
