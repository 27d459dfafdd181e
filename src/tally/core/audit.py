"""Money-rule checks over a whole state (pure; `tally audit` and tests use them)."""

from __future__ import annotations

from collections.abc import Iterable

from .tables import ASSETS, BALANCES, table_of
from .types import Asset, StateValue


def money_rule_faults(items: Iterable[tuple[str, StateValue]]) -> list[str]:
    """Conservation per asset and no negative balance; an empty list when sound."""
    faults: list[str] = []
    totals: dict[str, int] = {}
    assets: dict[str, Asset] = {}
    for key, value in items:
        table = table_of(key)
        if table is BALANCES:
            assert isinstance(value, int)
            asset_id = BALANCES.key_parts(key)[1]
            if value < 0:
                faults.append(f"negative balance {key} = {value}")
            totals[asset_id] = totals.get(asset_id, 0) + value
        elif table is ASSETS:
            assert isinstance(value, Asset)
            assets[value.id] = value
    for asset_id in sorted(set(totals) | set(assets)):
        asset = assets.get(asset_id)
        if asset is None:
            faults.append(f"balances held in unknown asset {asset_id}")
            continue
        supply = asset.issued_minor - asset.burned_minor
        if totals.get(asset_id, 0) != supply:
            faults.append(f"asset {asset_id}: balances sum to {totals.get(asset_id, 0)}, issued - burned = {supply}")
    return faults
