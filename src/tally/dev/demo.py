"""Demo data: two member institutions, a point programme and a voucher,
merchants, holders and a few hundred payments, loaded through the node's own
admission and pipeline (so every demo transaction is signed and checked).

Harbor Bank also runs Seoul's programmes under asset policies (protocol 8):
a culture voucher spent only at Seoul's cafés and bookshops, and the local
currency "Seoul Love", sold at 10% off out of the city's budget account, up
to 700,000 a month. Alice tries her culture voucher at a Busan
bookshop: the ledger refuses it (`wrong_region`), and her history shows why.
Seoul Love pays 5% cashback at Seoul's cafés, and Skyway's coupon mall sells
an Americano at Cafe Lumen for 4,000 miles (dana has bought one). A third
member, Liberty Hotels (dollars), brings roaming: miles exchanged for hotel
points and a New York stay paid with miles, settled between the members in a
dollar deposit token (dev/demo_roaming.py).

Holder and merchant keys are derived from their names: they are demo keys,
written to DATA_DIR/keys/ so the README's tour can sign with them. The demo
also opens the demo member desk (dev/desk.py), so the web wallet can open
wallets with a welcome balance.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from ..api.desk import DeskConfig, Welcome, write_desk
from ..client.keys import KeyFile, read_keyfile, write_keyfile
from ..client.signer import Signer
from ..core.crypto import KeyPair, sha256
from ..core.ops import SignedTx
from ..core.types import AssetPolicy, IncentiveRule
from ..node.config import DataDir
from ..node.node import Node
from .demo_roaming import HOTEL, roaming_phases
from .demo_roaming import MEMBER as ROAMING_MEMBER

MEMBERS = [("harbor-bank", "Harbor Bank"), ("skyway", "Skyway Airlines Loyalty"), ROAMING_MEMBER]
MERCHANTS = {"harbor-bank": ["cafe-lumen", "book-nook", "haeundae-books"], "skyway": ["duty-free-7"]}
HOLDERS = {"harbor-bank": ["alice", "bob", "chen"], "skyway": ["dana", "emeka", "farah"]}
POINTS, VOUCHER = "SKYMILES", "HARBOR-GIFT"
CITY_VOUCHER, LOCAL = "SEOUL-CULTURE", "SEOUL-LOVE"
BUDGET = "seoul-budget"  # the city's budget account for Seoul Love's discount
DAY_MS = 86_400_000
CITY_VOUCHER_POLICY = AssetPolicy(
    categories=["5814", "5942"],  # fast food and cafés, bookshops
    regions=["KR-11"],  # Seoul
    holder_cap_minor=500_000,
    refund_pct=60,  # the remainder comes back once 60% is spent (80% up to 10,000)
    small_refund_pct=80,
    small_face_minor=10_000,
    lot_lifetime_ms=365 * DAY_MS,  # each issue is good for a year, to the end of its day; then back to the city
)
LOCAL_POLICY = AssetPolicy(
    regions=["KR-11"],
    monthly_cap_minor=700_000,
    discount_bp=1_000,  # 10% off
    budget_account=BUDGET,
    merchant_cash_out_cap_minor=5_000_000,
    flag_multiple=3,
    lot_lifetime_ms=5 * 365 * DAY_MS,  # five years, as Korean gift vouchers
)
# The merchant registry (protocol 7): category (MCC), region, location in millionths of a degree, assets taken.
SEOUL_TAKES = [CITY_VOUCHER, LOCAL]  # Seoul's programmes, at Seoul's merchants
REGISTRY = {
    "cafe-lumen": (
        "5814",
        "KR-11",
        37_566_500,
        126_978_000,
        "120-81-47521",
        [VOUCHER, POINTS, CITY_VOUCHER, LOCAL],
    ),  # Seoul, City Hall
    "book-nook": (
        "5942",
        "KR-11",
        37_570_400,
        126_992_100,
        "211-86-10433",
        [VOUCHER, CITY_VOUCHER, LOCAL],
    ),  # Seoul, Jongno
    "duty-free-7": ("5309", "KR-26", 35_179_600, 129_075_600, "617-81-02917", [POINTS]),  # Busan
    "haeundae-books": (
        "5942",
        "KR-26",
        35_158_700,
        129_160_400,
        "602-81-33018",
        [VOUCHER, CITY_VOUCHER],
    ),  # Busan, Haeundae
}
PAYMENTS = 300
# Cashback at Seoul's cafés in Seoul Love (protocol 10): 5%, up to 5,000 a holder, out of the city's budget.
SEOUL_CAFES_CASHBACK = IncentiveRule(
    id="seoul-cafes",
    rate_bp=500,
    budget_account=BUDGET,
    categories=["5814"],
    regions=["KR-11"],
    cap_per_holder_minor=5_000,
)
COUPONS_UNTIL_MS = 2_082_758_400_000  # 2036-01-01: the demo's coupons
# Seoul's programmes: 2 assets and the budget account, 4 issues, 3 sales, 3 payments and the refused one;
# the cashback rule, a coupon listed and bought.
SEOUL_TXS = 3 + 4 + 3 + 3 + 1 + 3
DEMO_UTC_OFFSET_MIN = 9 * 60  # the demo chain keeps Seoul's calendar (Asia/Seoul: UTC+9, no daylight saving)


def demo_key(name: str) -> KeyPair:
    return KeyPair(sha256(b"tally-demo-key/" + name.encode()))


async def load_demo(node: Node, progress: Callable[[int], None] = lambda n: None) -> int:
    """Submit the demo in phases, each final before the next; returns the tx count."""
    chain = node.genesis.chain
    data = node.data
    signers: dict[str, Signer] = {}
    for member_id, _ in MEMBERS:
        key = read_keyfile(data.key_path(member_id)).keypair()
        signers[member_id] = Signer(member_id, key, chain)
    for name in [n for member_id in HOLDERS for n in MERCHANTS[member_id] + HOLDERS[member_id]] + [HOTEL]:
        key = demo_key(name)
        write_keyfile(data.key_path(name), KeyFile(id=name, public_key=key.public_key_hex, seed=key.seed.hex()))
        signers[name] = Signer(name, key, chain)

    bank, sky = signers["harbor-bank"], signers["skyway"]
    setup = [
        bank.create_asset(VOUCHER, "Harbor gift voucher", "voucher", 2, False, "merchants"),
        sky.create_asset(POINTS, "Skyway miles", "points", 0, True, "none"),
        bank.create_asset(
            CITY_VOUCHER, "Seoul culture voucher", "voucher", 0, False, "merchants", policy=CITY_VOUCHER_POLICY
        ),
        bank.register_account(BUDGET, demo_key(BUDGET).public_key_hex, "holder"),
        bank.create_asset(
            LOCAL, "Seoul Love gift (local currency)", "local_currency", 0, False, "merchants", policy=LOCAL_POLICY
        ),
    ]
    for member_id in HOLDERS:
        for name in MERCHANTS[member_id]:
            setup.append(signers[member_id].register_account(name, signers[name].key.public_key_hex, "merchant"))
        for name in HOLDERS[member_id]:
            setup.append(signers[member_id].register_account(name, signers[name].key.public_key_hex, "holder"))
    holders = [h for hs in HOLDERS.values() for h in hs]
    merchants = [m for ms in MERCHANTS.values() for m in ms]
    issues = [bank.issue(VOUCHER, h, 100_000) for h in holders] + [sky.issue(POINTS, h, 50_000) for h in holders]
    city = [bank.issue(CITY_VOUCHER, h, 50_000) for h in HOLDERS["harbor-bank"]] + [
        bank.issue(LOCAL, BUDGET, 10_000_000)
    ]

    rng = random.Random(7)  # the demo is the same every time
    payments: list[SignedTx] = []
    paid: list[tuple[str, str, int]] = []
    for i in range(PAYMENTS):
        holder, merchant = rng.choice(holders), rng.choice(merchants)
        asset = VOUCHER if i % 2 else POINTS
        amount = rng.randrange(100, 2_000)
        payments.append(signers[holder].pay(asset, merchant, amount, f"order-{i:04d}"))
        paid.append((merchant, f"order-{i:04d}", amount))
    transfers = [signers[holders[i]].transfer(POINTS, holders[(i + 1) % len(holders)], 500) for i in range(6)]
    refunds = [signers[m].refund(pid, amount // 2) for m, pid, amount in paid[:10]]
    cash_outs = [signers["cafe-lumen"].cash_out(VOUCHER, 1_000, "HARBOR-BANK/ACC-1001")]
    member_of = {m: member for member, ms in MERCHANTS.items() for m in ms}
    registry = [
        signers[member_of[m]].set_merchant(
            merchant=m, category=mcc, region=region, lat_e6=lat, lon_e6=lon, business_no=no, accepts=accepts
        )
        for m, (mcc, region, lat, lon, no, accepts) in REGISTRY.items()
    ]

    # Rewards (protocol 10): cashback at Seoul's cafés in Seoul Love, and a coupon in Skyway's mall.
    rewards = [
        bank.set_incentive(LOCAL, SEOUL_CAFES_CASHBACK),
        sky.list_coupon(
            "americano", "One Americano at Cafe Lumen", POINTS, 4_000, 500, COUPONS_UNTIL_MS, ["cafe-lumen"]
        ),
        signers["dana"].buy_coupon("americano"),
    ]
    # Seoul's programmes, once the registry knows where the merchants are.
    local_sales = [
        bank.sell(LOCAL, h, 100_000, 90_000, f"HARBOR-BANK/KRW-{i:04d}") for i, h in enumerate(HOLDERS["harbor-bank"])
    ]
    seoul = [
        signers["alice"].pay(CITY_VOUCHER, "book-nook", 12_000, "culture-0001"),
        signers["bob"].pay(LOCAL, "cafe-lumen", 4_500, "love-0001"),
        signers["chen"].pay(CITY_VOUCHER, "cafe-lumen", 6_800, "culture-0002"),
    ]
    refused = [signers["alice"].pay(CITY_VOUCHER, "haeundae-books", 30_000, "culture-busan-0001")]  # Busan

    total = 0
    phases = (setup, issues + city, payments + transfers, refunds + cash_outs + registry, rewards + local_sales + seoul)
    for phase in phases:
        total += await submit_phase(node, phase, progress)
    for txid in await node.submit(refused):
        status = await node.wait(txid, 30_000)
        if status.status != "final" or status.code != "wrong_region":
            raise RuntimeError(f"the out-of-region payment {txid} is {status.status} {status.code}, not refused")
    total += len(refused)
    progress(len(refused))
    for phase in roaming_phases(signers):  # Skyway miles meet Liberty Hotels points (dev/demo_roaming.py)
        total += await submit_phase(node, phase, progress)
    welcome = [
        Welcome("harbor-bank", VOUCHER, 10_000),
        Welcome("skyway", POINTS, 5_000),
        Welcome("harbor-bank", CITY_VOUCHER, 20_000),
    ]
    write_desk(data.root, DeskConfig(member="harbor-bank", welcome=welcome))
    return total


async def submit_phase(node: Node, phase: list[SignedTx], progress: Callable[[int], None]) -> int:
    """Submit a phase and wait until each of its transactions is final and applied."""
    for txid in await node.submit(phase):
        status = await node.wait(txid, 30_000)
        if status.status != "final" or status.code != "ok":
            raise RuntimeError(f"demo transaction {txid} is {status.status} {status.code} {status.message}")
    progress(len(phase))
    return len(phase)


def run_demo(data: DataDir, progress: Callable[[int], None] = lambda n: None) -> int:
    async def main() -> int:
        node = Node(data)
        await node.start()
        try:
            return await load_demo(node, progress)
        finally:
            node.stop()

    return asyncio.run(main())
