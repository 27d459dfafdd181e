"""Request and response bodies of the HTTP API: the node serves them, the SDK decodes them (typed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ..core.ops import SignedTx
from ..core.types import (
    AccountId,
    Asset,
    BankFile,
    Coupon,
    Freeze,
    FxRate,
    IncentiveRule,
    MerchantFlag,
    Obligation,
    Payout,
    Proposal,
    PublicKeyHex,
    Ratio,
    Recovery,
)

MAX_BATCH_TXS_SCHEMA = 2000


class SubmitBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    txs: Annotated[list[SignedTx], Meta(min_length=1, max_length=MAX_BATCH_TXS_SCHEMA)]


class Submitted(msgspec.Struct, frozen=True):
    txids: list[str]
    status: str = "accepted"


class TxStatusBody(msgspec.Struct, frozen=True):
    txid: str
    status: str
    code: str
    message: str
    height: int


class ErrorDetail(msgspec.Struct, frozen=True):
    index: int
    txid: str
    code: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: list[ErrorDetail] = []
    request_id: str = ""  # also the response's X-Request-Id header and on the node's log line


class ErrorResponse(msgspec.Struct, frozen=True):
    error: ErrorBody


class BalancesBody(msgspec.Struct, frozen=True):
    account: str
    balances: dict[str, int]


class MovementBody(msgspec.Struct, frozen=True):
    """One balance change of the account whose history it is."""

    asset: str
    amount_minor: int  # signed: + in, - out
    counterparty: str | None  # whom it came from or went to; null: issued to oneself or burned
    balance_after_minor: int


class HistoryEntry(msgspec.Struct, frozen=True):
    height: int
    index: int
    txid: str
    type: str
    time_ms: int  # its block's time
    status: Literal["applied", "rejected"]
    code: str  # "ok", or why it was rejected
    message: str  # the rejection's reason ("" when applied)
    movements: list[MovementBody] | None  # this account's balance changes (null: stored before they were kept)
    tx: dict[str, Any]


# Every list endpoint answers one shape: a page of items and the cursor of the next page (null: no more).


class HistoryPage(msgspec.Struct, frozen=True):
    account: str
    items: list[HistoryEntry]
    next_cursor: str | None


class BlockBody(msgspec.Struct, frozen=True):
    height: int
    hash: str
    state_digest: str
    header: dict[str, Any]
    txids: list[str]
    final: bool


class BlocksPage(msgspec.Struct, frozen=True):
    items: list[BlockBody]
    next_cursor: str | None


class AssetsPage(msgspec.Struct, frozen=True):
    items: list[Asset]
    next_cursor: str | None


class ProposalBody(Proposal, frozen=True, kw_only=True):
    """A council proposal as stored, and what follows from it now: `state` is its status, or `expired`
    once an open one is past `expires_ms`."""

    state: Literal["open", "expired", "executed", "failed"]
    votes_counted: int  # the votes of current council members
    threshold: int  # votes it needs now


class NearbyMerchant(msgspec.Struct, frozen=True):
    """A merchant of the directory, with its distance from the point asked about."""

    merchant: str
    distance_m: int  # great-circle distance, metres (rounded)
    category: str  # ISO 18245 MCC
    accepts: list[str]
    lat: str  # decimal degrees, as registered (millionths)
    lon: str


class DirectoryPage(msgspec.Struct, frozen=True):
    items: list[NearbyMerchant]
    next_cursor: str | None  # DISTANCE_MM:MERCHANT: pass it as cursor for the next page


class LotView(msgspec.Struct, frozen=True):
    expires_ms: int  # block time from which it is no longer spent
    amount_minor: int
    expired: bool  # past its expiry, waiting for the sweep (no longer spendable)


class ExpiredView(msgspec.Struct, frozen=True):
    expires_ms: int
    amount_minor: int
    height: int  # the block that swept it
    to: str  # "issuer" or "burn"


class AssetLots(msgspec.Struct, frozen=True):
    asset: str
    lots: list[LotView]  # first to expire first; they sum to the balance
    spendable_minor: int  # the lots not yet expired
    expired: list[ExpiredView]  # the latest lots swept at their expiry, newest last


class LotsBody(msgspec.Struct, frozen=True):
    """An account's lots in the assets that have them (protocol 9), and its latest expired ones."""

    account: str
    items: list[AssetLots]


class IncentiveView(msgspec.Struct, frozen=True):
    rule: IncentiveRule
    budget_minor: int  # what its budget account holds in the asset now
    active: bool  # within its period at the last block's time


class IncentivesBody(msgspec.Struct, frozen=True):
    """An asset's incentive rules (protocol 10), with what each budget account has left."""

    asset: str
    items: list[IncentiveView]


class CouponsBody(msgspec.Struct, frozen=True):
    """The coupon mall (protocol 10): every listed coupon, by id."""

    items: list[Coupon]
    truncated: bool  # more than the answer's bound (500)


class OwnedCouponView(msgspec.Struct, frozen=True):
    bought_txid: str  # the purchase: what `use_coupon` names
    coupon: str
    bought_height: int
    used_txid: str  # "" while unused
    used_merchant: str
    used_height: int  # the block that used it (0 while unused)


class OwnedCouponsBody(msgspec.Struct, frozen=True):
    account: str
    items: list[OwnedCouponView]
    truncated: bool


class CouponUseView(msgspec.Struct, frozen=True):
    bought_txid: str
    coupon: str
    holder: str
    height: int
    txid: str  # the use


class CouponUsesBody(msgspec.Struct, frozen=True):
    """Coupons used at a merchant, newest first (its point of sale's list)."""

    merchant: str
    items: list[CouponUseView]
    truncated: bool


class FlagsBody(msgspec.Struct, frozen=True):
    """The merchants the voucher-cashing guard flagged in an asset (protocol 8), by merchant id."""

    asset: str
    flags: list[MerchantFlag]  # each merchant's latest flag
    truncated: bool  # more than MAX_FLAGS flags: the first MAX_FLAGS by merchant id are shown


class ProposalsPage(msgspec.Struct, frozen=True):
    items: list[ProposalBody]
    next_cursor: str | None


class LimitsBody(msgspec.Struct, frozen=True):
    """An account's limits in one asset (0: none): its own, or its role's default."""

    asset: str
    source: Literal["own", "default"]
    max_payment_minor: int
    daily_out_minor: int
    balance_cap_minor: int
    set_by: str  # "" for a default
    sent_today_minor: int = 0  # counted where a daily limit applies, in the chain's time zone


class ControlsBody(msgspec.Struct, frozen=True):
    """What limits an account: a freeze and its reason, its limits, a pending key recovery."""

    account: str
    frozen: Freeze | None
    limits: list[LimitsBody]
    recovery: Recovery | None


class SupplyBody(msgspec.Struct, frozen=True):
    """An asset's supply: quota (null: none), issued, burned, outstanding (issued minus burned), a freeze."""

    asset: str
    status: Literal["active", "proposed"]
    quota_minor: int | None
    issued_minor: int
    burned_minor: int
    outstanding_minor: int
    frozen: Freeze | None
    # Protocol 8 on, for a policy with a discount: its budget account and what it has left (public, as the
    # cashback rules' budgets are: a programme's budget is the public's business). Left out otherwise.
    budget_account: str | None = None
    budget_minor: int | None = None


class UnavailableBody(msgspec.Struct, frozen=True):
    """Why the node takes no transactions: node_stopped, node_diverged or storage_tampered."""

    code: str
    message: str


class DivergenceBody(msgspec.Struct, frozen=True):
    """The first height where this node's digest differs from the certified one."""

    height: int
    our_digest: str
    certified_digest: str


class NodeStatusBody(msgspec.Struct, frozen=True):
    chain: str
    validator: str
    height: int
    final_height: int
    state_digest: str
    mempool_txs: int
    mempool_max_txs: int
    healthy: bool
    orderer: str
    divergence: DivergenceBody | None
    limits: dict[str, int]
    unavailable: UnavailableBody | None = None  # set once the node stopped taking transactions
    event_streams: int = 0  # open GET /v1/events streams


# --- the event stream (GET /v1/events) ---------------------------------------------


class MovementEventBody(msgspec.Struct, frozen=True):
    account: str
    asset: str
    amount_minor: int  # signed: + in, - out
    counterparty: str | None
    balance_after_minor: int


class TxEvent(msgspec.Struct, frozen=True):
    """A final transaction, applied or rejected, with every balance change it made."""

    txid: str
    height: int
    index: int
    time_ms: int
    type: str
    status: Literal["applied", "rejected"]
    code: str
    message: str
    movements: list[MovementEventBody]
    tx: dict[str, Any]


class BalanceEvent(msgspec.Struct, frozen=True):
    """One account's balance of one asset changed in a final transaction."""

    account: str
    asset: str
    amount_minor: int
    counterparty: str | None
    balance_after_minor: int
    txid: str
    height: int
    time_ms: int


class BlockEvent(msgspec.Struct, frozen=True):
    """A block became final."""

    height: int
    hash: str
    time_ms: int
    tx_count: int


class LedgerEvent(msgspec.Struct, frozen=True):
    """One event of the stream: its id (resume after it), kind and body."""

    id: str
    kind: Literal["block", "tx", "balance"]
    data: TxEvent | BalanceEvent | BlockEvent


EVENT_TYPES: dict[str, type[TxEvent] | type[BalanceEvent] | type[BlockEvent]] = {
    "tx": TxEvent,
    "balance": BalanceEvent,
    "block": BlockEvent,
}


# --- QR codes at the counter (api/qr.py) ---------------------------------------------


class MerchantQrBody(msgspec.Struct, frozen=True):
    """A merchant-presented code: its payload (what the QR holds), its content and an SVG drawing."""

    payload: str
    dynamic: bool
    merchant: str
    asset: str
    amount: str | None  # in the asset's unit (dynamic codes)
    amount_minor: int | None
    payment_id: str | None
    expires_ms: int | None
    svg: str


class ParseQrRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    payload: Annotated[str, Meta(min_length=1, max_length=512)]


class MerchantCodeBody(msgspec.Struct, frozen=True):
    """A scanned merchant code, checked: what a wallet needs to build the payment."""

    chain: str
    merchant: str
    asset: str
    name: str
    city: str
    mcc: str
    country: str
    currency: str
    dynamic: bool
    amount: str | None
    amount_minor: int | None
    payment_id: str | None
    expires_ms: int | None


class PayCodeBody(msgspec.Struct, frozen=True):
    """A consumer-presented payment code as the ledger holds it."""

    code: str
    holder: str
    asset: str
    limit_minor: int
    expires_ms: int
    status: Literal["open", "charged", "expired"]
    charged_txid: str | None


# --- the network monitor (api/network.py) ---------------------------------------------


class ValidatorView(msgspec.Struct, frozen=True):
    """One validator as the answering node sees it."""

    id: str
    url: str
    reachable: bool
    error: str  # why it could not be read ("" when reachable)
    height: int
    final_height: int
    healthy: bool
    digest_at_common: str | None  # its state digest at common_final_height


class NetworkBody(msgspec.Struct, frozen=True):
    chain: str
    observer: str  # the validator that answered
    common_final_height: int  # the highest height every reachable validator holds as final
    digests_agree: bool  # every reachable validator has the same state digest there
    validators: list[ValidatorView]
    time_ms: int


# --- the demo member desk (api/desk.py) ---------------------------------------------


class NewWallet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account: AccountId
    public_key: PublicKeyHex


class WalletOpened(msgspec.Struct, frozen=True):
    account: str
    member: str
    txids: list[str]


# --- read tokens (api/access.py, client/auth.py) ---------------------------------------

ChallengeHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
PrincipalKind = Literal["account", "validator"]
READ_TOKEN_PURPOSE = "tally-read-token-v1"
MAX_TOKEN_TTL_S = 900  # a read token lives at most 15 minutes


class ChallengeBody(msgspec.Struct, frozen=True):
    """A single-use nonce to sign for a read token, and when it expires (node time)."""

    challenge: str
    expires_ms: int
    ttl_s: int


class TokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A principal's signature over the read-token message (client/auth.py `token_message`) for a challenge.

    `kind`: whose key signs: an account's (default) or a validator's. `ttl_s`: a shorter life than the
    node's at most 15 minutes."""

    principal: AccountId
    challenge: ChallengeHex
    sig: Annotated[str, Meta(pattern=r"^[0-9a-f]{128}$(?!\n)")]
    kind: PrincipalKind = "account"
    ttl_s: Annotated[int, Meta(ge=1, le=MAX_TOKEN_TTL_S)] = MAX_TOKEN_TTL_S


class TokenBody(msgspec.Struct, frozen=True):
    """A bearer token for reads: send it as `Authorization: Bearer TOKEN` until it expires."""

    token: str
    token_type: str
    expires_ms: int
    ttl_s: int
    principal: str
    kind: PrincipalKind
    role: str


# --- rates, exchange and settlement (protocol 11) ------------------------------------------------


class RateView(msgspec.Struct, frozen=True):
    """An asset's published rate, the council's bounds on it, and one minor unit's value in settlement units."""

    asset: str
    currency: str  # the reference currency (ISO 4217)
    rate: Ratio  # one minor unit of the asset in minor units of `currency`
    min_rate: Ratio
    max_rate: Ratio
    source: str  # "float" or "issue"
    fee_bp: int
    fee_account: str
    height: int  # effective from this block
    unit_value: str  # one minor unit in settlement minor units, exact: "num/den" ("" without a settlement currency)


class RatesBody(msgspec.Struct, frozen=True):
    """Every published rate, and the settlement currency with the council's FX rates into it."""

    settlement_currency: str  # "" until the council sets how members settle
    fx: list[FxRate]
    items: list[RateView]
    truncated: bool


class ExchangeQuoteBody(msgspec.Struct, frozen=True):
    """Exactly what an exchange signed now would give (core/rates.py's rounding rule)."""

    from_asset: str
    to_asset: str
    amount_minor: int
    value_minor: int  # the obligation between the two issuers, settlement minor units
    gross_minor: int
    fee_minor: int
    out_minor: int  # what the holder receives: sign `min_out_minor` at most this
    remainder: str  # exact value not paid out, "num/den" settlement minor units
    from_rate: Ratio
    to_rate: Ratio
    settlement_currency: str
    height: int  # the rates are those after this block


class RoamingQuoteBody(msgspec.Struct, frozen=True):
    """Exactly what a roaming payment signed now would cost the holder."""

    asset: str  # what the merchant receives
    amount_minor: int  # exactly this much of it
    pay_asset: str  # what the holder pays with
    pay_minor: int  # the least amount that carries it: sign `max_pay_minor` at least this
    value_minor: int
    remainder: str
    from_rate: Ratio
    to_rate: Ratio
    settlement_currency: str
    height: int


class PairView(msgspec.Struct, frozen=True):
    """What `debtor` owes `creditor`, net between the two (settlement minor units)."""

    debtor: str
    creditor: str
    amount_minor: int


class MemberPosition(msgspec.Struct, frozen=True):
    """A member's multilateral net position: what it is owed less what it owes (settlement minor units)."""

    member: str
    net_minor: int


class WindowView(msgspec.Struct, frozen=True):
    """A settlement window: its positions per member pair and per member, and how it settled."""

    window: int
    first_height: int
    last_height: int
    currency: str
    status: str  # "open", "bank" (net positions out as bank payments) or "settled"
    closed: bool  # a block past its last height exists
    obligations: int
    gross_minor: int
    pairs: list[PairView]
    members: list[MemberPosition]
    moves: list[PairView]  # the payments that settle it: in the settlement asset, or bank payments
    settled_height: int
    settled_txid: str


class SettlementBody(msgspec.Struct, frozen=True):
    """How members settle, the window the chain is in, and the positions not yet settled (live)."""

    currency: str
    window_blocks: int
    asset: str  # the prefunded settlement asset ("": through banks only)
    fx: list[FxRate]
    height: int
    current_window: int
    unsettled: list[MemberPosition]  # over every window not yet settled
    unsettled_pairs: list[PairView]
    windows: list[WindowView]  # those not yet settled, oldest first


class WindowsPage(msgspec.Struct, frozen=True):
    """Settlement windows that hold obligations, newest first."""

    items: list[WindowView]
    next_cursor: str | None


class WindowDetail(msgspec.Struct, frozen=True):
    """A window with its obligations, the payouts made in it and the bank files written for it."""

    window: WindowView
    obligations: list[Obligation]
    payouts: list[Payout]
    files: list[BankFile]
    truncated: bool  # more obligations or payouts than one answer lists


class ReportRow(msgspec.Struct, frozen=True):
    """A member's line in a window's settlement report: obligations in the settlement currency's minor unit.

    `status` is the window's, with "closed" for a window past its end that is not settled yet."""

    window: int
    member: str
    status: str
    owes_minor: int  # obligations it owes (gross)
    owed_minor: int  # obligations owed to it (gross)
    net_minor: int  # owed less owes
    settled_minor: int  # what the settlement moved (received positive, paid negative)
    payouts: int  # payouts of its assets in the window
    payouts_by_asset: str  # "ASSET amount_minor" per asset, "; "-separated (each in its own asset's minor unit)
    payouts_done: int
    payouts_returned: int
    files: str  # "kind sha256" per file it recorded, "; "-separated


class ReportBody(msgspec.Struct, frozen=True):
    """Per member and window: obligations, net positions, settlement status, payouts and files."""

    currency: str
    rows: list[ReportRow]
    truncated: bool
