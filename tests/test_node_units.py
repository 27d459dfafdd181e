"""Unit tests of the mempool, the state cache, admission and the block pipeline, on real objects.

Every test uses a real SQLite store, real keys and the real mempool, orderer,
cache and pipeline; threads are synchronised by events and queues, and every
wait has a timeout that is only an upper bound.
"""

from __future__ import annotations

import asyncio
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from helpers import CHAIN, T0_MS, Chain, key, make_genesis, setup_chain
from tally.api.backpressure import RefusedBatches
from tally.client.signer import Signer
from tally.core.block import tx_signing_bytes, txid_of
from tally.core.errors import Code
from tally.core.limits import STOP_POLL_S, Limits
from tally.core.ops import SignedTx
from tally.core.tables import BALANCES
from tally.core.types import StateValue
from tally.node.admission import Admission, BatchRejected
from tally.node.pipeline import WRITE_QUEUE_BLOCKS, BlockDone, Pipeline
from tally.node.state_cache import StateCache
from tally.ordering.base import OrderedBatch
from tally.ordering.mempool import Admitted, Mempool, MempoolFull
from tally.ordering.solo import SoloOrderer
from tally.store import BlockRecord, Store, open_store

NOW_MS = T0_MS + 1000  # the clock of admission and of every signer here (the helpers' Chain.now_ms)
BOUND_S = 20.0  # an upper bound on any wait; a passing test never comes near it
VALIDATOR = "validator-1"  # make_genesis()'s one validator


def signer(name: str, *, next_seq: int = 0, chain: str = CHAIN, ttl_ms: int = 3_600_000, as_key: str = "") -> Signer:
    return Signer(name, key(as_key or name), chain, next_seq=next_seq, ttl_ms=ttl_ms, clock_ms=lambda: NOW_MS)


def txid(signed: SignedTx) -> str:
    return txid_of(tx_signing_bytes(signed))


def admitted(signed: SignedTx) -> Admitted:
    return Admitted(txid(signed), signed, msgspec.json.encode(signed), 0)


def transfers(name: str, count: int, *, first_seq: int = 0) -> list[Admitted]:
    s = signer(name, next_seq=first_seq)
    return [admitted(s.transfer("MILES", "bob", 1 + i)) for i in range(count)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "ledger.db", make_genesis())
    yield s
    s.close()


def run_thread(target: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


# --- mempool ------------------------------------------------------------------


def test_mempool_refuses_a_batch_that_does_not_fit_and_adds_none_of_it() -> None:
    mempool = Mempool(3)
    first, more = transfers("alice", 2), transfers("bob", 2)
    assert mempool.add_all(first) == []
    with pytest.raises(MempoolFull):
        mempool.add_all(more)
    assert len(mempool) == 2
    assert not any(mempool.contains(a.txid) for a in more)
    assert not mempool.has_seq("bob", 0) and not mempool.has_seq("bob", 1)
    # items already pending do not count against the bound: one fresh item still fits
    assert mempool.add_all([*first, more[0]]) == []
    assert len(mempool) == 3
    with pytest.raises(MempoolFull):
        mempool.add_all(more[1:])
    assert [a.txid for a in mempool.take(10, 0, threading.Event())] == [a.txid for a in [*first, more[0]]]


def test_mempool_adds_nothing_when_any_item_clashes_on_signer_and_seq() -> None:
    mempool = Mempool(100)
    pending = admitted(signer("alice").transfer("MILES", "bob", 1))
    assert mempool.add_all([pending]) == []
    rival = admitted(signer("alice").transfer("MILES", "bob", 2))  # the same (alice, 0), another txid
    others = transfers("bob", 2)
    assert mempool.add_all([others[0], rival, others[1]]) == [rival.txid]
    assert len(mempool) == 1
    assert not mempool.contains(rival.txid)
    assert not any(mempool.contains(a.txid) for a in others)
    assert not mempool.has_seq("bob", 0)
    assert [a.txid for a in mempool.take(10, 0, threading.Event())] == [pending.txid]


def test_mempool_skips_items_already_pending() -> None:
    mempool = Mempool(100)
    batch = transfers("alice", 3)
    assert mempool.add_all(batch) == []
    assert mempool.add_all(batch[1:]) == []  # a resubmission: no clash with itself, nothing added
    assert len(mempool) == 3
    assert [a.txid for a in mempool.take(10, 0, threading.Event())] == [a.txid for a in batch]
    assert mempool.add_all(batch) == []  # taken but not stored: still pending, still skipped
    assert len(mempool) == 3
    stopped = threading.Event()
    stopped.set()
    assert mempool.take(10, 0, stopped) == []  # nothing was queued again (stopped: take() does not wait)


def test_mempool_contains_and_has_seq() -> None:
    mempool = Mempool(100)
    item = transfers("alice", 1, first_seq=7)[0]
    assert not mempool.contains(item.txid) and not mempool.has_seq("alice", 7)
    mempool.add_all([item])
    assert mempool.contains(item.txid)
    assert mempool.has_seq("alice", 7)
    assert not mempool.has_seq("alice", 6) and not mempool.has_seq("bob", 7)
    assert not mempool.contains(txid(signer("alice", next_seq=7).transfer("MILES", "bob", 99)))


def test_take_cuts_at_max_txs_in_fifo_order() -> None:
    mempool = Mempool(100)
    a, b = transfers("alice", 3), transfers("bob", 4)
    mempool.add_all(a)
    mempool.add_all(b)
    stop = threading.Event()
    order = [x.txid for x in [*a, *b]]
    assert [x.txid for x in mempool.take(3, 0, stop)] == order[:3]
    assert [x.txid for x in mempool.take(3, 0, stop)] == order[3:6]
    assert [x.txid for x in mempool.take(3, 0, stop)] == order[6:]  # linger 0: a short block at once
    assert len(mempool) == 7  # taken is not stored: every one is still pending


def test_take_skips_transactions_done_before_they_were_taken() -> None:
    mempool = Mempool(100)
    batch = transfers("alice", 4)
    mempool.add_all(batch)
    mempool.done([batch[1].txid, batch[2].txid])  # another proposer's block carried them
    assert [x.txid for x in mempool.take(10, 0, threading.Event())] == [batch[0].txid, batch[3].txid]


def test_take_with_linger_returns_as_soon_as_the_block_is_full() -> None:
    mempool = Mempool(100)
    batch = transfers("alice", 5)
    mempool.add_all(batch[:1])
    stop = threading.Event()
    got: list[list[Admitted]] = []
    taker = run_thread(lambda: got.append(mempool.take(5, 3_600_000, stop)))  # would linger an hour
    try:
        mempool.add_all(batch[1:3])
        mempool.add_all(batch[3:])
        taker.join(BOUND_S)
        assert not taker.is_alive(), "take() lingered although the block was full"
    finally:
        stop.set()
        mempool.wake()
        taker.join(BOUND_S)
    assert [[x.txid for x in block] for block in got] == [[x.txid for x in batch]]


def test_done_frees_the_seq_for_another_transaction() -> None:
    mempool = Mempool(100)
    first = admitted(signer("alice").transfer("MILES", "bob", 1))
    again = admitted(signer("alice").transfer("MILES", "bob", 2))  # the same (alice, 0)
    mempool.add_all([first])
    assert mempool.take(10, 0, threading.Event())[0].txid == first.txid
    assert mempool.add_all([again]) == [again.txid]  # taken, not stored: its seq is still held
    mempool.done([first.txid, "not-a-pending-txid"])
    assert len(mempool) == 0
    assert not mempool.contains(first.txid) and not mempool.has_seq("alice", 0)
    assert mempool.add_all([again]) == []
    assert mempool.has_seq("alice", 0) and mempool.contains(again.txid)
    assert [x.txid for x in mempool.take(10, 0, threading.Event())] == [again.txid]


@pytest.mark.parametrize("wake", [True, False], ids=["woken", "polling"])
def test_take_returns_nothing_promptly_once_stopped(wake: bool) -> None:
    mempool = Mempool(100)
    stop = threading.Event()
    got: list[list[Admitted]] = []
    started = time.monotonic()
    taker = run_thread(lambda: got.append(mempool.take(10, 0, stop)))
    stop.set()
    if wake:
        mempool.wake()
    taker.join(BOUND_S)
    assert not taker.is_alive()
    assert got == [[]]
    assert time.monotonic() - started < STOP_POLL_S + 2.0  # at most one poll (plus a loaded machine's slack)


def test_take_with_linger_stops_lingering_once_stopped() -> None:
    mempool = Mempool(100)
    batch = transfers("alice", 2)
    mempool.add_all(batch)
    stop = threading.Event()
    got: list[list[Admitted]] = []
    taker = run_thread(lambda: got.append(mempool.take(10, 3_600_000, stop)))
    stop.set()
    mempool.wake()
    taker.join(BOUND_S)
    assert not taker.is_alive()
    assert [[x.txid for x in block] for block in got] == [[x.txid for x in batch]]  # what it has, not []


# --- state cache --------------------------------------------------------------


class CountingStore:
    """The real store, counting the state reads that reach it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.gets: list[str] = []
        self.batched: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_state(self, key: str) -> StateValue | None:
        self.gets.append(key)
        return self.inner.get_state(key)

    def get_states(self, keys: list[str]) -> dict[str, StateValue]:
        self.batched.append(list(keys))
        return self.inner.get_states(keys)


def bal(account: str) -> str:
    return BALANCES.key(account, "MILES")


def test_get_fills_the_cache_from_the_store(store: Store) -> None:
    store.put_state({bal("h1"): 5})
    counting = CountingStore(store)
    cache = StateCache(counting, 100)  # type: ignore[arg-type]
    assert cache.get(bal("h1")) == 5
    assert cache.get(bal("nobody")) is None
    store.put_state({bal("h1"): 6, bal("nobody"): 1})
    assert cache.get(bal("h1")) == 5  # cached, absent keys too
    assert cache.get(bal("nobody")) is None
    assert cache.read(bal("h1")) == 5
    assert counting.gets == [bal("h1"), bal("nobody")]


def test_read_never_fills_the_cache(store: Store) -> None:
    store.put_state({bal("h1"): 5})
    counting = CountingStore(store)
    cache = StateCache(counting, 100)  # type: ignore[arg-type]
    assert cache.read(bal("h1")) == 5
    store.put_state({bal("h1"): 6})
    assert cache.read(bal("h1")) == 6
    assert cache.get(bal("h1")) == 6
    assert counting.gets == [bal("h1")] * 3


def test_prefetch_loads_missing_keys_in_one_batched_read(store: Store) -> None:
    store.put_state({bal("h1"): 1, bal("h2"): 2})
    counting = CountingStore(store)
    cache = StateCache(counting, 100)  # type: ignore[arg-type]
    assert cache.get(bal("h1")) == 1
    cache.prefetch([bal("h1"), bal("h2"), bal("h3"), bal("h2")])
    assert counting.batched == [[bal("h2"), bal("h3")]]  # cached keys left out, duplicates once
    cache.prefetch([bal("h1"), bal("h3")])
    cache.prefetch([])
    assert len(counting.batched) == 1
    store.put_state({bal("h2"): 20, bal("h3"): 30})
    assert (cache.get(bal("h2")), cache.get(bal("h3"))) == (2, None)  # prefetched, absent ones too
    assert counting.gets == [bal("h1")]


def test_executed_writes_are_seen_before_they_are_stored_and_flushed_in_order(store: Store) -> None:
    store.put_state({bal("h1"): 1, bal("h2"): 2})
    cache = StateCache(store, 100)
    first: dict[str, StateValue | None] = {bal("h1"): 10, bal("h2"): None}
    second: dict[str, StateValue | None] = {bal("h1"): 11}
    cache.apply_executed(first)
    cache.apply_executed(second)
    assert (cache.get(bal("h1")), cache.get(bal("h2"))) == (11, None)  # a deletion is seen too
    assert (cache.read(bal("h1")), cache.read(bal("h2"))) == (11, None)
    with pytest.raises(AssertionError, match="order"):
        cache.flushed(dict(second))  # blocks are flushed in the order executed: not the same dict
    cache2 = StateCache(store, 100)
    cache2.apply_executed(first)
    cache2.apply_executed(second)
    cache2.flushed(first)
    cache2.flushed(second)
    with pytest.raises(IndexError):
        cache2.flushed(second)  # nothing left unflushed


def test_outgrowing_the_bound_keeps_only_unflushed_writes(store: Store) -> None:
    store.put_state({bal(f"h{i}"): i for i in range(1, 6)})
    counting = CountingStore(store)
    cache = StateCache(counting, 3)  # type: ignore[arg-type]
    assert (cache.get(bal("h1")), cache.get(bal("h2"))) == (1, 2)
    block_a: dict[str, StateValue | None] = {bal("h3"): 30}
    cache.apply_executed(block_a)  # 3 entries: within the bound
    block_b: dict[str, StateValue | None] = {bal("h4"): 40, bal("h5"): None}
    cache.apply_executed(block_b)  # 5 > 3: emptied but for the blocks not yet stored
    counting.gets.clear()
    assert [cache.get(bal(f"h{i}")) for i in range(1, 6)] == [1, 2, 30, 40, None]
    assert counting.gets == [bal("h1"), bal("h2")]  # evicted, read again from the store
    # the writer stores block A, then flushes it; B is still unflushed
    store.put_state({bal("h3"): 30})
    cache.flushed(block_a)
    block_c: dict[str, StateValue | None] = {bal("h1"): 100}
    cache.apply_executed(block_c)  # 5 + 1 > 3: emptied but for B and C
    counting.gets.clear()
    assert [cache.get(bal(f"h{i}")) for i in range(1, 6)] == [100, 2, 30, 40, None]
    assert counting.gets == [bal("h2"), bal("h3")]  # h3 stored: it comes from the store now


def test_cache_answers_like_the_ledger_under_a_tiny_bound(store: Store) -> None:
    """Random blocks, stored with a lag, through a cache of 4 entries: every key always answers right."""
    rng = random.Random(7)
    keys = [bal(f"h{i}") for i in range(12)]
    genesis_values: dict[str, StateValue] = {k: rng.randrange(1000) for k in keys[:8]}
    store.put_state(genesis_values)
    ledger: dict[str, StateValue | None] = dict(genesis_values)  # stored state plus every executed block
    cache = StateCache(store, 4)
    unflushed: list[dict[str, StateValue | None]] = []
    for _ in range(300):
        if unflushed and (len(unflushed) > 3 or rng.random() < 0.4):
            block = unflushed.pop(0)
            store.put_state({k: v for k, v in block.items() if v is not None})  # the writer: store, then flush
            cache.flushed(block)
        else:
            block = {k: rng.randrange(1000) for k in rng.sample(keys, rng.randint(1, 3))}
            cache.apply_executed(block)
            ledger.update(block)
            unflushed.append(block)
            assert len(cache._values) <= max(4, sum(len(b) for b in unflushed))  # the bound, or only unflushed
        for k in rng.sample(keys, 3):
            assert cache.get(k) == ledger.get(k)
        assert all(cache.read(k) == ledger.get(k) for k in keys)


RACE_BLOCKS = 50_000
RACE_LAG = 64  # blocks the executor may run ahead of the writer: the deque both threads use
RACE_SECONDS = 4.0  # stop early after this long: bounded on a slow machine


def test_apply_executed_races_flushed_without_error(store: Store) -> None:
    """Regression (1ef47bc): apply_executed iterated the unflushed deque while the writer popped from it.

    There it raised "RuntimeError: deque mutated during iteration" in the executor thread.
    """
    cache = StateCache(store, max_entries=1)  # every apply_executed rebuilds from the unflushed blocks
    blocks: list[dict[str, StateValue | None]] = [
        {bal(f"h{i % 97}"): i, BALANCES.key(f"h{i % 89}", "GIFT"): i} for i in range(RACE_BLOCKS)
    ]
    errors: list[BaseException] = []
    slots = threading.Semaphore(RACE_LAG)
    handoff: queue.Queue[dict[str, StateValue | None] | None] = queue.Queue()
    abort = threading.Event()
    deadline = time.monotonic() + RACE_SECONDS
    counts = {"executed": 0, "flushed": 0}

    def execute() -> None:
        try:
            for writes in blocks:
                while not slots.acquire(timeout=STOP_POLL_S):
                    if abort.is_set():
                        return
                if abort.is_set() or time.monotonic() > deadline:
                    return
                cache.apply_executed(writes)
                counts["executed"] += 1
                handoff.put(writes)
        except BaseException as exc:
            errors.append(exc)
            abort.set()
        finally:
            handoff.put(None)

    def write() -> None:
        try:
            while (writes := handoff.get(timeout=BOUND_S)) is not None:
                cache.flushed(writes)
                counts["flushed"] += 1
                slots.release()
        except BaseException as exc:
            errors.append(exc)
            abort.set()

    threads = [threading.Thread(target=execute, daemon=True), threading.Thread(target=write, daemon=True)]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND_S)
    finally:
        sys.setswitchinterval(switch_interval)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert counts["executed"] == counts["flushed"] > 0
    assert all(cache.get(k) == v for k, v in blocks[counts["executed"] - 1].items())


# --- admission ----------------------------------------------------------------


@pytest.fixture
def chain(store: Store) -> Chain:
    """bank-a (seq 10) issued MILES, GIFT and CASH; alice, bob (holders, seq 0), cafe and shop (merchants)."""
    return setup_chain(store)


@pytest.fixture
def ledger(store: Store, chain: Chain) -> Store:
    return store


def admission_for(store: Store, mempool: Mempool, limits: Limits | None = None) -> Admission:
    cache = StateCache(store, 1000)
    return Admission(make_genesis(), cache, store, mempool, limits or Limits(), None, 1, clock_ms=lambda: NOW_MS)


def submit(admission: Admission, batch: list[SignedTx]) -> list[str]:
    return asyncio.run(admission.submit(batch))


def refused(admission: Admission, batch: list[SignedTx]) -> list[tuple[int, str]]:
    with pytest.raises(BatchRejected) as caught:
        submit(admission, batch)
    return [(f.index, f.code) for f in caught.value.failures]


LIMITS = Limits()
BAD_TXS: dict[str, Callable[[], SignedTx]] = {
    Code.WRONG_CHAIN: lambda: signer("alice", chain="another-chain").transfer("MILES", "bob", 1),
    Code.EXPIRED: lambda: signer("alice", ttl_ms=-1).transfer("MILES", "bob", 1),
    Code.EXPIRY_TOO_FAR: lambda: signer("alice", ttl_ms=LIMITS.max_expiry_ms + 1).transfer("MILES", "bob", 1),
    Code.UNKNOWN_SIGNER: lambda: signer("mallory").transfer("MILES", "bob", 1),
    Code.SEQ_STALE: lambda: signer("bank-a", next_seq=9).issue("MILES", "bob", 1),
    Code.SEQ_FUTURE: lambda: signer("alice", next_seq=LIMITS.max_seq_ahead).transfer("MILES", "bob", 1),
    Code.BAD_SIGNATURE: lambda: signer("alice", as_key="bob").transfer("MILES", "bob", 1),
}


@pytest.mark.parametrize("code", list(BAD_TXS))
def test_admission_refuses_the_whole_batch(ledger: Store, code: str) -> None:
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    good = signer("bob").transfer("MILES", "alice", 1)  # bob holds no MILES: still admissible
    also_good = signer("bank-a", next_seq=10).issue("MILES", "bob", 1)
    assert refused(admission, [good, BAD_TXS[code](), also_good]) == [(1, code)]
    assert len(mempool) == 0
    assert submit(admission, [good, also_good]) == [txid(good), txid(also_good)]


def test_admission_lists_every_failure_of_a_batch(ledger: Store) -> None:
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    batch = [BAD_TXS[code]() for code in BAD_TXS]
    assert refused(admission, batch) == list(enumerate(BAD_TXS))
    assert len(mempool) == 0


def test_admission_accepts_the_edges_of_the_windows(ledger: Store) -> None:
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    batch = [
        signer("alice", ttl_ms=0).transfer("MILES", "bob", 1),  # expires now
        signer("bob", ttl_ms=LIMITS.max_expiry_ms).transfer("MILES", "alice", 1),
        signer("bank-a", next_seq=10 + LIMITS.max_seq_ahead - 1).issue("MILES", "bob", 1),
    ]
    assert submit(admission, batch) == [txid(s) for s in batch]
    assert len(mempool) == 3


def test_admission_refuses_a_seq_used_twice_in_a_batch(ledger: Store) -> None:
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    first = signer("alice").transfer("MILES", "bob", 1)
    second = signer("alice").transfer("MILES", "bob", 2)  # the same seq 0, another transaction
    other = signer("bob").transfer("MILES", "alice", 1)
    assert refused(admission, [first, other, second]) == [(2, Code.DUPLICATE_SEQ)]
    assert len(mempool) == 0


def test_admission_refuses_a_seq_another_pending_transaction_holds(ledger: Store) -> None:
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    pending = signer("alice").transfer("MILES", "bob", 1)
    assert submit(admission, [pending]) == [txid(pending)]
    rival = signer("alice").transfer("MILES", "bob", 2)
    other = signer("bob").transfer("MILES", "alice", 1)
    assert refused(admission, [other, rival]) == [(1, Code.DUPLICATE_SEQ)]
    assert len(mempool) == 1 and not mempool.contains(txid(other))


def test_admission_of_a_known_transaction_is_a_no_op(ledger: Store, chain: Chain) -> None:
    stored = chain.signer("bank-a").issue("MILES", "bob", 5)
    assert chain.one(stored).code == "ok"
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    # stored already: its seq is stale now, yet it is no failure, only its txid
    assert submit(admission, [stored]) == [txid(stored)]
    assert len(mempool) == 0
    pending = signer("alice").transfer("MILES", "bob", 1)
    assert submit(admission, [pending]) == [txid(pending)]
    fresh = signer("bob").transfer("MILES", "alice", 1)
    batch = [pending, stored, fresh, pending]
    assert submit(admission, batch) == [txid(s) for s in batch]
    assert len(mempool) == 2
    assert [a.txid for a in mempool.take(10, 0, threading.Event())] == [txid(pending), txid(fresh)]


def test_admission_puts_a_good_batch_in_the_mempool(ledger: Store) -> None:
    mempool = Mempool(100)
    admission = admission_for(ledger, mempool)
    alice, bob = signer("alice"), signer("bob")
    batch = [alice.transfer("MILES", "bob", 1), alice.pay("GIFT", "cafe", 5, "p1"), bob.transfer("MILES", "alice", 1)]
    assert submit(admission, batch) == [txid(s) for s in batch]
    taken = mempool.take(10, 0, threading.Event())
    assert [a.signed for a in taken] == batch
    assert [a.envelope for a in taken] == [msgspec.json.encode(s) for s in batch]
    assert mempool.has_seq("alice", 1) and mempool.has_seq("bob", 0)


def test_admission_refuses_a_batch_the_mempool_cannot_hold(ledger: Store) -> None:
    mempool = Mempool(1)
    admission = admission_for(ledger, mempool)
    with pytest.raises(MempoolFull):
        submit(admission, [signer("alice").transfer("MILES", "bob", 1), signer("bob").transfer("MILES", "alice", 1)])
    assert len(mempool) == 0


def test_a_full_mempool_refuses_new_batches_before_checking_them_and_takes_resubmissions(ledger: Store) -> None:
    """A flood of retries costs no signature checks: a batch that cannot fit is refused first (here one
    with a forged signature gets MempoolFull, not bad_signature); resubmitting pending ones still works."""
    mempool = Mempool(1)
    admission = admission_for(ledger, mempool)
    alice = signer("alice")
    first = alice.transfer("MILES", "bob", 1)
    assert submit(admission, [first]) == [txid(first)]
    forged = msgspec.structs.replace(signer("bob").transfer("MILES", "alice", 1), sig="00" * 64)
    with pytest.raises(MempoolFull):
        submit(admission, [forged])
    assert submit(admission, [first]) == [txid(first)]  # already pending: needs no room
    assert len(mempool) == 1


# --- pipeline -----------------------------------------------------------------


BLOCK_CLOCK_MS = NOW_MS + 5000


def make_pipeline(
    store: Store,
    mempool: Mempool,
    on_block: Callable[[BlockDone], None],
    *,
    cache: StateCache | None = None,
    orderer: SoloOrderer | None = None,
    max_block_txs: int = 100,
) -> Pipeline:
    head = store.head()
    return Pipeline(
        genesis=make_genesis(),
        store=store,
        cache=cache or StateCache(store, 10_000),
        mempool=mempool,
        orderer=orderer
        or SoloOrderer(
            mempool, VALIDATOR, head.height + 1 if head else 1, max_block_txs, 0, clock_ms=lambda: BLOCK_CLOCK_MS
        ),
        validator_id=VALIDATOR,
        validator_key=key(VALIDATOR),
        certify_alone=True,
        on_block=on_block,
    )


def first_block_txs() -> list[SignedTx]:
    a = signer("bank-a")
    return [
        a.create_asset("MILES", "Miles", "points", 0, True, "none"),
        a.register_account("alice", key("alice").public_key_hex, "holder"),
        a.issue("MILES", "alice", 70),
    ]


def test_a_submitted_batch_becomes_block_1(store: Store) -> None:
    mempool = Mempool(100)
    cache = StateCache(store, 10_000)
    blocks: queue.Queue[BlockDone] = queue.Queue()
    pipeline = make_pipeline(store, mempool, blocks.put, cache=cache)
    admission = Admission(make_genesis(), cache, store, mempool, Limits(), None, 1, clock_ms=lambda: NOW_MS)
    pipeline.start()
    try:
        txids = submit(admission, first_block_txs())
        done = blocks.get(timeout=BOUND_S)
    finally:
        pipeline.stop()
    assert pipeline.failed is None
    assert blocks.empty()
    record = done.record
    assert done.final
    assert (record.header.height, record.header.log_position, record.header.tx_count) == (1, 1, 3)
    assert record.header.timestamp_ms == BLOCK_CLOCK_MS
    assert [r.code for r in done.results] == ["ok", "ok", "ok"]
    assert [t.txid for t in record.txs] == txids
    assert all(ns > 0 for ns in done.accepted_ns)
    head = store.head()
    assert head is not None
    assert (head.height, head.block_hash, head.state_digest) == (1, record.block_hash, record.state_digest)
    assert pipeline.head == pipeline.stored_head == head
    assert store.certificate(1) == record.certificate
    assert [(t.txid, t.code) for t in store.block_txs(1)] == [(t, "ok") for t in txids]
    assert store.get_state(BALANCES.key("alice", "MILES")) == 70
    assert cache.read(BALANCES.key("alice", "MILES")) == 70
    assert not cache._unflushed  # flushed
    assert len(mempool) == 0
    assert not any(mempool.contains(t) for t in txids) and not mempool.has_seq("bank-a", 0)


def test_a_transaction_carried_twice_is_applied_once(store: Store) -> None:
    chain = setup_chain(store)
    mempool = Mempool(100)
    blocks: list[BlockDone] = []
    pipeline = make_pipeline(store, mempool, blocks.append)
    a = chain.signer("bank-a")
    x, y, z = (admitted(a.issue("MILES", "bob", amount)) for amount in (1, 10, 100))
    mempool.add_all([x, y, z])

    def ordered(*txs: Admitted) -> OrderedBatch:
        return OrderedBatch(pipeline.head.height + 1, VALIDATOR, BLOCK_CLOCK_MS, list(txs), verified=True)

    first = pipeline.execute(ordered(x, y, x))  # twice in one batch
    second = pipeline.execute(ordered(y, z))  # in a block executed, not yet stored
    assert [t.txid for t in first[0].txs] == [x.txid, y.txid]
    assert [t.txid for t in second[0].txs] == [z.txid]
    pipeline.write(*first)
    pipeline.write(*second)
    third = pipeline.execute(ordered(x, z))  # in blocks stored
    pipeline.write(*third)
    assert third[0].header.tx_count == 0 and third[0].txs == []
    assert [d.record.header.height for d in blocks] == [3, 4, 5]
    assert [[r.code for r in d.results] for d in blocks] == [["ok", "ok"], ["ok"], []]
    assert store.get_state(BALANCES.key("bob", "MILES")) == 111
    assert [[t.txid for t in store.block_txs(h)] for h in (3, 4, 5)] == [[x.txid, y.txid], [z.txid], []]
    assert len(mempool) == 0


def test_execute_then_write_makes_the_block_the_threads_make(tmp_path: Path) -> None:
    txs = first_block_txs()
    threaded_store = open_store(tmp_path / "threaded.db", make_genesis())
    direct_store = open_store(tmp_path / "direct.db", make_genesis())
    try:
        mempool = Mempool(100)
        threaded_blocks: queue.Queue[BlockDone] = queue.Queue()
        threaded = make_pipeline(threaded_store, mempool, threaded_blocks.put)
        threaded.start()
        try:
            assert mempool.add_all([admitted(s) for s in txs]) == []
            through_threads = threaded_blocks.get(timeout=BOUND_S)
        finally:
            threaded.stop()
        assert threaded.failed is None

        direct_blocks: list[BlockDone] = []
        direct = make_pipeline(direct_store, Mempool(100), direct_blocks.append)
        executed = direct.execute(OrderedBatch(1, VALIDATOR, BLOCK_CLOCK_MS, [admitted(s) for s in txs], True))
        direct.write(*executed)
        assert [d.record for d in direct_blocks] == [executed[0]]
        assert executed[0] == through_threads.record
        assert executed[2] == through_threads.results
        assert direct_blocks[0].final and through_threads.final
        assert direct_store.head() == threaded_store.head()
        assert dict(direct_store.state_items()) == dict(threaded_store.state_items())
    finally:
        threaded_store.close()
        direct_store.close()


class FailingStore:
    """The real store, but write_block fails: once `fail` is set (it waits for it)."""

    def __init__(self, inner: Store, fail: threading.Event) -> None:
        self.inner = inner
        self.fail = fail

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write_block(self, record: BlockRecord) -> None:
        self.fail.wait(BOUND_S)
        raise OSError("disk I/O error (injected)")


class SignallingOrderer(SoloOrderer):
    """The real solo orderer, one transaction a block; sets `reached` once it handed out block `height`."""

    def __init__(self, mempool: Mempool, height: int, reached: threading.Event) -> None:
        super().__init__(mempool, VALIDATOR, 1, 1, 0, clock_ms=lambda: BLOCK_CLOCK_MS)
        self.height = height
        self.reached = reached

    def next_batch(self, stop: threading.Event) -> OrderedBatch | None:
        batch = super().next_batch(stop)
        if batch is not None and batch.position >= self.height:
            self.reached.set()
        return batch


def test_stop_returns_when_the_writer_died_with_a_full_write_queue(store: Store) -> None:
    """Regression (1ef47bc): stop() blocked forever putting its end marker on the full queue of a dead writer."""
    # The writer holds block 1 in write_block; the executor queues 2 and 3 (the queue is full), then takes
    # block 4: only then does write_block fail, killing the writer with the queue full.
    height = WRITE_QUEUE_BLOCKS + 2
    reached = threading.Event()
    failing = FailingStore(store, reached)
    mempool = Mempool(100)
    pipeline = make_pipeline(
        failing,  # type: ignore[arg-type]
        mempool,
        lambda done: None,
        orderer=SignallingOrderer(mempool, height, reached),
    )
    a = signer("bank-a")
    mempool.add_all(
        [admitted(a.register_account(f"user{i}", key(f"user{i}").public_key_hex, "holder")) for i in range(height)]
    )
    pipeline.start()
    assert reached.wait(BOUND_S)
    assert pipeline.stop_event.wait(BOUND_S)  # the writer failed and stopped the pipeline
    assert pipeline._to_writer.full()
    stopper = run_thread(pipeline.stop)
    stopper.join(BOUND_S)
    assert not stopper.is_alive(), "Pipeline.stop() hung"
    assert isinstance(pipeline.failed, OSError)
    assert store.head() is None


class CommitsDuringLookup:
    """The real store; right after it answers admission's known-txid query, `then` runs once (the writer)."""

    def __init__(self, inner: Store, then: Callable[[], None]) -> None:
        self.inner = inner
        self.then: Callable[[], None] | None = then

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def known_txids(self, txids: list[str]) -> set[str]:
        known = self.inner.known_txids(txids)
        then, self.then = self.then, None
        if then is not None:
            then()
        return known


def test_a_resubmission_racing_its_own_commit_is_a_no_op(store: Store, chain: Chain) -> None:
    """The writer stores the transaction's block (store, then mempool.done) between admission's two lookups."""
    mempool = Mempool(100)
    cache = StateCache(store, 1000)
    pipeline = make_pipeline(store, mempool, lambda done: None, cache=cache)
    signed = chain.signer("alice").transfer("MILES", "bob", 1)
    first = Admission(make_genesis(), cache, store, mempool, Limits(), None, 1, clock_ms=lambda: NOW_MS)
    assert submit(first, [signed]) == [txid(signed)]
    executed = pipeline.execute(
        OrderedBatch(3, VALIDATOR, BLOCK_CLOCK_MS, mempool.take(10, 0, threading.Event()), True)
    )
    racing = CommitsDuringLookup(store, lambda: pipeline.write(*executed))
    again = Admission(make_genesis(), cache, racing, mempool, Limits(), None, 1, clock_ms=lambda: NOW_MS)  # type: ignore[arg-type]
    try:
        assert submit(again, [signed]) == [txid(signed)]  # committed: a no-op, not a refusal
    except BatchRejected as rejected:
        pytest.fail(f"a committed transaction was refused: {[(f.code, f.message) for f in rejected.failures]}")
    assert store.tx(txid(signed)) is not None and len(mempool) == 0


def test_mempool_add_all_counts_each_new_transaction_once_and_refuses_a_seq_twice_in_one_call() -> None:
    alice = setup_chain().signer("alice")
    a = alice.transfer("MILES", "bob", 1)
    b = alice.sign(msgspec.structs.replace(alice.transfer("MILES", "bob", 2).tx, seq=a.tx.seq))
    one = Mempool(1)
    assert one.add_all([admitted(a), admitted(a)]) == []  # the same transaction twice takes one slot
    assert [t.txid for t in one.take(10, 0, threading.Event())] == [admitted(a).txid]
    other = Mempool(10)
    assert other.add_all([admitted(a), admitted(b)]) == [admitted(b).txid]  # one (signer, seq), two transactions
    assert len(other) == 0


def test_a_refused_batch_is_remembered_while_there_is_no_room_for_it() -> None:
    """The API refuses a retried batch unread while the mempool still lacks room; room makes it forget."""
    mempool = Mempool(3)
    memo = RefusedBatches(mempool, remembered=2)
    first, second, third = (RefusedBatches.key(b) for b in (b"a", b"b", b"c"))
    assert not memo.still_full(first)
    memo.refused(first, 4)  # more than the mempool can ever hold: refused for good
    memo.refused(second, 2)
    assert memo.still_full(first) and not memo.still_full(second)  # 2 fit now: forgotten, read again
    held = [
        Admitted(f"t{i}", signer(name).transfer("MILES", "cafe", 1), b"{}", 0)
        for i, name in enumerate(["alice", "bob"])
    ]
    assert mempool.add_all(held) == []
    memo.refused(second, 2)
    assert memo.still_full(second)  # 2 + 2 > 3
    memo.refused(third, 1)  # the oldest is forgotten past `remembered`
    assert not memo.still_full(first) and memo.still_full(second) is True and not memo.still_full(third)
