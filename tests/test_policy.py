"""Asset policies (protocol 8): each rule at its boundary, local-currency sales and the voucher-cashing guard.

Every chain here is a pure chain (helpers.Chain): each block runs through the
core's one block transition and the money rules (conservation per asset, no
negative balance) are checked after every block.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from helpers import Chain, key, make_genesis
from tally.core.errors import Code
from tally.core.policy import chain_month
from tally.core.tables import ASSETS, FLAGS, HOLDER_USE, PAYOUTS, PROPOSALS, PURCHASES
from tally.core.types import AssetPolicy, SetPolicy
from tally.store import open_store

SEOUL_MIN = 9 * 60  # Asia/Seoul: UTC+9, no daylight saving
START_MS = int(datetime(2027, 1, 20, 3, 0, tzinfo=UTC).timestamp() * 1000)
# The last millisecond of January in Seoul, and the first of February.
JAN_LAST_MS = int(datetime(2027, 1, 31, 14, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)
FEB_FIRST_MS = JAN_LAST_MS + 1

MERCHANTS = {  # id: (category, region)
    "cafe": ("5812", "KR-11"),
    "gangnam-deli": ("5812", "KR-11-680"),
    "busan-cafe": ("5812", "KR-26"),
    "mart": ("5411", "KR-11"),
}


def policy_chain(
    policy: AssetPolicy, transferable: bool = False, cash_out: str = "merchants", alice_minor: int = 10_000
) -> Chain:
    """bank-a's voucher V under `policy`; holders alice and bob, budget account city-budget; the merchants
    above registered (unlisted: a merchant without a registry entry); alice holds `alice_minor` of V."""
    genesis = msgspec.structs.replace(make_genesis(), utc_offset_min=SEOUL_MIN)
    c = Chain(genesis=genesis, now_ms=START_MS)
    a = c.signer("bank-a")
    accounts = [("alice", "holder"), ("bob", "holder"), ("city-budget", "holder"), ("unlisted", "merchant")]
    accounts += [(m, "merchant") for m in MERCHANTS]
    setup = [a.register_account(name, key(name).public_key_hex, role) for name, role in accounts]
    assert [r.code for r in c.block(setup)] == ["ok"] * len(setup)
    created = a.create_asset("V", "Voucher", "voucher", 0, transferable, cash_out, policy=policy)
    assert c.one(created).code == "ok"
    entries = [
        a.set_merchant(
            merchant=m,
            category=category,
            region=region,
            lat_e6=37_500_000,
            lon_e6=127_000_000,
            business_no="120-81-47521",
            accepts=["V"],
        )
        for m, (category, region) in MERCHANTS.items()
    ]
    assert [r.code for r in c.block(entries)] == ["ok"] * len(entries)
    if alice_minor:
        assert c.one(a.issue("V", "alice", alice_minor)).code == "ok"
    return c


def pay(c: Chain, merchant: str, amount_minor: int, payer: str = "alice") -> str:
    c.now_ms += 1
    return c.one(c.signer(payer).pay("V", merchant, amount_minor, f"p-{c.height}")).code


# --- where ------------------------------------------------------------------------


def test_a_voucher_is_spent_only_at_its_categories_and_regions() -> None:
    c = policy_chain(AssetPolicy(categories=["5812", "5814"], regions=["KR-11"]))
    assert pay(c, "cafe", 100) == "ok"
    assert pay(c, "gangnam-deli", 100) == "ok"  # KR-11-680 is within KR-11
    assert pay(c, "busan-cafe", 100) == Code.WRONG_REGION
    assert pay(c, "mart", 100) == Code.WRONG_CATEGORY
    assert pay(c, "unlisted", 100) == Code.UNREGISTERED_MERCHANT
    assert c.balance("alice", "V") == 10_000 - 200


def test_a_region_is_not_a_prefix_of_a_longer_one() -> None:
    """KR-1 allows KR-1 and KR-1-…, not KR-11."""
    c = policy_chain(AssetPolicy(regions=["KR-1"]))
    assert pay(c, "cafe", 100) == Code.WRONG_REGION


def test_a_payment_code_charge_is_held_to_the_same_region() -> None:
    c = policy_chain(AssetPolicy(regions=["KR-11"]))
    assert c.one(c.signer("alice").open_code("12345678901234567890", "V", 500)).code == "ok"
    charged = c.one(c.signer("busan-cafe").charge("12345678901234567890", 500, "code-1"))
    assert charged.code == Code.WRONG_REGION
    assert "KR-26" in charged.message
    assert c.one(c.signer("cafe").charge("12345678901234567890", 500, "code-1")).code == "ok"


def test_a_plain_asset_is_spent_anywhere() -> None:
    c = policy_chain(AssetPolicy())
    assert [pay(c, m, 10) for m in (*MERCHANTS, "unlisted")] == ["ok"] * 5


# --- until when -------------------------------------------------------------------


def test_a_voucher_moves_until_the_last_millisecond_before_its_end() -> None:
    end_ms = START_MS + 3_600_000
    c = policy_chain(AssetPolicy(valid_until_ms=end_ms), transferable=True)
    c.now_ms = end_ms - 2
    assert pay(c, "cafe", 100) == "ok"  # at end_ms - 1
    c.now_ms = end_ms
    assert c.one(c.signer("alice").transfer("V", "bob", 1)).code == Code.ASSET_EXPIRED
    assert pay(c, "cafe", 100) == Code.ASSET_EXPIRED
    assert c.one(c.signer("bank-a").issue("V", "bob", 1)).code == Code.ASSET_EXPIRED
    # The first block at its end swept alice's remainder back to the issuer (lots, protocol 9).
    assert (c.balance("alice", "V"), c.balance("bank-a", "V")) == (0, 9_900)


# --- how much ---------------------------------------------------------------------


def test_a_holder_holds_exactly_its_cap_and_not_one_unit_more() -> None:
    c = policy_chain(AssetPolicy(holder_cap_minor=10_000), transferable=True)
    assert c.one(c.signer("bank-a").issue("V", "alice", 1)).code == Code.OVER_HOLDER_CAP
    assert c.one(c.signer("bank-a").issue("V", "bob", 9_999)).code == "ok"
    assert c.one(c.signer("alice").transfer("V", "bob", 2)).code == Code.OVER_HOLDER_CAP
    assert c.one(c.signer("alice").transfer("V", "bob", 1)).code == "ok"
    assert (c.balance("alice", "V"), c.balance("bob", "V")) == (9_999, 10_000)


def test_a_refund_that_would_pass_the_holder_cap_is_refused() -> None:
    c = policy_chain(AssetPolicy(holder_cap_minor=10_000))
    payment_id = f"p-{c.height}"
    assert pay(c, "cafe", 500) == "ok"
    assert c.one(c.signer("bank-a").issue("V", "alice", 500)).code == "ok"
    assert c.one(c.signer("cafe").refund(payment_id, 1)).code == Code.OVER_HOLDER_CAP
    assert c.one(c.signer("cafe").refund(payment_id, 500)).code == Code.OVER_HOLDER_CAP
    assert c.balance("alice", "V") == 10_000


def test_the_monthly_cap_counts_calendar_months_in_the_chains_time_zone() -> None:
    assert chain_month(JAN_LAST_MS, SEOUL_MIN) + 1 == chain_month(FEB_FIRST_MS, SEOUL_MIN)
    assert chain_month(JAN_LAST_MS, 0) == chain_month(FEB_FIRST_MS, 0)  # still January 31 in UTC
    c = policy_chain(AssetPolicy(monthly_cap_minor=50_000), alice_minor=0)
    a = c.signer("bank-a")
    assert c.one(a.issue("V", "alice", 50_000)).code == "ok"  # exactly the cap
    c.now_ms = JAN_LAST_MS
    refused = c.one(a.issue("V", "alice", 1))
    assert refused.code == Code.OVER_MONTHLY_CAP
    assert "50001" in refused.message and "50000" in refused.message
    c.now_ms = FEB_FIRST_MS
    assert c.one(a.issue("V", "alice", 50_000)).code == "ok"
    assert c.one(a.issue("V", "bob", 50_000)).code == "ok"  # per holder
    use = c.state_read(HOLDER_USE, "alice", "V")
    assert use is not None and (use.month_in_minor, use.face_minor) == (50_000, 100_000)


def test_the_budget_account_and_merchants_are_outside_the_holder_caps() -> None:
    c = policy_chain(
        AssetPolicy(holder_cap_minor=100, monthly_cap_minor=100, discount_bp=1_000, budget_account="city-budget"),
        alice_minor=0,
    )
    assert c.one(c.signer("bank-a").issue("V", "city-budget", 1_000_000)).code == "ok"
    assert c.one(c.signer("bank-a").issue("V", "cafe", 1_000)).code == "ok"


# --- who pays whom ----------------------------------------------------------------


def test_only_holders_pay_merchants_unless_the_policy_lets_merchants_pay() -> None:
    c = policy_chain(AssetPolicy())
    assert pay(c, "cafe", 1_000) == "ok"
    refused = pay(c, "mart", 500, payer="cafe")
    assert refused == Code.PAYER_NOT_ALLOWED
    open_c = policy_chain(AssetPolicy(merchants_pay=True))
    assert pay(open_c, "cafe", 1_000) == "ok"
    assert pay(open_c, "mart", 500, payer="cafe") == "ok"


def test_a_transferable_policy_asset_moves_between_holders_only() -> None:
    c = policy_chain(AssetPolicy(), transferable=True)
    assert c.one(c.signer("alice").transfer("V", "bob", 10)).code == "ok"
    assert c.one(c.signer("alice").transfer("V", "cafe", 10)).code == Code.PAYER_NOT_ALLOWED
    fixed = policy_chain(AssetPolicy())
    assert fixed.one(fixed.signer("alice").transfer("V", "bob", 1)).code == Code.NOT_TRANSFERABLE


# --- cash-out ---------------------------------------------------------------------


def test_a_cash_out_pays_the_issuer_its_fee_rounded_down() -> None:
    c = policy_chain(AssetPolicy(cash_out_fee_bp=150))
    assert pay(c, "cafe", 1_999) == "ok"
    cashed = c.one(c.signer("cafe").cash_out("V", 1_999, "KR12 0002 cafe"))
    assert cashed.code == "ok"
    payout = c.state_read(PAYOUTS, cashed.txid)
    assert payout is not None and (payout.amount_minor, payout.fee_minor) == (1_970, 29)  # 1999 * 1.5% = 29.985
    assert c.balance("bank-a", "V") == 29 and c.balance("cafe", "V") == 0
    asset = c.state_read(ASSETS, "V")
    assert asset is not None and asset.burned_minor == 1_970
    assert c.one(c.signer("alice").cash_out("V", 1, "KR12 0001 alice")).code == Code.CASH_OUT_NOT_ALLOWED


REFUNDABLE = AssetPolicy(refund_pct=60, small_refund_pct=80, small_face_minor=10_000)


@pytest.mark.parametrize(
    ("face_minor", "spent_minor", "code"),
    [
        (50_000, 29_999, Code.REFUND_THRESHOLD_NOT_REACHED),  # 60% of 50,000 is 30,000
        (50_000, 30_000, "ok"),
        (10_000, 7_999, Code.REFUND_THRESHOLD_NOT_REACHED),  # a small face value: 80%
        (10_000, 8_000, "ok"),
        (10_001, 6_001, "ok"),  # one unit above small: 60% (6,000.6, so 6,001)
        (10_001, 6_000, Code.REFUND_THRESHOLD_NOT_REACHED),
    ],
)
def test_a_holder_takes_back_the_remainder_once_it_has_spent_enough(
    face_minor: int, spent_minor: int, code: str
) -> None:
    c = policy_chain(REFUNDABLE, alice_minor=face_minor)
    assert pay(c, "cafe", spent_minor) == "ok"
    redeemed = c.one(c.signer("alice").redeem_remainder("V", "KR12 0001 alice"))
    assert redeemed.code == code
    if code == "ok":
        payout = c.state_read(PAYOUTS, redeemed.txid)
        assert payout is not None and payout.amount_minor == face_minor - spent_minor
        assert c.balance("alice", "V") == 0
        again = c.one(c.signer("alice").redeem_remainder("V", "KR12 0001 alice"))
        assert again.code == Code.INSUFFICIENT_FUNDS
    else:
        assert c.balance("alice", "V") == face_minor - spent_minor


def test_a_policy_without_a_remainder_refund_refuses_it() -> None:
    c = policy_chain(AssetPolicy())
    assert c.one(c.signer("alice").redeem_remainder("V", "KR12")).code == Code.CASH_OUT_NOT_ALLOWED


# --- the council changes a policy -------------------------------------------------


def test_the_council_changes_a_policy_by_proposal_and_the_proposal_is_its_history() -> None:
    c = policy_chain(AssetPolicy(regions=["KR-11"]))
    assert pay(c, "busan-cafe", 100) == Code.WRONG_REGION
    wider = SetPolicy(
        asset="V", transferable=False, cash_out="merchants", policy=AssetPolicy(regions=["KR-11", "KR-26"])
    )
    assert c.one(c.signer("bank-a").propose("policy:V:2", wider)).code == "ok"
    proposal = c.state_read(PROPOSALS, "policy:V:2")
    assert proposal is not None and proposal.status == "executed" and proposal.closed_height == c.height
    assert pay(c, "busan-cafe", 100) == "ok"
    asset = c.state_read(ASSETS, "V")
    assert asset is not None and asset.policy == AssetPolicy(regions=["KR-11", "KR-26"])


def test_a_policy_naming_a_missing_budget_account_fails_whole() -> None:
    c = policy_chain(AssetPolicy())
    bad = SetPolicy(asset="V", transferable=True, cash_out="all", policy=AssetPolicy(discount_bp=1, budget_account="x"))
    assert c.one(c.signer("bank-a").propose("policy:V:bad", bad)).code == "ok"
    proposal = c.state_read(PROPOSALS, "policy:V:bad")
    assert proposal is not None and (proposal.status, proposal.result_code) == ("failed", Code.UNKNOWN_ACCOUNT)
    asset = c.state_read(ASSETS, "V")
    assert asset is not None and (asset.transferable, asset.policy) == (False, AssetPolicy())
    no_budget = AssetPolicy(discount_bp=1_000)
    created = c.one(c.signer("bank-b").create_asset("W", "W", "local_currency", 0, False, "none", policy=no_budget))
    assert created.code == Code.BAD_PARAMETER


def test_a_protocol_7_ledger_has_no_policies() -> None:
    c = Chain(genesis=msgspec.structs.replace(make_genesis(), protocol=7))
    a = c.signer("bank-a")
    assert c.one(a.create_asset("V", "V", "voucher", 0, False, "none", policy=AssetPolicy())).code == Code.BAD_PARAMETER
    assert c.one(a.create_asset("V", "V", "voucher", 0, False, "none")).code == "ok"
    change = SetPolicy(asset="V", transferable=False, cash_out="none", policy=AssetPolicy())
    assert c.one(a.propose("p", change)).code == Code.TYPE_NOT_SUPPORTED
    assert c.one(a.sell("V", "bank-b", 10, 9, "x")).code == Code.TYPE_NOT_SUPPORTED


# --- local currency -----------------------------------------------------------------

LOCAL = AssetPolicy(discount_bp=1_000, budget_account="city-budget", monthly_cap_minor=20_000_000, holder_cap_minor=0)


def local_chain(tmp_path: Path | None = None) -> Chain:
    """LOCAL at 10% off, the budget funded with 1,000,000.00; alice is a resident (decimals 2: minor = 0.01)."""
    c = policy_chain(LOCAL, alice_minor=0)
    if tmp_path is not None:
        c.store = open_store(tmp_path / "ledger.db", c.genesis)
        c.store.put_state(dict(c.state.values))
    assert c.one(c.signer("bank-a").issue("V", "city-budget", 100_000_000)).code == "ok"
    return c


def sell(c: Chain, face_minor: int, paid_minor: int, buyer: str = "alice") -> str:
    c.now_ms += 1
    return c.one(c.signer("bank-a").sell("V", buyer, face_minor, paid_minor, f"KB {c.height}")).code


def test_a_resident_buys_at_a_discount_up_to_the_monthly_cap_and_again_next_month(tmp_path: Path) -> None:
    c = local_chain(tmp_path)
    assert sell(c, 10_000_000, 9_000_000) == "ok"  # 100,000 for 90,000
    assert sell(c, 10_000_000, 9_000_000) == "ok"  # the cap, 200,000, exactly
    assert sell(c, 100, 90) == Code.OVER_MONTHLY_CAP
    c.now_ms = JAN_LAST_MS - 1  # sell() steps 1 ms: the last millisecond of January in Seoul
    assert sell(c, 100, 90) == Code.OVER_MONTHLY_CAP
    assert c.now_ms == JAN_LAST_MS  # and now the first of February
    assert sell(c, 10_000_000, 9_000_000) == "ok"
    assert c.balance("alice", "V") == 30_000_000
    assert c.balance("city-budget", "V") == 100_000_000 - 3_000_000
    asset = c.state_read(ASSETS, "V")
    assert asset is not None and asset.issued_minor == 100_000_000 + 27_000_000  # the budget, then the paid parts
    assert c.store is not None
    budget_history = c.store.history("city-budget", None, 10)
    sales = [h for h in budget_history if h.type == "sell" and h.code == "ok"]
    assert len(sales) == 3
    purchases = [c.state_read(PURCHASES, h.txid) for h in sales]
    assert sum(p.incentive_minor for p in purchases if p is not None) == 3_000_000
    c.store.close()


def test_a_sale_at_the_wrong_price_or_beyond_the_budget_changes_nothing() -> None:
    c = local_chain()
    assert sell(c, 10_000, 9_001) == Code.WRONG_PRICE
    assert sell(c, 10_005, 9_005) == "ok"  # the discount rounds down: 1,000.5 is 1,000
    poor = policy_chain(LOCAL, alice_minor=0)
    assert poor.one(poor.signer("bank-a").issue("V", "city-budget", 999)).code == "ok"
    assert sell(poor, 10_000, 9_000) == Code.BUDGET_EXHAUSTED
    assert poor.balance("alice", "V") == 0 and poor.balance("city-budget", "V") == 999
    assert sell(c, 10_000, 9_000, buyer="cafe") == Code.WRONG_ROLE
    assert c.one(c.signer("bank-b").sell("V", "alice", 10_000, 9_000, "KB x")).code == Code.NOT_AUTHORIZED
    plain = policy_chain(AssetPolicy())
    assert plain.one(plain.signer("bank-a").sell("V", "alice", 10, 9, "x")).code == Code.NO_DISCOUNT


def test_a_sale_is_recorded_once_per_reference() -> None:
    c = local_chain()
    a = c.signer("bank-a")
    assert c.one(a.sell("V", "alice", 10_000, 9_000, "KB 1", ref="sale-1")).code == "ok"
    assert c.one(a.sell("V", "alice", 10_000, 9_000, "KB 1", ref="sale-1")).code == Code.DUPLICATE_REF
    assert c.balance("alice", "V") == 10_000


# --- the voucher-cashing guard ------------------------------------------------------


def test_many_holders_paying_one_merchant_that_cashes_out_at_once_is_capped_and_flagged() -> None:
    """Twenty 'customers' pay one shop 50,000 each in a day (1,000,000); it usually redeems 100,000 a month and
    the issuer capped its cash-outs at 500,000: cashing out everything at once is refused, 500,000 passes and
    flags it (past 3 x 100,000), once; a cent more is refused; the money rules hold throughout."""
    c = policy_chain(AssetPolicy(flag_multiple=3), alice_minor=0)
    a = c.signer("bank-a")
    assert c.one(a.set_merchant_limit("cafe", "V", 500_000, 100_000)).code == "ok"
    holders = [f"h{i:02d}" for i in range(20)]
    assert all(
        r.code == "ok" for r in c.block([a.register_account(h, key(h).public_key_hex, "holder") for h in holders])
    )
    assert all(r.code == "ok" for r in c.block([a.issue("V", h, 50_000) for h in holders]))
    assert [pay(c, "cafe", 50_000, payer=h) for h in holders] == ["ok"] * 20
    assert c.state_read(FLAGS, "V", "cafe") is None  # payments alone flag nothing: redemptions do
    assert c.one(c.signer("cafe").cash_out("V", 1_000_000, "KR12 cafe")).code == Code.OVER_CASH_OUT_CAP
    assert c.state_read(FLAGS, "V", "cafe") is None  # a refused cash-out changes nothing, flags included
    assert c.one(c.signer("cafe").cash_out("V", 300_000, "KR12 cafe")).code == "ok"  # exactly 3x: not past it
    assert c.state_read(FLAGS, "V", "cafe") is None
    flagging = c.one(c.signer("cafe").cash_out("V", 200_000, "KR12 cafe"))
    assert flagging.code == "ok"
    flag = c.state_read(FLAGS, "V", "cafe")
    assert flag is not None and (flag.redeemed_minor, flag.usual_minor, flag.multiple) == (500_000, 100_000, 3)
    assert flag.txid == flagging.txid and "bank-a" in c.parties[0]  # the issuer's history shows it
    assert c.one(c.signer("cafe").cash_out("V", 1, "KR12 cafe")).code == Code.OVER_CASH_OUT_CAP
    assert c.balance("cafe", "V") == 500_000
    asset = c.state_read(ASSETS, "V")
    assert asset is not None and asset.outstanding_minor == 1_000_000 - 500_000


def test_a_merchant_without_its_own_limit_is_held_to_the_policy_cap_and_last_month_is_its_usual() -> None:
    c = policy_chain(AssetPolicy(merchant_cash_out_cap_minor=10_000, flag_multiple=2), alice_minor=10_000)
    assert pay(c, "cafe", 10_000) == "ok"
    c.now_ms = JAN_LAST_MS
    assert c.one(c.signer("cafe").cash_out("V", 10_001, "KR12")).code == Code.OVER_CASH_OUT_CAP
    assert c.one(c.signer("cafe").cash_out("V", 3_000, "KR12")).code == "ok"  # no usual volume yet: not flagged
    assert c.state_read(FLAGS, "V", "cafe") is None
    c.now_ms = FEB_FIRST_MS  # January's 3,000 is February's usual volume
    assert c.one(c.signer("cafe").cash_out("V", 6_000, "KR12")).code == "ok"  # exactly 2x
    assert c.state_read(FLAGS, "V", "cafe") is None
    assert c.one(c.signer("cafe").cash_out("V", 1, "KR12")).code == "ok"
    flag = c.state_read(FLAGS, "V", "cafe")
    assert flag is not None and (flag.redeemed_minor, flag.usual_minor) == (6_001, 3_000)
    assert c.one(c.signer("bank-b").set_merchant_limit("cafe", "V", 5_000, 0)).code == Code.NOT_AUTHORIZED


def test_the_cash_out_cap_resets_with_the_month() -> None:
    c = policy_chain(AssetPolicy(merchant_cash_out_cap_minor=1_000), alice_minor=5_000)
    assert pay(c, "cafe", 2_000) == "ok"
    c.now_ms = JAN_LAST_MS
    assert c.one(c.signer("cafe").cash_out("V", 1_000, "KR12")).code == "ok"
    assert c.one(c.signer("cafe").cash_out("V", 1, "KR12")).code == Code.OVER_CASH_OUT_CAP
    c.now_ms = FEB_FIRST_MS
    assert c.one(c.signer("cafe").cash_out("V", 1_000, "KR12")).code == "ok"


def test_chain_month_agrees_with_the_gregorian_calendar() -> None:
    """core/ counts months in integers (no datetime: core stays pure); the standard library agrees."""
    rng = random.Random(8)
    for _ in range(20_000):
        timestamp_ms, offset_min = rng.randrange(0, 253_402_300_799_000), rng.randrange(-840, 841)
        day = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=timestamp_ms + offset_min * 60_000)
        assert chain_month(timestamp_ms, offset_min) == (day.year - 1970) * 12 + day.month - 1
