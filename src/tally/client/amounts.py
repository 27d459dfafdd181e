"""Amounts in an asset's own unit: "12.50" of a 2-decimal voucher is 1250 minor units.

Exact decimal arithmetic only (never floats): more digits after the point than
the asset has is an error that says so, as is anything that is not a plain
non-negative decimal number or lies outside 1 .. 2^53 - 1 minor units.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ..core.encoding import MAX_SAFE_INTEGER

_AMOUNT_RE = re.compile(r"[0-9]{1,16}(\.[0-9]{1,8})?")


class AmountError(ValueError):
    """An amount that cannot be taken as given; the message says why."""


def to_minor(text: str, decimals: int) -> int:
    """`text` (e.g. "12.50") in minor units of an asset with `decimals` decimal places."""
    assert 0 <= decimals <= 8
    cleaned = text.strip().replace("_", "")
    if not _AMOUNT_RE.fullmatch(cleaned):
        raise AmountError(f"{text!r} is not an amount: write digits, with a '.' for the fraction (e.g. 12.50)")
    _, _, fraction = cleaned.partition(".")
    if len(fraction.rstrip("0")) > decimals:
        unit = "whole units only" if decimals == 0 else f"at most {decimals} digits after the point"
        raise AmountError(f"{text!r} has more digits than the asset allows ({unit})")
    minor = int(Decimal(cleaned).scaleb(decimals))
    if not 1 <= minor <= MAX_SAFE_INTEGER:
        raise AmountError(f"{text!r} is {minor} minor units; an amount is from 1 to {MAX_SAFE_INTEGER}")
    return minor


def format_minor(minor: int, decimals: int) -> str:
    """Minor units as the asset's unit, every decimal place shown: 1250, 2 -> "12.50"; signed."""
    assert 0 <= decimals <= 8
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"
