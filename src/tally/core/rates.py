"""Exchange arithmetic: exact rationals, one rounding rule, used everywhere.

An asset's rate is the value of one of its minor units in minor units of its
reference currency (`Rate.rate`, e.g. 48/5: one mile is worth 9.6 won). The
council's FX rates turn a reference currency into the settlement currency
(`Settlement.fx`; the settlement currency itself is 1/1). So the value of
`amount` of an asset, in settlement minor units, is exactly

    value = amount * rate * fx

**The rounding rule, stated once.** Whatever a holder receives is rounded
down; the remainder stays with the issuer that pays out:

1. the obligation the movement makes (what the paying asset's issuer owes
   the receiving asset's issuer) is `floor(value)`;
2. that obligation buys `floor(obligation / (rate_to * fx_to))` minor units
   of the asset paid out;
3. a fee on it is rounded down too (the holder keeps the odd unit).

The exact remainder, `value - paid_out * rate_to * fx_to`, is recorded with
the transaction as a fraction of settlement minor units, so that value is
accounted for to the last fraction: `value == out * rate_to * fx_to + fee *
rate_to * fx_to + remainder`. A roaming payment runs it backwards: the
holder pays the least amount of its asset whose rounded-down value carries
the merchant's exact amount.

Pure: no I/O. `fractions.Fraction` is exact and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .types import Ratio

BASIS_POINTS = 10_000


def fraction(r: Ratio) -> Fraction:
    return Fraction(r.num, r.den)


def within(rate: Ratio, low: Ratio, high: Ratio) -> bool:
    return fraction(low) <= fraction(rate) <= fraction(high)


def fraction_text(f: Fraction) -> str:
    """An exact fraction as recorded: "num/den" in lowest terms ("0/1" for none)."""
    return f"{f.numerator}/{f.denominator}"


@dataclass(frozen=True, slots=True)
class ExchangeQuote:
    """What exchanging `from_minor` gives, exactly."""

    from_minor: int
    value_minor: int  # the obligation: floor(value), settlement minor units
    gross_minor: int  # what that value buys of the asset paid out, rounded down
    fee_minor: int
    out_minor: int  # gross less fee: what the holder receives
    remainder: Fraction  # exact value not paid out (settlement minor units)


@dataclass(frozen=True, slots=True)
class RoamingQuote:
    """What paying `out_minor` of the merchant's asset costs in the holder's asset, exactly."""

    out_minor: int
    from_minor: int  # the least amount of the holder's asset that carries it
    value_minor: int  # the obligation: floor(value of from_minor)
    remainder: Fraction  # exact value beyond what the merchant's asset carries (settlement minor units)


def unit_value(rate: Ratio, fx: Fraction) -> Fraction:
    """One minor unit of an asset, in settlement minor units."""
    return fraction(rate) * fx


def quote_exchange(from_minor: int, from_unit: Fraction, to_unit: Fraction, fee_bp: int) -> ExchangeQuote:
    """Exchange `from_minor` of an asset worth `from_unit` each into one worth `to_unit` each."""
    assert from_minor > 0 and from_unit > 0 and to_unit > 0 and 0 <= fee_bp <= BASIS_POINTS
    value = from_minor * from_unit
    value_minor = value.numerator // value.denominator
    gross_minor = int(value_minor // to_unit)
    fee_minor = gross_minor * fee_bp // BASIS_POINTS
    remainder = value - gross_minor * to_unit
    assert remainder >= 0 and value == (gross_minor - fee_minor) * to_unit + fee_minor * to_unit + remainder
    return ExchangeQuote(from_minor, value_minor, gross_minor, fee_minor, gross_minor - fee_minor, remainder)


def quote_roaming(out_minor: int, from_unit: Fraction, to_unit: Fraction) -> RoamingQuote:
    """The least `from_minor` whose value, rounded down, carries `out_minor` at `to_unit` each."""
    assert out_minor > 0 and from_unit > 0 and to_unit > 0
    needed = out_minor * to_unit  # exact value the merchant's amount carries
    needed_minor = -(-needed.numerator // needed.denominator)  # the obligation must cover it: ceil
    from_minor = -(-Fraction(needed_minor) // from_unit)  # ceil(needed_minor / from_unit)
    from_minor = int(from_minor)
    value = from_minor * from_unit
    value_minor = value.numerator // value.denominator
    assert value_minor >= needed_minor >= needed and (from_minor == 1 or (from_minor - 1) * from_unit < needed_minor)
    return RoamingQuote(out_minor, from_minor, value_minor, value - needed)


def share(total: int, part: int, whole: int) -> int:
    """`total * part / whole`, rounded down: what a refund of `part` of `whole` returns of `total`.

    Refunds take the difference of cumulative shares, so that refunding the whole in any steps returns
    exactly `total`.
    """
    assert 0 <= part <= whole and whole > 0
    return total * part // whole
