"""Rewards (protocol 10): cashback on matching payments, clawed back by refunds; the coupon mall.

Pure chains (helpers.Chain: conservation per asset and no negative balance after every block), and one
real node for concurrent coupon purchases.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from helpers import Chain, NodeProcess, free_port, key, make_genesis
from tally.client import AsyncTallyClient, Signer, read_keyfile
from tally.core.errors import Code
from tally.core.tables import CASHBACK_USE, CASHBACKS, COUPON_USES, COUPONS, OWNED_COUPONS
from tally.core.types import IncentiveRule
from tally.node.config import DataDir, init_dev_node

START_MS = 1_800_000_000_000
CAFES = {"cafe": ("5814", "KR-11"), "busan-cafe": ("5814", "KR-26"), "mart": ("5411", "KR-11")}


def rewards_chain() -> Chain:
    """bank-a's points PTS; holders alice and bob with 100,000 each; budget account promo with 10,000."""
    c = Chain(genesis=make_genesis(), now_ms=START_MS)
    a = c.signer("bank-a")
    setup = [a.register_account(h, key(h).public_key_hex, "holder") for h in ("alice", "bob", "promo")]
    setup += [a.register_account(m, key(m).public_key_hex, "merchant") for m in CAFES]
    setup += [a.create_asset("PTS", "Points", "points", 0, True, "none")]
    assert all(r.code == "ok" for r in c.block(setup))
    entries = [
        a.set_merchant(
            merchant=m,
            category=mcc,
            region=region,
            lat_e6=37_000_000,
            lon_e6=127_000_000,
            business_no="1",
            accepts=["PTS"],
        )
        for m, (mcc, region) in CAFES.items()
    ]
    issues = [a.issue("PTS", h, 100_000) for h in ("alice", "bob")] + [a.issue("PTS", "promo", 10_000)]
    assert all(r.code == "ok" for r in c.block(entries + issues))
    return c


SEOUL_CAFES = IncentiveRule(
    id="seoul-cafes",
    rate_bp=500,  # 5%
    budget_account="promo",
    categories=["5814"],
    regions=["KR-11"],
    from_ms=START_MS,
    until_ms=START_MS + 3_600_000,
    cap_per_holder_minor=1_000,
)


def pay(c: Chain, holder: str, merchant: str, amount_minor: int, payment_id: str) -> str:
    c.now_ms += 1
    return c.one(c.signer(holder).pay("PTS", merchant, amount_minor, payment_id)).code


# --- incentives -------------------------------------------------------------------------------


def test_a_matching_payment_earns_cashback_out_of_the_budget_recorded_against_it() -> None:
    c = rewards_chain()
    assert c.one(c.signer("bank-a").set_incentive("PTS", SEOUL_CAFES)).code == "ok"
    assert pay(c, "alice", "cafe", 4_999, "p1") == "ok"
    cashback = c.state_read(CASHBACKS, "cafe", "p1")
    assert cashback is not None and (cashback.amount_minor, cashback.rule) == (249, "seoul-cafes")  # 249.95
    assert c.balance("alice", "PTS") == 100_000 - 4_999 + 249 and c.balance("promo", "PTS") == 10_000 - 249
    assert pay(c, "alice", "busan-cafe", 4_000, "p2") == "ok"  # another region: no cashback
    assert pay(c, "alice", "mart", 4_000, "p3") == "ok"  # another category
    assert c.state_read(CASHBACKS, "busan-cafe", "p2") is None and c.state_read(CASHBACKS, "mart", "p3") is None


def test_the_cap_per_holder_and_the_period_bound_the_cashback_exactly() -> None:
    c = rewards_chain()
    assert c.one(c.signer("bank-a").set_incentive("PTS", SEOUL_CAFES)).code == "ok"
    assert pay(c, "alice", "cafe", 19_980, "p1") == "ok"  # 999
    assert pay(c, "alice", "cafe", 10_000, "p2") == "ok"  # 500, capped to the 1 left
    assert c.state_read(CASHBACK_USE, "alice", "PTS", "seoul-cafes") == 1_000
    assert c.state_read(CASHBACKS, "cafe", "p2").amount_minor == 1  # type: ignore[union-attr]
    assert pay(c, "alice", "cafe", 10_000, "p3") == "ok"
    assert c.state_read(CASHBACKS, "cafe", "p3") is None  # the cap reached: nothing more
    assert pay(c, "bob", "cafe", 100, "p4") == "ok"  # another holder: its own cap
    assert c.state_read(CASHBACKS, "cafe", "p4").amount_minor == 5  # type: ignore[union-attr]
    c.now_ms = START_MS + 3_600_000 - 2
    assert pay(c, "bob", "cafe", 100, "p5") == "ok"  # the last millisecond of the period
    assert pay(c, "bob", "cafe", 100, "p6") == "ok"  # at its end: none
    assert c.state_read(CASHBACKS, "cafe", "p5") is not None and c.state_read(CASHBACKS, "cafe", "p6") is None


def test_a_refund_claws_back_the_same_share_of_the_cashback() -> None:
    c = rewards_chain()
    assert c.one(c.signer("bank-a").set_incentive("PTS", SEOUL_CAFES)).code == "ok"
    assert pay(c, "alice", "cafe", 10_000, "p1") == "ok"  # 500 cashback
    promo = c.balance("promo", "PTS")
    assert c.one(c.signer("cafe").refund("p1", 3_333)).code == "ok"  # 500 * 3333 / 10000 = 166
    assert c.balance("promo", "PTS") == promo + 166
    assert c.one(c.signer("cafe").refund("p1", 6_667)).code == "ok"  # the rest: 500 - 166
    assert c.balance("promo", "PTS") == promo + 500
    assert c.balance("alice", "PTS") == 100_000  # paid, earned, refunded, clawed back: where she started
    cashback = c.state_read(CASHBACKS, "cafe", "p1")
    assert cashback is not None and cashback.clawed_minor == 500
    assert c.state_read(CASHBACK_USE, "alice", "PTS", "seoul-cafes") is None  # her cap is whole again


def test_an_empty_budget_pays_what_it_has_and_only_the_issuer_sets_rules() -> None:
    c = rewards_chain()
    rich = msgspec.structs.replace(SEOUL_CAFES, rate_bp=10_000, cap_per_holder_minor=0)
    assert c.one(c.signer("bank-b").set_incentive("PTS", rich)).code == Code.NOT_AUTHORIZED
    assert c.one(c.signer("bank-a").set_incentive("PTS", rich)).code == "ok"
    assert pay(c, "alice", "cafe", 12_000, "p1") == "ok"
    assert c.state_read(CASHBACKS, "cafe", "p1").amount_minor == 10_000  # type: ignore[union-attr]
    assert c.balance("promo", "PTS") == 0
    assert pay(c, "alice", "cafe", 100, "p2") == "ok" and c.state_read(CASHBACKS, "cafe", "p2") is None
    for i in range(7):
        other = msgspec.structs.replace(SEOUL_CAFES, id=f"r{i}")
        assert c.one(c.signer("bank-a").set_incentive("PTS", other)).code == "ok"
    ninth = msgspec.structs.replace(SEOUL_CAFES, id="r9")
    assert c.one(c.signer("bank-a").set_incentive("PTS", ninth)).code == Code.TOO_MANY_RULES


# --- coupons ----------------------------------------------------------------------------------


def list_americano(c: Chain, stock: int = 3) -> None:
    listed = c.signer("bank-a").list_coupon(
        "americano", "One Americano", "PTS", 4_000, stock, START_MS + 86_400_000, ["cafe"]
    )
    assert c.one(listed).code == "ok"


def test_a_holder_buys_a_coupon_with_points_and_uses_it_once_at_its_merchant() -> None:
    c = rewards_chain()
    list_americano(c)
    bought = c.one(c.signer("alice").buy_coupon("americano"))
    assert bought.code == "ok"
    assert (c.balance("alice", "PTS"), c.balance("bank-a", "PTS")) == (96_000, 4_000)
    assert c.one(c.signer("alice").use_coupon(bought.txid, "mart")).code == Code.WRONG_MERCHANT
    assert c.one(c.signer("bob").use_coupon(bought.txid, "cafe")).code == Code.UNKNOWN_COUPON  # not bob's
    used = c.one(c.signer("alice").use_coupon(bought.txid, "cafe"))
    assert used.code == "ok"
    assert c.one(c.signer("alice").use_coupon(bought.txid, "cafe")).code == Code.COUPON_USED
    owned = c.state_read(OWNED_COUPONS, "alice", bought.txid)
    assert owned is not None and (owned.used_txid, owned.used_merchant) == (used.txid, "cafe")
    use = c.state_read(COUPON_USES, "cafe", bought.txid)
    assert use is not None and (use.holder, use.coupon) == ("alice", "americano")


def test_a_coupon_expires_at_its_validity_and_the_mall_refuses_bad_listings() -> None:
    c = rewards_chain()
    list_americano(c)
    bought = c.one(c.signer("alice").buy_coupon("americano"))
    c.now_ms = START_MS + 86_400_000 - 1
    assert c.one(c.signer("bob").buy_coupon("americano")).code == "ok"  # the last millisecond
    c.now_ms += 1
    assert c.one(c.signer("bob").buy_coupon("americano")).code == Code.COUPON_EXPIRED
    assert c.one(c.signer("alice").use_coupon(bought.txid, "cafe")).code == Code.COUPON_EXPIRED
    a = c.signer("bank-a")
    assert c.one(a.list_coupon("americano", "Again", "PTS", 1, 1, c.now_ms + 1, ["cafe"])).code == Code.COUPON_EXISTS
    assert c.one(a.list_coupon("x", "X", "PTS", 1, 1, c.now_ms + 1, ["alice"])).code == Code.NOT_MERCHANT
    assert (
        c.one(c.signer("bank-b").list_coupon("y", "Y", "PTS", 1, 1, c.now_ms + 1, ["cafe"])).code == Code.NOT_AUTHORIZED
    )
    assert c.one(c.signer("alice").buy_coupon("nope")).code == Code.UNKNOWN_COUPON


def test_stock_never_goes_below_zero_when_a_block_holds_more_buyers_than_coupons() -> None:
    c = rewards_chain()
    list_americano(c, stock=2)
    holders = [f"h{i}" for i in range(6)]
    a = c.signer("bank-a")
    assert all(
        r.code == "ok" for r in c.block([a.register_account(h, key(h).public_key_hex, "holder") for h in holders])
    )
    assert all(r.code == "ok" for r in c.block([a.issue("PTS", h, 5_000) for h in holders]))
    codes = [r.code for r in c.block([c.signer(h).buy_coupon("americano") for h in holders])]
    assert codes == ["ok", "ok"] + [Code.OUT_OF_STOCK] * 4
    coupon = c.state_read(COUPONS, "americano")
    assert coupon is not None and (coupon.stock, coupon.sold) == (0, 2)
    assert [c.balance(h, "PTS") for h in holders] == [1_000, 1_000, 5_000, 5_000, 5_000, 5_000]


def test_concurrent_purchases_through_a_real_node_sell_exactly_the_stock(tmp_path: Path) -> None:
    """Twenty holders buy a coupon of stock 7 at once, over HTTP: seven have one, thirteen are refused."""
    data_dir = tmp_path / "node"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-coupons")
    data = DataDir(data_dir)
    node = NodeProcess(data_dir, free_port()).start()
    try:
        asyncio.run(_buy_at_once(node.url, data))
    finally:
        node.stop()


async def _buy_at_once(url: str, data: DataDir) -> None:
    genesis_chain = "tally-coupons"
    bank = Signer("bank-a", read_keyfile(data.key_path("bank-a")).keypair(), genesis_chain)
    holders = [Signer(f"h{i}", key(f"h{i}"), genesis_chain) for i in range(20)]
    async with AsyncTallyClient(url) as client:

        async def final(signed: list) -> list[str]:  # type: ignore[type-arg]
            txids = await client.submit_batch(signed)
            return [(await client.wait_final(txid)).code for txid in txids]

        setup = [bank.create_asset("PTS", "Points", "points", 0, True, "none")]
        setup += [bank.register_account(h.account, h.key.public_key_hex, "holder") for h in holders]
        setup += [bank.register_account("cafe", key("cafe").public_key_hex, "merchant")]
        assert set(await final(setup)) == {"ok"}
        assert set(await final([bank.issue("PTS", h.account, 10_000) for h in holders])) == {"ok"}
        far = 4_000_000_000_000
        assert await final([bank.list_coupon("tea", "Tea", "PTS", 3_000, 7, far, ["cafe"])]) == ["ok"]
        codes = await asyncio.gather(*(final([h.buy_coupon("tea")]) for h in holders))
        flat = sorted(code for one in codes for code in one)
        assert flat.count("ok") == 7 and flat.count(Code.OUT_OF_STOCK) == 13
        coupon = await client.coupon("tea")
        assert (coupon.stock, coupon.sold) == (0, 7)
        buyer = next(h for h, one in zip(holders, codes, strict=True) if one == ["ok"])
    # The buyer sees its coupon unused, uses it at the café, and sees it used; the café's list shows the use.
    async with AsyncTallyClient(url, reader=(buyer.account, buyer.key)) as own:
        [owned] = (await own.owned_coupons(buyer.account)).items
        assert (owned.coupon, owned.used_txid, owned.used_height) == ("tea", "", 0)
        used_txid = await own.submit(buyer.use_coupon(owned.bought_txid, "cafe"))
        assert (await own.wait_final(used_txid)).code == "ok"
        [owned] = (await own.owned_coupons(buyer.account)).items
        assert (owned.used_txid, owned.used_merchant) == (used_txid, "cafe") and owned.used_height > 0
    async with AsyncTallyClient(url, reader=("cafe", key("cafe"))) as cafe:
        [use] = (await cafe.coupon_uses("cafe")).items
        assert (use.holder, use.coupon, use.txid, use.bought_txid) == (
            buyer.account,
            "tea",
            used_txid,
            owned.bought_txid,
        )
