"""Asset policies (protocol 8 on): the rules a voucher or local currency enforces itself.

An asset's policy (`Asset.policy`, types.AssetPolicy) is set when it is
created and changed only by a council proposal (`set_policy`). The rules
that move value call the checks here, so no app, merchant or operator can
go around them; each refusal names its rule with a stable code:

- where: a payment goes to a merchant whose registry entry has an allowed
  category (`wrong_category`) and region (`wrong_region`), and a merchant
  without an entry cannot take it (`unregistered_merchant`);
- until when: from `valid_until_ms` on it moves no more (`asset_expired`);
- how much: a holder's balance (`over_holder_cap`) and what it receives from
  issuance per calendar month of the chain's time zone (`over_monthly_cap`);
- who pays whom: only holders pay merchants and transfer, unless merchants
  may pay too (`payer_not_allowed`);
- cash-out: its fee goes to the issuer; a holder's remainder refund needs its
  share spent (`refund_threshold_not_reached`);
- the voucher-cashing guard: a merchant's redemptions (cash-outs) per month
  are capped (`over_cash_out_cap`), and a merchant whose month's redemptions
  pass a multiple of its usual volume is flagged (`MerchantFlag`), which
  refuses nothing: freezing stays a regulator's action. Payments pay nothing
  for it: it runs on cash-outs.

A plain asset (no policy) reads nothing more than before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import msgspec

from .controls import COUNCIL_KEY, chain_day, council_params
from .errors import Code, ensure
from .tables import ACCOUNTS, FLAGS, HOLDER_USE, MERCHANT_LIMITS, MERCHANT_USE, MERCHANTS
from .types import Account, Asset, AssetPolicy, HolderUse, MerchantFlag, MerchantProfile, MerchantUse, Params

if TYPE_CHECKING:
    from .operation import TxContext
    from .state import TxView

POLICY_SINCE = 8  # the protocol version policies arrive in
BASIS_POINTS = 10_000
_MERCHANTS_KEY = MERCHANTS.scan_prefix()  # + merchant (hot path)


@lru_cache(maxsize=64)  # a block's payments ask for its month again and again
def chain_month(timestamp_ms: int, utc_offset_min: int) -> int:
    """The calendar month (months since January 1970) a block time falls in, in the chain's time zone.

    The proleptic Gregorian calendar from a day count, in integers (H. Hinnant's civil_from_days)."""
    z = chain_day(timestamp_ms, utc_offset_min) + 719_468  # days since 0000-03-01
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1_460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)  # from March 1
    month_from_march = (5 * day_of_year + 2) // 153  # 0 = March ... 11 = February
    year = year_of_era + era * 400 + (1 if month_from_march >= 10 else 0)
    month = month_from_march + 3 if month_from_march < 10 else month_from_march - 9  # 1..12
    return (year - 1970) * 12 + month - 1


def policy_of(asset: Asset) -> AssetPolicy | None:
    return asset.policy if isinstance(asset.policy, AssetPolicy) else None


def region_within(region: str, allowed: str) -> bool:
    """A merchant's region is an allowed one or inside it: KR-11-680 is within KR-11."""
    return region == allowed or region.startswith(allowed + "-")


def validate_policy(view: TxView, policy: AssetPolicy) -> None:
    """A policy's fields agree with each other and name accounts that exist."""
    ensure(
        not policy.discount_bp or policy.budget_account != "",
        Code.BAD_PARAMETER,
        "a discount is paid out of a budget account: name one",
    )
    if policy.budget_account:
        ensure(
            view.read(ACCOUNTS, policy.budget_account) is not None,
            Code.UNKNOWN_ACCOUNT,
            "no account {!r} (the budget account)",
            policy.budget_account,
        )
    ensure(
        policy.small_refund_pct >= policy.refund_pct or not policy.small_face_minor,
        Code.BAD_PARAMETER,
        "small face values need at least the share spent that larger ones do",
    )
    ensure(
        len(set(policy.categories)) == len(policy.categories) and len(set(policy.regions)) == len(policy.regions),
        Code.BAD_PARAMETER,
        "a category or region is listed twice",
    )


# --- checks the rules call -----------------------------------------------------


def ensure_not_expired(c: TxContext, asset: Asset, policy: AssetPolicy) -> None:
    ensure(
        not policy.valid_until_ms or c.block.timestamp_ms < policy.valid_until_ms,
        Code.ASSET_EXPIRED,
        "{} was valid until {} (block time {})",
        asset.id,
        policy.valid_until_ms,
        c.block.timestamp_ms,
    )


def ensure_payer(policy: AssetPolicy, payer: Account, asset_id: str) -> None:
    """Only holders pay merchants (and merchants too where the policy says so)."""
    ensure(
        payer.role == "holder" or (payer.role == "merchant" and policy.merchants_pay),
        Code.PAYER_NOT_ALLOWED,
        "a {} may not pay in {}: its policy lets {} pay",
        payer.role,
        asset_id,
        "holders and merchants" if policy.merchants_pay else "only holders",
    )


def ensure_merchant_allowed(c: TxContext, policy: AssetPolicy, asset_id: str, merchant_id: str) -> None:
    """The merchant's registry entry is in an allowed category and region."""
    if not policy.categories and not policy.regions:
        return
    profile = c.view.get(_MERCHANTS_KEY + merchant_id)
    assert profile is None or isinstance(profile, MerchantProfile)
    ensure(
        profile is not None,
        Code.UNREGISTERED_MERCHANT,
        "{} has no registry entry; {} is spent only at registered merchants",
        merchant_id,
        asset_id,
    )
    assert profile is not None
    ensure(
        not policy.categories or profile.category in policy.categories,
        Code.WRONG_CATEGORY,
        "{} is not spent at category {} ({})",
        asset_id,
        profile.category,
        merchant_id,
    )
    ensure(
        not policy.regions
        or profile.region in policy.regions  # (the common case, without the loop below)
        or any(region_within(profile.region, r) for r in policy.regions),
        Code.WRONG_REGION,
        "{} is spent in {} only, not in {} ({})",
        asset_id,
        ", ".join(policy.regions),
        profile.region,
        merchant_id,
    )


def check_payment(c: TxContext, asset: Asset, payer_id: str, merchant_id: str) -> None:
    """A payment to a merchant in a policy asset: who pays, when, where."""
    policy = policy_of(asset)
    if policy is None:
        return
    payer = c.signer if payer_id == c.signer.id else c.view.read(ACCOUNTS, payer_id)
    assert payer is not None, "a payment's payer has an account"
    ensure_payer(policy, payer, asset.id)
    ensure_not_expired(c, asset, policy)
    ensure_merchant_allowed(c, policy, asset.id, merchant_id)


def check_transfer(c: TxContext, asset: Asset, sender: Account, receiver: Account) -> None:
    """Under a policy, transfers go between holders only (a merchant's would be a cashing channel)."""
    policy = policy_of(asset)
    if policy is None:
        return
    ensure_not_expired(c, asset, policy)
    for party in (sender, receiver):
        ensure(
            party.role == "holder",
            Code.PAYER_NOT_ALLOWED,
            "{} moves between holders only; {} is a {}",
            asset.id,
            party.id,
            party.role,
        )


def count_received(c: TxContext, asset: Asset, account: Account, amount_minor: int) -> None:
    """Value issued or sold to a holder: within its monthly cap; it adds to the face value it received."""
    policy = policy_of(asset)
    if policy is None:
        return
    ensure_not_expired(c, asset, policy)
    if account.role != "holder" or account.id == policy.budget_account:
        return
    if not policy.monthly_cap_minor and not policy.refund_pct:
        return
    month = chain_month(c.block.timestamp_ms, council_params(c.view).utc_offset_min)
    use = c.view.read(HOLDER_USE, account.id, asset.id) or HolderUse(month=month, month_in_minor=0, face_minor=0)
    month_in = (use.month_in_minor if use.month == month else 0) + amount_minor
    cap = policy.monthly_cap_minor
    ensure(
        not cap or month_in <= cap,
        Code.OVER_MONTHLY_CAP,
        "{} would receive {} {} this month; the cap is {}",
        account.id,
        month_in,
        asset.id,
        cap,
    )
    c.view.put(
        HOLDER_USE.key(account.id, asset.id),
        HolderUse(month=month, month_in_minor=month_in, face_minor=use.face_minor + amount_minor),
    )


def check_holder_cap(c: TxContext, policy: AssetPolicy, account_id: str, asset_id: str, balance_after: int) -> None:
    """A credit that took an account past the policy's holder cap: refused if the account is a holder
    (merchants and the budget account are not held to it)."""
    if account_id == policy.budget_account:
        return
    account = c.view.read(ACCOUNTS, account_id)
    assert account is not None
    ensure(
        account.role != "holder" or balance_after <= policy.holder_cap_minor,
        Code.OVER_HOLDER_CAP,
        "{} may hold at most {} {}",
        account_id,
        policy.holder_cap_minor,
        asset_id,
    )


# --- the voucher-cashing guard --------------------------------------------------


def merchant_use(c: TxContext, policy: AssetPolicy, merchant_id: str, asset_id: str) -> MerchantUse:
    """The merchant's record for this month (a new month starts from zero, keeping the last one's redemptions)."""
    params = c.view.get(COUNCIL_KEY)
    assert isinstance(params, Params)
    month = chain_month(c.block.timestamp_ms, params.utc_offset_min)
    use = c.view.read(MERCHANT_USE, merchant_id, asset_id)
    if use is not None and use.month == month:
        return use
    last = use.cashed_minor if use is not None and use.month == month - 1 else 0
    usual = usual_volume(c, last, merchant_id, asset_id)
    return MerchantUse(month=month, cashed_minor=0, last_month_cashed_minor=last, usual_minor=usual)


def usual_volume(c: TxContext, last_month_minor: int, merchant_id: str, asset_id: str) -> int:
    """What a merchant usually redeems a month: the issuer's figure (from its registered size) or last
    month's redemptions, whichever is larger (0: no basis yet, so never flagged, only capped). Fixed as a
    month begins, or when the issuer sets the merchant's limits."""
    limit = c.view.read(MERCHANT_LIMITS, merchant_id, asset_id)
    return max(limit.usual_monthly_minor if limit is not None else 0, last_month_minor)


def refresh_usual(c: TxContext, asset: Asset, merchant_id: str) -> None:
    """After the issuer set a merchant's limits: this month's usual volume follows them."""
    use = c.view.read(MERCHANT_USE, merchant_id, asset.id)
    if policy_of(asset) is None or use is None:
        return
    usual = usual_volume(c, use.last_month_cashed_minor, merchant_id, asset.id)
    c.view.put(MERCHANT_USE.key(merchant_id, asset.id), msgspec.structs.replace(use, usual_minor=usual))


def cash_out_cap(c: TxContext, policy: AssetPolicy, merchant_id: str, asset_id: str) -> int:
    limit = c.view.read(MERCHANT_LIMITS, merchant_id, asset_id)
    own = limit.cash_out_monthly_minor if limit is not None else 0
    return own or policy.merchant_cash_out_cap_minor


def count_cash_out(c: TxContext, asset: Asset, account: Account, amount_minor: int) -> None:
    """The voucher-cashing guard on a merchant's redemption (cash-out) of a policy asset: within its
    monthly cap, and flagged when the month's redemptions pass the policy's multiple of its usual volume."""
    policy = policy_of(asset)
    if policy is None or account.role != "merchant":
        return
    cap = cash_out_cap(c, policy, account.id, asset.id)
    if not cap and not policy.flag_multiple:
        return
    use = merchant_use(c, policy, account.id, asset.id)
    cashed = use.cashed_minor + amount_minor
    ensure(
        not cap or cashed <= cap,
        Code.OVER_CASH_OUT_CAP,
        "{} would cash out {} {} this month; its cap is {}",
        account.id,
        cashed,
        asset.id,
        cap,
    )
    usual = use.usual_minor
    flag = policy.flag_multiple > 0 and not use.flagged and usual > 0 and cashed > policy.flag_multiple * usual
    c.view.put(
        MERCHANT_USE.key(account.id, asset.id),
        msgspec.structs.replace(use, cashed_minor=cashed, flagged=use.flagged or flag),
    )
    if flag:
        c.view.put(
            FLAGS.key(asset.id, account.id),
            MerchantFlag(
                merchant=account.id,
                asset=asset.id,
                month=use.month,
                redeemed_minor=cashed,
                usual_minor=usual,
                multiple=policy.flag_multiple,
                height=c.block.height,
                txid=c.txid,
            ),
        )
        c.named.append(asset.issuer)  # the issuer's history shows the redemption that flagged its merchant


def cash_out_fee(asset: Asset, account_id: str, amount_minor: int) -> int:
    """The issuer's fee on a cash-out (rounded down; none on the issuer's own)."""
    policy = policy_of(asset)
    if policy is None or account_id == asset.issuer:
        return 0
    return amount_minor * policy.cash_out_fee_bp // BASIS_POINTS


def refund_threshold_pct(policy: AssetPolicy, face_minor: int) -> int:
    """The share of its face value a holder must have spent to take back the remainder."""
    return policy.small_refund_pct if face_minor <= policy.small_face_minor else policy.refund_pct
