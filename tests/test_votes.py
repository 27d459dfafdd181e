"""VoteBoard against a real single-member etcd and a real SQLite store.

The board under test is validator-1 of four; the tests act as the other three
by putting their votes into etcd under the key layout and in the value format
the board reads (`vote_key`, `VoteValue`, signed with `sign_vote`). Blocks
come from the core's block transition and are stored without a certificate,
as the etcd pipeline stores them until the votes arrive.

Every wait is bounded: callbacks are awaited on a condition, etcd is polled
with a deadline. Each test has its own etcd member, stopped in the fixture's
finaliser, and every board is stopped (its threads joined) there too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest

from helpers import CHAIN, Chain, key, make_genesis, until
from tally.core.block import certificate_fault, sign_vote, vote_for, vote_signature_ok
from tally.core.chain import Divergence
from tally.core.crypto import KeyPair, sha256
from tally.core.limits import Limits
from tally.core.types import Certificate, Validator
from tally.core.validators import genesis_history
from tally.dev.etcd_cluster import EtcdCluster, EtcdMember
from tally.dev.process import free_ports
from tally.ordering import etcd_client, votes
from tally.ordering.clock import clock_ms
from tally.ordering.etcd_client import TRANSIENT, EtcdClient, keys
from tally.ordering.votes import VoteBoard, VoteValue, vote_key
from tally.store import BlockRecord, Store, open_store

VALIDATORS = [f"validator-{i}" for i in range(1, 5)]
ME = VALIDATORS[0]
GENESIS = msgspec.structs.replace(
    make_genesis(),
    genesis_time_ms=1_700_000_000_000,  # in the past: blocks carry the real clock's time, which votes judge
    validators=[Validator(id=v, public_key=key(v).public_key_hex) for v in VALIDATORS],
)
VOTES = keys(CHAIN)["votes"]
WAIT_S = 30.0  # for what must happen (a certificate, a vote in etcd)
BUG_WAIT_S = 5.0  # upper bound for what the fixed bugs once kept from happening (it takes ~0.1 s)
PROMPT_S = 3.0  # how long stop() may take
POLL_S = 0.05
FAILED_PUT = "etcd unreachable: vote for block"  # the board's warning when a put of its vote failed


class Uncertified:
    """Where a Chain writes its blocks: kept without their certificate, as the etcd pipeline first stores one."""

    def __init__(self) -> None:
        self.records: list[BlockRecord] = []

    def write_block(self, record: BlockRecord) -> None:
        self.records.append(dataclasses.replace(record, certificate=None))

    def put_state(self, values: dict[str, object]) -> None:
        pass  # the genesis state: the board's store has its own


def make_blocks(count: int, ahead_ms: int = 0) -> list[BlockRecord]:
    """`count` consecutive blocks of GENESIS from the core (bank-a registers a holder in each); none stored.

    Their time is the clock's now, or `ahead_ms` after it (a proposer with a fast clock).
    """
    out = Uncertified()
    chain = Chain(genesis=GENESIS, store=cast(Store, out), now_ms=clock_ms() + ahead_ms)
    bank = chain.signer("bank-a")
    for n in range(count):
        assert chain.one(bank.register_account(f"holder-{n}", key(f"holder-{n}").public_key_hex, "holder")).code == "ok"
    return out.records


def vote_value(validator: str, record: BlockRecord, digest: str | None = None, signer: KeyPair | None = None) -> bytes:
    """A vote as a validator puts it (signed by `signer`, its own key unless given)."""
    state_digest = record.state_digest if digest is None else digest
    vote = vote_for(CHAIN, record.header.height, record.block_hash, state_digest, record.results_root)
    sig = sign_vote(signer or key(validator), validator, vote).sig
    return msgspec.json.encode(VoteValue(record.block_hash, state_digest, sig, vote.results_root))


def signers(cert: Certificate) -> set[str]:
    return {s.validator for s in cert.signatures}


class Callbacks:
    """What the board reported, awaited on a condition (the board calls from its own threads)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.certificates: list[Certificate] = []
        self.divergences: list[Divergence] = []
        self.ignored: list[tuple[str, str]] = []  # (kind, key)
        self.untimely: list[tuple[str, int]] = []  # (proposer, height)

    def on_ignored(self, kind: str, key_: str, reason: str) -> None:
        with self.changed:
            self.ignored.append((kind, key_))
            self.changed.notify_all()

    def on_untimely(self, proposer: str, height: int, ahead_ms: int) -> None:
        with self.changed:
            self.untimely.append((proposer, height))
            self.changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(condition, WAIT_S):
                raise AssertionError(f"timed out after {WAIT_S} s waiting for {what}")

    def on_certificate(self, cert: Certificate) -> None:
        with self.changed:
            self.certificates.append(cert)
            self.changed.notify_all()

    def on_divergence(self, divergence: Divergence) -> None:
        with self.changed:
            self.divergences.append(divergence)
            self.changed.notify_all()

    def certified(self, height: int) -> list[Certificate]:
        with self.changed:
            return [c for c in self.certificates if c.height == height]

    def wait_certificate(self, height: int, timeout_s: float = WAIT_S) -> Certificate:
        with self.changed:
            if not self.changed.wait_for(lambda: any(c.height == height for c in self.certificates), timeout_s):
                raise AssertionError(f"no certificate for height {height} within {timeout_s} s")
        return self.certified(height)[0]

    def wait_divergence(self, timeout_s: float = WAIT_S) -> Divergence:
        with self.changed:
            if not self.changed.wait_for(lambda: bool(self.divergences), timeout_s):
                raise AssertionError(f"no divergence within {timeout_s} s")
            return self.divergences[0]


class FailedPuts(logging.Handler):
    """Sets `seen` once the board logs that a put of its vote failed (etcd unreachable)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(FAILED_PUT):
            self.seen.set()


@dataclasses.dataclass
class Harness:
    cluster: EtcdCluster
    member: EtcdMember
    etcd: EtcdClient  # the tests' own client: they act as the other validators
    store: Store
    calls: Callbacks
    boards: list[VoteBoard] = dataclasses.field(default_factory=list)

    def board(self, start: bool = True) -> VoteBoard:
        board = VoteBoard(
            GENESIS,
            self.cluster.endpoints,
            self.store,
            ME,
            key(ME),
            Limits(),
            self.calls.on_certificate,
            self.calls.on_divergence,
            self.calls.on_ignored,
            self.calls.on_untimely,
        )
        if start:
            board.start()
            self.boards.append(board)
        return board

    def store_blocks(self, records: list[BlockRecord]) -> None:
        for record in records:
            self.store.write_block(record)

    def put(self, key_: str | bytes, value: bytes) -> None:
        self.etcd.call(lambda c: c.put(key_, value))

    def vote(self, validator: str, record: BlockRecord, digest: str | None = None) -> None:
        self.put(vote_key(VOTES, record.header.height, validator), vote_value(validator, record, digest))

    def stored_vote(self, height: int, validator: str) -> VoteValue | None:
        """The vote etcd holds for (height, validator); None when absent or etcd is unreachable."""
        try:
            value, _meta = self.etcd.call(lambda c: c.get(vote_key(VOTES, height, validator)))
        except TRANSIENT:
            return None
        return None if value is None else msgspec.json.decode(value, type=VoteValue)

    def kill_etcd(self) -> None:
        self.cluster.kill_member(self.member.name)

    def restart_etcd(self) -> None:
        self.cluster.start_member(self.member)  # same data dir: the same one-member cluster
        self.cluster.wait_healthy(self.member, WAIT_S)

    def stop_board(self, board: VoteBoard) -> float:
        """Stop the board and return how long stop() took; every board thread has ended after it (bounded)."""
        started = time.monotonic()
        board.stop()
        elapsed = time.monotonic() - started
        for thread in board._threads:
            thread.join(WAIT_S)
        assert not [t.name for t in board._threads if t.is_alive()], "board threads left running after stop()"
        return elapsed


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """A fresh one-member etcd on free loopback ports, an empty store of GENESIS; all stopped afterwards."""
    client_port, peer_port = free_ports(2)
    member = EtcdMember("etcd-1", client_port, peer_port)
    cluster = EtcdCluster(tmp_path / "etcd", [member], token=f"votes-{client_port}")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(cluster.stop)  # registered first, run last: no etcd outlives the test
        cluster.start(ready_timeout_s=WAIT_S)
        store = open_store(tmp_path / "ledger.db", GENESIS)
        cleanup.callback(store.close)
        etcd = EtcdClient(cluster.endpoints)
        cleanup.callback(etcd.close)
        harness = Harness(cluster, member, etcd, store, Callbacks())

        def stop_boards() -> None:
            for board in harness.boards:
                harness.stop_board(board)

        cleanup.callback(stop_boards)
        yield harness


def test_a_quorum_of_matching_votes_certifies_once_and_two_of_four_do_not(h: Harness) -> None:
    first, second, third = blocks = make_blocks(3)
    h.store_blocks(blocks)
    h.board()  # votes for every stored, uncertified block as it starts
    h.vote("validator-2", first)  # 2 of 4 on the first block
    h.vote("validator-2", second)
    h.vote("validator-3", second)  # 3 of 4 on the second
    cert = h.calls.wait_certificate(2)
    assert signers(cert) == {ME, "validator-2", "validator-3"}
    assert certificate_fault(cert, genesis_history(GENESIS), second.header, second.state_digest) is None
    # Votes are counted in order (revisions when watching, keys when loading): the first block's two came first.
    assert h.calls.certified(1) == []

    h.vote("validator-3", first)
    cert = h.calls.wait_certificate(1)
    assert signers(cert) == {ME, "validator-2", "validator-3"}
    assert certificate_fault(cert, genesis_history(GENESIS), first.header, first.state_digest) is None
    assert certificate_fault(cert, genesis_history(GENESIS), second.header, second.state_digest) is not None

    h.vote("validator-4", first)  # a fourth matching vote after the certificate
    h.vote("validator-2", third)
    h.vote("validator-3", third)
    h.calls.wait_certificate(3)  # counted after the fourth vote on the first block
    assert len(h.calls.certified(1)) == 1
    assert len(h.calls.certified(2)) == 1
    assert h.calls.divergences == []


def test_a_quorum_on_another_state_digest_reports_a_divergence(h: Harness) -> None:
    first, second = blocks = make_blocks(2)
    h.store_blocks(blocks)
    h.board()
    theirs = sha256(b"some other state").hex()
    h.vote("validator-2", first, theirs)
    h.vote("validator-3", first, theirs)  # 2 of 4 on another digest: nothing yet
    h.vote("validator-2", second)
    h.vote("validator-3", second)
    h.calls.wait_certificate(2)
    assert h.calls.divergences == []

    h.vote("validator-4", first, theirs)
    divergence = h.calls.wait_divergence()
    assert (divergence.height, divergence.ours, divergence.certified) == (1, first.state_digest, theirs)
    assert h.calls.certified(1) == []


def garbage(record: BlockRecord) -> list[tuple[str | bytes, bytes]]:
    """Keys and values under the votes prefix that are no vote of the validator set; the last per key weighs most."""
    height = record.header.height
    good = vote_value("validator-2", record)
    vote = vote_for(CHAIN, height, record.block_hash, record.state_digest, record.results_root)
    other = vote_for(CHAIN, height, record.block_hash, sha256(b"other").hex(), record.results_root)
    v1 = vote_for(CHAIN, height, record.block_hash, record.state_digest)  # protocol 1's vote: no results root

    def value(sig: str, root: str | None = record.results_root) -> bytes:
        return msgspec.json.encode(VoteValue(record.block_hash, record.state_digest, sig, root or msgspec.UNSET))

    return [
        (vote_key(VOTES, height, "validator-2"), b'{"hello": 1}'),  # JSON, not a vote
        (vote_key(VOTES, height, "validator-2"), b"[]"),
        (vote_key(VOTES, height, "validator-2"), b"\xff\xfe"),  # not UTF-8
        (vote_key(VOTES, height, "validator-2"), b""),
        (vote_key(VOTES, height, "validator-2"), b"not json {"),
        (vote_key(VOTES, height, "validator-2"), b'{"sig":"zz"}'),  # the one that stopped finality
        (vote_key(VOTES, height, "validator-2"), b'{"block_hash":1,"state_digest":[],"sig":"zz"}'),
        (vote_key(VOTES, height, "validator-2"), value("ab" * 64).replace(b'"sig"', b'"sig":"","x"')),
        (vote_key(VOTES, height, "validator-3"), value(sign_vote(key("validator-3"), "validator-3", v1).sig, None)),
        (vote_key(VOTES, height, "validator-3"), value("abc")),  # odd-length hex
        (vote_key(VOTES, height, "validator-3"), value("ab" * 64 + "\n")),  # a trailing newline
        (vote_key(VOTES, height, "validator-3"), value("zz" * 64)),  # not hex
        (vote_key(VOTES, height, "validator-4"), value("abcd")),  # hex, far too short
        (vote_key(VOTES, height, "validator-4"), value(sign_vote(key("validator-4"), "validator-4", other).sig)),
        (vote_key(VOTES, height, "validator-4"), value(sign_vote(key("validator-2"), "validator-4", vote).sig)),
        (vote_key(VOTES, height, "mallory"), value(sign_vote(key("mallory"), "mallory", vote).sig)),  # unknown
        (vote_key(VOTES, height, "validator-5"), value(sign_vote(key("validator-5"), "validator-5", vote).sig)),
        (f"{VOTES}{height:012d}/validator-2/extra", good),
        (f"{VOTES}notanumber/validator-2", good),  # non-numeric height
        (f"{VOTES}{height:012d}", good),  # no validator
        (f"{VOTES}000000000000/validator-2", good),  # height 0
        (f"{VOTES}-00000000001/validator-2", good),
        (f"{VOTES}", good),
    ]


def test_garbage_under_the_votes_prefix_is_ignored_and_never_stops_counting(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = blocks = make_blocks(2)
    h.store_blocks(blocks)
    for key_, value in garbage(first):  # there before the board starts: read when it loads the votes
        h.put(key_, value)
    h.board()
    h.vote("validator-2", first)
    h.vote("validator-3", first)
    cert = h.calls.wait_certificate(1)
    assert signers(cert) == {ME, "validator-2", "validator-3"}  # validator-4's bad signature joined nothing
    assert certificate_fault(cert, genesis_history(GENESIS), first.header, first.state_digest) is None

    for key_, value in garbage(second):  # put after a certificate: these arrive as watch events
        h.put(key_, value)
    h.vote("validator-2", second)
    h.vote("validator-3", second)
    cert = h.calls.wait_certificate(2)
    assert signers(cert) == {ME, "validator-2", "validator-3"}
    assert certificate_fault(cert, genesis_history(GENESIS), second.header, second.state_digest) is None
    assert h.calls.divergences == []
    # Ignored and reported (key by key, to be counted in a metric), never an error that restarts the
    # watch or fails over to another etcd member.
    complaints = [
        r.getMessage() for r in caplog.records if r.name.startswith("tally.") and r.levelno >= logging.WARNING
    ]
    assert complaints == [], complaints
    assert {kind for kind, _ in h.calls.ignored} == {"vote"}
    reported = {k for _, k in h.calls.ignored}
    # (keys no good vote overwrites later: those of a validator may be replaced before the board reads them)
    assert vote_key(VOTES, 1, "mallory") in reported and f"{VOTES}notanumber/validator-2" in reported
    assert vote_key(VOTES, 2, "mallory") in reported  # and the garbage that arrived through the watch


def test_a_key_that_is_not_utf8_does_not_stop_counting(h: Harness) -> None:
    (first,) = blocks = make_blocks(1)
    h.store_blocks(blocks)
    board = h.board()
    try:
        # Sorts before every height ('+' < '0'), so each reload of the votes meets it before any vote.
        h.put(VOTES.encode() + b"+\xff/validator-2", vote_value("validator-2", first))
        h.vote("validator-2", first)
        h.vote("validator-3", first)
        h.calls.wait_certificate(1, BUG_WAIT_S)
    finally:
        h.stop_board(board)  # before pytest reports, so that nothing is left failing over every 50 ms meanwhile


def test_publish_puts_our_vote_for_a_stored_block(h: Harness) -> None:
    first, second = make_blocks(2)
    h.store_blocks([first])
    board = h.board()
    h.vote("validator-2", second)  # the others' quorum on a block not stored here yet
    h.vote("validator-3", second)
    h.vote("validator-4", second)

    h.store_blocks([second])
    board.publish(second, clock_ms())
    until(lambda: h.stored_vote(2, ME) is not None, "our vote for block 2 in etcd")
    ours = h.stored_vote(2, ME)
    assert ours is not None
    assert (ours.block_hash, ours.state_digest) == (second.block_hash, second.state_digest)
    assert vote_signature_ok(
        GENESIS.validators[0],
        vote_for(CHAIN, 2, second.block_hash, second.state_digest, second.results_root),
        ours.sig,
    )
    cert = h.calls.wait_certificate(2)  # stored and voted: the quorum that came first now certifies it
    assert {"validator-2", "validator-3", "validator-4"} <= signers(cert)
    assert certificate_fault(cert, genesis_history(GENESIS), second.header, second.state_digest) is None

    first_vote = h.stored_vote(1, ME)  # voted as it started (stored before, uncertified)
    assert first_vote is not None and first_vote.block_hash == first.block_hash
    h.vote("validator-2", first)
    h.vote("validator-3", first)
    assert signers(h.calls.wait_certificate(1)) == {ME, "validator-2", "validator-3"}


@pytest.fixture
def failed_puts(monkeypatch: pytest.MonkeyPatch) -> Iterator[FailedPuts]:
    """Puts give up after 3 tries (not 40), so a put fails soon after etcd goes; the board's warning is watched."""
    monkeypatch.setattr(etcd_client, "RETRIES", 3)
    handler = FailedPuts()
    logger = logging.getLogger("tally.votes")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_a_vote_whose_put_failed_is_retried_until_etcd_is_back(h: Harness, failed_puts: FailedPuts) -> None:
    """Regression (1ef47bc): a vote whose put failed was logged and dropped until the node restarted."""
    first, second = make_blocks(2)
    board = h.board()
    h.kill_etcd()
    h.store_blocks([first])
    board.publish(first, clock_ms())
    assert failed_puts.seen.wait(WAIT_S), "the put of our vote never failed with etcd down"
    h.restart_etcd()
    until(lambda: h.stored_vote(1, ME) is not None, "our vote for block 1 in etcd after etcd came back")
    ours = h.stored_vote(1, ME)
    assert ours is not None and (ours.block_hash, ours.state_digest) == (first.block_hash, first.state_digest)
    h.vote("validator-2", first)
    h.vote("validator-3", first)
    cert = h.calls.wait_certificate(1)  # a quorum only with our vote
    assert signers(cert) == {ME, "validator-2", "validator-3"}

    h.store_blocks([second])  # and the board goes on as before the outage
    board.publish(second, clock_ms())
    h.vote("validator-2", second)
    h.vote("validator-3", second)
    assert signers(h.calls.wait_certificate(2)) == {ME, "validator-2", "validator-3"}
    assert h.stop_board(board) < PROMPT_S


def test_stop_while_a_vote_is_retrying_returns_promptly(h: Harness, failed_puts: FailedPuts) -> None:
    (first,) = make_blocks(1)
    board = h.board()
    h.kill_etcd()
    h.store_blocks([first])
    board.publish(first, clock_ms())
    assert failed_puts.seen.wait(WAIT_S), "the put of our vote never failed with etcd down"
    assert h.stop_board(board) < PROMPT_S  # the publish thread is in its retry loop


def test_stop_returns_promptly_when_no_votes_arrive(h: Harness) -> None:
    """Regression (before 796a571): stop() waited in the vote watch for the next vote, up to 30 s."""
    first, second = blocks = make_blocks(2)
    h.store_blocks(blocks)
    board = h.board()
    h.vote("validator-2", first)
    h.vote("validator-3", first)
    h.calls.wait_certificate(1)
    h.vote("validator-2", second)  # put after a certificate: delivered by the watch, so it is open
    h.vote("validator-3", second)
    h.calls.wait_certificate(2)
    assert h.stop_board(board) < PROMPT_S  # the watch is open and idle


def test_stop_while_the_watch_is_being_opened_returns_promptly(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(votes, "THREAD_JOIN_TIMEOUT_S", 2 * PROMPT_S)  # the bug then costs 6 s, not 30
    board = h.board(start=False)
    open_watch = board.etcd.watch
    in_window = threading.Event()

    def late_watch(*args: Any) -> Any:
        """Stop lands after the votes were loaded and before the watch is open (one round trip, in a real run)."""
        in_window.set()
        board.stop_event.wait(WAIT_S)
        return open_watch(*args)

    monkeypatch.setattr(board.etcd, "watch", late_watch)
    board.start()
    h.boards.append(board)
    assert in_window.wait(WAIT_S)
    assert h.stop_board(board) < PROMPT_S


def test_start_with_etcd_down_returns(h: Harness) -> None:
    h.store_blocks(make_blocks(1))  # stored before a restart, not yet certified
    h.kill_etcd()
    board = h.board(start=False)
    starting = threading.Thread(target=board.start, name="test-board-start")
    starting.start()
    try:
        starting.join(BUG_WAIT_S)
        assert not starting.is_alive(), f"VoteBoard.start() still blocked after {BUG_WAIT_S} s with etcd down"
    finally:
        board.stop_event.set()  # lets a blocked start() finish (its threads then exit at once)
        starting.join(WAIT_S)
        assert not starting.is_alive()
        h.stop_board(board)


def test_garbage_progress_records_are_ignored_and_never_stop_compaction(h: Harness) -> None:
    """Regression: one malformed progress record (`stored/...`) stopped log compaction on every node."""
    blocks = make_blocks(10)
    h.store_blocks(blocks)
    stored = keys(CHAIN)["stored"]
    for key_, value in [
        (stored + "mallory", b"10:10"),  # not a validator
        (stored + "validator-2/extra", b"garbage"),
        (stored + "x", b"1:2:3"),
        (stored, b""),
        (stored.encode() + b"\xff", b"\xff\xfe"),
        (stored + "y", b"99999999999999999999:1"),
        (stored + "z", b"10:10\n"),
    ]:
        h.put(key_, value)
    for validator in VALIDATORS[1:]:
        h.put(stored + validator, b"10:10")  # every other validator stored all ten blocks
    board = h.board()
    until(lambda: board._compacted_position >= 10, "compaction to the position every validator stored")
    assert {kind for kind, _ in h.calls.ignored} == {"progress"}
    assert stored + "mallory" in {k for _, k in h.calls.ignored}


def test_a_block_stamped_ahead_of_our_clock_gets_no_vote_and_names_its_proposer(h: Harness) -> None:
    """Proposer-based time: a block whose time is past our clock plus the precision is never voted for."""
    limits = Limits()
    (ahead,) = make_blocks(1, ahead_ms=48 * 3600 * 1000)  # a proposer whose clock is 48 hours fast
    board = h.board()
    h.store_blocks([ahead])
    board.publish(ahead, clock_ms())
    h.calls.wait_for(lambda: bool(h.calls.untimely), "the untimely block reported")
    assert h.calls.untimely == [("validator-1", 1)]
    assert h.stored_vote(1, ME) is None  # decided before any put: no vote, now or later
    for validator in VALIDATORS[1:]:
        h.vote(validator, ahead)  # in this test the others vote; honest ones with good clocks would not
    assert signers(h.calls.wait_certificate(1)) == set(VALIDATORS[1:])

    h2_blocks = make_blocks(2, ahead_ms=limits.block_time_precision_ms // 2)  # within the precision
    timely = h2_blocks[1]
    h.store_blocks([timely])
    board.publish(timely, clock_ms())
    until(lambda: h.stored_vote(2, ME) is not None, "our vote for a block within the precision")
    assert h.calls.untimely == [("validator-1", 1)]
