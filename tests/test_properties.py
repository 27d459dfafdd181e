"""Money rules over random streams of valid and invalid transactions.

After every block: per-asset conservation (sum of balances == issued - burned)
and no negative balance (Chain.block asserts both), no transaction applied
twice, no payment code charged twice, every transaction whose envelope held consumed exactly one seq of its
signer (applied or refused by a rule, protocol 3), and a fresh re-execution of
the same blocks gives the same digests.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Chain, key, setup_chain
from tally.core.block import genesis_digest, tx_signing_bytes, txid_of
from tally.core.chain import Batch, apply_block
from tally.core.errors import ENVELOPE_CODES
from tally.core.execute import Entry
from tally.core.genesis import genesis_memory_state
from tally.core.ops import SignedTx
from tally.core.ops.codes import CODE_TTL_MS, Charge
from tally.core.tables import ACCOUNTS

HOLDERS = ["alice", "bob"]
MERCHANTS = ["cafe", "shop"]
ASSETS = ["MILES", "GIFT", "CASH"]
PEOPLE = HOLDERS + MERCHANTS

action = st.one_of(
    st.tuples(
        st.just("transfer"),
        st.sampled_from(PEOPLE),
        st.sampled_from([*PEOPLE, "ghost"]),
        st.sampled_from(ASSETS),
        st.integers(1, 700),
    ),
    st.tuples(
        st.just("pay"),
        st.sampled_from(PEOPLE),
        st.sampled_from(PEOPLE),
        st.sampled_from([*ASSETS, "NOPE"]),
        st.integers(1, 700),
        st.integers(0, 5),
    ),
    st.tuples(st.just("refund"), st.sampled_from(MERCHANTS), st.integers(0, 5), st.integers(1, 400)),
    st.tuples(st.just("cash_out"), st.sampled_from(PEOPLE), st.sampled_from(ASSETS), st.integers(1, 500)),
    st.tuples(
        st.just("issue"),
        st.sampled_from(["bank-a", "bank-b"]),
        st.sampled_from([*PEOPLE, "bank-a"]),
        st.sampled_from(ASSETS),
        st.integers(1, 500),
    ),
    st.tuples(
        st.just("burn"), st.sampled_from(["bank-a", "bank-b", "alice"]), st.sampled_from(ASSETS), st.integers(1, 300)
    ),
    st.tuples(
        st.just("open_code"),
        st.sampled_from([*HOLDERS, "cafe"]),
        st.integers(0, 1),
        st.sampled_from(ASSETS),
        st.integers(1, 800),
    ),
    st.tuples(
        st.just("charge"),
        st.sampled_from([*MERCHANTS, "bob"]),
        st.integers(0, 1),
        st.integers(1, 300),
        st.integers(0, 5),
    ),
    st.tuples(st.just("wait"), st.integers(1, 2 * CODE_TTL_MS)),
    st.tuples(st.just("replay"), st.integers(0, 10_000)),
    st.tuples(st.just("bad_seq"), st.sampled_from(PEOPLE), st.integers(-3, 3)),
)


def build(c: Chain, act: tuple, history: list[SignedTx]) -> SignedTx | None:  # type: ignore[type-arg]
    kind = act[0]
    if kind == "transfer":
        return c.signer(act[1]).transfer(act[3], act[2], act[4])
    if kind == "pay":
        return c.signer(act[1]).pay(act[3], act[2], act[4], f"p{act[5]}")
    if kind == "refund":
        return c.signer(act[1]).refund(f"p{act[2]}", act[3])
    if kind == "cash_out":
        return c.signer(act[1]).cash_out(act[2], act[3], "BANK/1")
    if kind == "issue":
        return c.signer(act[1]).issue(act[3], act[2], act[4])
    if kind == "burn":
        return c.signer(act[1]).burn(act[2], act[3])
    if kind == "open_code":
        return c.signer(act[1]).open_code(f"{act[2]:020d}", act[3], act[4])
    if kind == "charge":
        return c.signer(act[1]).charge(f"{act[2]:020d}", act[3], f"p{act[4]}")
    if kind == "wait":  # block time moves on: codes expire
        c.now_ms += act[1]
        return None
    if kind == "replay":
        return history[act[1] % len(history)] if history else None
    signer = c.signer(act[1])
    saved = signer.next_seq
    signer.next_seq = max(0, saved + act[2])
    signed = signer.transfer("MILES", "alice" if act[1] != "alice" else "bob", 1)
    signer.next_seq = saved
    return signed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(action, min_size=1, max_size=12), min_size=1, max_size=8))
def test_money_rules_hold_over_random_streams(blocks: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    c = setup_chain()
    recorded: list[tuple[int, list[SignedTx]]] = []
    history: list[SignedTx] = []
    applied: set[str] = set()
    charged: set[str] = set()
    digests = [c.digest]
    seqs = {name: c.account(name).seq for name in [*PEOPLE, "bank-a", "bank-b"]}  # type: ignore[union-attr]
    for acts in blocks:
        txs = [s for s in (build(c, a, history) for a in acts) if s is not None]
        c.now_ms += 1000
        results = c.block(txs)  # asserts conservation and no negative balance
        recorded.append((c.now_ms, txs))
        for signed, result in zip(txs, results, strict=True):
            if result.code == "ok":
                assert result.txid not in applied, "a transaction was applied twice"
                applied.add(result.txid)
                if isinstance(signed.tx, Charge):
                    assert signed.tx.code not in charged, "a payment code was charged twice"
                    charged.add(signed.tx.code)
            if result.code not in ENVELOPE_CODES:
                seqs[signed.tx.signer] += 1
        assert seqs == {name: c.account(name).seq for name in seqs}  # type: ignore[union-attr]
        history.extend(txs)
        digests.append(c.digest)

    # Two fresh executions of the same blocks reach the same digests.
    for _ in range(2):
        fresh = setup_chain()
        state, head = fresh.state, fresh.head
        for height_offset, (timestamp_ms, txs) in enumerate(recorded):
            entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in txs]
            block = apply_block(c.genesis, head, state, Batch("validator-1", timestamp_ms, head.height + 1, entries))
            state.apply(block.writes)
            head = block.head
            assert head.state_digest == digests[height_offset + 1]
        assert state.values == c.state.values


def test_setup_chain_is_deterministic() -> None:
    assert setup_chain().digest == setup_chain().digest
    assert genesis_digest(Chain().genesis) == genesis_digest(Chain().genesis)
    assert genesis_memory_state(Chain().genesis).values.keys() == {ACCOUNTS.key("bank-a"), ACCOUNTS.key("bank-b")}
    assert key("alice").public_key != key("bob").public_key
