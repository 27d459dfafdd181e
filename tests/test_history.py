"""History: every party of every transaction sees it, old ledgers included."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec

from helpers import Chain, key, setup_chain
from tally.core.genesis import DEFAULT_RECOVERY_DELAY_MS
from tally.core.ops import BY_TYPE, SignedTx
from tally.core.tables import (
    ACCOUNTS,
    BALANCES,
    CASHBACK_USE,
    COUPON_USES,
    FREEZES,
    HOLDER_USE,
    LIMITS,
    LOTS,
    MERCHANT_LIMITS,
    MERCHANT_USE,
    MERCHANTS,
    OWNED_COUPONS,
    RECOVERIES,
    TABLES,
    WINDOWS,
    table_of,
)
from tally.core.types import (
    Action,
    AdmitMember,
    AssetPolicy,
    IncentiveRule,
    Ratio,
    SetParam,
    SetRateBounds,
    SetSettlement,
    StateValue,
)
from tally.store import open_store


def _burn(c: Chain) -> SignedTx:
    """An issuer burns what it holds: issue to itself first (a block of its own), then burn."""
    assert c.one(c.signer("bank-a").issue("CASH", "bank-a", 5)).code == "ok"
    return c.signer("bank-a").burn("CASH", 1)


ADMIT_FSC = AdmitMember(account="fsc", name="Regulator", public_key=key("fsc").public_key_hex, role="regulator")


def _vote(c: Chain) -> SignedTx:
    """bank-b's vote passes bank-a's admission of auditor `aud` (the council first needs two votes)."""
    assert c.one(c.signer("bank-a").propose("two", SetParam(name="threshold", value=2))).code == "ok"
    admit = AdmitMember(account="aud", name="Auditor", public_key=key("aud").public_key_hex, role="auditor")
    assert c.one(c.signer("bank-a").propose("aud-in", admit)).code == "ok"
    return c.signer("bank-b").vote("aud-in")


def _complete_recovery(c: Chain) -> SignedTx:
    """bank-a recovers bob to a new key once the delay has passed."""
    assert c.one(c.signer("bank-a").start_recovery("bob", key("bob-2").public_key_hex)).code == "ok"
    c.now_ms += DEFAULT_RECOVERY_DELAY_MS
    return c.signer("bank-a").complete_recovery("bob")


LOCAL = AssetPolicy(discount_bp=1_000, budget_account="bank-a", refund_pct=60)


def _sell(c: Chain) -> SignedTx:
    """bank-a's local currency LOCAL, its discount out of bank-a's own balance; bob buys 100 for 90."""
    a = c.signer("bank-a")
    assert c.one(a.create_asset("LOCAL", "Local", "local_currency", 0, False, "none", policy=LOCAL)).code == "ok"
    assert c.one(c.signer("bank-b").vote("asset:LOCAL")).code == "ok"  # the council's threshold is 2 by now
    assert c.one(a.issue("LOCAL", "bank-a", 50)).code == "ok"
    return a.sell("LOCAL", "bob", 100, 90, "KB 000123")


def _redeem_remainder(c: Chain) -> SignedTx:
    """bob spends 60 of the 100 LOCAL he bought, then takes back the other 40."""
    assert c.one(c.signer("bob").pay("LOCAL", "cafe", 60, "local-1")).code == "ok"
    return c.signer("bob").redeem_remainder("LOCAL", "KR12 0001 bob")


CASHBACK = IncentiveRule(id="gift-5", rate_bp=500, budget_account="bank-a")


def _use_coupon(c: Chain) -> SignedTx:
    """alice buys the mall's coupon (listed by bank-a, priced in MILES) and uses it at shop."""
    bought = c.one(c.signer("alice").buy_coupon("tea"))
    assert bought.code == "ok"
    return c.signer("alice").use_coupon(bought.txid, "shop")


def _propose_and_pass(c: Chain, proposal: str, action: Action) -> None:
    """The council's threshold is 2 by now: bank-a proposes, bank-b's vote passes it."""
    assert c.one(c.signer("bank-a").propose(proposal, action)).code == "ok"
    assert c.one(c.signer("bank-b").vote(proposal)).code == "ok"


def _set_rate(c: Chain) -> SignedTx:
    """Bounds for MILES and PTS, a settlement configuration with one-block windows (USD, no asset)."""
    for asset in ("MILES", "PTS"):
        bounds = SetRateBounds(asset=asset, currency="USD", min_rate=Ratio(1, 100), max_rate=Ratio(100, 1))
        _propose_and_pass(c, f"bounds:{asset}", bounds)
    _propose_and_pass(c, "settlement", SetSettlement(currency="USD", window_blocks=1))
    assert c.one(c.signer("bank-b").set_rate("PTS", Ratio(1, 1))).code == "ok"
    assert c.one(c.signer("bank-b").issue("PTS", "bank-b", 1_000)).code == "ok"  # its float
    return c.signer("bank-a").set_rate("MILES", Ratio(3, 2))


def _first_window(c: Chain) -> int:
    return min(int(WINDOWS.key_parts(k)[0]) for k in c.state.values if k.startswith(WINDOWS.scan_prefix()))


def _ack_payout(c: Chain) -> SignedTx:
    """cafe cashes out 10 GIFT; bank-a's bank returns it."""
    cashed = c.one(c.signer("cafe").cash_out("GIFT", 10, "HARBOR/ACC-1"))
    assert cashed.code == "ok"
    return c.signer("bank-a").ack_payout(cashed.txid, False, reason="account_closed")


# One transaction of every type, each ok, each in a block of its own (after setup_chain).
SCENARIO: dict[str, Callable[[Chain], SignedTx]] = {
    "register_account": lambda c: c.signer("bank-a").register_account("zoe", key("zoe").public_key_hex, "holder"),
    "create_asset": lambda c: c.signer("bank-b").create_asset("PTS", "Points", "points", 0, True, "none"),
    "issue": lambda c: c.signer("bank-a").issue("MILES", "bob", 70),
    "transfer": lambda c: c.signer("alice").transfer("MILES", "bob", 30),
    "pay": lambda c: c.signer("alice").pay("GIFT", "cafe", 400, "o1"),
    "refund": lambda c: c.signer("cafe").refund("o1", 150),
    "cash_out": lambda c: c.signer("cafe").cash_out("GIFT", 100, "HARBOR/ACC-1"),
    "burn": _burn,
    "open_code": lambda c: c.signer("alice").open_code("12345678901234567890", "GIFT", 300),
    "charge": lambda c: c.signer("shop").charge("12345678901234567890", 250, "code-1"),
    # Governance (protocol 5): the test council is bank-a and bank-b, one vote passes until "vote" raises it.
    "propose": lambda c: c.signer("bank-a").propose("fsc-in", ADMIT_FSC),
    "vote": _vote,
    "freeze": lambda c: c.signer("fsc").freeze("account", "bob", "court_order"),
    "unfreeze": lambda c: c.signer("fsc").unfreeze("account", "bob"),
    "set_limits": lambda c: c.signer("bank-a").set_limits("alice", "MILES", 500, 0, 0),
    "set_merchant": lambda c: c.signer("bank-a").set_merchant(
        merchant="cafe",
        category="5814",
        region="KR-11",
        lat_e6=37_566_500,
        lon_e6=126_978_000,
        business_no="120-81-47521",
        accepts=["GIFT"],
    ),
    "set_merchant_limit": lambda c: c.signer("bank-a").set_merchant_limit("cafe", "GIFT", 500, 100),
    "sell": _sell,
    "redeem_remainder": _redeem_remainder,
    "set_incentive": lambda c: c.signer("bank-a").set_incentive("MILES", CASHBACK),
    "list_coupon": lambda c: c.signer("bank-a").list_coupon("tea", "Tea", "MILES", 10, 5, c.now_ms + 10**9, ["shop"]),
    "buy_coupon": lambda c: c.signer("bob").buy_coupon("tea"),
    "use_coupon": _use_coupon,
    # Rates, exchange and settlement (protocol 11).
    "set_rate": _set_rate,
    "exchange": lambda c: c.signer("alice").exchange("MILES", "PTS", 10, 15),
    "pay_roaming": lambda c: c.signer("alice").pay_roaming("PTS", "cafe", 5, "roam-1", "MILES", 4),
    "settle_window": lambda c: c.signer("bank-a").settle_window(_first_window(c), method="bank"),
    "ack_settlement": lambda c: c.signer("bank-b").ack_settlement(_first_window(c)),
    "ack_payout": _ack_payout,
    "record_bank_file": lambda c: c.signer("bank-a").record_bank_file(
        window=_first_window(c), kind="pain.001", name="bank-a-w0-pain.001.xml", sha256="ab" * 32
    ),
    "start_recovery": lambda c: c.signer("bank-a").start_recovery("bob", key("bob-2").public_key_hex),
    "cancel_recovery": lambda c: c.signer("bob").cancel_recovery("bob"),
    "complete_recovery": _complete_recovery,
    "rotate_key": lambda c: c.signer("shop").rotate_key(key("shop-2").public_key_hex),  # last: shop's key changes
}


def _touched(writes: dict[str, StateValue | None]) -> set[str]:
    """Accounts whose records a block wrote (record, balances, freeze, limits, recovery, registry entry): the
    oracle, from the write-set alone."""
    tables = (ACCOUNTS, BALANCES, LIMITS, RECOVERIES, MERCHANTS, HOLDER_USE, MERCHANT_USE, MERCHANT_LIMITS, LOTS)
    tables += (CASHBACK_USE, OWNED_COUPONS, COUPON_USES)
    touched = {table_of(k).key_parts(k)[0] for k in writes if table_of(k) in tables}
    return touched | {FREEZES.key_parts(k)[1] for k in writes if k.startswith(FREEZES.scan_prefix("account"))}


def test_every_party_of_every_transaction_type_sees_it(tmp_path: Path) -> None:
    assert set(SCENARIO) == set(BY_TYPE), "every transaction type has a line in the scenario"
    store = open_store(tmp_path / "ledger.db", Chain().genesis)
    c = setup_chain(store)
    for tx_type, build in SCENARIO.items():
        signed = build(c)
        before = dict(c.state.values)
        result = c.one(signed)
        assert result.code == "ok", (tx_type, result)
        writes = {
            k: c.state.values.get(k) for k in set(before) | set(c.state.values) if before.get(k) != c.state.get(k)
        }
        expected = _touched(writes) | {signed.tx.signer}
        assert set(c.parties[0]) == expected, tx_type
        for account in expected:
            assert result.txid in {h.txid for h in store.history(account, None, 10)}, (tx_type, account)
    store.close()


def test_a_refund_is_in_the_payers_history(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db", Chain().genesis)
    c = setup_chain(store)
    pay = c.one(c.signer("alice").pay("GIFT", "cafe", 400, "o1"))
    refund = c.one(c.signer("cafe").refund("o1", 150))
    assert [h.txid for h in store.history("alice", None, 2)] == [refund.txid, pay.txid]
    store.close()


def test_a_rejected_transaction_is_in_the_history_of_the_accounts_it_names(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db", Chain().genesis)
    c = setup_chain(store)
    refused = c.one(c.signer("alice").pay("GIFT", "cafe", 5_000, "too-much"))
    assert refused.code == "insufficient_funds"
    for account in ("alice", "cafe"):
        assert store.history(account, None, 1)[0].txid == refused.txid
    store.close()


# The txs table before the parties table (commit 1ef47bc): one counterparty per transaction.
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE blocks (height INTEGER PRIMARY KEY, hash TEXT NOT NULL, header BLOB NOT NULL, state_digest TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL, log_position INTEGER NOT NULL, write_set BLOB NOT NULL);
CREATE TABLE certificates (height INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE txs (pos INTEGER PRIMARY KEY, txid TEXT NOT NULL UNIQUE, type TEXT NOT NULL, signer TEXT NOT NULL,
    counterparty TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, envelope BLOB NOT NULL);
CREATE INDEX txs_by_signer ON txs (signer, pos);
CREATE INDEX txs_by_counterparty ON txs (counterparty, pos);
CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""


def test_a_ledger_from_before_the_parties_table_is_migrated_and_audits_clean(tmp_path: Path) -> None:
    """The reference ledger written in the old layout: opening it indexes every party, refund payers included."""
    from tally.node.audit import audit_ledger

    reference = msgspec.json.decode((Path(__file__).parent / "fixtures" / "reference-ledger.json").read_bytes())
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('genesis', ?)", (msgspec.json.encode(reference["genesis"]),))
    refunds: list[tuple[str, str]] = []  # (txid, payer)
    payers = {}
    for block in reference["blocks"]:
        header = block["header"]
        db.execute(
            "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                header["height"],
                block["block_hash"],
                msgspec.json.encode(header),
                block["state_digest"],
                header["timestamp_ms"],
                header["log_position"],
                block["write_set"].encode(),
            ),
        )
        db.execute(
            "INSERT INTO certificates VALUES (?, ?)", (header["height"], msgspec.json.encode(block["certificate"]))
        )
        for index, t in enumerate(block["txs"]):
            tx = msgspec.json.decode(t["envelope"])["tx"]
            db.execute(
                "INSERT INTO txs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((header["height"] << 20) | index, t["txid"], t["type"], tx["signer"], t["counterparty"],
                 t["code"], t["message"], t["envelope"].encode()),
            )  # fmt: skip
            if t["code"] == "ok" and t["type"] == "pay":
                payers[(tx["merchant"], tx["payment_id"])] = tx["signer"]
            if t["code"] == "ok" and t["type"] == "refund":
                refunds.append((t["txid"], payers[(tx["signer"], tx["payment_id"])]))
    for k, v in reference["final_state"].items():
        value = msgspec.convert(v, TABLES[k.split("/")[0]].record)
        db.execute("INSERT INTO state VALUES (?, ?)", (k, msgspec.msgpack.encode(value)))  # as maps, as then
    db.commit()
    db.close()
    assert len(refunds) > 10

    store = open_store(path)
    for txid, payer in refunds:
        assert txid in {h.txid for h in store.history(payer, None, 500)}, (txid, payer)
    store.close()
    report = audit_ledger(str(path), workers=1)
    assert report.faults == [] and report.blocks == len(reference["blocks"])


def _moves(store: object, account: str) -> list[tuple[str, tuple[tuple[str, int, str, int], ...]]]:
    """An account's history as (type, its own (asset, signed amount, counterparty, balance after)), newest first."""
    items = store.history(account, None, 50)  # type: ignore[attr-defined]
    return [(i.type, tuple(m[1:] for m in i.movements if m[0] == account)) for i in items]


def test_each_history_entry_says_what_moved_for_this_account(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db", Chain().genesis)
    c = setup_chain(store)
    for tx_type in ("issue", "transfer", "pay", "refund", "cash_out"):
        assert c.one(SCENARIO[tx_type](c)).code == "ok", tx_type
    alice = _moves(store, "alice")
    assert alice[:3] == [
        ("refund", (("GIFT", 150, "cafe", 1000 - 400 + 150),)),  # the payer sees the money back
        ("pay", (("GIFT", -400, "cafe", 600),)),
        ("transfer", (("MILES", -30, "bob", 970),)),
    ]
    assert _moves(store, "bob")[:2] == [
        ("transfer", (("MILES", 30, "alice", 100),)),
        ("issue", (("MILES", 70, "bank-a", 70),)),
    ]
    assert _moves(store, "cafe")[:3] == [
        ("cash_out", (("GIFT", -100, "", 150),)),  # burned: no counterparty
        ("refund", (("GIFT", -150, "alice", 250),)),
        ("pay", (("GIFT", 400, "alice", 400),)),
    ]
    assert _moves(store, "bank-a")[0] == ("issue", ())  # the issuer signed it; its own balance did not move
    times = [i.time_ms for i in store.history("alice", None, 50)]
    assert times == sorted(times, reverse=True) and times[0] == c.now_ms
    store.close()


def test_rejected_transactions_are_marked_and_can_be_listed_apart(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db", Chain().genesis)
    c = setup_chain(store)
    assert c.one(c.signer("alice").transfer("MILES", "bob", 5)).code == "ok"
    refused = c.one(c.signer("alice").transfer("MILES", "bob", 10**6))
    assert refused.code == "insufficient_funds"
    newest = store.history("alice", None, 1)[0]
    assert (newest.txid, newest.code, newest.movements) == (refused.txid, "insufficient_funds", ())
    assert "needs 1000000" in newest.message
    applied = store.history("alice", None, 50, applied=True)
    rejected = store.history("alice", None, 50, applied=False)
    assert refused.txid not in {i.txid for i in applied} and all(i.code == "ok" for i in applied)
    assert [i.txid for i in rejected] == [refused.txid]
    assert len(applied) + len(rejected) == len(store.history("alice", None, 50))
    store.close()
