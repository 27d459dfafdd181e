"""Lots (protocol 9): first to expire spent first, expiry at the right block, a bound per block, conservation.

The property test drives a pure chain (helpers.Chain, which checks conservation per asset and no negative
balance after every block) with random issues into assets of different lifetimes, payments, refunds and
transfers while block time advances by up to two days a block, and checks after every block:

- every holder's lots sum to its balance, one lot per expiry, in expiry order;
- a payment took the payer's unexpired lots, first to expire first (never an expired one);
- a new lot expires at the end of the chain day its lifetime ends on;
- a block swept at most MAX_SWEEP_CHUNKS chunks, and with no backlog left no holder keeps an expired lot;
- what expired is exactly what reached the issuer (or was burned), so conservation includes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import Chain, NodeProcess, free_port, key, make_genesis
from tally.client import Signer, TallyClient, read_keyfile
from tally.core import lots as lots_module
from tally.core.errors import Code
from tally.core.lots import MAX_LOTS, lot_expiry
from tally.core.ops import SignedTx
from tally.core.ops.assets import Issue
from tally.core.ops.payments import Pay
from tally.core.tables import ASSETS, EXPIRED, LOT_CHUNKS, LOT_SCHEDULE, LOTS, PAYMENTS, PROPOSALS, SCHEDULE
from tally.core.types import AssetPolicy, HolderLots, Lot, SetPolicy, StateValue
from tally.node.config import DataDir, init_dev_node
from tally.node.events import BLOCK_INDEX
from tally.store import open_store
from tally.store.base import SWEEP_TYPE

SEOUL_MIN = 540
DAY_MS = 86_400_000
START_MS = int(datetime(2027, 3, 1, 1, 0, tzinfo=UTC).timestamp() * 1000)  # 10:00 in Seoul
HOLDERS = [f"h{i}" for i in range(6)]
ASSETS_LOTS = {  # asset: (policy, transferable)
    "DAY": (AssetPolicy(lot_lifetime_ms=DAY_MS), True),  # back to the issuer
    "WEEK": (AssetPolicy(lot_lifetime_ms=7 * DAY_MS, expired_to="burn"), False),
}


def lots_chain(assets: dict[str, tuple[AssetPolicy, bool]] = ASSETS_LOTS, holders: list[str] = HOLDERS) -> Chain:
    genesis = msgspec.structs.replace(make_genesis(), utc_offset_min=SEOUL_MIN)
    c = Chain(genesis=genesis, now_ms=START_MS)
    a = c.signer("bank-a")
    setup = [a.register_account(h, key(h).public_key_hex, "holder") for h in holders]
    setup += [a.register_account("shop", key("shop").public_key_hex, "merchant")]
    setup += [a.create_asset(asset, asset, "voucher", 0, t, "merchants", policy=p) for asset, (p, t) in assets.items()]
    assert all(r.code == "ok" for r in c.block(setup))
    return c


def held(c: Chain, holder: str, asset: str) -> list[Lot]:
    record = c.state_read(LOTS, holder, asset)
    return record.lots if record is not None else []


# --- rules, one by one --------------------------------------------------------------------


def test_a_lot_expires_at_the_end_of_the_chain_day_its_lifetime_ends_on() -> None:
    c = lots_chain()
    assert c.one(c.signer("bank-a").issue("DAY", "h0", 100)).code == "ok"
    end_of_next_day_seoul = int(datetime(2027, 3, 2, 15, 0, tzinfo=UTC).timestamp() * 1000)  # Mar 3, 00:00 KST
    assert held(c, "h0", "DAY") == [Lot(end_of_next_day_seoul, 100)]
    c.now_ms = end_of_next_day_seoul - 1
    assert c.one(c.signer("h0").pay("DAY", "shop", 40, "last-ms")).code == "ok"  # the last millisecond
    c.now_ms = end_of_next_day_seoul
    assert c.one(c.signer("h0").pay("DAY", "shop", 1, "too-late")).code == Code.INSUFFICIENT_FUNDS
    # That block swept the 60 left back to the issuer, and h0's record says so.
    assert (c.balance("h0", "DAY"), c.balance("bank-a", "DAY"), held(c, "h0", "DAY")) == (0, 60, [])
    expired = c.state_read(EXPIRED, "h0", "DAY")
    assert expired is not None and [(e.amount_minor, e.height, e.to) for e in expired.expired] == [
        (60, c.height, "issuer")
    ]


def test_spending_takes_the_lot_that_expires_first_and_a_refund_returns_the_last_first() -> None:
    c = lots_chain()
    a = c.signer("bank-a")
    assert c.one(a.issue("WEEK", "h0", 100)).code == "ok"
    first = held(c, "h0", "WEEK")[0].expires_ms
    c.now_ms += 2 * DAY_MS
    assert c.one(a.issue("WEEK", "h0", 50)).code == "ok"
    second = first + 2 * DAY_MS
    assert held(c, "h0", "WEEK") == [Lot(first, 100), Lot(second, 50)]
    assert c.one(c.signer("h0").pay("WEEK", "shop", 120, "p1")).code == "ok"
    payment = c.state_read(PAYMENTS, "shop", "p1")
    assert payment is not None and payment.lots == [Lot(first, 100), Lot(second, 20)]
    assert held(c, "h0", "WEEK") == [Lot(second, 30)]
    assert c.one(c.signer("shop").refund("p1", 30)).code == "ok"  # the later lot's 20, then 10 of the first
    assert held(c, "h0", "WEEK") == [Lot(first, 10), Lot(second, 50)]
    assert c.one(c.signer("shop").refund("p1", 90)).code == "ok"
    assert held(c, "h0", "WEEK") == [Lot(first, 100), Lot(second, 50)]


def test_a_transfer_carries_its_lots_and_their_expiries() -> None:
    c = lots_chain()
    assert c.one(c.signer("bank-a").issue("DAY", "h0", 100)).code == "ok"
    expiry = held(c, "h0", "DAY")[0].expires_ms
    c.now_ms += DAY_MS // 2
    assert c.one(c.signer("h0").transfer("DAY", "h1", 30)).code == "ok"
    assert held(c, "h1", "DAY") == [Lot(expiry, 30)]  # not a fresh lifetime


def test_a_fixed_end_expires_every_lot_at_once_and_lots_have_a_bound() -> None:
    end_ms = START_MS + 10 * DAY_MS + 12_345
    c = lots_chain({"END": (AssetPolicy(valid_until_ms=end_ms), True)})
    a = c.signer("bank-a")
    assert c.block([a.issue("END", "h0", 5), a.issue("END", "h1", 7)])[0].code == "ok"
    assert c.one(c.signer("h1").transfer("END", "h2", 3)).code == "ok"
    assert held(c, "h0", "END") == []  # one end for all: no lots, the holders listed for the sweep
    c.now_ms = end_ms
    assert c.one(c.signer("h2").transfer("END", "h0", 1)).code == Code.ASSET_EXPIRED
    assert [c.balance(h, "END") for h in ("h0", "h1", "h2", "bank-a")] == [0, 0, 0, 12]
    change = SetPolicy(
        asset="END", transferable=True, cash_out="merchants", policy=AssetPolicy(valid_until_ms=end_ms + 1)
    )
    assert c.one(a.propose("later", change)).code == "ok"
    assert c.state_read(PROPOSALS, "later").result_code == Code.BAD_PARAMETER  # type: ignore[union-attr]
    week = lots_chain({"WEEK": (AssetPolicy(lot_lifetime_ms=100 * DAY_MS), False)})  # none expires meanwhile
    for day in range(MAX_LOTS):
        week.now_ms = START_MS + day * DAY_MS
        assert week.one(week.signer("bank-a").issue("WEEK", "h0", 1)).code == "ok"
    week.now_ms += 1  # the same day: a lot it merges into
    assert week.one(week.signer("bank-a").issue("WEEK", "h0", 1)).code == "ok"
    week.now_ms += DAY_MS
    assert week.one(week.signer("bank-a").issue("WEEK", "h0", 1)).code == Code.TOO_MANY_LOTS


def test_whether_value_expires_is_fixed_when_the_asset_is_created() -> None:
    c = lots_chain()
    shorter = SetPolicy(asset="DAY", transferable=True, cash_out="merchants", policy=AssetPolicy(lot_lifetime_ms=1))
    assert c.one(c.signer("bank-a").propose("shorter", shorter)).code == "ok"
    assert c.state_read(ASSETS, "DAY").policy.lot_lifetime_ms == DAY_MS  # type: ignore[union-attr]
    v8 = Chain(genesis=msgspec.structs.replace(make_genesis(), protocol=8))
    created = v8.one(
        v8.signer("bank-a").create_asset("X", "X", "voucher", 0, False, "none", policy=AssetPolicy(lot_lifetime_ms=1))
    )
    assert created.code == Code.BAD_PARAMETER


def test_a_million_lots_expiring_at_once_are_swept_a_bounded_number_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound, at a scale a test can run: chunks of 2 holders, 2 chunks a block, 9 holders due at once."""
    monkeypatch.setattr(lots_module, "CHUNK_ACCOUNTS", 2)
    monkeypatch.setattr(lots_module, "MAX_SWEEP_CHUNKS", 2)
    holders = [f"h{i}" for i in range(9)]
    c = lots_chain(holders=holders)
    assert all(r.code == "ok" for r in c.block([c.signer("bank-a").issue("DAY", h, 10) for h in holders]))
    c.now_ms = held(c, "h0", "DAY")[0].expires_ms + 5
    swept_per_block = []
    while c.state_read(LOT_SCHEDULE, SCHEDULE) is not None:
        before = c.balance("bank-a", "DAY")
        waiting = [h for h in holders if held(c, h, "DAY")]
        # Each waiting holder tries to spend in the block: swept first or not, its lot is expired.
        codes = [r.code for r in c.block([c.signer(h).pay("DAY", "shop", 1, f"{h}-{c.height}") for h in waiting])]
        assert codes == [Code.INSUFFICIENT_FUNDS] * len(waiting)
        swept_per_block.append((c.balance("bank-a", "DAY") - before) // 10)
    assert swept_per_block == [4, 4, 1]
    assert c.balance("bank-a", "DAY") == 90


# --- the property ------------------------------------------------------------------------------

step = st.tuples(
    st.one_of(st.integers(0, 60_000), st.integers(0, 3 * DAY_MS)),  # how far block time moves before the block
    st.lists(
        st.tuples(
            st.sampled_from(["issue", "pay", "refund", "transfer"]),
            st.sampled_from(sorted(ASSETS_LOTS)),
            st.integers(0, len(HOLDERS) - 1),
            st.integers(0, len(HOLDERS) - 1),
            st.integers(1, 60),
        ),
        max_size=6,
    ),
)


def _lot_keys(values: dict[str, StateValue]) -> Iterator[tuple[str, str, HolderLots]]:
    for k, v in values.items():
        if k.startswith(LOTS.scan_prefix()) and isinstance(v, HolderLots):
            account, asset = LOTS.key_parts(k)
            yield account, asset, v


# A run that must reach the sweep's backlog: three holders' lots due at once, and one of them tries to spend.
BACKLOG = [
    (0, [("issue", "DAY", 0, 0, 10), ("issue", "DAY", 1, 0, 10), ("issue", "DAY", 2, 0, 10)]),
    (2 * DAY_MS, [("pay", "DAY", 2, 0, 5), ("transfer", "DAY", 1, 0, 3)]),
    (1, [("pay", "DAY", 2, 0, 5)]),
    (1, []),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14))
@example(steps=BACKLOG)
def test_lots_hold_their_rules_block_after_block(steps: list[tuple[int, list[tuple[str, str, int, int, int]]]]) -> None:
    saved = lots_module.CHUNK_ACCOUNTS, lots_module.MAX_SWEEP_CHUNKS
    # One holder a chunk, one chunk a block: two holders due at once already leave a backlog, so random runs
    # spend next to expired lots waiting for the sweep.
    lots_module.CHUNK_ACCOUNTS, lots_module.MAX_SWEEP_CHUNKS = 1, 1
    try:
        run_steps(steps)
    finally:
        lots_module.CHUNK_ACCOUNTS, lots_module.MAX_SWEEP_CHUNKS = saved


def run_steps(steps: list[tuple[int, list[tuple[str, str, int, int, int]]]]) -> None:
    c = lots_chain()
    expired_total = {asset: 0 for asset in ASSETS_LOTS}
    payments: list[tuple[str, str, int]] = []  # (payment id, asset, amount) made so far
    for advance_ms, ops in steps:
        c.now_ms += advance_ms
        before = dict(c.state.values)
        txs: list[SignedTx] = []
        for kind, asset, i, j, amount in ops:
            holder, other = HOLDERS[i], HOLDERS[j]
            if kind == "issue":
                txs.append(c.signer("bank-a").issue(asset, holder, amount))
            elif kind == "pay":
                payment_id = f"p{len(payments)}"
                payments.append((payment_id, asset, amount))
                txs.append(c.signer(holder).pay(asset, "shop", amount, payment_id))
            elif kind == "refund" and payments:
                payment_id, _, paid = payments[(i * 7 + j) % len(payments)]
                txs.append(c.signer("shop").refund(payment_id, 1 + amount % paid))
            elif kind == "transfer" and holder != other:
                txs.append(c.signer(holder).transfer(asset, other, amount))
        results = c.block(txs)
        check_block(c, before, txs, [r.code for r in results], expired_total)


def check_block(
    c: Chain, before: dict[str, StateValue], txs: list[SignedTx], codes: list[str], expired_total: dict[str, int]
) -> None:
    now = c.now_ms
    # The sweep: at most MAX_SWEEP_CHUNKS chunks; what left holders' lots as expired reached the issuer or burned.
    removed_chunks = [k for k in before if k.startswith(LOT_CHUNKS.scan_prefix()) and k not in c.state.values]
    assert len(removed_chunks) <= lots_module.MAX_SWEEP_CHUNKS
    for asset in ASSETS_LOTS:
        expired_now = 0
        for h in HOLDERS:
            old = EXPIRED.read(before.get, h, asset)
            new = c.state_read(EXPIRED, h, asset)
            if new is not None and new != old:
                expired_now += sum(e.amount_minor for e in new.expired if e.height == c.height)
        expired_total[asset] += expired_now
    assert c.balance("bank-a", "DAY") == expired_total["DAY"]  # the issuer only ever receives expired DAY
    week = c.state_read(ASSETS, "WEEK")
    assert week is not None and week.burned_minor == expired_total["WEEK"]  # and WEEK's are burned
    # Lots follow balances, in order, one per expiry, within the bound.
    for h in HOLDERS:
        for asset in ASSETS_LOTS:
            lots = held(c, h, asset)
            assert sum(lot.amount_minor for lot in lots) == c.balance(h, asset)
            assert [lot.expires_ms for lot in lots] == sorted({lot.expires_ms for lot in lots})
            assert all(lot.amount_minor > 0 for lot in lots) and len(lots) <= MAX_LOTS
    # With no backlog, no holder keeps a lot past its expiry.
    schedule = c.state_read(LOT_SCHEDULE, SCHEDULE)
    if schedule is None or schedule.buckets[0].expires_ms > now:
        assert all(lot.expires_ms > now for _, _, record in _lot_keys(c.state.values) for lot in record.lots)
    # A payment took unexpired lots, first to expire first; an issued lot expires at its day's end.
    for signed, code in zip(txs, codes, strict=True):
        tx = signed.tx
        if code == "ok" and isinstance(tx, Pay):
            payment = c.state_read(PAYMENTS, "shop", tx.payment_id)
            assert payment is not None and isinstance(payment.lots, list)
            assert all(lot.expires_ms > now for lot in payment.lots)
            assert [lot.expires_ms for lot in payment.lots] == sorted(lot.expires_ms for lot in payment.lots)
            assert sum(lot.amount_minor for lot in payment.lots) == payment.amount_minor
        if code == "ok" and isinstance(tx, Issue):
            expiry = lot_expiry(ASSETS_LOTS[tx.asset][0], now, SEOUL_MIN)
            assert expiry in {lot.expires_ms for lot in held(c, tx.to, tx.asset)} or not c.balance(tx.to, tx.asset)


def test_a_sweep_is_an_entry_in_the_holders_and_the_issuers_history_not_a_transaction(tmp_path: Path) -> None:
    c = lots_chain()
    c.store = open_store(tmp_path / "ledger.db", c.genesis)
    c.store.put_state(dict(c.state.values))
    assert c.one(c.signer("bank-a").issue("DAY", "h0", 70)).code == "ok"
    c.now_ms = held(c, "h0", "DAY")[0].expires_ms
    paid = c.one(c.signer("h1").transfer("DAY", "h2", 1))  # any transaction: the block sweeps first
    assert paid.code == Code.INSUFFICIENT_FUNDS
    entry = c.store.history("h0", None, 1)[0]
    assert (entry.type, entry.code, entry.height) == (SWEEP_TYPE, "ok", c.height)
    assert entry.movements == (("h0", "DAY", -70, "bank-a", 0), ("bank-a", "DAY", 70, "h0", 70))
    assert msgspec.json.decode(entry.envelope)["tx"] == {
        "type": SWEEP_TYPE,
        "holder": "h0",
        "asset": "DAY",
        "amount_minor": 70,
        "to": "bank-a",
    }
    assert c.store.history("bank-a", None, 1)[0].txid == entry.txid
    assert [t.txid for t in c.store.block_txs(c.height)] == [paid.txid]  # the block's transactions only
    c.store.close()


def test_the_lots_route_shows_an_asset_that_ends_at_once_as_one_lot(tmp_path: Path) -> None:
    """Through a real node: lots of an asset with a lifetime as kept, and of one with an end only, one lot."""
    data_dir = tmp_path / "node"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-lots", utc_offset_min=SEOUL_MIN)
    node = NodeProcess(data_dir, free_port()).start()
    try:
        bank = Signer("bank-a", read_keyfile(DataDir(data_dir).key_path("bank-a")).keypair(), "tally-lots")
        end_ms = 4_000_000_000_000
        with TallyClient(node.url) as client:
            for tx in (
                bank.register_account("h0", key("h0").public_key_hex, "holder"),
                bank.create_asset("END", "End", "voucher", 0, False, "none", policy=AssetPolicy(valid_until_ms=end_ms)),
                bank.create_asset(
                    "DAY", "Day", "voucher", 0, False, "none", policy=AssetPolicy(lot_lifetime_ms=DAY_MS)
                ),
                bank.issue("END", "h0", 5),
                bank.issue("DAY", "h0", 7),
            ):
                assert client.wait_final(client.submit(tx)).code == "ok"
        with TallyClient(node.url, reader=("h0", key("h0"))) as client:
            found = {item.asset: item for item in client.lots("h0").items}
    finally:
        node.stop()
    assert [(lot.expires_ms, lot.amount_minor, lot.expired) for lot in found["END"].lots] == [(end_ms, 5, False)]
    assert [lot.amount_minor for lot in found["DAY"].lots] == [7] and found["DAY"].spendable_minor == 7


def test_an_accounts_event_stream_carries_its_sweep(tmp_path: Path) -> None:
    """Through a real node: a ticket that ends a second from now is swept by the first block past its end, and the
    holder's event stream (its own read token) carries the sweep and the balance it left."""
    data_dir = tmp_path / "node"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-sweeps")
    node = NodeProcess(data_dir, free_port()).start()
    try:
        bank = Signer("bank-a", read_keyfile(DataDir(data_dir).key_path("bank-a")).keypair(), "tally-sweeps")
        ticket = AssetPolicy(valid_until_ms=int(time.time() * 1000) + 1_000)
        with TallyClient(node.url) as client:
            for tx in (
                bank.register_account("h0", key("h0").public_key_hex, "holder"),
                bank.create_asset("TIX", "Ticket", "voucher", 0, False, "none", policy=ticket),
                bank.issue("TIX", "h0", 40),
            ):
                assert client.wait_final(client.submit(tx)).code == "ok"
            start = f"{client.node_status().final_height}:{BLOCK_INDEX}:0"
        deadline = time.monotonic() + 30
        with TallyClient(node.url, reader=("h0", key("h0"))) as own:
            while own.balances("h0").get("TIX", 0):  # each round is a block; the first past the end sweeps
                assert time.monotonic() < deadline, "no block swept the ticket"
                own.wait_final(
                    own.submit(bank.issue("TIX", "bank-a", 1))
                )  # refused once it has ended: a block all the same
            seen = []
            for event in own.events(after=start, account="h0", types=("tx", "balance")):
                seen.append(event)
                if event.kind == "balance":
                    break
    finally:
        node.stop()
    swept, balance = seen[-2:]
    assert swept.kind == "tx" and swept.data.type == SWEEP_TYPE and swept.data.status == "applied"
    assert [(m.account, m.amount_minor, m.counterparty) for m in swept.data.movements] == [("h0", -40, "bank-a")]
    assert (balance.data.account, balance.data.asset, balance.data.balance_after_minor) == ("h0", "TIX", 0)
