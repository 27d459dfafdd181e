"""How state records are stored: a msgpack array of their fields, and older rows (maps) still read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from tally.core.tables import (
    ACCOUNTS,
    ASSETS,
    BALANCES,
    BANK_FILES,
    CASHBACK_USE,
    CASHBACKS,
    COUPON_USES,
    COUPONS,
    DAILY_OUT,
    EXCHANGES,
    EXPIRED,
    FLAGS,
    FREEZES,
    HOLDER_USE,
    INCENTIVES,
    LIMITS,
    LOT_CHUNKS,
    LOT_SCHEDULE,
    LOTS,
    MERCHANT_LIMITS,
    MERCHANT_USE,
    MERCHANTS,
    OBLIGATIONS,
    OWNED_COUPONS,
    PARAMS,
    PAY_CODES,
    PAYMENTS,
    PAYOUTS,
    PROPOSALS,
    PURCHASES,
    RATE_BOUNDS,
    RATES,
    RECOVERIES,
    REFS,
    SETTLEMENT,
    TABLES,
    VALIDATOR_SETS,
    WINDOW_PAYOUTS,
    WINDOWS,
    Table,
    decode_value,
    encode_value,
)
from tally.core.types import (
    Account,
    AccountLimits,
    Asset,
    AssetPolicy,
    BankFile,
    Cashback,
    Coupon,
    CouponUse,
    DailyOut,
    DefaultLimits,
    ExchangeResult,
    ExpiredLot,
    ExpiredLots,
    Freeze,
    FxEntry,
    HolderLots,
    HolderUse,
    IncentiveRule,
    Incentives,
    Lot,
    LotBucket,
    LotChunk,
    LotSchedule,
    MerchantFlag,
    MerchantLimit,
    MerchantProfile,
    MerchantUse,
    Obligation,
    OwnedCoupon,
    PairPosition,
    Params,
    PayCode,
    Payment,
    Payout,
    Proposal,
    Purchase,
    Rate,
    RateBounds,
    Ratio,
    Recovery,
    RefUse,
    Roaming,
    SetPolicy,
    SetQuota,
    Settlement,
    SettlementMove,
    StateValue,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
    Window,
)
from tally.store import open_store

TXID = "ab" * 32
RECORDS: list[tuple[Table[object], StateValue]] = [
    (ACCOUNTS, Account(id="alice", role="holder", public_key="01" * 32, member="bank", seq=7)),
    (ACCOUNTS, Account(id="bob", role="holder", public_key="02" * 32, member="bank", seq=1, frozen=True)),
    (ACCOUNTS, Account(id="eve", role="merchant", public_key="03" * 32, member="bank", seq=0, limited_assets=2)),
    (
        ASSETS,
        Asset(
            id="PTS",
            name="Points",
            kind="points",
            decimals=0,
            issuer="bank",
            transferable=True,
            cash_out="none",
            status="active",
            issued_minor=10**12,
            burned_minor=3,
        ),
    ),
    (
        ASSETS,
        Asset(
            id="GIFT",
            name="Gift",
            kind="voucher",
            decimals=2,
            issuer="bank",
            transferable=False,
            cash_out="merchants",
            status="proposed",
            issued_minor=0,
            burned_minor=0,
            quota_minor=500,
        ),
    ),
    (
        ASSETS,
        Asset(
            id="CITY-V",
            name="City voucher",
            kind="voucher",
            decimals=0,
            issuer="city",
            transferable=False,
            cash_out="merchants",
            status="active",
            issued_minor=7,
            burned_minor=0,
            quota_minor=0,
            policy=AssetPolicy(categories=["5812"], regions=["KR-11"], holder_cap_minor=500),  # nested: a map
        ),
    ),
    (BALANCES, 2**53 - 1),
    (
        PAYMENTS,
        Payment(merchant="cafe", payment_id="p-1", payer="alice", asset="PTS", amount_minor=5, refunded_minor=0),
    ),
    (
        PAYMENTS,
        Payment(
            merchant="cafe", payment_id="p-2", payer="alice", asset="PTS", amount_minor=5, refunded_minor=2, txid=TXID
        ),
    ),
    (PAYOUTS, Payout(txid=TXID, account="cafe", asset="PTS", amount_minor=9, payout_ref="iban-1", height=4)),
    (PAYOUTS, Payout(txid=TXID, account="cafe", asset="V", amount_minor=9, payout_ref="i", height=4, fee_minor=1)),
    (REFS, RefUse(txid=TXID, height=3)),
    (
        PAY_CODES,
        PayCode(code="c" * 20, holder="alice", asset="PTS", limit_minor=50, expires_ms=1_000, opened_txid=TXID),
    ),
    (
        PARAMS,
        Params(
            council=["bank-a", "bank-b"],
            threshold=2,
            proposal_ttl_ms=60_000,
            recovery_delay_ms=0,
            utc_offset_min=-300,
            default_limits=[DefaultLimits(role="holder", asset="PTS", daily_out_minor=7)],
        ),
    ),
    (
        PROPOSALS,
        Proposal(
            id="q-1",
            action=SetQuota(asset="PTS", quota_minor=10),
            proposer="bank-a",
            votes=["bank-a", "bank-b"],
            opened_height=3,
            expires_ms=9_000,
            status="executed",
            closed_height=4,
            closed_txid=TXID,
            result_code="ok",
        ),
    ),
    (FREEZES, Freeze(reason="court_order", by="fsc", height=5, txid=TXID)),
    (LIMITS, AccountLimits(max_payment_minor=1, daily_out_minor=0, balance_cap_minor=2**53 - 1, set_by="bank-a")),
    (DAILY_OUT, DailyOut(day=20_833, out_minor=12)),
    (RECOVERIES, Recovery(new_public_key="ab" * 32, member="bank-a", started_height=2, completes_ms=5, txid=TXID)),
    (
        MERCHANTS,
        MerchantProfile("5814", "KR-11", 37_566_500, -126_978_000, "120-81-47521", ["PTS", "GIFT"], "bank-a", 12),
    ),
    (MERCHANTS, MerchantProfile("5411", "KR-26", 0, 0, "1", [], "bank-b", 3)),
    (HOLDER_USE, HolderUse(month=683, month_in_minor=5, face_minor=2**53 - 1)),
    (MERCHANT_USE, MerchantUse(month=683, cashed_minor=9, last_month_cashed_minor=3, usual_minor=3)),
    (MERCHANT_USE, MerchantUse(684, 9, 2, 500, flagged=True)),
    (MERCHANT_LIMITS, MerchantLimit(cash_out_monthly_minor=10, usual_monthly_minor=0, set_by="city", height=9)),
    (FLAGS, MerchantFlag("cafe", "CITY-V", 683, 900, 100, 3, 12, TXID)),
    (LOTS, HolderLots([Lot(1_800_086_400_000, 500), Lot(1_800_172_800_000, 2**53 - 1)])),
    (EXPIRED, ExpiredLots([ExpiredLot(1_800_086_400_000, 7, 12, "issuer"), ExpiredLot(9, 1, 13, "burn")])),
    (LOT_SCHEDULE, LotSchedule([LotBucket(1_800_086_400_000, "CITY-V", 3, 128, 1), LotBucket(2, "B", 1, 1, 0)])),
    (LOT_CHUNKS, LotChunk(["alice", "bob"])),
    (
        PAYMENTS,
        Payment(
            "cafe", "p-3", "alice", "CITY-V", 9, 0, TXID, lots=[Lot(1_800_086_400_000, 4), Lot(1_800_172_800_000, 5)]
        ),
    ),
    (
        INCENTIVES,
        Incentives([IncentiveRule("a", 1, "promo"), IncentiveRule("winter", 500, "b", ["5814"], ["KR-11"], 1, 2, 3)]),
    ),
    (CASHBACKS, Cashback("alice", "PTS", "winter", 250, 83, "promo", TXID)),
    (CASHBACK_USE, 1_000),
    (COUPONS, Coupon("americano", "bank", "One Americano", "PTS", 4_000, 0, 500, 9, ["cafe", "shop"], 3)),
    (OWNED_COUPONS, OwnedCoupon("americano", 4)),
    (OWNED_COUPONS, OwnedCoupon("americano", 4, TXID, "cafe", 5)),
    (COUPON_USES, CouponUse("americano", "alice", 5, TXID)),
    (PURCHASES, Purchase(TXID, "city", "alice", "LOCAL", 100_000, 90_000, 10_000, "city-budget", "KB 1", 4)),
    (
        PROPOSALS,
        Proposal(
            id="policy:CITY-V:1",
            action=SetPolicy(asset="CITY-V", transferable=False, cash_out="none", policy=AssetPolicy(regions=["KR"])),
            proposer="city",
            votes=["city"],
            opened_height=3,
            expires_ms=9_000,
            status="open",
        ),
    ),
    (
        VALIDATOR_SETS,
        ValidatorSchedule(
            sets=[
                ValidatorSet(from_height=1, validators=[Validator(id="v-1", public_key="cd" * 32)]),
                ValidatorSet(
                    from_height=40,
                    validators=[Validator(id="v-2", public_key="ef" * 32, api_url="http://127.0.0.1:8751")],
                    scheduled_height=9,
                ),
            ]
        ),
    ),
    (RATE_BOUNDS, RateBounds(currency="KRW", min_rate=Ratio(1, 10), max_rate=Ratio(100, 1), height=4)),
    (RATES, Rate("KPT", "KRW", Ratio(48, 5), "float", 250, "kr-bank", 5, "aa" * 32)),
    (SETTLEMENT, Settlement("USD", 60, "SET", [FxEntry("KRW", 1, 14)], 7, 0, 6)),
    (
        WINDOWS,
        Window(
            3,
            181,
            240,
            "USD",
            2,
            835,
            [PairPosition("kr-bank", "us-bank", 835)],
            "settled",
            [SettlementMove("kr-bank", "us-bank", 835)],
            241,
            "bb" * 32,
        ),
    ),
    (OBLIGATIONS, Obligation("cc" * 32, "roaming", "kr-bank", "us-bank", 150, 190)),
    (
        EXCHANGES,
        ExchangeResult("dd" * 32, "alice", "KPT", 1000, "UPT", 456, 11, 445, 685, "12/7", Ratio(48, 5), Ratio(3, 2), 9),
    ),
    (WINDOW_PAYOUTS, 3_000),
    (BANK_FILES, BankFile(3, "kr-bank", "pain.001", "kr-bank-w3-pain.001.xml", "ee" * 32, 2, 5_000, 245, "ff" * 32)),
    (
        PAYMENTS,
        Payment(
            merchant="hotel",
            payment_id="room-1",
            payer="alice",
            asset="UPT",
            amount_minor=100,
            refunded_minor=30,
            txid="12" * 32,
            lots=[],
            roaming=Roaming("KPT", 219, "kr-bank", 150, 65, "6/35"),
        ),
    ),
]


def test_every_table_has_a_record_here() -> None:
    assert {table.prefix for table, _ in RECORDS} == set(TABLES)


@pytest.mark.parametrize(("table", "record"), RECORDS, ids=lambda x: getattr(x, "prefix", type(x).__name__))
def test_a_record_is_stored_as_its_fields_without_their_names(table: Table[object], record: StateValue) -> None:
    stored = encode_value(record)
    assert table.decode(stored) == record
    if isinstance(record, int):
        assert stored == msgspec.msgpack.encode(record)
        return
    values = msgspec.msgpack.decode(stored)
    assert isinstance(values, list)
    fields = msgspec.structs.fields(record)
    row = [v for v, f in zip(msgspec.structs.astuple(record), fields, strict=True) if v is not msgspec.UNSET]
    while (
        record.__struct_config__.omit_defaults
        and not fields[len(row) - 1].required
        and row[-1] == fields[len(row) - 1].default
    ):
        row.pop()  # an account leaves out its trailing defaults (not frozen, no limits of its own)
    assert values == msgspec.to_builtins(row)
    assert len(stored) < len(msgspec.msgpack.encode(record))
    assert not any(name.encode() in stored for name in record.__struct_fields__)


@pytest.mark.parametrize(("table", "record"), RECORDS, ids=lambda x: getattr(x, "prefix", type(x).__name__))
def test_a_row_stored_as_a_map_by_an_older_version_reads_the_same(table: Table[object], record: StateValue) -> None:
    assert table.decode(msgspec.msgpack.encode(record)) == record


def test_a_payment_made_before_protocol_3_is_stored_without_its_txid() -> None:
    old = next(r for _, r in RECORDS if isinstance(r, Payment) and r.txid is msgspec.UNSET)
    assert (
        len(msgspec.msgpack.decode(encode_value(old))) == len(Payment.__struct_fields__) - 3
    )  # no txid, lots, roaming


def test_a_row_of_the_wrong_shape_is_refused() -> None:
    account = RECORDS[0][1]
    assert isinstance(account, Account)
    with pytest.raises(msgspec.ValidationError):
        ACCOUNTS.decode(msgspec.msgpack.encode(["alice", "holder", "01" * 32, "bank"]))  # a field short
    with pytest.raises(msgspec.ValidationError):
        ACCOUNTS.decode(msgspec.msgpack.encode(["alice", "emperor", "01" * 32, "bank", 7]))  # no such role
    with pytest.raises(msgspec.ValidationError):
        BALANCES.decode(encode_value(account))


def _key(table: Table[object], i: int) -> str:
    return table.key(*(f"k{i}" for _ in table.fields))


def test_a_store_reads_old_and_new_rows_side_by_side(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db")
    store.put_state({_key(table, i): record for i, (table, record) in enumerate(RECORDS)})
    store.close()
    db = sqlite3.connect(tmp_path / "ledger.db")
    for i in (0, 4):  # an account and a payment as an older version wrote them
        table, record = RECORDS[i]
        db.execute("UPDATE state SET value = ? WHERE key = ?", (msgspec.msgpack.encode(record), _key(table, i)))
    db.commit()
    db.close()
    store = open_store(tmp_path / "ledger.db")
    assert store.get_states([_key(table, i) for i, (table, _) in enumerate(RECORDS)]) == {
        _key(table, i): record for i, (table, record) in enumerate(RECORDS)
    }
    for i, (table, record) in enumerate(RECORDS):
        assert decode_value(_key(table, i), encode_value(record)) == record
    store.close()


def test_a_record_unset_before_a_set_field_is_stored_as_a_map_and_reads_the_same() -> None:
    """An asset with incentive rules but no policy (protocol 10): the row cannot be a trailing-cut array."""
    plain = next(r for _, r in RECORDS if isinstance(r, Asset) and r.policy is msgspec.UNSET)
    with_rules = msgspec.structs.replace(plain, incentive_rules=2)
    stored = encode_value(with_rules)
    assert isinstance(msgspec.msgpack.decode(stored), dict)
    assert decode_value(ASSETS.key(plain.id), stored) == with_rules
