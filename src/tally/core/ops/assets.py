"""Assets: a member creates an asset and, as its issuer, issues it."""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import Code, ensure
from ..operation import MEMBERS_ONLY, Example, Operation, TxContext, require_account, require_asset
from ..postings import SUPPLY, move
from ..tables import ACCOUNTS, ASSETS, BALANCES
from ..types import (
    AccountId,
    AmountMinor,
    Asset,
    AssetId,
    AssetKind,
    CashOutPolicy,
    ClientRef,
    Decimals,
    Name,
    TxBase,
)


class CreateAsset(TxBase, frozen=True, tag="create_asset"):
    """A member creates an asset it will issue (council approval: later)."""

    asset: AssetId
    name: Name
    kind: AssetKind
    decimals: Decimals
    transferable: bool
    cash_out: CashOutPolicy


class Issue(TxBase, frozen=True, tag="issue"):
    """The asset's issuer issues new value to an account."""

    asset: AssetId
    to: AccountId
    amount_minor: AmountMinor
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET  # unique per signer (protocol 3 on)


class Burn(TxBase, frozen=True, tag="burn"):
    """The asset's issuer takes value it holds out of circulation."""

    asset: AssetId
    amount_minor: AmountMinor
    ref: ClientRef | msgspec.UnsetType = msgspec.UNSET  # unique per signer (protocol 3 on)


def create_asset(c: TxContext, tx: CreateAsset) -> None:
    ensure(c.view.read(ASSETS, tx.asset) is None, Code.ASSET_EXISTS, "asset {!r} exists", tx.asset)
    c.view.put(
        ASSETS.key(tx.asset),
        Asset(
            id=tx.asset,
            name=tx.name,
            kind=tx.kind,
            decimals=tx.decimals,
            issuer=c.signer.id,
            transferable=tx.transferable,
            cash_out=tx.cash_out,
            status="active",  # council approval (a later issue) will start assets "proposed"
            issued_minor=0,
            burned_minor=0,
        ),
    )


def issue(c: TxContext, tx: Issue) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer may issue it")
    require_account(c.view, tx.to)
    c.post(*move(SUPPLY, tx.to, tx.asset, tx.amount_minor))


def burn(c: TxContext, tx: Burn) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer may burn it")
    c.post(*move(c.signer.id, SUPPLY, tx.asset, tx.amount_minor))


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=CreateAsset,
        rule=create_asset,
        reads=lambda tx: [ASSETS.key(tx.asset)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        summary="A member creates an asset it issues.",
        cli_defaults={"decimals": 0, "transferable": True, "cash_out": "none"},
        example=Example(
            "create a voucher",
            "bank-a",
            1,
            {
                "asset": "CITY-V",
                "name": "City voucher — 지역화폐 “local”",
                "kind": "voucher",
                "decimals": 2,
                "transferable": False,
                "cash_out": "merchants",
            },
        ),
    ),
    Operation(
        tx=Issue,
        rule=issue,
        reads=lambda tx: [
            ASSETS.key(tx.asset),
            ACCOUNTS.key(tx.to),
            BALANCES.key(tx.signer, tx.asset),
            BALANCES.key(tx.to, tx.asset),
        ],
        parties=lambda tx: [tx.to],
        summary="The issuer issues value to an account.",
        client_ref=True,
        example=Example(
            "issue",
            "bank-a",
            2,
            {"asset": "CITY-V", "to": "alice", "amount_minor": 9_007_199_254_740_991, "ref": "issue:0001"},
        ),
    ),
    Operation(
        tx=Burn,
        rule=burn,
        reads=lambda tx: [ASSETS.key(tx.asset), BALANCES.key(tx.signer, tx.asset)],
        parties=lambda tx: [],
        summary="The issuer burns value it holds.",
        client_ref=True,
        example=Example("burn", "bank-a", 3, {"asset": "CITY-V", "amount_minor": 1, "ref": "burn:0001"}),
    ),
)
