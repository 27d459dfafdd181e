"""The council: members propose, vote, and a proposal runs once at M of N votes (protocol 5 on).

The council is the genesis members, changed by its own proposals; its
parameters (`params/council`) say who votes and how many votes pass a
proposal. A member opens a proposal (`propose`, its own vote counting
first) and others approve it (`vote`) until the block time passes its
expiry. The vote that reaches the threshold runs the proposal's action in
that transaction, once: the proposal is then `executed`, or `failed` with
the action's rejection code when the action cannot apply (the asset it
names is gone, the member it admits exists), and takes no more votes.
Only the votes of current council members count.

`create_asset` opens the proposal that approves its asset (`asset:<ID>`),
so with a threshold of 1 an asset is active as soon as it is created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..controls import council_params
from ..encoding import MAX_SAFE_INTEGER
from ..errors import Code, Rejected, ensure
from ..limits import MAX_BLOCK_TXS_BOUND
from ..lots import ensure_lots_fixed
from ..operation import (
    MEMBERS_ONLY,
    Example,
    Operation,
    TxContext,
    require_account,
    require_asset,
)
from ..policy import validate_policy
from ..rates import fraction
from ..settlement import settlement_config, window_of
from ..state import TxView
from ..tables import (
    ACCOUNTS,
    ASSETS,
    CONFIG,
    COUNCIL_PARAMS,
    FREEZES,
    PARAMS,
    PROPOSALS,
    RATE_BOUNDS,
    SCHEDULE,
    SETTLEMENT,
    VALIDATOR_SETS,
    WINDOWS,
    window_key,
)
from ..types import (
    Account,
    Action,
    AddValidator,
    AdmitMember,
    ApproveAsset,
    AssetPolicy,
    Freeze,
    FreezeSubject,
    FxEntry,
    Params,
    Proposal,
    ProposalId,
    RateBounds,
    RemoveMember,
    RemoveValidator,
    SetDefaultLimits,
    SetParam,
    SetPolicy,
    SetQuota,
    SetRateBounds,
    SetSettlement,
    Settlement,
    TxBase,
    UnfreezeSubject,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
)
from ..validators import MAX_VALIDATOR_SETS, MAX_VALIDATORS, VALIDATOR_NOTICE_BLOCKS

GOVERNANCE_SINCE = 5  # the protocol version governance arrives in
MAX_PROPOSAL_TTL_MS = 365 * 24 * 3600 * 1000
MAX_RECOVERY_DELAY_MS = 365 * 24 * 3600 * 1000


class Propose(TxBase, frozen=True, tag="propose"):
    """A council member proposes an action; its own vote counts first."""

    proposal: ProposalId
    action: Action


class CouncilVote(TxBase, frozen=True, tag="vote"):
    """A council member approves an open proposal."""

    proposal: ProposalId


# --- proposals ----------------------------------------------------------------


def ensure_council_member(c: TxContext) -> Params:
    params = council_params(c.view)
    ensure(c.signer.id in params.council, Code.NOT_COUNCIL_MEMBER, "{!r} has no council vote", c.signer.id)
    return params


def open_proposal(c: TxContext, proposal_id: str, action: Action) -> None:
    params = ensure_council_member(c)
    ensure(
        c.rules.validator_changes or not isinstance(action, AddValidator | RemoveValidator),
        Code.TYPE_NOT_SUPPORTED,
        "validator-set changes arrive in protocol 6; this block is protocol {}",
        c.rules.version,
    )
    ensure(
        c.rules.asset_policy or not isinstance(action, SetPolicy),
        Code.TYPE_NOT_SUPPORTED,
        "asset policies arrive in protocol 8; this block is protocol {}",
        c.rules.version,
    )
    ensure(
        c.rules.settlement or not isinstance(action, SetRateBounds | SetSettlement),
        Code.TYPE_NOT_SUPPORTED,
        "rates and settlement arrive in protocol 11; this block is protocol {}",
        c.rules.version,
    )
    ensure(c.view.read(PROPOSALS, proposal_id) is None, Code.DUPLICATE_PROPOSAL, "proposal {!r} exists", proposal_id)
    proposal = Proposal(
        id=proposal_id,
        action=action,
        proposer=c.signer.id,
        votes=[c.signer.id],
        opened_height=c.block.height,
        expires_ms=c.block.timestamp_ms + params.proposal_ttl_ms,
        status="open",
    )
    settle(c, params, proposal)


def propose(c: TxContext, tx: Propose) -> None:
    open_proposal(c, tx.proposal, tx.action)


def vote(c: TxContext, tx: CouncilVote) -> None:
    params = ensure_council_member(c)
    proposal = c.view.read(PROPOSALS, tx.proposal)
    ensure(proposal is not None, Code.UNKNOWN_PROPOSAL, "no proposal {!r}", tx.proposal)
    assert proposal is not None
    ensure(proposal.status == "open", Code.PROPOSAL_CLOSED, "proposal {!r} is {}", tx.proposal, proposal.status)
    ensure(c.block.timestamp_ms <= proposal.expires_ms, Code.PROPOSAL_EXPIRED, "proposal {!r} expired", tx.proposal)
    ensure(c.signer.id not in proposal.votes, Code.ALREADY_VOTED, "{!r} voted for it already", c.signer.id)
    settle(c, params, msgspec.structs.replace(proposal, votes=[*proposal.votes, c.signer.id]))


def settle(c: TxContext, params: Params, proposal: Proposal) -> None:
    """Store the proposal; at the threshold, run its action first (once) and close it."""
    if counted_votes(proposal, params) < params.threshold:
        c.view.put(PROPOSALS.key(proposal.id), proposal)
        return
    code, message = run_action(c, proposal.action)
    if code == "ok":
        c.named.extend(action_accounts(proposal.action))
    closed = msgspec.structs.replace(
        proposal,
        status="executed" if code == "ok" else "failed",
        closed_height=c.block.height,
        closed_txid=c.txid,
        result_code=code,
        result_message=message,
    )
    c.view.put(PROPOSALS.key(proposal.id), closed)


def counted_votes(proposal: Proposal, params: Params) -> int:
    """The proposal's votes that count: those of current council members."""
    return sum(1 for member in proposal.votes if member in params.council)


def run_action(c: TxContext, action: Action) -> tuple[str, str]:
    """Apply the action whole in a layer of its own, or not at all: ("ok", "") or its rejection."""
    layer = TxView(c.view, {})
    inner = TxContext(layer, c.signer, c.txid, c.block, c.rules)
    try:
        ACTIONS[type(action)](inner, action)
    except Rejected as rejected:
        return rejected.code.value, rejected.message
    layer.commit()
    for key, value in layer.block_writes.items():
        c.view.put(key, value)
    return "ok", ""


def action_accounts(action: Action) -> list[str]:
    """The accounts an action changes (their histories list the transaction that ran it)."""
    if isinstance(action, AdmitMember | RemoveMember):
        return [action.account]
    if isinstance(action, FreezeSubject | UnfreezeSubject) and action.subject_kind == "account":
        return [action.subject]
    return []


# --- what a passed proposal does ----------------------------------------------


def approve_asset(c: TxContext, a: ApproveAsset) -> None:
    asset = require_asset(c.view, a.asset)
    ensure(asset.status == "proposed", Code.BAD_PARAMETER, "asset {!r} is {} already", a.asset, asset.status)
    c.view.put(ASSETS.key(a.asset), msgspec.structs.replace(asset, status="active", quota_minor=a.quota_minor))


def set_quota(c: TxContext, a: SetQuota) -> None:
    asset = require_asset(c.view, a.asset)
    c.view.put(ASSETS.key(a.asset), msgspec.structs.replace(asset, quota_minor=a.quota_minor))


def set_policy(c: TxContext, a: SetPolicy) -> None:
    asset = require_asset(c.view, a.asset)
    validate_policy(c.view, a.policy)
    before = asset.policy if isinstance(asset.policy, AssetPolicy) else AssetPolicy()
    ensure_lots_fixed(c.rules.lots, before, a.policy)
    c.view.put(
        ASSETS.key(a.asset),
        msgspec.structs.replace(asset, transferable=a.transferable, cash_out=a.cash_out, policy=a.policy),
    )


def set_rate_bounds(c: TxContext, a: SetRateBounds) -> None:
    require_asset(c.view, a.asset)
    ensure(
        fraction(a.min_rate) <= fraction(a.max_rate),
        Code.BAD_PARAMETER,
        "min_rate {}/{} is above max_rate {}/{}",
        a.min_rate.num,
        a.min_rate.den,
        a.max_rate.num,
        a.max_rate.den,
    )
    c.view.put(RATE_BOUNDS.key(a.asset), RateBounds(a.currency, a.min_rate, a.max_rate, c.block.height))


def set_settlement(c: TxContext, a: SetSettlement) -> None:
    """The settlement configuration, replaced whole; windows are re-anchored at this block, numbers growing."""
    if a.asset:
        require_asset(c.view, a.asset)
    currencies = [fx.currency for fx in a.fx]
    ensure(len(set(currencies)) == len(currencies), Code.BAD_PARAMETER, "a currency is listed twice in fx")
    ensure(a.currency not in currencies, Code.BAD_PARAMETER, "the settlement currency {} needs no fx rate", a.currency)
    before = settlement_config(c.view)
    base, anchor = 0, c.block.height  # the first configuration: window 0 starts with this block
    if before is not None:
        current = window_of(before, c.block.height)
        base, anchor = current + 1, c.block.height + 1
        window = c.view.read(WINDOWS, window_key(current))
        if window is not None:  # the current window ends with this block
            c.view.put(WINDOWS.key(window_key(current)), msgspec.structs.replace(window, last_height=c.block.height))
    c.view.put(
        SETTLEMENT.key(CONFIG),
        Settlement(
            a.currency,
            a.window_blocks,
            a.asset,
            [FxEntry(fx.currency, fx.rate.num, fx.rate.den) for fx in a.fx],
            anchor,
            base,
            c.block.height,
        ),
    )


def admit_member(c: TxContext, a: AdmitMember) -> None:
    ensure(c.view.read(ACCOUNTS, a.account) is None, Code.ACCOUNT_EXISTS, "account {!r} exists", a.account)
    c.view.put(
        ACCOUNTS.key(a.account), Account(id=a.account, role=a.role, public_key=a.public_key, member=a.account, seq=0)
    )
    if a.role == "member":
        params = council_params(c.view)
        put_params(c.view, msgspec.structs.replace(params, council=[*params.council, a.account]))


def remove_member(c: TxContext, a: RemoveMember) -> None:
    account = require_account(c.view, a.account)
    ensure(
        account.role in ("member", "auditor", "regulator"),
        Code.BAD_PARAMETER,
        "{!r} is a {}, not an institution the council admits",
        a.account,
        account.role,
    )
    params = council_params(c.view)
    council = [m for m in params.council if m != a.account]
    ensure(
        len(council) >= params.threshold,
        Code.BAD_PARAMETER,
        "the council would have {} members, fewer than its threshold {}",
        len(council),
        params.threshold,
    )
    put_params(c.view, msgspec.structs.replace(params, council=council))
    c.view.put(ACCOUNTS.key(a.account), msgspec.structs.replace(account, role="retired"))


PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "proposal_ttl_ms": (60_000, MAX_PROPOSAL_TTL_MS),
    "recovery_delay_ms": (0, MAX_RECOVERY_DELAY_MS),
    "utc_offset_min": (-14 * 60, 14 * 60),
    "max_block_txs": (1, MAX_BLOCK_TXS_BOUND),
}


def set_param(c: TxContext, a: SetParam) -> None:
    params = council_params(c.view)
    low, high = (1, len(params.council)) if a.name == "threshold" else PARAM_BOUNDS[a.name]
    ensure(low <= a.value <= high, Code.BAD_PARAMETER, "{} must be within {}..{}", a.name, low, high)
    assert high <= MAX_SAFE_INTEGER
    put_params(c.view, msgspec.structs.replace(params, **{a.name: a.value}))


def set_default_limits(c: TxContext, a: SetDefaultLimits) -> None:
    require_asset(c.view, a.limits.asset)
    params = council_params(c.view)
    others = [d for d in params.default_limits if (d.role, d.asset) != (a.limits.role, a.limits.asset)]
    given = a.limits.max_payment_minor or a.limits.daily_out_minor or a.limits.balance_cap_minor
    put_params(c.view, msgspec.structs.replace(params, default_limits=[*others, a.limits] if given else others))


def put_params(view: TxView, params: Params) -> None:
    view.put(PARAMS.key(COUNCIL_PARAMS), params)


def require_subject(c: TxContext, kind: str, subject: str) -> None:
    if kind == "account":
        require_account(c.view, subject)
    else:
        require_asset(c.view, subject)


COUNCIL = "council"  # who froze it, when a proposal did


def freeze_subject(c: TxContext, kind: str, subject: str, reason: str, by: str) -> None:
    require_subject(c, kind, subject)
    ensure(c.view.read(FREEZES, kind, subject) is None, Code.ALREADY_FROZEN, "{} {} is frozen already", kind, subject)
    c.view.put(FREEZES.key(kind, subject), Freeze(reason=reason, by=by, height=c.block.height, txid=c.txid))
    mark_frozen(c, kind, subject, True)


def unfreeze_subject(c: TxContext, kind: str, subject: str) -> None:
    require_subject(c, kind, subject)
    ensure(c.view.read(FREEZES, kind, subject) is not None, Code.NOT_FROZEN, "{} {} is not frozen", kind, subject)
    c.view.put(FREEZES.key(kind, subject), None)
    mark_frozen(c, kind, subject, False)


def mark_frozen(c: TxContext, kind: str, subject: str, frozen: bool) -> None:
    """An account's record says whether it is frozen, so a payment need not read its freeze record."""
    if kind == "account":
        account = require_account(c.view, subject)
        c.view.put(ACCOUNTS.key(subject), msgspec.structs.replace(account, frozen=frozen))


def add_validator(c: TxContext, a: AddValidator) -> None:
    schedule, last = schedule_change(c, a.from_height)
    ensure(a.validator not in {v.id for v in last.validators}, Code.VALIDATOR_EXISTS, "{!r} validates", a.validator)
    ensure(
        len(last.validators) < MAX_VALIDATORS,
        Code.VALIDATOR_SET_BOUNDS,
        "a set has {} validators at most",
        MAX_VALIDATORS,
    )
    joined = Validator(id=a.validator, public_key=a.public_key, api_url=a.api_url)
    put_set(c, schedule, a.from_height, [*last.validators, joined])


def remove_validator(c: TxContext, a: RemoveValidator) -> None:
    schedule, last = schedule_change(c, a.from_height)
    staying = [v for v in last.validators if v.id != a.validator]
    ensure(len(staying) < len(last.validators), Code.UNKNOWN_VALIDATOR, "{!r} does not validate", a.validator)
    ensure(staying != [], Code.VALIDATOR_SET_BOUNDS, "the last validator cannot leave")
    put_set(c, schedule, a.from_height, staying)


def schedule_change(c: TxContext, from_height: int) -> tuple[ValidatorSchedule, ValidatorSet]:
    """The schedule and its last set, once a change from `from_height` may be added to it."""
    schedule = c.view.read(VALIDATOR_SETS, SCHEDULE)
    assert schedule is not None, "a protocol 6 ledger's genesis holds the validator schedule"
    last = schedule.sets[-1]
    earliest = c.block.height + VALIDATOR_NOTICE_BLOCKS
    ensure(from_height >= earliest, Code.NOTICE_TOO_SHORT, "from_height must be {} or later", earliest)
    ensure(
        from_height > last.from_height,
        Code.BAD_PARAMETER,
        "a set from height {} is scheduled already: a change takes effect after it",
        last.from_height,
    )
    ensure(len(schedule.sets) < MAX_VALIDATOR_SETS, Code.VALIDATOR_SET_BOUNDS, "the schedule is full")
    return schedule, last


def put_set(c: TxContext, schedule: ValidatorSchedule, from_height: int, validators: list[Validator]) -> None:
    added = ValidatorSet(from_height=from_height, validators=validators, scheduled_height=c.block.height)
    c.view.put(VALIDATOR_SETS.key(SCHEDULE), ValidatorSchedule(sets=[*schedule.sets, added]))


ACTIONS: dict[type, Callable[[TxContext, Any], None]] = {
    ApproveAsset: approve_asset,
    SetQuota: set_quota,
    AdmitMember: admit_member,
    RemoveMember: remove_member,
    SetParam: set_param,
    SetDefaultLimits: set_default_limits,
    FreezeSubject: lambda c, a: freeze_subject(c, a.subject_kind, a.subject, a.reason, COUNCIL),
    UnfreezeSubject: lambda c, a: unfreeze_subject(c, a.subject_kind, a.subject),
    AddValidator: add_validator,
    RemoveValidator: remove_validator,
    SetPolicy: set_policy,
    SetRateBounds: set_rate_bounds,
    SetSettlement: set_settlement,
}


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=Propose,
        rule=propose,
        reads=lambda tx: [PARAMS.key(COUNCIL_PARAMS), PROPOSALS.key(tx.proposal)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="A council member proposes an action (its vote counts first).",
        example=Example(
            "propose a quota",
            "bank-a",
            4,
            {"proposal": "quota:CITY-V:2026-12", "action": {"kind": "set_quota", "asset": "CITY-V", "quota_minor": 10}},
        ),
    ),
    Operation(
        tx=CouncilVote,
        rule=vote,
        reads=lambda tx: [PARAMS.key(COUNCIL_PARAMS), PROPOSALS.key(tx.proposal)],
        parties=lambda tx: [],
        signers=MEMBERS_ONLY,
        since=GOVERNANCE_SINCE,
        summary="A council member approves an open proposal.",
        example=Example("vote", "bank-b", 0, {"proposal": "quota:CITY-V:2026-12"}),
    ),
)
