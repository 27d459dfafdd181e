"""The merchant registry (protocol 7 on): a merchant's category, region, location and accepted assets.

The member that registered a merchant account keeps its entry with
`set_merchant`, as often as it changes; each call replaces the whole entry.
The node's store indexes the entries by location for the directory
(GET /v1/merchants/near); execution only records them.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext, require_account, require_asset
from ..tables import ACCOUNTS, MERCHANTS
from ..types import (
    MAX_ACCEPTED_ASSETS,
    AccountId,
    AssetId,
    BusinessNo,
    LatE6,
    LonE6,
    Mcc,
    MerchantProfile,
    RegionCode,
    TxBase,
)

REGISTRY_SINCE = 7  # the protocol version the registry arrives in


class SetMerchant(TxBase, frozen=True, tag="set_merchant"):
    """The member that registered a merchant sets its registry entry (replacing the last one)."""

    merchant: AccountId
    category: Mcc
    region: RegionCode
    lat_e6: LatE6
    lon_e6: LonE6
    business_no: BusinessNo
    accepts: Annotated[list[AssetId], Meta(max_length=MAX_ACCEPTED_ASSETS)]


def set_merchant(c: TxContext, tx: SetMerchant) -> None:
    merchant = require_account(c.view, tx.merchant)
    ensure(merchant.role == "merchant", Code.NOT_MERCHANT, "{!r} is a {}, not a merchant", tx.merchant, merchant.role)
    ensure(
        merchant.member == c.signer.id,
        Code.NOT_AUTHORIZED,
        "only {!r}'s member ({}) keeps its registry entry",
        tx.merchant,
        merchant.member,
    )
    ensure(len(set(tx.accepts)) == len(tx.accepts), Code.BAD_PARAMETER, "an asset is listed twice in accepts")
    for asset in tx.accepts:
        require_asset(c.view, asset)
    profile = MerchantProfile(
        category=tx.category,
        region=tx.region,
        lat_e6=tx.lat_e6,
        lon_e6=tx.lon_e6,
        business_no=tx.business_no,
        accepts=list(tx.accepts),
        set_by=c.signer.id,
        height=c.block.height,
    )
    c.view.put(MERCHANTS.key(tx.merchant), profile)


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=SetMerchant,
        rule=set_merchant,
        reads=lambda tx: [ACCOUNTS.key(tx.merchant), MERCHANTS.key(tx.merchant)],
        parties=lambda tx: [tx.merchant],
        signers=MEMBERS_ONLY,
        since=REGISTRY_SINCE,
        summary="The member that registered a merchant sets its category, region, location and accepted assets.",
        example=Example(
            "set a merchant's registry entry",
            "bank-a",
            6,
            {
                "merchant": "cafe",
                "category": "5814",
                "region": "KR-11",
                "lat_e6": 37_566_500,
                "lon_e6": 126_978_000,
                "business_no": "120-81-47521",
                "accepts": ["CITY-V"],
            },
        ),
    ),
)
