"""Rates, exchange and roaming payments (protocol 11), on pure chains.

helpers.Chain checks the money rules after every block (conservation per asset, no negative balance).
Expected figures are worked out by hand in the comments, from core/rates.py's one rounding rule.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from helpers import key
from roaming import exchange, roaming_chain
from tally.core.errors import Code
from tally.core.rates import quote_exchange, quote_roaming
from tally.core.tables import EXCHANGES, OBLIGATIONS, PAYMENTS, RATES, WINDOWS, window_key
from tally.core.types import PairPosition, Ratio, SetQuota, SetRateBounds

# --- the arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "from_unit", "to_unit", "fee_bp", "value", "gross", "fee", "remainder"),
    [
        # 1000 points at 9.6 won, 1/14 cent a won: 4800/7 = 685 5/7 cents; 685 / 1.5 = 456 (684), 12/7 left
        (1000, Fraction(48, 70), Fraction(3, 2), 0, 685, 456, 0, Fraction(12, 7)),
        # one minor unit: 48/70 of a cent rounds to no obligation and buys nothing; all of it is remainder
        (1, Fraction(48, 70), Fraction(3, 2), 0, 0, 0, 0, Fraction(24, 35)),
        # thirds into sevenths: 10 * 7/3 = 70/3 = 23 1/3; 23 / (2/7) = 80.5 -> 80 (22 6/7); 1/3 + 1/7 = 10/21 left
        (10, Fraction(7, 3), Fraction(2, 7), 0, 23, 80, 0, Fraction(10, 21)),
        # a 2.5% fee on 80 is 2 (rounded down for the holder); the remainder is the same
        (10, Fraction(7, 3), Fraction(2, 7), 250, 23, 80, 2, Fraction(10, 21)),
        # huge denominators: 999,999,999,999 units at 1/999,999,999,999 each are worth exactly 1
        (999_999_999_999, Fraction(1, 999_999_999_999), Fraction(1, 1), 0, 1, 1, 0, Fraction(0)),
        # one unit worth a million into units worth 1/3: 3,000,000 exactly
        (1, Fraction(1_000_000), Fraction(1, 3), 0, 1_000_000, 3_000_000, 0, Fraction(0)),
    ],
)
def test_exchange_results_are_exact_at_awkward_rates(
    amount: int,
    from_unit: Fraction,
    to_unit: Fraction,
    fee_bp: int,
    value: int,
    gross: int,
    fee: int,
    remainder: Fraction,
) -> None:
    q = quote_exchange(amount, from_unit, to_unit, fee_bp)
    assert (q.value_minor, q.gross_minor, q.fee_minor, q.out_minor, q.remainder) == (
        value,
        gross,
        fee,
        gross - fee,
        remainder,
    )
    assert amount * from_unit == (q.out_minor + q.fee_minor) * to_unit + q.remainder  # value accounted for exactly


@pytest.mark.parametrize(
    ("out", "from_unit", "to_unit", "paid", "value"),
    [
        # 100 UPT = 150 cents; 150 / (48/70) = 218.75 -> 219 KPT, worth 150.17 cents -> obligation 150
        (100, Fraction(48, 70), Fraction(3, 2), 219, 150),
        # 1 UPT = 1.5 cents needs an obligation of 2 cents: 2 / (48/70) = 2.9 -> 3 KPT (2.057 cents)
        (1, Fraction(48, 70), Fraction(3, 2), 3, 2),
        # 7 units at 1/3 = 7/3 -> 3 cents; units worth 7/3: 3 / (7/3) = 1.29 -> 2 (4 2/3 -> 4)
        (7, Fraction(7, 3), Fraction(1, 3), 2, 4),
    ],
)
def test_a_roaming_quote_is_the_least_amount_that_carries_the_merchants_amount(
    out: int, from_unit: Fraction, to_unit: Fraction, paid: int, value: int
) -> None:
    q = quote_roaming(out, from_unit, to_unit)
    assert (q.from_minor, q.value_minor) == (paid, value)
    assert q.remainder == paid * from_unit - out * to_unit >= 0
    one_less = quote_exchange(paid - 1, from_unit, to_unit, 0) if paid > 1 else None
    assert one_less is None or one_less.gross_minor < out  # one unit less would not carry it


# --- rates ---------------------------------------------------------------------------------------


def test_rates_are_published_by_the_issuer_within_the_councils_bounds_from_their_block() -> None:
    c = roaming_chain()
    kr, us = c.signer("kr-bank"), c.signer("us-bank")
    assert c.one(us.set_rate("KPT", Ratio(10, 1))).code == Code.NOT_AUTHORIZED
    assert c.one(kr.set_rate("KPT", Ratio(1001, 1))).code == Code.RATE_OUT_OF_BOUNDS
    assert c.one(kr.set_rate("KPT", Ratio(1, 1001))).code == Code.RATE_OUT_OF_BOUNDS
    assert c.one(kr.set_rate("KPT", Ratio(1000, 1))).code == "ok"  # the bound itself
    published = c.height
    assert c.one(c.signer("settle-bank").set_rate("SET", Ratio(1, 1))).code == Code.NO_RATE_BOUNDS
    rate = c.state_read(RATES, "KPT")
    assert rate is not None and (rate.rate, rate.currency, rate.height) == (Ratio(1000, 1), "KRW", published)
    # the council narrows the bounds: the published rate is outside them and exchanges stop until it is published again
    narrow = SetRateBounds(asset="KPT", currency="KRW", min_rate=Ratio(1, 1), max_rate=Ratio(20, 1))
    assert c.one(kr.propose("bounds:KPT:2", narrow)).code == "ok"
    assert exchange(c, "alice", "KPT", "UPT", 1000) == Code.RATE_OUT_OF_BOUNDS
    assert c.one(kr.set_rate("KPT", Ratio(48, 5))).code == "ok"
    assert exchange(c, "alice", "KPT", "UPT", 1000) == "ok"


# --- exchange ------------------------------------------------------------------------------------


def test_an_exchange_moves_both_assets_records_the_result_and_the_obligation() -> None:
    c = roaming_chain(fee_bp=250)
    c.now_ms += 1
    result = c.one(c.signer("alice").exchange("KPT", "UPT", 1000, 440))
    assert result.code == "ok"
    # 685 cents buy 456 UPT; the fee is 456 * 2.5% = 11 (11.4 rounded down); alice gets 445
    assert c.balance("alice", "KPT") == 99_000 and c.balance("kr-bank", "KPT") == 1_000
    assert c.balance("alice", "UPT") == 445 and c.balance("us-bank", "UPT") == 1_000_000 - 445
    record = c.state_read(EXCHANGES, result.txid)
    assert record is not None
    assert (record.value_minor, record.gross_minor, record.fee_minor, record.out_minor) == (685, 456, 11, 445)
    assert record.remainder == "12/7" and record.from_rate == Ratio(48, 5) and record.to_rate == Ratio(3, 2)
    window = c.state_read(WINDOWS, window_key(0))
    assert window is not None and window.pairs == [PairPosition("kr-bank", "us-bank", 685)]
    obligation = c.state_read(OBLIGATIONS, window_key(0), result.txid)
    assert obligation is not None and (obligation.debtor, obligation.creditor, obligation.amount_minor) == (
        "kr-bank",
        "us-bank",
        685,
    )


def test_the_least_amount_protects_the_holder_when_the_rate_moves_in_the_same_block() -> None:
    c = roaming_chain()
    before = (c.balance("alice", "KPT"), c.balance("alice", "UPT"), c.state_read(WINDOWS, window_key(0)))
    c.now_ms += 1
    quote = quote_exchange(1000, Fraction(48, 70), Fraction(3, 2), 0)  # 456, as the wallet's quote showed
    moved = c.block(
        [
            c.signer("us-bank").set_rate("UPT", Ratio(2, 1)),
            c.signer("alice").exchange("KPT", "UPT", 1000, quote.out_minor),
        ]
    )
    assert [r.code for r in moved] == ["ok", Code.BELOW_MINIMUM]  # at 2 cents a point it would pay 342
    assert (c.balance("alice", "KPT"), c.balance("alice", "UPT"), c.state_read(WINDOWS, window_key(0))) == before
    assert exchange(c, "alice", "KPT", "UPT", 1000, 342) == "ok"
    assert c.balance("alice", "UPT") == 342


def test_an_empty_float_is_refused_and_changes_nothing() -> None:
    c = roaming_chain()
    assert exchange(c, "bob", "UPT", "KPT", 100) == Code.INSUFFICIENT_FLOAT  # kr-bank holds no KPT yet
    assert c.balance("bob", "UPT") == 10_000 and c.state_read(WINDOWS, window_key(0)) is None
    assert exchange(c, "alice", "KPT", "UPT", 200) == "ok"  # kr-bank now holds 200 KPT; 137 1/7 cents
    # 100 UPT = 150 cents = 2,100 won = 218.75 -> 218 KPT: more than the float
    assert exchange(c, "bob", "UPT", "KPT", 100) == Code.INSUFFICIENT_FLOAT
    assert c.balance("bob", "UPT") == 10_000 and c.balance("kr-bank", "KPT") == 200
    assert exchange(c, "bob", "UPT", "KPT", 90) == "ok"  # 135 cents = 1,890 won = 196 KPT (196.875)
    assert c.balance("bob", "KPT") == 196 and c.balance("kr-bank", "KPT") == 200 - 196
    window = c.state_read(WINDOWS, window_key(0))
    assert window is not None and window.pairs == [PairPosition("kr-bank", "us-bank", 137 - 135)]


def test_issuing_exchanges_stay_within_the_quota_and_too_small_or_same_asset_is_refused() -> None:
    c = roaming_chain()
    kr = c.signer("kr-bank")
    assert c.one(kr.set_rate("KPT", Ratio(48, 5), source="issue")).code == "ok"
    assert exchange(c, "bob", "UPT", "KPT", 90) == "ok"  # issued: 196 KPT
    assert c.state_read(RATES, "KPT").source == "issue"  # type: ignore[union-attr]
    assert exchange(c, "bob", "UPT", "UPT", 90) == Code.SAME_ASSET
    assert exchange(c, "alice", "KPT", "UPT", 1) == Code.TOO_SMALL  # 0.69 cents buys no UPT
    assert exchange(c, "alice", "KPT", "SET", 1000) == Code.NO_RATE
    assert c.one(kr.propose("quota:KPT", SetQuota(asset="KPT", quota_minor=100_196))).code == "ok"
    assert exchange(c, "bob", "UPT", "KPT", 1) == Code.OVER_QUOTA  # 1.5 cents: an obligation of 1, 1 KPT over
    assert c.balance("bob", "KPT") == 196


# --- roaming payments ---------------------------------------------------------------------------


def test_a_roaming_payment_gives_the_merchant_exactly_its_amount_and_refunds_go_back_at_its_rate() -> None:
    c = roaming_chain()
    c.now_ms += 1
    assert c.one(c.signer("alice").pay_roaming("UPT", "hotel", 100, "room-1", "KPT", 218)).code == Code.ABOVE_MAXIMUM
    paid = c.one(c.signer("alice").pay_roaming("UPT", "hotel", 100, "room-1", "KPT", 219))
    assert paid.code == "ok"
    assert c.balance("hotel", "UPT") == 100 and c.balance("alice", "KPT") == 100_000 - 219
    assert c.balance("kr-bank", "KPT") == 219 and c.balance("us-bank", "UPT") == 1_000_000 - 100
    payment = c.state_read(PAYMENTS, "hotel", "room-1")
    assert payment is not None and payment.roaming is not None
    roaming = payment.roaming
    assert (roaming.asset, roaming.amount_minor, roaming.value_minor, roaming.remainder) == ("KPT", 219, 150, "6/35")
    # a partial refund of 30 UPT returns 219 * 30 / 100 = 65.7 -> 65 KPT and reverses 45 cents of the obligation
    c.now_ms += 1
    assert c.one(c.signer("hotel").refund("room-1", 30)).code == "ok"
    assert c.balance("alice", "KPT") == 100_000 - 219 + 65 and c.balance("hotel", "UPT") == 70
    window = c.state_read(WINDOWS, window_key(0))
    assert window is not None and window.pairs == [PairPosition("kr-bank", "us-bank", 105)]
    # the rest: exactly what was paid comes back, and the two members owe each other nothing
    assert c.one(c.signer("hotel").refund("room-1", 70)).code == "ok"
    assert c.balance("alice", "KPT") == 100_000 and c.balance("hotel", "UPT") == 0
    window = c.state_read(WINDOWS, window_key(0))
    assert window is not None and window.pairs == [] and window.obligations == 3
    assert c.one(c.signer("hotel").refund("room-1", 1)).code == Code.REFUND_EXCEEDS_PAYMENT


def test_a_roaming_payment_keeps_the_merchants_assets_rules_and_its_payment_id_once() -> None:
    c = roaming_chain()
    alice = c.signer("alice")
    assert c.one(alice.pay_roaming("UPT", "hotel", 100, "room-1", "KPT", 300)).code == "ok"
    assert c.one(alice.pay_roaming("UPT", "hotel", 100, "room-1", "KPT", 300)).code == Code.DUPLICATE_PAYMENT
    assert c.one(alice.pay_roaming("UPT", "bob", 100, "room-2", "KPT", 300)).code == Code.NOT_MERCHANT
    assert c.one(alice.pay("KPT", "cafe", 1_000, "c-0")).code == "ok"
    cafe = c.signer("cafe")
    assert c.one(cafe.pay_roaming("UPT", "cafe", 1, "self-1", "KPT", 10)).code == Code.SELF_TRANSFER
    assert c.one(alice.pay_roaming("KPT", "cafe", 100, "c-1", "KPT", 300)).code == Code.SAME_ASSET
    assert c.one(alice.pay_roaming("UPT", "hotel", 100, "room-3", "SET", 300)).code == Code.NO_RATE


def test_an_exchange_moves_value_once_per_ref_and_not_out_of_a_frozen_account() -> None:
    """Exactly-once (a retry with the same ref) and the controls: the money rules hold for every new type."""
    from tally.core.types import AdmitMember

    c = roaming_chain()
    alice = c.signer("alice")
    first = c.one(alice.exchange("KPT", "UPT", 1000, 456, ref="x-1"))
    again = c.one(alice.exchange("KPT", "UPT", 1000, 456, ref="x-1"))  # the client retried after a timeout
    assert (first.code, again.code) == ("ok", Code.DUPLICATE_REF) and first.txid in again.message
    assert c.balance("alice", "KPT") == 99_000 and c.balance("alice", "UPT") == 456
    fsc = AdmitMember(account="fsc", name="Regulator", public_key=key("fsc").public_key_hex, role="regulator")
    assert c.one(c.signer("kr-bank").propose("fsc", fsc)).code == "ok"
    assert c.one(c.signer("fsc").freeze("account", "alice", "court_order")).code == "ok"
    assert exchange(c, "alice", "KPT", "UPT", 1000) == Code.ACCOUNT_FROZEN
    assert c.one(alice.pay_roaming("UPT", "hotel", 100, "room-9", "KPT", 300)).code == Code.ACCOUNT_FROZEN
    assert c.balance("alice", "KPT") == 99_000
    assert c.one(c.signer("fsc").freeze("asset", "UPT", "issuer_default")).code == "ok"
    assert exchange(c, "bob", "UPT", "KPT", 10) == Code.ASSET_FROZEN
