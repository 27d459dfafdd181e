"""The merchant registry (protocol 7) and the directory: its rules, and nearest-first against brute force.

Three thousand merchants, registered through real blocks into a real SQLite
store, around two cities and across the antimeridian; every query's answer is
compared with a brute-force sort of all of them by great-circle distance.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from helpers import Chain, NodeProcess, key, make_genesis, points_world
from tally.client import Signer
from tally.client.geo import from_e6, to_e6
from tally.core.errors import Code
from tally.core.ops import SignedTx
from tally.core.tables import MERCHANTS
from tally.core.types import MerchantProfile
from tally.node.config import DataDir
from tally.store import Store, open_store
from tally.store.directory import distance_m

MERCHANTS_COUNT = 3_000
CATEGORIES = ("5812", "5814", "5411", "5999")
SEOUL = (37_566_500, 126_978_000)
BUSAN = (35_179_600, 129_075_600)
SUVA = (-18_141_600, 178_441_900)  # beside the antimeridian


def entry(
    c: Chain, merchant: str, lat_e6: int, lon_e6: int, category: str = "5812", accepts: tuple[str, ...] = ("PTS",)
) -> SignedTx:
    return c.signer("bank-a").set_merchant(
        merchant=merchant,
        category=category,
        region="KR-11",
        lat_e6=lat_e6,
        lon_e6=lon_e6,
        business_no="120-81-47521",
        accepts=list(accepts),
    )


def small_chain() -> Chain:
    """bank-a's PTS; merchant cafe and holder alice (bank-a's), merchant shop (bank-b's)."""
    c = Chain(genesis=make_genesis())
    a, b = c.signer("bank-a"), c.signer("bank-b")
    assert c.one(a.create_asset("PTS", "Points", "points", 0, True, "none")).code == "ok"
    txs = [
        a.register_account("cafe", key("cafe").public_key_hex, "merchant"),
        a.register_account("alice", key("alice").public_key_hex, "holder"),
        b.register_account("shop", key("shop").public_key_hex, "merchant"),
    ]
    assert [r.code for r in c.block(txs)] == ["ok"] * 3
    return c


def test_the_registering_member_sets_a_merchants_entry_and_replaces_it() -> None:
    c = small_chain()
    assert c.one(entry(c, "cafe", *SEOUL)).code == "ok"
    assert c.one(entry(c, "cafe", *BUSAN, category="5814")).code == "ok"
    found = c.state_read(MERCHANTS, "cafe")
    assert found == MerchantProfile("5814", "KR-11", *BUSAN, "120-81-47521", ["PTS"], "bank-a", c.height)


@pytest.mark.parametrize(
    ("signer", "merchant", "accepts", "code"),
    [
        ("bank-b", "cafe", ("PTS",), Code.NOT_AUTHORIZED),  # another member's merchant
        ("bank-a", "alice", ("PTS",), Code.NOT_MERCHANT),
        ("bank-a", "nobody", ("PTS",), Code.UNKNOWN_ACCOUNT),
        ("bank-a", "cafe", ("NOPE",), Code.UNKNOWN_ASSET),
        ("bank-a", "cafe", ("PTS", "PTS"), Code.BAD_PARAMETER),
        ("alice", "cafe", ("PTS",), Code.WRONG_ROLE),
    ],
)
def test_entries_that_do_not_apply_are_refused_and_change_nothing(
    signer: str, merchant: str, accepts: tuple[str, ...], code: str
) -> None:
    c = small_chain()
    signed = c.signer(signer).set_merchant(
        merchant=merchant,
        category="5812",
        region="KR-11",
        lat_e6=SEOUL[0],
        lon_e6=SEOUL[1],
        business_no="1",
        accepts=list(accepts),
    )
    assert c.one(signed).code == code
    assert c.state_read(MERCHANTS, merchant) is None


def test_out_of_range_fields_do_not_decode() -> None:
    c = small_chain()
    good = msgspec.to_builtins(entry(c, "cafe", *SEOUL))
    for field, bad in (("lat_e6", 90_000_001), ("lon_e6", -180_000_001), ("category", "581"), ("region", "kr-11")):
        tx = {**good["tx"], field: bad}
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**good, "tx": tx}, SignedTx)


def test_protocol_6_has_no_registry() -> None:
    c = Chain(genesis=msgspec.structs.replace(make_genesis(), protocol=6))
    a = c.signer("bank-a")
    assert c.one(a.register_account("cafe", key("cafe").public_key_hex, "merchant")).code == "ok"
    assert c.one(entry(c, "cafe", *SEOUL, accepts=())).code == Code.TYPE_NOT_SUPPORTED


# --- the directory -----------------------------------------------------------------------


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store = open_store(tmp_path / "ledger.db")
        self.chain = Chain(genesis=make_genesis(), store=self.store)
        c, a = self.chain, self.chain.signer("bank-a")
        rng = random.Random(7)
        for asset in ("PTS", "GIFT"):
            assert c.one(a.create_asset(asset, asset, "points", 0, True, "none")).code == "ok"
        self.points: dict[str, tuple[int, int, str, tuple[str, ...]]] = {}
        for i in range(MERCHANTS_COUNT):
            center = (SEOUL, BUSAN, SUVA)[i % 3]
            lat = center[0] + rng.randint(-300_000, 300_000)
            lon = center[1] + rng.randint(-300_000, 300_000)
            if center == SUVA:
                lon = (lon + 180_000_000 + 2_000_000) % 360_000_000 - 180_000_000  # some fall west of 180
            accepts = rng.choice((("PTS",), ("GIFT",), ("PTS", "GIFT"), ()))
            self.points[f"m{i:04d}"] = (lat, lon, rng.choice(CATEGORIES), accepts)
        names = sorted(self.points)
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            regs = [a.register_account(m, key(m).public_key_hex, "merchant") for m in chunk]
            assert {r.code for r in c.block(regs)} == {"ok"}
            sets = [entry(c, m, p[0], p[1], p[2], p[3]) for m in chunk for p in [self.points[m]]]
            assert {r.code for r in c.block(sets)} == {"ok"}

    def brute(self, lat_e6: int, lon_e6: int, asset: str | None, category: str | None) -> list[tuple[int, str]]:
        out = []
        for m, (lat, lon, cat, accepts) in self.points.items():
            if (asset is None or asset in accepts) and (category is None or cat == category):
                d = distance_m(lat_e6 / 1e6, lon_e6 / 1e6, lat / 1e6, lon / 1e6)
                out.append((round(d * 1000), m))
        return sorted(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("directory"))
    yield w
    w.store.close()


def _near(
    store: Store,
    lat: int,
    lon: int,
    limit: int,
    asset: str | None = None,
    category: str | None = None,
    after: tuple[int, str] | None = None,
) -> list[tuple[int, str]]:
    return [(n.distance_mm, n.merchant) for n in store.merchants_near(lat, lon, limit, asset, category, after)]


@pytest.mark.parametrize(
    "point",
    [SEOUL, BUSAN, (SEOUL[0] + 900_000, SEOUL[1]), (-18_000_000, -179_900_000), (0, 0), (89_990_000, 10_000_000)],
    ids=["seoul", "busan", "north-of-seoul", "west-of-the-antimeridian", "gulf-of-guinea", "near-the-pole"],
)
def test_nearest_first_matches_brute_force(world: World, point: tuple[int, int]) -> None:
    expected = world.brute(*point, None, None)
    assert _near(world.store, *point, 50) == expected[:50]


def test_filters_match_brute_force(world: World) -> None:
    for asset, category in (("PTS", None), (None, "5411"), ("GIFT", "5812"), ("NOPE", None)):
        expected = world.brute(*SEOUL, asset, category)
        assert _near(world.store, *SEOUL, 30, asset, category) == expected[:30], (asset, category)
    assert _near(world.store, *SEOUL, 30, "NOPE") == []


def test_pages_walk_the_whole_order_and_respect_the_bound(world: World) -> None:
    expected = world.brute(*BUSAN, "PTS", None)
    walked: list[tuple[int, str]] = []
    after = None
    while True:
        page = _near(world.store, *BUSAN, 100, "PTS", None, after)
        assert len(page) <= 100
        if not page:
            break
        walked += page
        after = page[-1]
    assert walked == expected


# --- through a real node: the CLI and the API --------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tally.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_cli_sets_entries_and_finds_the_nearest_through_the_api(node: NodeProcess) -> None:
    world = points_world(node, 0x71)
    bank_key = str(DataDir(node.data_dir).key_path("bank-a"))
    shop = Signer("shop-71", key("shop-71"), world.client.genesis().chain)
    world.client.wait_final(
        world.client.submit(world.bank.register_account("shop-71", shop.key.public_key_hex, "merchant"))
    )
    for merchant, lat, lon, mcc in (("mart", "37.5665", "126.978", "5411"), ("shop-71", "37.5700", "126.9820", "5814")):
        made = _cli(
            "merchants",
            "set",
            merchant,
            "--category",
            mcc,
            "--region",
            "KR-11",
            "--lat",
            lat,
            "--lon",
            lon,
            "--business-no",
            "120-81-47521",
            "--accepts",
            "PTS",
            "--key",
            bank_key,
            "--url",
            node.url,
        )
        assert made.returncode == 0 and ": ok" in made.stdout, made.stderr
    listed = _cli("merchants", "near", "--lat", "37.5701", "--lon", "126.9821", "--asset", "PTS", "--url", node.url)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert names[:2] == ["shop-71", "mart"]
    shown = _cli("merchants", "show", "mart", "--url", node.url)
    assert shown.returncode == 0 and '"category": "5411"' in shown.stdout
    page = world.client.directory("37.5665", "126.978", category="5411", limit=1)
    assert [m.merchant for m in page.items] == ["mart"] and page.items[0].distance_m == 0
    assert world.client.merchant("shop-71").lat_e6 == 37_570_000


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("lat=91&lon=0", 400, "invalid_query"),
        ("lat=0&lon=180.000001", 400, "invalid_query"),
        ("lat=1e2&lon=0", 400, "invalid_query"),
        ("lon=0", 400, "invalid_query"),
        ("lat=0&lon=0&limit=101", 400, "invalid_query"),
        ("lat=0&lon=0&category=581", 400, "invalid_query"),
        ("lat=0&lon=0&cursor=12", 400, "invalid_query"),
    ],
)
def test_bad_directory_queries_get_a_stable_code(node: NodeProcess, query: str, status: int, code: str) -> None:
    response = httpx.get(f"{node.url}/v1/directory?{query}")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    unknown = httpx.get(f"{node.url}/v1/merchants/nobody-here")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_merchant")


def test_degrees_convert_to_millionths_exactly_both_ways() -> None:
    cases = {"37.5665": 37_566_500, "-126.978": -126_978_000, "0": 0, "-0.000001": -1, "180": 180_000_000}
    for text, e6 in cases.items():
        assert to_e6(text, 180) == e6 and from_e6(e6) == text
    for bad in ("37.1234567", "181", "1e2", "", "37,5"):  # a seventh decimal is refused, not cut off
        with pytest.raises(ValueError):
            to_e6(bad, 180)
    assert to_e6("90", 90) == 90_000_000
    with pytest.raises(ValueError):
        to_e6("90.000001", 90)
