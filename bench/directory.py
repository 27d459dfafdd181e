"""The merchant directory's query time: `python bench/directory.py [MERCHANTS]` (default 100,000).

Indexes MERCHANTS registry entries in a fresh SQLite ledger (as blocks write
them: store/directory.py `index_merchants`), spread like shops over a
country (90% within a city of about 60 km, the rest over 600 km), then asks
for the 20 nearest from random points, with no filter, with an asset, and
with an asset and a category, and prints the median and 99th percentile
time per query.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from tally.core.tables import MERCHANTS
from tally.core.types import MerchantProfile, StateValue
from tally.store.directory import SCHEMA, index_merchants, merchants_near

CITY = (37_566_500, 126_978_000)
QUERIES = 400
CATEGORIES = ("5812", "5814", "5411", "5999", "5311", "7011")


def main(count: int) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "directory.db", isolation_level=None)  # the store's tables, alone
        conn.executescript(SCHEMA)
        writes: dict[str, StateValue | None] = {}
        for i in range(count):
            spread = 300_000 if i % 10 else 3_000_000  # millionths of a degree
            lat = CITY[0] + rng.randint(-spread, spread)
            lon = CITY[1] + rng.randint(-spread, spread)
            accepts = rng.choice((["CITY-V"], ["LOCAL"], ["CITY-V", "LOCAL"], ["PTS"]))
            writes[MERCHANTS.key(f"m{i:06d}")] = MerchantProfile(
                rng.choice(CATEGORIES), "KR-11", lat, lon, "1", accepts, "bank-a", 1
            )
        started = time.perf_counter()
        conn.execute("BEGIN")
        index_merchants(conn, writes)
        conn.execute("COMMIT")
        print(f"directory: {count:,} merchants indexed in {time.perf_counter() - started:.1f} s")
        for label, asset, category in (
            ("no filter", None, None),
            ("asset", "CITY-V", None),
            ("asset+mcc", "LOCAL", "7011"),
        ):
            times = []
            for _ in range(QUERIES):
                lat = CITY[0] + rng.randint(-400_000, 400_000)
                lon = CITY[1] + rng.randint(-400_000, 400_000)
                t0 = time.perf_counter()
                found = merchants_near(conn, lat, lon, 20, asset, category)
                times.append(time.perf_counter() - t0)
                assert len(found) == 20
            times.sort()
            p50, p99 = times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000
            print(f"directory: 20 nearest, {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (over {QUERIES} queries)")
        conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
