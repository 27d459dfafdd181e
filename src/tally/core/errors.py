"""Rejection codes and the `ensure` helper used by every rule.

Codes are stable strings: clients, tests and stored results depend on them.
Add new codes at the end; never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Why a transaction (or a request) was rejected."""

    # Envelope and admission.
    BAD_SIGNATURE = "bad_signature"
    WRONG_CHAIN = "wrong_chain"
    EXPIRED = "expired"
    EXPIRY_TOO_FAR = "expiry_too_far"
    SEQ_STALE = "seq_stale"
    SEQ_FUTURE = "seq_future"
    DUPLICATE_SEQ = "duplicate_seq"
    UNKNOWN_SIGNER = "unknown_signer"
    # State rules.
    UNKNOWN_ACCOUNT = "unknown_account"
    ACCOUNT_EXISTS = "account_exists"
    UNKNOWN_ASSET = "unknown_asset"
    ASSET_EXISTS = "asset_exists"
    NOT_AUTHORIZED = "not_authorized"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    NOT_TRANSFERABLE = "not_transferable"
    SELF_TRANSFER = "self_transfer"
    NOT_MERCHANT = "not_merchant"
    DUPLICATE_PAYMENT = "duplicate_payment"
    UNKNOWN_PAYMENT = "unknown_payment"
    REFUND_EXCEEDS_PAYMENT = "refund_exceeds_payment"
    CASH_OUT_NOT_ALLOWED = "cash_out_not_allowed"
    SUPPLY_OVERFLOW = "supply_overflow"
    # Client references (protocol 3 on).
    REF_REQUIRED = "ref_required"
    DUPLICATE_REF = "duplicate_ref"
    REF_NOT_SUPPORTED = "ref_not_supported"
    # Transaction types a block's protocol version does not have.
    TYPE_NOT_SUPPORTED = "type_not_supported"
    # Consumer-presented payment codes (protocol 4 on).
    DUPLICATE_CODE = "duplicate_code"
    UNKNOWN_CODE = "unknown_code"
    CODE_EXPIRED = "code_expired"
    CODE_USED = "code_used"
    OVER_CODE_LIMIT = "over_code_limit"
    # Governance (protocol 5 on).
    WRONG_ROLE = "wrong_role"
    NOT_COUNCIL_MEMBER = "not_council_member"
    DUPLICATE_PROPOSAL = "duplicate_proposal"
    UNKNOWN_PROPOSAL = "unknown_proposal"
    PROPOSAL_EXPIRED = "proposal_expired"
    PROPOSAL_CLOSED = "proposal_closed"
    ALREADY_VOTED = "already_voted"
    BAD_PARAMETER = "bad_parameter"
    ASSET_NOT_ACTIVE = "asset_not_active"
    OVER_QUOTA = "over_quota"
    ACCOUNT_FROZEN = "account_frozen"
    ASSET_FROZEN = "asset_frozen"
    ALREADY_FROZEN = "already_frozen"
    NOT_FROZEN = "not_frozen"
    OVER_PAYMENT_LIMIT = "over_payment_limit"
    OVER_DAILY_LIMIT = "over_daily_limit"
    OVER_BALANCE_CAP = "over_balance_cap"
    SAME_KEY = "same_key"
    RECOVERY_PENDING = "recovery_pending"
    NO_RECOVERY = "no_recovery"
    RECOVERY_NOT_DUE = "recovery_not_due"
    BLOCK_FULL = "block_full"
    # Validator-set changes (protocol 6 on).
    NOTICE_TOO_SHORT = "notice_too_short"
    VALIDATOR_EXISTS = "validator_exists"
    UNKNOWN_VALIDATOR = "unknown_validator"
    VALIDATOR_SET_BOUNDS = "validator_set_bounds"
    # Asset policies (protocol 8 on): each names the rule that refused.
    WRONG_CATEGORY = "wrong_category"
    WRONG_REGION = "wrong_region"
    UNREGISTERED_MERCHANT = "unregistered_merchant"
    ASSET_EXPIRED = "asset_expired"
    OVER_HOLDER_CAP = "over_holder_cap"
    OVER_MONTHLY_CAP = "over_monthly_cap"
    PAYER_NOT_ALLOWED = "payer_not_allowed"
    REFUND_THRESHOLD_NOT_REACHED = "refund_threshold_not_reached"
    OVER_CASH_OUT_CAP = "over_cash_out_cap"
    NO_DISCOUNT = "no_discount"
    WRONG_PRICE = "wrong_price"
    BUDGET_EXHAUSTED = "budget_exhausted"
    # Lots (protocol 9 on).
    TOO_MANY_LOTS = "too_many_lots"
    LOT_SCHEDULE_FULL = "lot_schedule_full"
    # Rewards (protocol 10 on).
    TOO_MANY_RULES = "too_many_rules"
    UNKNOWN_COUPON = "unknown_coupon"
    COUPON_EXISTS = "coupon_exists"
    OUT_OF_STOCK = "out_of_stock"
    COUPON_EXPIRED = "coupon_expired"
    COUPON_USED = "coupon_used"
    WRONG_MERCHANT = "wrong_merchant"
    # Rates, exchange and settlement (protocol 11 on).
    NO_RATE_BOUNDS = "no_rate_bounds"
    RATE_OUT_OF_BOUNDS = "rate_out_of_bounds"
    NO_RATE = "no_rate"
    NO_SETTLEMENT = "no_settlement"
    NO_FX_RATE = "no_fx_rate"
    SAME_ASSET = "same_asset"
    INSUFFICIENT_FLOAT = "insufficient_float"
    BELOW_MINIMUM = "below_minimum"
    ABOVE_MAXIMUM = "above_maximum"
    TOO_SMALL = "too_small"
    TOO_MANY_COUNTERPARTIES = "too_many_counterparties"
    WINDOW_CLOSED = "window_closed"
    WINDOW_OPEN = "window_open"
    UNKNOWN_WINDOW = "unknown_window"
    WINDOW_SETTLED = "window_settled"
    INSUFFICIENT_PREFUNDING = "insufficient_prefunding"
    UNKNOWN_PAYOUT = "unknown_payout"
    PAYOUT_ACKNOWLEDGED = "payout_acknowledged"
    FILE_RECORDED = "file_recorded"
    NOT_AT_BANKS = "not_at_banks"
    REASON_REQUIRED = "reason_required"


# Failures of the envelope every type shares (core/execute.py check_envelope): they change nothing at all.
ENVELOPE_CODES: frozenset[str] = frozenset(
    c.value
    for c in (
        Code.WRONG_CHAIN,
        Code.EXPIRED,
        Code.UNKNOWN_SIGNER,
        Code.BAD_SIGNATURE,
        Code.SEQ_STALE,
        Code.SEQ_FUTURE,
        Code.BLOCK_FULL,  # beyond the council's bound on a block (protocol 5): not executed at all
    )
)


class Rejected(Exception):
    """A rule failed; the transaction changes nothing but its own record."""

    def __init__(self, code: Code, message: str = "") -> None:
        super().__init__(f"{code.value}: {message}" if message else code.value)
        self.code = code
        self.message = message or code.value


def ensure(condition: bool, code: Code, message: str = "", *args: object) -> None:
    """Check one named precondition; reject with `code` when it does not hold.

    `message` is a str.format template filled from `args` only on rejection,
    so the check costs nothing extra when it passes (the hot path).
    """
    if not condition:
        raise Rejected(code, message.format(*args) if args else message)
