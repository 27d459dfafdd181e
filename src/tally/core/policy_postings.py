"""What policy assets add after every posting (protocol 8 on): holder caps, and lots (protocol 9 on).

One pass over the postings, each asset looked up once, and nothing more for an asset without a policy:
this runs for every payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .lots import post_asset_lots
from .policy import check_holder_cap
from .postings import SUPPLY, Posting
from .tables import ASSETS
from .types import Asset, AssetPolicy

if TYPE_CHECKING:
    from .operation import TxContext

_ASSET_KEY = ASSETS.scan_prefix()  # + asset id (hot path)


def after_postings(c: TxContext, postings: Sequence[Posting], balances_after: Sequence[int]) -> None:
    """After the engine posted: each policy asset's holder cap on what holders received, then its lots."""
    if len(postings) == 2 and postings[0].asset == postings[1].asset:  # one move(): the common case
        assets: Sequence[str] = (postings[0].asset,)
    else:
        assets = tuple(dict.fromkeys(p.asset for p in postings))
    for asset_id in assets:
        asset = c.view.get(_ASSET_KEY + asset_id)
        assert isinstance(asset, Asset)
        policy = asset.policy
        if not isinstance(policy, AssetPolicy):
            continue
        mine = [(p, after) for p, after in zip(postings, balances_after, strict=True) if p.asset == asset_id]
        if policy.holder_cap_minor:
            for p, after in mine:
                if p.amount_minor > 0 and p.account != SUPPLY and after > policy.holder_cap_minor:
                    check_holder_cap(c, policy, p.account, p.asset, after)
        if c.rules.lots:
            post_asset_lots(c, asset, policy, mine)
