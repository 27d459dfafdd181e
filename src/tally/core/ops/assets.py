"""Assets: a member creates an asset and, as its issuer, issues it."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..encoding import MAX_SAFE_INTEGER
from ..errors import Code, ensure
from ..lots import ensure_lots_fixed
from ..operation import (
    MEMBERS_ONLY,
    Example,
    Operation,
    TxContext,
    require_account,
    require_active_asset,
    require_asset,
)
from ..policy import count_received, validate_policy
from ..postings import SUPPLY, move
from ..tables import ACCOUNTS, ASSETS, BALANCES, COUNCIL_PARAMS, HOLDER_USE, PARAMS, PROPOSALS
from ..types import (
    AccountId,
    AmountMinor,
    ApproveAsset,
    Asset,
    AssetId,
    AssetKind,
    AssetPolicy,
    CashOutPolicy,
    ClientRef,
    Decimals,
    LimitMinor,
    Name,
    TxBase,
)
from .council import open_proposal


class CreateAsset(TxBase, frozen=True, tag="create_asset"):
    """A member creates an asset it will issue; from protocol 5 the council approves it and its quota."""

    asset: AssetId
    name: Name
    kind: AssetKind
    decimals: Decimals
    transferable: bool
    cash_out: CashOutPolicy
    # Protocol 5 on: the most it may have outstanding (issued minus burned) once approved (absent: no bound
    # below the largest amount).
    quota_minor: LimitMinor | msgspec.UnsetType = msgspec.UNSET
    # Protocol 8 on: what it enforces (core/policy.py); the council approves it with the asset.
    policy: AssetPolicy | msgspec.UnsetType = msgspec.UNSET


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
    if isinstance(tx.policy, AssetPolicy):
        ensure(c.rules.asset_policy, Code.BAD_PARAMETER, "asset policies arrive in protocol version 8")
        validate_policy(c.view, tx.policy)
        ensure_lots_fixed(c.rules.lots, None, tx.policy)
    if c.rules.governance:
        propose_asset(c, tx)
        return
    ensure(tx.quota_minor is msgspec.UNSET, Code.BAD_PARAMETER, "quotas arrive in protocol version 5")
    c.view.put(ASSETS.key(tx.asset), new_asset(c, tx, "active", msgspec.UNSET))


def propose_asset(c: TxContext, tx: CreateAsset) -> None:
    """Protocol 5 on: the asset starts `proposed`; its approval is the council proposal `asset:<ID>`."""
    quota_minor = tx.quota_minor if isinstance(tx.quota_minor, int) else MAX_SAFE_INTEGER
    c.view.put(ASSETS.key(tx.asset), new_asset(c, tx, "proposed", 0))
    open_proposal(c, asset_proposal_id(tx.asset), ApproveAsset(asset=tx.asset, quota_minor=quota_minor))


def new_asset(
    c: TxContext, tx: CreateAsset, status: Literal["active", "proposed"], quota_minor: int | msgspec.UnsetType
) -> Asset:
    """The asset as created: its signer issues it; nothing issued or burned yet."""
    return Asset(
        id=tx.asset,
        name=tx.name,
        kind=tx.kind,
        decimals=tx.decimals,
        issuer=c.signer.id,
        transferable=tx.transferable,
        cash_out=tx.cash_out,
        status=status,
        issued_minor=0,
        burned_minor=0,
        quota_minor=quota_minor,
        policy=tx.policy,
    )


def asset_proposal_id(asset_id: str) -> str:
    return f"asset:{asset_id}"


def issue(c: TxContext, tx: Issue) -> None:
    asset = require_active_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer may issue it")
    receiver = require_account(c.view, tx.to)
    count_received(c, asset, receiver, tx.amount_minor)
    c.post(*move(SUPPLY, tx.to, tx.asset, tx.amount_minor))


def burn(c: TxContext, tx: Burn) -> None:
    asset = require_asset(c.view, tx.asset)
    ensure(asset.issuer == c.signer.id, Code.NOT_AUTHORIZED, "only the asset's issuer may burn it")
    c.post(*move(c.signer.id, SUPPLY, tx.asset, tx.amount_minor))


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=CreateAsset,
        rule=create_asset,
        reads=lambda tx: [ASSETS.key(tx.asset), PARAMS.key(COUNCIL_PARAMS), PROPOSALS.key(asset_proposal_id(tx.asset))],
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
            HOLDER_USE.key(tx.to, tx.asset),
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
