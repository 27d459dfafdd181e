"""What the API reads of governance: the council, proposals, an account's controls, an asset's supply."""

from __future__ import annotations

import msgspec

from ..client.models import ControlsBody, LimitsBody, ProposalBody, SupplyBody
from ..core.controls import chain_day
from ..core.ops.council import counted_votes
from ..core.tables import ASSETS, BALANCES, COUNCIL_PARAMS, DAILY_OUT, FREEZES, LIMITS, PARAMS, PROPOSALS, RECOVERIES
from ..core.types import AccountLimits, AssetPolicy, Params, Proposal
from ..store.base import Store
from .reader import records_after


def council(store: Store) -> Params | None:
    """The council's parameters; None on a ledger whose protocol version has no council."""
    return PARAMS.read(store.get_state, COUNCIL_PARAMS)


def proposal_body(proposal: Proposal, params: Params, now_ms: int) -> ProposalBody:
    """A proposal as the API shows it: `open` past its expiry reads `expired`."""
    state = "expired" if proposal.status == "open" and now_ms > proposal.expires_ms else proposal.status
    return ProposalBody(
        **msgspec.structs.asdict(proposal),
        state=state,
        votes_counted=counted_votes(proposal, params),
        threshold=params.threshold,
    )


def proposal(store: Store, proposal_id: str, now_ms: int) -> ProposalBody | None:
    params, found = council(store), PROPOSALS.read(store.get_state, proposal_id)
    if params is None or found is None:
        return None
    return proposal_body(found, params, now_ms)


def proposals(store: Store, after: str | None, limit: int, now_ms: int) -> list[ProposalBody]:
    """Up to `limit` proposals in id order, those after `after` when given."""
    assert limit > 0
    params = council(store)
    if params is None:
        return []
    return [proposal_body(p, params, now_ms) for p in records_after(store, PROPOSALS, after, limit)]


def controls(store: Store, account_id: str, role: str, now_ms: int) -> ControlsBody:
    """An account's freeze, limits (its own, else its role's defaults), today's outgoing totals and recovery."""
    params = council(store)
    own: dict[str, AccountLimits] = {}
    for key, value in store.state_items(LIMITS.scan_prefix(account_id)):
        assert isinstance(value, AccountLimits)
        own[LIMITS.key_parts(key)[1]] = value
    limits = [
        LimitsBody(asset, "own", v.max_payment_minor, v.daily_out_minor, v.balance_cap_minor, v.set_by)
        for asset, v in own.items()
    ]
    for d in params.default_limits if params is not None else []:
        if d.role == role and d.asset not in own:
            limits.append(
                LimitsBody(d.asset, "default", d.max_payment_minor, d.daily_out_minor, d.balance_cap_minor, "")
            )
    today = chain_day(now_ms, params.utc_offset_min) if params is not None else None
    for i, item in enumerate(limits):
        spent = DAILY_OUT.read(store.get_state, account_id, item.asset)
        if spent is not None and spent.day == today:
            limits[i] = msgspec.structs.replace(item, sent_today_minor=spent.out_minor)
    return ControlsBody(
        account=account_id,
        frozen=FREEZES.read(store.get_state, "account", account_id),
        limits=sorted(limits, key=lambda item: item.asset),
        recovery=RECOVERIES.read(store.get_state, account_id),
    )


def supply(store: Store, asset_id: str) -> SupplyBody | None:
    asset = ASSETS.read(store.get_state, asset_id)
    if asset is None:
        return None
    budget = asset.policy.budget_account if isinstance(asset.policy, AssetPolicy) else ""
    return SupplyBody(
        asset=asset.id,
        status=asset.status,
        quota_minor=asset.quota_minor if isinstance(asset.quota_minor, int) else None,
        issued_minor=asset.issued_minor,
        burned_minor=asset.burned_minor,
        outstanding_minor=asset.outstanding_minor,
        frozen=FREEZES.read(store.get_state, "asset", asset_id),
        budget_account=budget or None,
        budget_minor=(BALANCES.read(store.get_state, budget, asset_id) or 0) if budget else None,
    )
