"""The ledger's data types: transactions, state records, blocks, certificates.

All are msgspec structs. Transactions and requests forbid unknown fields and
carry their limits in their field types, so decoding is validation.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .encoding import MAX_SAFE_INTEGER

# --- field types with their limits -----------------------------------------

AccountId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$(?!\n)")]
AssetId = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$(?!\n)")]
OptionalAccountId = Annotated[str, Meta(pattern=r"^([a-z0-9][a-z0-9._-]{0,63})?$(?!\n)")]  # "" or an account id
ChainId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$(?!\n)")]
AmountMinor = Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]
Seq = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
TimeMs = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
PublicKeyHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
SignatureHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{128}$(?!\n)")]
PaymentId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$(?!\n)")]
# A consumer-presented payment code: 20 digits, made at random by the holder's wallet (about 66 bits).
PayCodeDigits = Annotated[str, Meta(pattern=r"^[0-9]{20}$(?!\n)")]
ClientRef = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$(?!\n)")]  # unique per signer (protocol 3)
Name = Annotated[str, Meta(min_length=1, max_length=80)]
PayoutRef = Annotated[str, Meta(min_length=1, max_length=80)]
Decimals = Annotated[int, Meta(ge=0, le=8)]
ProtocolVersion = Annotated[int, Meta(ge=1, le=1_000)]
ProposalId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$(?!\n)")]
ReasonCode = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,32}$(?!\n)")]  # why an account or asset is frozen
FreezeTarget = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$(?!\n)")]  # an account or asset id
LimitMinor = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]  # 0: no limit
CouncilSize = Annotated[int, Meta(ge=1, le=1_000)]
Height = Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]
Mcc = Annotated[str, Meta(pattern=r"^[0-9]{4}$(?!\n)")]  # ISO 18245 merchant category code
RegionCode = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$(?!\n)")]  # e.g. KR-11 (Seoul), KR-11-680
LatE6 = Annotated[int, Meta(ge=-90_000_000, le=90_000_000)]  # latitude in millionths of a degree
LonE6 = Annotated[int, Meta(ge=-180_000_000, le=180_000_000)]  # longitude in millionths of a degree
BusinessNo = Annotated[str, Meta(pattern=r"^[0-9A-Za-z-]{1,32}$(?!\n)")]  # business registration number
MAX_ACCEPTED_ASSETS = 32
ApiUrl = Annotated[str, Meta(pattern=r"^(https?://[A-Za-z0-9.:\[\]_-]{1,200})?$(?!\n)")]  # "" or a node's API base
UtcOffsetMin = Annotated[int, Meta(ge=-14 * 60, le=14 * 60)]  # the chain's time zone, minutes east of UTC

# Who an account is (protocol 5 adds auditor, regulator and retired: an institution the council removed).
Role = Literal["member", "holder", "merchant", "auditor", "regulator", "retired"]
AssetKind = Literal["points", "voucher", "local_currency", "emoney", "coupon"]
CashOutPolicy = Literal["none", "merchants", "all"]
BasisPoints = Annotated[int, Meta(ge=0, le=10_000)]  # hundredths of a percent: 1000 is 10%
Percent = Annotated[int, Meta(ge=0, le=100)]
MAX_POLICY_CODES = 64  # categories or regions a policy lists
CurrencyCode = Annotated[str, Meta(pattern=r"^[A-Z]{3}$(?!\n)")]  # ISO 4217, e.g. KRW, USD
RatioTerm = Annotated[int, Meta(ge=1, le=10**12)]  # a rate's numerator or denominator
WindowNo = Annotated[int, Meta(ge=0, le=10**12 - 1)]  # a settlement window's number (12 digits in its key)
TxIdHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
Sha256Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
OptionalAssetId = Annotated[str, Meta(pattern=r"^([A-Z0-9][A-Z0-9_-]{0,31})?$(?!\n)")]  # "" or an asset id
FileName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$(?!\n)")]
MAX_FX_RATES = 32  # currencies the settlement configuration converts


class AssetPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What an asset enforces beyond transferability and cash-out (protocol 8 on; core/policy.py).

    Every field's default is "no rule"; the council changes a policy by proposal (`set_policy`).
    """

    # Where it may be spent: merchants whose registry entry has one of these categories (ISO 18245 MCC)
    # and whose region is one of these or inside one (KR-11 takes KR-11-680). Empty: anywhere.
    categories: Annotated[list[Mcc], Meta(max_length=MAX_POLICY_CODES)] = []
    regions: Annotated[list[RegionCode], Meta(max_length=MAX_POLICY_CODES)] = []
    valid_until_ms: TimeMs = 0  # block time from which it no longer moves (0: no end)
    holder_cap_minor: LimitMinor = 0  # the most a holder may hold
    monthly_cap_minor: LimitMinor = 0  # the most a holder may receive from issuance per calendar month
    merchants_pay: bool = False  # merchants may pay other merchants in it (default: only holders pay)
    cash_out_fee_bp: BasisPoints = 0  # of each cash-out, paid to the issuer
    # A holder may take back its unused remainder (`redeem_remainder`) once it has spent this share of
    # the value it received (0: never); `small_refund_pct` where that value is at most `small_face_minor`.
    refund_pct: Percent = 0
    small_refund_pct: Percent = 0
    small_face_minor: LimitMinor = 0
    # Local currency (`sell`): the discount a buyer gets, paid out of the budget account.
    discount_bp: BasisPoints = 0
    budget_account: OptionalAccountId = ""
    # The voucher-cashing guard: a merchant's cash-outs (redemptions) per calendar month (0: no cap) unless
    # the issuer set its own (`set_merchant_limit`), and the multiple of its usual redemptions that flags it.
    merchant_cash_out_cap_minor: LimitMinor = 0
    flag_multiple: Annotated[int, Meta(ge=0, le=1_000)] = 0
    # Lots (protocol 9; core/lots.py): value issued to a holder expires at the end of the chain day its
    # lifetime ends (or at `valid_until_ms`, if sooner), and the expired remainder goes back to the issuer
    # or is burned. Fixed when the asset is created.
    lot_lifetime_ms: TimeMs = 0
    expired_to: Literal["issuer", "burn"] = "issuer"


RuleId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$(?!\n)")]  # an incentive rule's id
MAX_INCENTIVE_RULES = 8  # rules an asset's issuer keeps at once
CouponId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$(?!\n)")]
TxId = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
MAX_COUPON_MERCHANTS = 32
MAX_COUPON_STOCK = 1_000_000


class IncentiveRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Cashback on payments that match (protocol 10): the rate of each, out of the budget account, up to a cap
    per holder; a refund claws it back in proportion."""

    id: RuleId
    rate_bp: Annotated[int, Meta(ge=1, le=10_000)]  # of the payment, rounded down
    budget_account: AccountId
    categories: Annotated[list[Mcc], Meta(max_length=MAX_POLICY_CODES)] = []  # empty: any
    regions: Annotated[list[RegionCode], Meta(max_length=MAX_POLICY_CODES)] = []  # empty: anywhere
    from_ms: TimeMs = 0  # block time it starts at
    until_ms: TimeMs = 0  # block time it ends at (0: no end)
    cap_per_holder_minor: LimitMinor = 0  # the most one holder gets from it (0: no cap)


# --- transactions ----------------------------------------------------------


class TxBase(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    """Fields every transaction carries (the envelope's replay protection)."""

    chain: ChainId
    signer: AccountId
    seq: Seq
    expires_ms: TimeMs


# The transaction types live in their family modules (core/ops/); the registry
# there builds the tagged union `Tx` and `SignedTx`.


# --- state records ---------------------------------------------------------


class Account(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    role: Role
    public_key: str
    member: str  # the member that registered it (itself for a member)
    seq: int  # the next sequence number this account must sign with
    # Protocol 5 on, so that a payment reads nothing more when neither holds (core/controls.py): the account
    # is frozen (its `freeze/account/<id>` record says why), and in how many assets it has limits of its own.
    # Left out while false and 0, so older accounts keep their bytes and digests.
    frozen: bool = False
    limited_assets: int = 0


class Asset(msgspec.Struct, frozen=True):
    id: str
    name: str
    kind: AssetKind
    decimals: int
    issuer: str
    transferable: bool
    cash_out: CashOutPolicy
    status: Literal["active", "proposed"]  # protocol 5 on: "proposed" until the council approves it
    issued_minor: int
    burned_minor: int
    # Protocol 5 on: issued minus burned may not exceed it. Older assets leave it out, so their bytes hold.
    quota_minor: int | msgspec.UnsetType = msgspec.UNSET
    # Protocol 8 on: what it enforces (core/policy.py). Assets without one leave it out.
    policy: AssetPolicy | msgspec.UnsetType = msgspec.UNSET
    # Protocol 10 on: how many incentive rules it has (a payment reads them only then). Left out until set.
    incentive_rules: int | msgspec.UnsetType = msgspec.UNSET

    @property
    def outstanding_minor(self) -> int:
        return self.issued_minor - self.burned_minor


class Payment(msgspec.Struct, frozen=True):
    merchant: str
    payment_id: str
    payer: str
    asset: str
    amount_minor: int
    refunded_minor: int
    # The paying transaction (protocol 3 on). Older payments leave it out, so their stored bytes hold.
    txid: str | msgspec.UnsetType = msgspec.UNSET
    # The payer's lots it took, first to expire first (protocol 9, assets with lots): refunds return them.
    lots: list[Lot] | msgspec.UnsetType = msgspec.UNSET
    # protocol 11 on: a roaming payment, made in another asset (core/ops/exchange.py)
    roaming: Roaming | msgspec.UnsetType = msgspec.UNSET


class Payout(msgspec.Struct, frozen=True):
    txid: str
    account: str
    asset: str
    amount_minor: int
    payout_ref: str
    height: int
    fee_minor: int | msgspec.UnsetType = msgspec.UNSET  # protocol 8 on: the issuer's fee, where one was taken
    # protocol 11 on: the settlement window it is paid out in, and what the bank said (core/ops/settlement.py)
    window: int | msgspec.UnsetType = msgspec.UNSET
    status: Literal["pending", "done", "returned"] | msgspec.UnsetType = msgspec.UNSET
    ack_txid: str | msgspec.UnsetType = msgspec.UNSET  # the acknowledgement that closed it
    ack_reason: str | msgspec.UnsetType = msgspec.UNSET  # the bank's reason, where it returned the payout


class PayCode(msgspec.Struct, frozen=True):
    """A consumer-presented payment code: one charge by a merchant, up to a limit, before it expires."""

    code: str
    holder: str
    asset: str
    limit_minor: int
    expires_ms: int  # block time: the block that opened it plus CODE_TTL_MS
    opened_txid: str
    charged_txid: str = ""  # the charge that used it ("" while unused)


class RefUse(msgspec.Struct, frozen=True):
    """The transaction that used a signer's client reference (protocol 3 on)."""

    txid: str
    height: int


# --- governance records (protocol 5 on; core/ops/council.py, core/ops/controls.py) ---


class DefaultLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The limits an account of a role has in an asset unless its own are set (0: no limit)."""

    role: Literal["holder", "merchant"]
    asset: AssetId
    max_payment_minor: LimitMinor = 0
    daily_out_minor: LimitMinor = 0
    balance_cap_minor: LimitMinor = 0


class Params(msgspec.Struct, frozen=True):
    """The council and the parameters it changes: one record (`PARAMS`), from the genesis on."""

    council: list[str]  # the members whose votes count, in admission order
    threshold: int  # votes a proposal needs (M of N = len(council))
    proposal_ttl_ms: int  # a proposal expires this long (block time) after the block that opened it
    recovery_delay_ms: int  # a key recovery completes no sooner than this after it started
    utc_offset_min: int  # the chain's time zone: daily limits reset at its midnight
    default_limits: list[DefaultLimits] = []
    max_block_txs: int = 0  # transactions a block may hold (0: the nodes' own bound, Limits.max_block_txs)


# What a council proposal does when it passes (core/ops/council.py runs it): a tagged union on `kind`.


class ActionBase(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag_field="kind"):
    pass


class ApproveAsset(ActionBase, frozen=True, tag="approve_asset"):
    """A proposed asset becomes active, with its quota (create_asset opens this proposal)."""

    asset: AssetId
    quota_minor: LimitMinor


class SetQuota(ActionBase, frozen=True, tag="set_quota"):
    """An asset's issuance quota: its outstanding value (issued minus burned) may not exceed it."""

    asset: AssetId
    quota_minor: LimitMinor


class AdmitMember(ActionBase, frozen=True, tag="admit_member"):
    """An institution joins: a member (with a council vote), an auditor or a regulator."""

    account: AccountId
    name: Name
    public_key: PublicKeyHex
    role: Literal["member", "auditor", "regulator"]


class RemoveMember(ActionBase, frozen=True, tag="remove_member"):
    """An institution leaves: its account is retired (signs nothing), its vote no longer counts."""

    account: AccountId


ParamName = Literal["threshold", "proposal_ttl_ms", "recovery_delay_ms", "utc_offset_min", "max_block_txs"]


class SetParam(ActionBase, frozen=True, tag="set_param"):
    name: ParamName
    value: Annotated[int, Meta(ge=-(14 * 60), le=MAX_SAFE_INTEGER)]


class SetDefaultLimits(ActionBase, frozen=True, tag="set_default_limits"):
    """The limits every account of a role has in an asset unless its own are set."""

    limits: DefaultLimits


class FreezeSubject(ActionBase, frozen=True, tag="freeze"):
    subject_kind: Literal["account", "asset"]
    subject: FreezeTarget
    reason: ReasonCode


class UnfreezeSubject(ActionBase, frozen=True, tag="unfreeze"):
    subject_kind: Literal["account", "asset"]
    subject: FreezeTarget


class AddValidator(ActionBase, frozen=True, tag="add_validator"):
    """A node joins the validator set from block FROM_HEIGHT on (protocol 6; at least 16 blocks after it passes)."""

    validator: AccountId
    public_key: PublicKeyHex
    from_height: Height
    api_url: ApiUrl = ""  # where peers fetch its blocks


class RemoveValidator(ActionBase, frozen=True, tag="remove_validator"):
    """A node leaves the validator set from block FROM_HEIGHT on: its signatures no longer count after it."""

    validator: AccountId
    from_height: Height


class SetPolicy(ActionBase, frozen=True, tag="set_policy"):
    """An asset's transferability, cash-out and policy, replaced whole (protocol 8 on)."""

    asset: AssetId
    transferable: bool
    cash_out: CashOutPolicy
    policy: AssetPolicy


class Ratio(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An exact rational rate: `num / den` (both 1..10^12). No floats anywhere."""

    num: RatioTerm
    den: RatioTerm


class SetRateBounds(ActionBase, frozen=True, tag="set_rate_bounds"):
    """The reference currency an asset's rate is published in, and the least and most it may be (protocol 11 on).

    A rate is the value of one minor unit of the asset in minor units of the currency.
    """

    asset: AssetId
    currency: CurrencyCode
    min_rate: Ratio
    max_rate: Ratio


class FxRate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One minor unit of `currency` is worth `rate` minor units of the settlement currency."""

    currency: CurrencyCode
    rate: Ratio


class SetSettlement(ActionBase, frozen=True, tag="set_settlement"):
    """How members settle (protocol 11 on): the settlement currency, the window, the prefunded asset, the FX rates.

    Replaced whole. `asset` is the settlement asset members prefund ("" : windows settle through banks only).
    """

    currency: CurrencyCode
    window_blocks: Annotated[int, Meta(ge=1, le=1_000_000)]
    asset: OptionalAssetId = ""
    fx: Annotated[list[FxRate], Meta(max_length=MAX_FX_RATES)] = []


Action = (
    ApproveAsset
    | SetQuota
    | AdmitMember
    | RemoveMember
    | SetParam
    | SetDefaultLimits
    | FreezeSubject
    | UnfreezeSubject
    | AddValidator
    | RemoveValidator
    | SetPolicy
    | SetRateBounds
    | SetSettlement
)


class Proposal(msgspec.Struct, frozen=True):
    id: str
    action: Action
    proposer: str
    votes: list[str]  # the members that approved it, in order
    opened_height: int
    expires_ms: int  # block time after which it takes no more votes
    status: Literal["open", "executed", "failed"]
    closed_height: int = 0
    closed_txid: str = ""
    result_code: str = ""  # "ok" when executed, the action's rejection code when failed
    result_message: str = ""


class Freeze(msgspec.Struct, frozen=True):
    """An account or an asset frozen: value cannot leave it (an asset: cannot move at all)."""

    reason: str
    by: str
    height: int
    txid: str


class AccountLimits(msgspec.Struct, frozen=True):
    """An account's own limits in one asset (0: no limit), set by its member or a regulator."""

    max_payment_minor: int
    daily_out_minor: int
    balance_cap_minor: int
    set_by: str


class DailyOut(msgspec.Struct, frozen=True):
    """What left an account in an asset on one day of the chain's time zone."""

    day: int  # days since 1970-01-01 in the chain's time zone
    out_minor: int


class Recovery(msgspec.Struct, frozen=True):
    """A member moving its account to a new key (the lost phone); the old key may cancel it until it completes."""

    new_public_key: str
    member: str
    started_height: int
    completes_ms: int  # block time from which the member may complete it
    txid: str


class MerchantProfile(msgspec.Struct, frozen=True):
    """A merchant's entry in the registry (protocol 7), kept by the member that registered it."""

    category: str  # ISO 18245 MCC
    region: str
    lat_e6: int  # location, in millionths of a degree (integers: execution stays exact)
    lon_e6: int
    business_no: str
    accepts: list[str]  # the assets it takes, in the order given
    set_by: str  # the member that set it
    height: int  # the block that set it


class HolderUse(msgspec.Struct, frozen=True):
    """A holder's use of a policy asset (protocol 8): for its monthly cap and its remainder refund."""

    month: int  # months since January 1970 in the chain's time zone
    month_in_minor: int  # issued or sold to it in that month
    face_minor: int  # issued or sold to it since its last remainder refund


class Lot(msgspec.Struct, frozen=True, array_like=True):
    """Value a holder holds that expires at one time (protocol 9); stored as [expires_ms, amount_minor]."""

    expires_ms: int  # block time from which it is no longer spent; the first block at or past it sweeps it
    amount_minor: int


class HolderLots(msgspec.Struct, frozen=True):
    """A holder's lots in an asset, first to expire first; they sum to its balance (protocol 9)."""

    lots: list[Lot]


class ExpiredLot(msgspec.Struct, frozen=True, array_like=True):
    expires_ms: int
    amount_minor: int
    height: int  # the block that swept it
    to: str  # "issuer" or "burn"


class ExpiredLots(msgspec.Struct, frozen=True):
    """A holder's latest expired lots in an asset (the last MAX_EXPIRED_SHOWN), newest last."""

    expired: list[ExpiredLot]


class LotBucket(msgspec.Struct, frozen=True, array_like=True):
    """The holders with lots of one asset expiring at one time, in chunks of accounts (the sweep's queue)."""

    expires_ms: int
    asset: str
    chunks: int  # chunk records written: lotq/<asset>/<expires_ms>/<0..chunks-1>
    last_size: int  # accounts in the last chunk
    swept: int  # chunks swept so far


class LotSchedule(msgspec.Struct, frozen=True):
    """Every bucket not yet swept, by (expires_ms, asset): what expires next is first."""

    buckets: list[LotBucket]


class LotChunk(msgspec.Struct, frozen=True):
    accounts: list[str]


class Incentives(msgspec.Struct, frozen=True):
    """An asset's incentive rules (protocol 10), kept by its issuer."""

    rules: list[IncentiveRule]


class Cashback(msgspec.Struct, frozen=True):
    """The cashback a payment earned (protocol 10), linked to it by (merchant, payment id)."""

    holder: str
    asset: str
    rule: str
    amount_minor: int
    clawed_minor: int  # taken back by refunds so far
    budget_account: str
    txid: str  # the payment


class Coupon(msgspec.Struct, frozen=True):
    """A coupon in the coupon mall (protocol 10): bought with points, used once at one of its merchants."""

    id: str
    issuer: str  # the member that listed it; the price is paid to it
    name: str
    price_asset: str
    price_minor: int
    stock: int  # left to sell; never below zero
    sold: int
    valid_until_ms: int  # block time from which it is neither sold nor used
    merchants: list[str]  # where it is used
    height: int  # the block that listed it


class OwnedCoupon(msgspec.Struct, frozen=True):
    """A coupon a holder bought (key: the holder and the buying transaction)."""

    coupon: str
    bought_height: int
    used_txid: str = ""  # the transaction that used it ("" while unused)
    used_merchant: str = ""
    used_height: int = 0


class CouponUse(msgspec.Struct, frozen=True):
    """A coupon used at a merchant (key: the merchant and the buying transaction), for its point of sale."""

    coupon: str
    holder: str
    height: int
    txid: str


class MerchantUse(msgspec.Struct, frozen=True):
    """A merchant's redemptions (cash-outs) of a policy asset this calendar month (the voucher-cashing guard)."""

    month: int
    cashed_minor: int  # cashed out this month
    last_month_cashed_minor: int  # cashed out in the month before
    usual_minor: int  # what it usually redeems a month, as this month began or its limits changed (policy.py)
    flagged: bool = False  # flagged this month


class MerchantLimit(msgspec.Struct, frozen=True):
    """The issuer's limits for one merchant in its asset, set from the merchant's registered size."""

    cash_out_monthly_minor: int  # 0: the policy's cap
    usual_monthly_minor: int  # the redemptions it expects a month (0: the last month's)
    set_by: str
    height: int


class MerchantFlag(msgspec.Struct, frozen=True):
    """A merchant whose month's redemptions passed the policy's multiple of its usual volume."""

    merchant: str
    asset: str
    month: int
    redeemed_minor: int
    usual_minor: int
    multiple: int
    height: int
    txid: str


class Purchase(msgspec.Struct, frozen=True):
    """Local currency sold at a discount (protocol 8): the buyer paid `paid_minor` at its bank."""

    txid: str
    seller: str
    buyer: str
    asset: str
    face_minor: int  # what the buyer received
    paid_minor: int  # what it paid, in the currency's unit
    incentive_minor: int  # face minus paid, out of the budget account
    budget_account: str
    bank_ref: str
    height: int


class Validator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: AccountId
    public_key: PublicKeyHex
    api_url: str = ""  # where peers fetch this validator's blocks


class ValidatorSet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The validators that certify every block from `from_height` until the next set's."""

    from_height: int
    validators: list[Validator]
    scheduled_height: int = 0  # the block whose execution scheduled it (0: the genesis)


class ValidatorSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every validator set of the chain, `from_height` ascending, the first from height 1 (protocol 6 on)."""

    sets: list[ValidatorSet]


# --- rates, exchange and settlement (protocol 11) ------------------------------


class RateBounds(msgspec.Struct, frozen=True):
    """What the council allows an asset's rate to be (`ratebounds/<asset>`)."""

    currency: str
    min_rate: Ratio
    max_rate: Ratio
    height: int


class Rate(msgspec.Struct, frozen=True):
    """An asset's published rate (`rate/<asset>`): one minor unit is worth `rate` minor units of `currency`."""

    asset: str
    currency: str
    rate: Ratio
    source: str  # "float": exchanges pay out of the issuer's balance; "issue": they issue, within the quota
    fee_bp: int  # taken from what an exchange into the asset pays out
    fee_account: str  # where that fee goes
    height: int  # effective from this block
    txid: str


class FxEntry(msgspec.Struct, frozen=True, array_like=True):
    """A stored FX rate: one minor unit of `currency` is `num / den` settlement minor units."""

    currency: str
    num: int
    den: int


class Settlement(msgspec.Struct, frozen=True):
    """The council's settlement configuration (`settlement/config`) and where its windows are anchored."""

    currency: str
    window_blocks: int
    asset: str
    fx: list[FxEntry]
    anchor_height: int  # window `base_window` starts at this height
    base_window: int
    height: int


class PairPosition(msgspec.Struct, frozen=True, array_like=True):
    """What `debtor` owes `creditor` in one window, net of what it is owed back (settlement minor units)."""

    debtor: str
    creditor: str
    amount_minor: int


class SettlementMove(msgspec.Struct, frozen=True, array_like=True):
    """One payment that settles a window: in the settlement asset on the ledger, or a bank payment (pacs.009)."""

    debtor: str
    creditor: str
    amount_minor: int


class Window(msgspec.Struct, frozen=True):
    """A settlement window (`window/<n>`): the obligations between members in it and how they settled."""

    window: int
    first_height: int
    last_height: int
    currency: str
    obligations: int  # obligation records in it
    gross_minor: int  # their total
    pairs: list[PairPosition]  # open positions between member pairs, each pair once, netted
    status: Literal["open", "settled", "bank"]  # bank: its net positions went out as bank payments
    moves: list[SettlementMove] = []  # the multilateral net settlement, once settled
    settled_height: int = 0
    settled_txid: str = ""


class Obligation(msgspec.Struct, frozen=True):
    """One cross-issuer movement (`obligation/<window>/<txid>`): `debtor` owes `creditor` its value."""

    txid: str
    kind: str  # "exchange", "roaming" or "refund"
    debtor: str
    creditor: str
    amount_minor: int  # in the settlement currency's minor unit, rounded down
    height: int


class Roaming(msgspec.Struct, frozen=True, array_like=True):
    """How a roaming payment was paid (`Payment.roaming`): the holder's asset, amount and the value it carried."""

    asset: str  # what the holder paid with
    amount_minor: int  # how much of it
    issuer: str  # its issuer, which received it
    value_minor: int  # the obligation it made (settlement minor units)
    refunded_minor: int  # of `amount_minor`, returned to the holder so far
    remainder: str  # exact value the merchant's asset did not carry, "num/den" settlement minor units


class ExchangeResult(msgspec.Struct, frozen=True):
    """An exchange's exact result (`exchange/<txid>`), as quoted."""

    txid: str
    holder: str
    from_asset: str
    from_minor: int
    to_asset: str
    gross_minor: int  # what the value bought, rounded down
    fee_minor: int
    out_minor: int  # what the holder received: gross less fee
    value_minor: int  # the obligation (settlement minor units, rounded down)
    remainder: str  # exact value not paid out in the asset, "num/den" settlement minor units
    from_rate: Ratio
    to_rate: Ratio
    height: int


class BankFile(msgspec.Struct, frozen=True):
    """A bank file a member's adapter wrote (`bankfile/<window>/<member>/<kind>`), recorded once."""

    window: int
    member: str
    kind: str  # "pain.001" (payouts) or "pacs.009" (net settlement)
    name: str
    sha256: str
    transactions: int
    total_minor: int
    height: int
    txid: str


StateValue = (
    Account
    | Asset
    | Payment
    | Payout
    | RefUse
    | PayCode
    | Params
    | Proposal
    | Freeze
    | AccountLimits
    | DailyOut
    | Recovery
    | ValidatorSchedule
    | MerchantProfile
    | HolderUse
    | MerchantUse
    | MerchantLimit
    | MerchantFlag
    | Purchase
    | HolderLots
    | ExpiredLots
    | LotSchedule
    | LotChunk
    | Incentives
    | Cashback
    | Coupon
    | OwnedCoupon
    | CouponUse
    | RateBounds
    | Rate
    | Settlement
    | Window
    | Obligation
    | ExchangeResult
    | BankFile
    | int
)

# --- blocks and certificates -----------------------------------------------


class BlockHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the orderer fixes; its hash names the block."""

    chain: str
    height: int
    prev_hash: str
    timestamp_ms: int
    tx_root: str
    tx_count: int
    proposer: str
    log_position: int  # where the orderer put the batch: the height (solo) or etcd revision
    # The rules the block executes under (core/protocol.py). Version 1 headers
    # leave it out, so blocks written before it existed keep their hashes.
    protocol: int | msgspec.UnsetType = msgspec.UNSET


VoteKind = Literal["tally-block-vote-v1", "tally-block-vote-v2"]


class Vote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The message a validator signs after executing a block.

    Version 2 (protocol 2 on) adds `results_root`, the Merkle root over every
    transaction's result (core/block.py `result_leaf`), so a certificate
    proves each result, not only that the transaction is in the block.
    """

    kind: VoteKind
    chain: str
    height: int
    block_hash: str
    state_digest: str
    results_root: str | msgspec.UnsetType = msgspec.UNSET


class ValidatorSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    validator: str
    sig: SignatureHex


class Certificate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain: str
    height: int
    block_hash: str
    state_digest: str
    signatures: list[ValidatorSignature]
    results_root: str | msgspec.UnsetType = msgspec.UNSET  # protocol 2 on: the results the signatures certify


class TxResult(msgspec.Struct, frozen=True):
    txid: str
    code: str  # "ok" or a rejection Code
    message: str = ""


OK = "ok"

# --- genesis ---------------------------------------------------------------


class GenesisMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: AccountId
    name: Name
    public_key: PublicKeyHex


class Genesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain: ChainId
    genesis_time_ms: TimeMs
    members: list[GenesisMember]
    validators: list[Validator]
    etcd_endpoints: list[str] = []  # empty: each node orders alone (solo)
    protocol: ProtocolVersion | msgspec.UnsetType = msgspec.UNSET  # the rules from height 1; absent: version 1
    # Protocol 5 on: votes a council proposal needs (absent: 1, any member, as before the council) and the
    # chain's time zone (absent: UTC), where daily limits reset.
    council_threshold: CouncilSize | msgspec.UnsetType = msgspec.UNSET
    utc_offset_min: UtcOffsetMin | msgspec.UnsetType = msgspec.UNSET
