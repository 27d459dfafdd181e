"""The merchant directory: the registry (`merchant/<id>` state records) indexed by location.

SQLite's R*Tree module holds each merchant's point; `merchant_dir` holds what
the filters need (category, accepted assets). Both are written in the
block's own database transaction (`index_merchants`), so the directory is
never ahead of or behind the state it comes from. A query (`merchants_near`)
searches a box around the point that doubles until it holds enough
merchants within its radius (at most `MAX_RADIUS_M`), then orders them by
great-circle distance and merchant id: the nearest first, exactly.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.tables import MERCHANTS
from ..core.types import MerchantProfile, StateValue

SCHEMA = """
CREATE TABLE IF NOT EXISTS merchant_dir (
  id INTEGER PRIMARY KEY,
  merchant TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL,
  accepts TEXT NOT NULL,  -- ",A,B," so that one asset is one instr() test
  lat_e6 INTEGER NOT NULL,
  lon_e6 INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS merchant_geo USING rtree(id, min_lat, max_lat, min_lon, max_lon);
"""

EARTH_RADIUS_M = 6_371_008.8
START_RADIUS_M = 1_000
MAX_RADIUS_M = 20_100_000  # half the earth's circumference: every point is within it
METERS_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180
_PREFIX = MERCHANTS.scan_prefix()


@dataclass(frozen=True, slots=True)
class Nearby:
    merchant: str
    distance_mm: int  # great-circle distance from the query point, in millimetres
    category: str
    accepts: list[str]
    lat_e6: int
    lon_e6: int


def index_merchants(conn: sqlite3.Connection, writes: Mapping[str, StateValue | None]) -> None:
    """Index the merchant entries a block writes (inside its transaction)."""
    for key, value in writes.items():
        if not key.startswith(_PREFIX) or not isinstance(value, MerchantProfile):
            continue
        merchant = key[len(_PREFIX) :]
        row = conn.execute(
            "INSERT INTO merchant_dir (merchant, category, accepts, lat_e6, lon_e6) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (merchant) DO UPDATE SET category = excluded.category, accepts = excluded.accepts,"
            " lat_e6 = excluded.lat_e6, lon_e6 = excluded.lon_e6 RETURNING id",
            (merchant, value.category, "," + ",".join(value.accepts) + ",", value.lat_e6, value.lon_e6),
        ).fetchone()
        lat, lon = value.lat_e6 / 1e6, value.lon_e6 / 1e6
        conn.execute(
            "INSERT OR REPLACE INTO merchant_geo (id, min_lat, max_lat, min_lon, max_lon) VALUES (?, ?, ?, ?, ?)",
            (row[0], lat, lat, lon, lon),
        )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _boxes(lat: float, lon: float, radius_m: float) -> list[tuple[float, float, float, float]]:
    """(min_lat, max_lat, min_lon, max_lon) boxes that hold every point within `radius_m` of (lat, lon)."""
    dlat = radius_m / METERS_PER_DEGREE
    low, high = lat - dlat, lat + dlat
    if low <= -90 or high >= 90 or radius_m >= MAX_RADIUS_M / 2:
        return [(max(low, -90.0), min(high, 90.0), -180.0, 180.0)]  # a pole within reach: every longitude
    widest = max(abs(low), abs(high))  # the circle is widest in longitude at its latitude nearest a pole
    dlon = dlat / math.cos(math.radians(widest))
    if dlon >= 180:
        return [(low, high, -180.0, 180.0)]
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return [(low, high, west + 360, 180.0), (low, high, -180.0, east)]
    if east > 180:
        return [(low, high, west, 180.0), (low, high, -180.0, east - 360)]
    return [(low, high, west, east)]


def merchants_near(
    conn: sqlite3.Connection,
    lat_e6: int,
    lon_e6: int,
    limit: int,
    asset: str | None = None,
    category: str | None = None,
    after: tuple[int, str] | None = None,
) -> list[Nearby]:
    """Up to `limit` merchants nearest the point, after the cursor (distance_mm, merchant), filtered."""
    lat, lon = lat_e6 / 1e6, lon_e6 / 1e6
    where, args = "", []
    if category is not None:
        where += " AND d.category = ?"
        args.append(category)
    if asset is not None:
        where += " AND instr(d.accepts, ?) > 0"
        args.append(f",{asset},")
    radius = float(START_RADIUS_M)
    while True:
        found: dict[str, Nearby] = {}
        for box in _boxes(lat, lon, radius):
            rows = conn.execute(
                "SELECT d.merchant, d.category, d.accepts, d.lat_e6, d.lon_e6 FROM merchant_geo g"
                " JOIN merchant_dir d ON d.id = g.id"
                " WHERE g.max_lat >= ? AND g.min_lat <= ? AND g.max_lon >= ? AND g.min_lon <= ?" + where,
                (*box[:2], *box[2:], *args),
            )
            for merchant, cat, accepts, m_lat, m_lon in rows:
                d_m = distance_m(lat, lon, m_lat / 1e6, m_lon / 1e6)
                mm = round(d_m * 1000)
                if d_m <= radius and (after is None or (mm, merchant) > after):
                    found[merchant] = Nearby(merchant, mm, cat, [a for a in accepts.split(",") if a], m_lat, m_lon)
        if len(found) >= limit or radius >= MAX_RADIUS_M:
            return sorted(found.values(), key=lambda n: (n.distance_mm, n.merchant))[:limit]
        radius = min(radius * 2, MAX_RADIUS_M)
