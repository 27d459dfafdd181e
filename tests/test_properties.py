"""Money rules over random streams of valid and invalid transactions.

After every block: per-asset conservation (sum of balances == issued - burned)
and no negative balance (Chain.block asserts both), no transaction applied
twice, no payment code charged twice, every transaction whose envelope held consumed exactly one seq of its
signer (applied or refused by a rule, protocol 3), and a fresh re-execution of
the same blocks gives the same digests. The streams also freeze and unfreeze
accounts and assets (regulator `fsc`), change limits, and rotate keys: value
never leaves an account or asset that stays frozen through a block.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import Chain, key, setup_chain
from tally.core.block import genesis_digest, tx_signing_bytes, txid_of
from tally.core.chain import Batch, apply_block, signature_checks
from tally.core.crypto import KeyPair, verify
from tally.core.errors import ENVELOPE_CODES
from tally.core.execute import Entry
from tally.core.genesis import genesis_memory_state
from tally.core.ops import SignedTx, tx_type
from tally.core.ops.codes import CODE_TTL_MS, Charge
from tally.core.ops.controls import UnfreezeTx
from tally.core.ops.keys import RotateKey
from tally.core.tables import ACCOUNTS, BALANCES, COUNCIL_PARAMS, FREEZES, LIMITS, PARAMS, SCHEDULE, VALIDATOR_SETS
from tally.core.types import AdmitMember, TxResult

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
    st.tuples(
        st.sampled_from(["freeze", "unfreeze"]),
        st.sampled_from(["fsc", "bank-a"]),  # bank-a is no regulator: wrong_role
        st.sampled_from([("account", p) for p in PEOPLE] + [("asset", a) for a in ASSETS]),
    ),
    st.tuples(
        st.just("limits"),
        st.sampled_from(["bank-a", "bank-b", "fsc"]),  # bank-b registered no one: not_authorized
        st.sampled_from(PEOPLE),
        st.sampled_from(ASSETS),
        st.integers(0, 300),
        st.integers(0, 900),
        st.integers(0, 3000),
    ),
    st.tuples(st.just("rotate"), st.sampled_from(PEOPLE)),
)

NEW_KEYS: dict[str, KeyPair] = {}  # every key a rotation proposed, by its public key


def governed_chain() -> Chain:
    """setup_chain, and the council (bank-a alone: threshold 1) admits the regulator fsc."""
    c = setup_chain()
    admit = AdmitMember(account="fsc", name="Regulator", public_key=key("fsc").public_key_hex, role="regulator")
    assert c.one(c.signer("bank-a").propose("fsc", admit)).code == "ok"
    return c


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
    if kind == "replay":  # signed by a key still in force: a replay is refused by seq, not by signature
        replayed = history[act[1] % len(history)] if history else None
        return replayed if replayed is not None and verify(*signature_checks(c.state, [replayed])[0]) else None
    if kind in ("freeze", "unfreeze"):
        subject_kind, subject = act[2]
        if kind == "freeze":
            return c.signer(act[1]).freeze(subject_kind, subject, "court_order")
        return c.signer(act[1]).unfreeze(subject_kind, subject)
    if kind == "limits":
        return c.signer(act[1]).set_limits(*act[2:])
    if kind == "rotate":  # the new key signs from the next block (adopt_rotated_keys)
        new_key = key(f"{act[1]}-{c.height}-{len(history)}-{len(NEW_KEYS)}")
        NEW_KEYS[new_key.public_key_hex] = new_key
        return c.signer(act[1]).rotate_key(new_key.public_key_hex)
    signer = c.signer(act[1])
    saved = signer.next_seq
    signer.next_seq = max(0, saved + act[2])
    signed = signer.transfer("MILES", "alice" if act[1] != "alice" else "bob", 1)
    signer.next_seq = saved
    return signed


def frozen_through(c: Chain, before: dict[str, object], txs: list[SignedTx], results: list[TxResult]) -> None:
    """No balance of a frozen asset changed, and no frozen account's balance fell, unless unfrozen in the block."""
    lifted = {
        (s.tx.subject_kind, s.tx.subject)
        for s, r in zip(txs, results, strict=True)
        if isinstance(s.tx, UnfreezeTx) and r.code == "ok"
    }
    for key_ in [k for k in before if k.startswith(FREEZES.scan_prefix())]:
        kind, subject = FREEZES.key_parts(key_)
        if (kind, subject) in lifted:
            continue
        for bal in {k for k in (*before, *c.state.values) if k.startswith(BALANCES.scan_prefix())}:
            account, asset = BALANCES.key_parts(bal)
            old, new = before.get(bal, 0), c.state.values.get(bal, 0)
            if kind == "asset" and asset == subject:
                assert new == old, f"frozen asset {asset} moved: {bal} {old} -> {new}"
            if kind == "account" and account == subject:
                assert new >= old, f"value left frozen account {account}: {bal} {old} -> {new}"  # type: ignore[operator]


def adopt_rotated_keys(c: Chain, txs: list[SignedTx], results: list[TxResult]) -> None:
    """A rotation that applied: its account signs with the new key from the next block."""
    for signed, result in zip(txs, results, strict=True):
        if isinstance(signed.tx, RotateKey) and result.code == "ok":
            c.signers[signed.tx.signer].key = NEW_KEYS[signed.tx.new_public_key]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(action, min_size=1, max_size=12), min_size=1, max_size=8))
def test_money_rules_hold_over_random_streams(blocks: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    c = governed_chain()
    recorded: list[tuple[int, list[SignedTx]]] = []
    history: list[SignedTx] = []
    applied: set[str] = set()
    charged: set[str] = set()
    digests = [c.digest]
    seqs = {name: c.account(name).seq for name in [*PEOPLE, "bank-a", "bank-b", "fsc"]}  # type: ignore[union-attr]
    for acts in blocks:
        txs = [s for s in (build(c, a, history) for a in acts) if s is not None]
        c.now_ms += 1000
        before = dict(c.state.values)
        results = c.block(txs)  # asserts conservation and no negative balance
        frozen_through(c, before, txs, results)
        for name in PEOPLE:  # what a payment reads of an account's controls agrees with their records
            account = c.account(name)
            assert account is not None
            assert account.frozen == (c.state_read(FREEZES, "account", name) is not None)
            assert account.limited_assets == sum(c.state_read(LIMITS, name, a) is not None for a in ASSETS)
        adopt_rotated_keys(c, txs, results)
        recorded.append((c.now_ms, txs))
        for signed, result in zip(txs, results, strict=True):
            event(f"{tx_type(signed.tx)} {result.code}")  # pytest --hypothesis-show-statistics shows the mix
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
        fresh = governed_chain()
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
    expected = {
        ACCOUNTS.key("bank-a"),
        ACCOUNTS.key("bank-b"),
        PARAMS.key(COUNCIL_PARAMS),
        VALIDATOR_SETS.key(SCHEDULE),
    }
    assert genesis_memory_state(Chain().genesis).values.keys() == expected
    assert key("alice").public_key != key("bob").public_key
