"""Degrees as the registry stores them: millionths of a degree, exactly (never floats)."""

from __future__ import annotations

import re
from decimal import Decimal

_DEGREES_RE = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,6})?")


def to_e6(text: str, bound: int) -> int:
    """Decimal degrees (e.g. "37.5665", at most 6 decimals) as millionths, within ±bound; ValueError says why."""
    if not _DEGREES_RE.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not decimal degrees with at most 6 decimals (e.g. 37.5665)")
    e6 = int(Decimal(text.strip()).scaleb(6))
    if not -bound * 1_000_000 <= e6 <= bound * 1_000_000:
        raise ValueError(f"{text!r} is not within -{bound} and {bound} degrees")
    return e6


def from_e6(e6: int) -> str:
    """Millionths of a degree as decimal degrees, without trailing zeros: 37566500 -> "37.5665"."""
    sign = "-" if e6 < 0 else ""
    whole, fraction = divmod(abs(e6), 1_000_000)
    return f"{sign}{whole}.{fraction:06d}".rstrip("0").rstrip(".")
