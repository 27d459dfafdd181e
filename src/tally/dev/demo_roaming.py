"""The demo's financial roaming (protocol 11): Skyway miles (won) meet Liberty Hotels points (dollars).

Skyway publishes 1 mile = 9.6 won, Liberty 1 point = 0.8 cents; the council sets the bounds, settlement in
dollars in windows of 20 blocks through Harbor Bank's dollar deposit token (prefunded by every member), and
1 won = 1/14 cent. dana exchanges 10,000 miles for Liberty points; emeka pays a New York Liberty hotel
$100 (12,500 points) with his miles, and gets $20 back; the hotel cashes out $40. Skyway now owes Liberty
148.57 dollars in the open window, shown live in the console.
"""

from __future__ import annotations

from ..client.signer import Signer
from ..core.ops import SignedTx
from ..core.types import FxRate, Ratio, SetRateBounds, SetSettlement

MEMBER = ("liberty-hotels", "Liberty Hotels Rewards")
HOTEL = "liberty-nyc"
LIBERTY, SETTLEMENT_TOKEN = "LIBERTY", "HARBOR-USD"
MILES = "SKYMILES"
WINDOW_BLOCKS = 20
ROAMING_TXS = 3 + 11 + 4


def roaming_phases(s: dict[str, Signer]) -> list[list[SignedTx]]:
    """The roaming demo in three phases (each final before the next); `s` holds every demo signer."""
    bank, sky, liberty = s["harbor-bank"], s["skyway"], s[MEMBER[0]]
    assets = [
        liberty.create_asset(LIBERTY, "Liberty Hotels points", "points", 0, True, "merchants"),
        bank.create_asset(SETTLEMENT_TOKEN, "Harbor Bank USD deposit token (settlement)", "emoney", 2, True, "none"),
        liberty.register_account(HOTEL, s[HOTEL].key.public_key_hex, "merchant"),
    ]
    miles_bounds = SetRateBounds(asset=MILES, currency="KRW", min_rate=Ratio(1, 10), max_rate=Ratio(100, 1))
    points_bounds = SetRateBounds(asset=LIBERTY, currency="USD", min_rate=Ratio(1, 10), max_rate=Ratio(10, 1))
    settlement = SetSettlement(
        currency="USD", window_blocks=WINDOW_BLOCKS, asset=SETTLEMENT_TOKEN, fx=[FxRate("KRW", Ratio(1, 14))]
    )
    council = [
        bank.propose("rate-bounds:SKYMILES", miles_bounds),
        bank.propose("rate-bounds:LIBERTY", points_bounds),
        bank.propose("settlement:usd", settlement),
        sky.set_rate(MILES, Ratio(48, 5)),
        liberty.set_rate(LIBERTY, Ratio(4, 5)),
        liberty.issue(LIBERTY, MEMBER[0], 1_000_000),  # its float
        sky.issue(MILES, "skyway", 1_000_000),
        *[bank.issue(SETTLEMENT_TOKEN, m, 1_000_000) for m in ("harbor-bank", "skyway", MEMBER[0])],  # prefunding
        liberty.set_merchant(
            merchant=HOTEL,
            category="7011",
            region="US-NY",
            lat_e6=40_758_000,
            lon_e6=-73_985_500,
            business_no="13-4567890",
            accepts=[LIBERTY],
        ),
    ]
    roaming = [
        s["dana"].exchange(MILES, LIBERTY, 10_000, 8_571, ref="exchange-0001"),  # 6,857 cents: 8,571 points
        s["emeka"].pay_roaming(LIBERTY, HOTEL, 12_500, "stay-0001", MILES, 14_584),  # $100 for 14,584 miles
        s[HOTEL].refund("stay-0001", 2_500, ref="stay-0001-refund-1"),  # $20 back at the same rate
        s[HOTEL].cash_out(LIBERTY, 5_000, "US-CHASE-021000021-4410", ref="cash-out-0001"),
    ]
    return [assets, council, roaming]
