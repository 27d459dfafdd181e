"""Money rules over random streams of valid and invalid transactions.

After every block: per-asset conservation (sum of balances == issued - burned)
and no negative balance (Chain.block asserts both), no transaction applied
twice, no payment code charged twice, every transaction whose envelope held consumed exactly one seq of its
signer (applied or refused by a rule, protocol 3), and a fresh re-execution of
the same blocks gives the same digests. The streams also freeze and unfreeze
accounts and assets (regulator `fsc`), change limits, and rotate keys: value
never leaves an account or asset that stays frozen through a block.

Protocol 11: the assets carry rates at awkward rationals in three reference
currencies (the council's FX turns won and euro cents into US cents), and the
streams exchange between assets, pay merchants roaming, refund roaming
payments in part and in full, move rates within and outside the council's
bounds (which the council moves too) and settle closed windows. Each block is
executed a second time from the state it started on (the same digest), which
gives each transaction's own balance changes; against them, after every block:
an exchange's value is accounted for to the last fraction (what it paid out,
its fee and its remainder, at the rates it recorded and the council's FX) and
moved exactly what it says; a roaming payment gave the merchant exactly its
amount for the least amount of the holder's asset that carries it; refunds
return the cumulative share, the whole once refunded in full, and a fully
refunded payment's obligations net to zero; every window's pairs are its
obligation records netted per pair, its members' net positions sum to zero, and
a window settled on the ledger paid each net position exactly in the
settlement asset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import Chain, key, setup_chain
from tally.core.block import genesis_digest, tx_signing_bytes, txid_of
from tally.core.chain import Batch, apply_block, signature_checks
from tally.core.crypto import KeyPair, verify
from tally.core.errors import ENVELOPE_CODES
from tally.core.execute import Entry, Movement
from tally.core.genesis import genesis_memory_state
from tally.core.ops import SignedTx, tx_type
from tally.core.ops.codes import CODE_TTL_MS, Charge
from tally.core.ops.controls import UnfreezeTx
from tally.core.ops.council import Propose
from tally.core.ops.exchange import ExchangeAssets, PayRoaming, SetRate
from tally.core.ops.keys import RotateKey
from tally.core.ops.payments import Refund
from tally.core.ops.settlement import SettleWindow
from tally.core.settlement import net_positions, window_of
from tally.core.state import MemoryState
from tally.core.tables import (
    ACCOUNTS,
    BALANCES,
    CONFIG,
    COUNCIL_PARAMS,
    EXCHANGES,
    FREEZES,
    LIMITS,
    OBLIGATIONS,
    PARAMS,
    PAYMENTS,
    PROPOSALS,
    RATES,
    SCHEDULE,
    SETTLEMENT,
    VALIDATOR_SETS,
    WINDOWS,
    window_key,
)
from tally.core.types import (
    AdmitMember,
    FxRate,
    Obligation,
    Payment,
    Rate,
    Ratio,
    Roaming,
    SetRateBounds,
    SetSettlement,
    Settlement,
    TxResult,
    Window,
)

HOLDERS = ["alice", "bob"]
MERCHANTS = ["cafe", "shop"]
ASSETS = ["MILES", "GIFT", "CASH"]
PEOPLE = HOLDERS + MERCHANTS

# Protocol 11: bank-a's three assets and bank-b's STARS carry rates; bank-b's SET settles in US cents and has no
# rate (until a stream's council gives it bounds: UNPRICED); NOPE does not exist.
PRICED = [*ASSETS, "STARS"]
ISSUER = {"MILES": "bank-a", "GIFT": "bank-a", "CASH": "bank-a", "STARS": "bank-b", "SET": "bank-b"}
RATE_AT_START = {  # one minor unit in minor units of the reference currency: awkward rationals
    "MILES": ("KRW", Fraction(48, 5)),
    "GIFT": ("USD", Fraction(7, 3)),
    "CASH": ("EUR", Fraction(1, 7)),
    "STARS": ("KRW", Fraction(13, 4)),
}
UNPRICED = ("USD", Fraction(1))  # what SET's rate would be, in cents, were the council to give it bounds
FX = {"KRW": Fraction(3, 41), "EUR": Fraction(27, 25)}  # the council's: one won, one euro cent in US cents
WINDOW_BLOCKS = 2
BOUND = Fraction(3)  # the council's bounds at the start: a third of the rate up to three times it
RATE_STEPS = [Fraction(1), Fraction(2, 3), Fraction(5, 4), Fraction(1, 3), Fraction(3), Fraction(4), Fraction(1, 5)]

PAIRS = [(a, b) for a in PRICED for b in PRICED if a != b]  # half of them between bank-a's and bank-b's assets
ODD_PAIRS = [("MILES", "MILES"), ("STARS", "SET"), ("SET", "GIFT"), ("NOPE", "CASH"), ("GIFT", "NOPE")]
asset_pair = st.sampled_from([*PAIRS * 3, *ODD_PAIRS])  # one in eight refused: same asset, no rate, unknown
exchange_action = st.tuples(
    st.just("exchange"),
    st.sampled_from(["alice"] * 5 + ["bob", "cafe", "bank-a"]),  # a member exchanges nothing: wrong_role
    asset_pair,
    st.integers(1, 400),
    st.sampled_from(["one", *["quote"] * 6, "above", "huge"]),  # the least out it accepts: above the quote, refused
)
roaming_action = st.tuples(
    st.just("pay_roaming"),
    st.sampled_from(["alice"] * 5 + ["bob", "cafe"]),
    st.sampled_from([*MERCHANTS * 4, "bob"]),  # bob is no merchant
    asset_pair,  # what the merchant receives, what the holder pays with
    st.integers(1, 100),
    st.integers(0, 7),  # p0..p5 are the plain payments' ids too
    st.sampled_from([*["quote"] * 5, "below", "plenty"]),  # the most it pays: below the quote, refused
)
fx_action = st.one_of(  # exchanges and roaming payments twice as often as the rest
    exchange_action,
    roaming_action,
    st.tuples(st.just("refund_roaming"), st.integers(0, 15), st.sampled_from(["rest", "rest", "half", "one", "over"])),
    exchange_action,
    roaming_action,
    st.tuples(
        st.just("set_rate"),
        st.sampled_from(["issuer"] * 6 + ["other", "council"]),  # the council (bank-a alone) sets bounds
        st.sampled_from([*PRICED * 2, "SET"]),  # SET has no bounds until the council gives it some
        st.sampled_from(RATE_STEPS),  # times the rate at the start: 4 and 1/5 are outside the first bounds
        # the council's bounds, times the rate at the start: min above max fails the proposal (bad_parameter)
        st.sampled_from([(1 / BOUND, BOUND), (1 / BOUND, Fraction(1)), (Fraction(1), Fraction(1)), (2, 1)]),
        st.sampled_from(["float", "float", "issue"]),
        st.sampled_from([0, 0, 250, 9999]),
        st.sampled_from(["", "", "shop"]),
    ),
    st.tuples(
        st.just("settle"),
        st.sampled_from(["bank-a", "bank-b"] * 3 + ["alice"]),  # a holder settles nothing: wrong_role
        st.integers(0, 9),  # which window: 0..7 one of those closed and waiting, 8 the open one, 9 the one before it
        st.sampled_from(["ledger", "ledger", "ledger", "bank", "ack"]),
    ),
)

action = st.one_of(
    st.tuples(
        st.just("transfer"),
        st.sampled_from(PEOPLE),
        st.sampled_from([*PEOPLE, "ghost"]),
        st.sampled_from(ASSETS),
        st.integers(1, 700),
    ),
    st.tuples(
        st.just("pay"),
        st.sampled_from(PEOPLE),
        st.sampled_from(PEOPLE),
        st.sampled_from([*ASSETS, "NOPE"]),
        st.integers(1, 700),
        st.integers(0, 5),
    ),
    st.tuples(st.just("refund"), st.sampled_from(MERCHANTS), st.integers(0, 5), st.integers(1, 400)),
    st.tuples(st.just("cash_out"), st.sampled_from(PEOPLE), st.sampled_from(ASSETS), st.integers(1, 500)),
    st.tuples(
        st.just("issue"),
        st.sampled_from(["bank-a", "bank-b"]),
        st.sampled_from([*PEOPLE, "bank-a"]),
        st.sampled_from(ASSETS),
        st.integers(1, 500),
    ),
    st.tuples(
        st.just("burn"), st.sampled_from(["bank-a", "bank-b", "alice"]), st.sampled_from(ASSETS), st.integers(1, 300)
    ),
    st.tuples(
        st.just("open_code"),
        st.sampled_from([*HOLDERS, "cafe"]),
        st.integers(0, 1),
        st.sampled_from(ASSETS),
        st.integers(1, 800),
    ),
    st.tuples(
        st.just("charge"),
        st.sampled_from([*MERCHANTS, "bob"]),
        st.integers(0, 1),
        st.integers(1, 300),
        st.integers(0, 5),
    ),
    st.tuples(st.just("wait"), st.integers(1, 2 * CODE_TTL_MS)),
    st.tuples(st.just("replay"), st.integers(0, 10_000)),
    st.tuples(st.just("bad_seq"), st.sampled_from(PEOPLE), st.integers(-3, 3)),
    st.tuples(
        st.sampled_from(["freeze", "unfreeze"]),
        st.sampled_from(["fsc", "bank-a"]),  # bank-a is no regulator: wrong_role
        st.sampled_from([("account", p) for p in PEOPLE] + [("asset", a) for a in ASSETS]),
    ),
    st.tuples(
        st.just("limits"),
        st.sampled_from(["bank-a", "bank-b", "fsc"]),  # bank-b registered no one: not_authorized
        st.sampled_from(PEOPLE),
        st.sampled_from(ASSETS),
        st.integers(0, 300),
        st.integers(0, 900),
        st.integers(0, 3000),
    ),
    st.tuples(st.just("rotate"), st.sampled_from(PEOPLE)),
)

NEW_KEYS: dict[str, KeyPair] = {}  # every key a rotation proposed, by its public key


def governed_chain() -> Chain:
    """setup_chain, and the council (bank-a alone: threshold 1) admits the regulator fsc."""
    c = setup_chain()
    admit = AdmitMember(account="fsc", name="Regulator", public_key=key("fsc").public_key_hex, role="regulator")
    assert c.one(c.signer("bank-a").propose("fsc", admit)).code == "ok"
    return c


def ratio(f: Fraction) -> Ratio:
    return Ratio(f.numerator, f.denominator)


def fx_chain() -> Chain:
    """governed_chain, and protocol 11: bank-b's STARS and settlement token SET, the council's rate bounds and
    settlement in US cents (windows of WINDOW_BLOCKS blocks, FX for won and euro cents), the issuers' rates (fees
    on exchanges into GIFT and STARS) and floats of 20,000, 3,000 STARS for each holder, 1,000,000 SET prefunded
    for each bank."""
    c = governed_chain()
    a, b = c.signer("bank-a"), c.signer("bank-b")
    created = [
        b.create_asset("STARS", "Stars", "points", 0, True, "merchants"),
        b.create_asset("SET", "Settlement token", "emoney", 2, True, "none"),
    ]
    assert [r.code for r in c.block(created)] == ["ok"] * len(created)
    bounds = [
        a.propose(
            f"bounds:{asset}",
            SetRateBounds(asset=asset, currency=currency, min_rate=ratio(rate / BOUND), max_rate=ratio(rate * BOUND)),
        )
        for asset, (currency, rate) in RATE_AT_START.items()
    ]
    fx = [FxRate(currency, ratio(rate)) for currency, rate in FX.items()]
    settlement = a.propose(
        "settlement:1", SetSettlement(currency="USD", window_blocks=WINDOW_BLOCKS, asset="SET", fx=fx)
    )
    fees = {"GIFT": {"fee_bp": 125}, "STARS": {"fee_bp": 250, "fee_account": "shop"}}  # of exchanges into them
    rates = [
        c.signer(ISSUER[asset]).set_rate(asset, ratio(rate), **fees.get(asset, {}))
        for asset, (_, rate) in RATE_AT_START.items()
    ]
    floats = [a.issue(asset, "bank-a", 20_000) for asset in ASSETS] + [
        b.issue("STARS", "bank-b", 20_000),
        b.issue("STARS", "alice", 3_000),
        b.issue("STARS", "bob", 3_000),
        b.issue("SET", "bank-a", 1_000_000),
        b.issue("SET", "bank-b", 1_000_000),
    ]
    setup = [*bounds, settlement, *rates, *floats]
    assert [r.code for r in c.block(setup)] == ["ok"] * len(setup)
    return c


def fx_of(config: Settlement, currency: str) -> Fraction:
    """One minor unit of `currency` in settlement minor units, from the council's configuration."""
    if currency == config.currency:
        return Fraction(1)
    (rate,) = [Fraction(fx.num, fx.den) for fx in config.fx if fx.currency == currency]
    return rate


def unit_of(rate: Rate, config: Settlement) -> Fraction:
    """One minor unit of the rate's asset in settlement minor units."""
    return Fraction(rate.rate.num, rate.rate.den) * fx_of(config, rate.currency)


def quoted_units(c: Chain, *assets: str) -> list[Fraction] | None:
    """What the wallet would quote with as the block is built: each asset's unit at the published rates."""
    config = c.state_read(SETTLEMENT, CONFIG)
    rates = [c.state_read(RATES, a) for a in assets]
    if config is None or any(r is None for r in rates):
        return None
    return [unit_of(r, config) for r in rates if r is not None]


def rows(c: Chain, prefix: str) -> list[object]:
    """The records under a key prefix, in key order."""
    return [v for k, v in sorted(c.state.values.items()) if k.startswith(prefix)]


def carries(paid: int, from_unit: Fraction, needed: Fraction) -> bool:
    """`paid` of an asset worth `from_unit` each carries `needed`: its value, rounded down, covers it."""
    return math.floor(paid * from_unit) >= needed


def build_fx(c: Chain, act: tuple) -> SignedTx | None:  # type: ignore[type-arg]
    """The protocol 11 actions, their least-out and most-paid quoted at the rates as the block is built."""
    kind = act[0]
    if kind == "exchange":
        _, holder, (source, target), amount, least = act
        units, rate = quoted_units(c, source, target), c.state_read(RATES, target)
        out = 1
        if units is not None and rate is not None:
            gross = math.floor(math.floor(amount * units[0]) / units[1])
            out = max(1, gross - gross * rate.fee_bp // 10_000)
        min_out = {"one": 1, "quote": out, "above": out + 1, "huge": 10**9}[least]
        return c.signer(holder).exchange(source, target, amount, min_out)
    if kind == "pay_roaming":
        _, payer, merchant, (asset, pay_asset), amount, n, most = act
        units = quoted_units(c, pay_asset, asset)
        quote = 1_000
        if units is not None:
            needed = amount * units[1]
            quote = max(1, math.ceil(math.ceil(needed) / units[0]))
            assert carries(quote, units[0], needed)
        max_pay = {"quote": quote, "below": max(1, quote - 1), "plenty": quote + 1_000}[most]
        return c.signer(payer).pay_roaming(asset, merchant, amount, f"p{n}", pay_asset, max_pay)
    if kind == "refund_roaming":  # one of the roaming payments made so far: the rest of it, half, one unit, or more
        _, which, part = act
        roaming = [
            p for p in rows(c, PAYMENTS.scan_prefix()) if isinstance(p, Payment) and isinstance(p.roaming, Roaming)
        ]
        if not roaming:
            return c.signer(MERCHANTS[which % 2]).refund(f"p{which % 8}", 1)
        roaming = [p for p in roaming if p.refunded_minor < p.amount_minor] or roaming  # mostly one not refunded yet
        payment = roaming[which % len(roaming)]
        rest = payment.amount_minor - payment.refunded_minor
        amount = {"rest": rest, "half": rest // 2, "one": 1, "over": rest + 1}[part]
        return c.signer(payment.merchant).refund(payment.payment_id, max(1, amount))
    if kind == "set_rate":
        _, who, asset, step, (low, high), source, fee_bp, fee_account = act
        currency, rate = RATE_AT_START.get(asset, UNPRICED)
        if who == "council":  # bank-a alone: the bounds move and the published rate may fall outside them
            bounds = SetRateBounds(
                asset=asset, currency=currency, min_rate=ratio(rate * low), max_rate=ratio(rate * high)
            )
            return c.signer("bank-a").propose(f"bounds:{asset}:{c.signer('bank-a').next_seq}", bounds)
        issuer = ISSUER[asset] if who == "issuer" else {"bank-a": "bank-b", "bank-b": "bank-a"}[ISSUER[asset]]
        return c.signer(issuer).set_rate(
            asset, ratio(rate * step), source=source, fee_bp=fee_bp, fee_account=fee_account
        )
    assert kind == "settle"
    _, member, which, method = act
    config = c.state_read(SETTLEMENT, CONFIG)
    assert config is not None
    now = window_of(config, c.height + 1)
    closed = [w for w in rows(c, WINDOWS.scan_prefix()) if isinstance(w, Window) and w.window < now]
    waiting = [w.window for w in closed if w.status == ("bank" if method == "ack" else "open")]
    if which < 8 and not waiting:
        return None  # no closed window waits: a member has nothing to settle
    window = waiting[-1 - which % len(waiting)] if which < 8 else max(0, now - 1 if which == 9 else now)
    signer = c.signer(member)
    return signer.ack_settlement(window) if method == "ack" else signer.settle_window(window, method=method)


def build(c: Chain, act: tuple, history: list[SignedTx]) -> SignedTx | None:  # type: ignore[type-arg]
    kind = act[0]
    if kind in ("exchange", "pay_roaming", "refund_roaming", "set_rate", "settle"):
        return build_fx(c, act)
    if kind == "transfer":
        return c.signer(act[1]).transfer(act[3], act[2], act[4])
    if kind == "pay":
        return c.signer(act[1]).pay(act[3], act[2], act[4], f"p{act[5]}")
    if kind == "refund":
        return c.signer(act[1]).refund(f"p{act[2]}", act[3])
    if kind == "cash_out":
        return c.signer(act[1]).cash_out(act[2], act[3], "BANK/1")
    if kind == "issue":
        return c.signer(act[1]).issue(act[3], act[2], act[4])
    if kind == "burn":
        return c.signer(act[1]).burn(act[2], act[3])
    if kind == "open_code":
        return c.signer(act[1]).open_code(f"{act[2]:020d}", act[3], act[4])
    if kind == "charge":
        return c.signer(act[1]).charge(f"{act[2]:020d}", act[3], f"p{act[4]}")
    if kind == "wait":  # block time moves on: codes expire
        c.now_ms += act[1]
        return None
    if kind == "replay":  # signed by a key still in force: a replay is refused by seq, not by signature
        replayed = history[act[1] % len(history)] if history else None
        return replayed if replayed is not None and verify(*signature_checks(c.state, [replayed])[0]) else None
    if kind in ("freeze", "unfreeze"):
        subject_kind, subject = act[2]
        if kind == "freeze":
            return c.signer(act[1]).freeze(subject_kind, subject, "court_order")
        return c.signer(act[1]).unfreeze(subject_kind, subject)
    if kind == "limits":
        return c.signer(act[1]).set_limits(*act[2:])
    if kind == "rotate":  # the new key signs from the next block (adopt_rotated_keys)
        new_key = key(f"{act[1]}-{c.height}-{len(history)}-{len(NEW_KEYS)}")
        NEW_KEYS[new_key.public_key_hex] = new_key
        return c.signer(act[1]).rotate_key(new_key.public_key_hex)
    signer = c.signer(act[1])
    saved = signer.next_seq
    signer.next_seq = max(0, saved + act[2])
    signed = signer.transfer("MILES", "alice" if act[1] != "alice" else "bob", 1)
    signer.next_seq = saved
    return signed


def frozen_through(c: Chain, before: dict[str, object], txs: list[SignedTx], results: list[TxResult]) -> None:
    """No balance of a frozen asset changed, and no frozen account's balance fell, unless unfrozen in the block."""
    lifted = {
        (s.tx.subject_kind, s.tx.subject)
        for s, r in zip(txs, results, strict=True)
        if isinstance(s.tx, UnfreezeTx) and r.code == "ok"
    }
    for key_ in [k for k in before if k.startswith(FREEZES.scan_prefix())]:
        kind, subject = FREEZES.key_parts(key_)
        if (kind, subject) in lifted:
            continue
        for bal in {k for k in (*before, *c.state.values) if k.startswith(BALANCES.scan_prefix())}:
            account, asset = BALANCES.key_parts(bal)
            old, new = before.get(bal, 0), c.state.values.get(bal, 0)
            if kind == "asset" and asset == subject:
                assert new == old, f"frozen asset {asset} moved: {bal} {old} -> {new}"
            if kind == "account" and account == subject:
                assert new >= old, f"value left frozen account {account}: {bal} {old} -> {new}"  # type: ignore[operator]


def adopt_rotated_keys(c: Chain, txs: list[SignedTx], results: list[TxResult]) -> None:
    """A rotation that applied: its account signs with the new key from the next block."""
    for signed, result in zip(txs, results, strict=True):
        if isinstance(signed.tx, RotateKey) and result.code == "ok":
            c.signers[signed.tx.signer].key = NEW_KEYS[signed.tx.new_public_key]


@dataclass
class Roamed:
    """A roaming payment that applied, and what its refunds returned so far."""

    payer: str
    asset: str  # the merchant's
    amount_minor: int
    pay_asset: str  # the holder's
    paid_minor: int
    value_minor: int  # the obligation it made
    refunded_minor: int = 0
    back_minor: int = 0  # of paid_minor, returned to the holder
    txids: list[str] = field(default_factory=list)  # the payment's and its refunds'


def changes(movements: tuple[Movement, ...]) -> dict[tuple[str, str], int]:
    return {(account, asset): amount for account, asset, amount, _, _ in movements}


def expect(*moves: tuple[str, str, int]) -> dict[tuple[str, str], int]:
    """The balance changes `moves` add up to: (account, asset, amount), zeros left out."""
    total: dict[tuple[str, str], int] = {}
    for account, asset, amount in moves:
        total[account, asset] = total.get((account, asset), 0) + amount
    return {k: v for k, v in total.items() if v}


def check_obligation(c: Chain, txid: str, kind: str, debtor: str, creditor: str, amount: int) -> None:
    """The obligation a movement between two members' assets makes (none when value stayed with one member)."""
    found = [o for o in rows(c, OBLIGATIONS.scan_prefix()) if isinstance(o, Obligation) and o.txid == txid]
    if debtor == creditor or amount == 0:
        assert found == [], f"{kind} {txid}: an obligation within one member {found}"
    else:
        assert found == [Obligation(txid, kind, debtor, creditor, amount, c.height)], (kind, found, amount)


def check_exchange(c: Chain, tx: ExchangeAssets, txid: str, rates: dict[str, Rate], moved: dict) -> None:  # type: ignore[type-arg]
    """Value accounted for exactly at the recorded rates and the council's FX, and moved as recorded."""
    record, config = c.state_read(EXCHANGES, txid), c.state_read(SETTLEMENT, CONFIG)
    assert record is not None and config is not None
    assert (record.holder, record.from_asset, record.from_minor, record.to_asset) == (
        tx.signer,
        tx.from_asset,
        tx.amount_minor,
        tx.to_asset,
    )
    source, target = rates[tx.from_asset], rates[tx.to_asset]  # in force when it ran
    assert (record.from_rate, record.to_rate) == (source.rate, target.rate)
    from_unit = Fraction(record.from_rate.num, record.from_rate.den) * fx_of(config, source.currency)
    to_unit = Fraction(record.to_rate.num, record.to_rate.den) * fx_of(config, target.currency)
    value, remainder = record.from_minor * from_unit, Fraction(record.remainder)
    assert value == (record.out_minor + record.fee_minor) * to_unit + remainder, (record, value)
    assert record.value_minor == math.floor(value), (record, value)
    assert 0 <= remainder < to_unit + 1, (record, value)
    assert record.gross_minor == record.out_minor + record.fee_minor == math.floor(record.value_minor / to_unit)
    assert record.fee_minor == record.gross_minor * target.fee_bp // 10_000
    assert record.out_minor >= max(1, tx.min_out_minor)
    issuer = ISSUER[tx.to_asset]
    fee_paid = record.fee_minor if target.fee_account != issuer else 0
    paid_out = (issuer, tx.to_asset, -(record.out_minor + fee_paid)) if target.source == "float" else ("", "", 0)
    assert moved == expect(
        (tx.signer, tx.from_asset, -tx.amount_minor),
        (ISSUER[tx.from_asset], tx.from_asset, tx.amount_minor),
        (tx.signer, tx.to_asset, record.out_minor),
        (target.fee_account, tx.to_asset, fee_paid),
        paid_out,
    ), (record, moved)
    check_obligation(c, txid, "exchange", ISSUER[tx.from_asset], issuer, record.value_minor)


def check_roaming(c: Chain, tx: PayRoaming, txid: str, rates: dict[str, Rate], moved: dict) -> Roamed:  # type: ignore[type-arg]
    """The merchant got exactly its amount; the holder paid the least amount of its asset that carries it."""
    payment, config = c.state_read(PAYMENTS, tx.merchant, tx.payment_id), c.state_read(SETTLEMENT, CONFIG)
    assert payment is not None and isinstance(payment.roaming, Roaming) and config is not None
    roaming = payment.roaming
    assert (payment.txid, payment.payer, payment.asset, payment.amount_minor) == (
        txid,
        tx.signer,
        tx.asset,
        tx.amount_minor,
    )
    assert (roaming.asset, roaming.issuer) == (tx.pay_asset, ISSUER[tx.pay_asset])
    source, target = rates[tx.pay_asset], rates[tx.asset]
    from_unit, needed = unit_of(source, config), tx.amount_minor * unit_of(target, config)
    paid = roaming.amount_minor
    assert carries(paid, from_unit, needed) and (paid == 1 or not carries(paid - 1, from_unit, needed)), roaming
    assert paid <= tx.max_pay_minor
    assert roaming.value_minor == math.floor(paid * from_unit)
    assert Fraction(roaming.remainder) == paid * from_unit - needed
    issuer = ISSUER[tx.asset]
    assert moved == expect(
        (tx.signer, tx.pay_asset, -paid),
        (ISSUER[tx.pay_asset], tx.pay_asset, paid),
        (tx.merchant, tx.asset, tx.amount_minor),
        (issuer, tx.asset, -tx.amount_minor if target.source == "float" else 0),
    ), (roaming, moved)
    check_obligation(c, txid, "roaming", ISSUER[tx.pay_asset], issuer, roaming.value_minor)
    return Roamed(tx.signer, tx.asset, tx.amount_minor, tx.pay_asset, paid, roaming.value_minor, txids=[txid])


def check_roaming_refund(c: Chain, tx: Refund, txid: str, roamed: Roamed, moved: dict) -> None:  # type: ignore[type-arg]
    """A refund goes back at the payment's rate: the cumulative share of what the holder paid (rounded down), and
    the obligation reverses by the cumulative share of its value."""
    before, roamed.refunded_minor = roamed.refunded_minor, roamed.refunded_minor + tx.amount_minor
    back = roamed.paid_minor * roamed.refunded_minor // roamed.amount_minor - roamed.back_minor
    value_back = (
        roamed.value_minor * roamed.refunded_minor // roamed.amount_minor
        - roamed.value_minor * before // roamed.amount_minor
    )
    check_obligation(c, txid, "refund", ISSUER[roamed.asset], ISSUER[roamed.pay_asset], value_back)
    assert moved == expect(
        (tx.signer, roamed.asset, -tx.amount_minor),
        (ISSUER[roamed.asset], roamed.asset, tx.amount_minor),
        (ISSUER[roamed.pay_asset], roamed.pay_asset, -back),
        (roamed.payer, roamed.pay_asset, back),
    ), (roamed, moved)
    roamed.back_minor += back
    roamed.txids.append(txid)


def check_refunded_in_full(c: Chain, roamed: dict[tuple[str, str], Roamed]) -> None:
    """A roaming payment refunded in full: the holder has back what it paid, and its obligations net to zero."""
    by_txid = {o.txid: o for o in rows(c, OBLIGATIONS.scan_prefix()) if isinstance(o, Obligation)}
    for (merchant, payment_id), r in roamed.items():
        payment = c.state_read(PAYMENTS, merchant, payment_id)
        assert payment is not None and isinstance(payment.roaming, Roaming)
        assert (payment.refunded_minor, payment.roaming.refunded_minor) == (r.refunded_minor, r.back_minor)
        if r.refunded_minor < r.amount_minor:
            continue
        event("a roaming payment refunded in full")
        assert r.back_minor == r.paid_minor, r
        debtor, creditor = ISSUER[r.pay_asset], ISSUER[r.asset]
        owed = 0
        for o in (by_txid[t] for t in r.txids if t in by_txid):
            assert {o.debtor, o.creditor} == {debtor, creditor}, (o, r)
            owed += o.amount_minor if o.debtor == debtor else -o.amount_minor
        assert owed == 0, (r, [by_txid.get(t) for t in r.txids])


def check_windows(c: Chain) -> None:
    """Each window's pairs are its obligation records netted per pair; net positions sum to zero; moves settle."""
    windows = rows(c, WINDOWS.scan_prefix())
    for window in windows:
        assert hasattr(window, "pairs")
        records = [o for o in rows(c, OBLIGATIONS.scan_prefix(window_key(window.window))) if isinstance(o, Obligation)]
        assert all(window.first_height <= o.height <= window.last_height for o in records), (window, records)
        assert (window.obligations, window.gross_minor) == (len(records), sum(o.amount_minor for o in records))
        owed: dict[tuple[str, str], int] = {}
        for o in records:
            owed[o.debtor, o.creditor] = owed.get((o.debtor, o.creditor), 0) + o.amount_minor
        netted = {(d, cr, a - owed.get((cr, d), 0)) for (d, cr), a in owed.items() if a > owed.get((cr, d), 0)}
        assert sorted((p.debtor, p.creditor, p.amount_minor) for p in window.pairs) == sorted(netted), window
        positions = net_positions(window.pairs)
        assert sum(positions.values()) == 0
        if window.status != "open":
            left = dict(positions)
            for m in window.moves:
                left[m.debtor] += m.amount_minor
                left[m.creditor] -= m.amount_minor
            assert set(left.values()) <= {0}, window


def check_settled(c: Chain, tx: SettleWindow, moved: dict) -> None:  # type: ignore[type-arg]
    """A window settled on the ledger paid each member's net position exactly, in the settlement asset."""
    window, config = c.state_read(WINDOWS, window_key(tx.window)), c.state_read(SETTLEMENT, CONFIG)
    assert window is not None and config is not None
    positions = net_positions(window.pairs)
    if tx.method == "ledger":
        assert window.status == "settled"
        assert moved == {(member, config.asset): amount for member, amount in positions.items()}, (window, moved)
        event(f"window settled on the ledger{' with moves' if moved else ''}")
    else:
        assert window.status == ("bank" if positions else "settled") and moved == {}
        event("window settled through the banks")


def published_rates(c: Chain) -> dict[str, Rate]:
    return {a: r for a in (*PRICED, "SET") if (r := c.state_read(RATES, a)) is not None}


def check_fx(
    c: Chain,
    txs: list[SignedTx],
    results: list[TxResult],
    movements: list[tuple[Movement, ...]],
    roamed: dict[tuple[str, str], Roamed],
    rates: dict[str, Rate],
) -> None:
    """The protocol 11 transactions of a block, each against its own balance changes, in order; `rates` are
    those the block started with, and follow its set_rate transactions."""
    for signed, result, moved in zip(txs, results, movements, strict=True):
        tx = signed.tx
        refunding = roamed.get((tx.signer, tx.payment_id)) if isinstance(tx, Refund) else None
        if refunding is not None:  # --hypothesis-show-statistics: how refunds of roaming payments fare
            whole = refunding.refunded_minor + tx.amount_minor == refunding.amount_minor  # type: ignore[union-attr]
            event(f"refund of a roaming payment{' (the rest)' if whole else ''}: {result.code}")
        if result.code != "ok":
            assert moved == ()
            continue
        if isinstance(tx, SetRate):
            currency, fee_account = RATE_AT_START.get(tx.asset, UNPRICED)[0], tx.fee_account or ISSUER[tx.asset]
            rates[tx.asset] = Rate(
                tx.asset, currency, tx.rate, tx.source, tx.fee_bp, fee_account, c.height, result.txid
            )
        elif isinstance(tx, ExchangeAssets):
            check_exchange(c, tx, result.txid, rates, changes(moved))
        elif isinstance(tx, PayRoaming):
            roamed[tx.merchant, tx.payment_id] = check_roaming(c, tx, result.txid, rates, changes(moved))
        elif isinstance(tx, Refund) and refunding is not None:
            check_roaming_refund(c, tx, result.txid, refunding, changes(moved))
        elif isinstance(tx, SettleWindow):
            check_settled(c, tx, changes(moved))
        elif isinstance(tx, Propose) and isinstance(tx.action, SetRateBounds):
            proposal = c.state_read(PROPOSALS, tx.proposal)
            event(f"council sets rate bounds: {proposal.result_code if proposal is not None else '?'}")
    assert rates == published_rates(c)
    check_refunded_in_full(c, roamed)
    check_windows(c)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.one_of(action, fx_action), min_size=1, max_size=12), min_size=1, max_size=8))
def test_money_rules_hold_over_random_streams(blocks: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    c = fx_chain()
    roamed: dict[tuple[str, str], Roamed] = {}  # by merchant and payment id
    recorded: list[tuple[int, list[SignedTx]]] = []
    history: list[SignedTx] = []
    applied: set[str] = set()
    charged: set[str] = set()
    digests = [c.digest]
    seqs = {name: c.account(name).seq for name in [*PEOPLE, "bank-a", "bank-b", "fsc"]}  # type: ignore[union-attr]
    for acts in blocks:
        txs = [s for s in (build(c, a, history) for a in acts) if s is not None]
        c.now_ms += 1000
        before, head, rates = dict(c.state.values), c.head, published_rates(c)
        results = c.block(txs)  # asserts conservation and no negative balance
        # The same block again, on the state it started from: the same digest, and each transaction's own moves.
        entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in txs]
        again = apply_block(c.genesis, head, MemoryState(before), Batch("validator-1", c.now_ms, c.height, entries))
        assert (again.state_digest, again.results) == (c.digest, results)
        frozen_through(c, before, txs, results)
        check_fx(c, txs, results, again.movements, roamed, rates)
        for name in PEOPLE:  # what a payment reads of an account's controls agrees with their records
            account = c.account(name)
            assert account is not None
            assert account.frozen == (c.state_read(FREEZES, "account", name) is not None)
            assert account.limited_assets == sum(c.state_read(LIMITS, name, a) is not None for a in ASSETS)
        adopt_rotated_keys(c, txs, results)
        recorded.append((c.now_ms, txs))
        for signed, result in zip(txs, results, strict=True):
            event(f"{tx_type(signed.tx)} {result.code}")  # pytest --hypothesis-show-statistics shows the mix
            if result.code == "ok":
                assert result.txid not in applied, "a transaction was applied twice"
                applied.add(result.txid)
                if isinstance(signed.tx, Charge):
                    assert signed.tx.code not in charged, "a payment code was charged twice"
                    charged.add(signed.tx.code)
            if result.code not in ENVELOPE_CODES:
                seqs[signed.tx.signer] += 1
        assert seqs == {name: c.account(name).seq for name in seqs}  # type: ignore[union-attr]
        history.extend(txs)
        digests.append(c.digest)

    # Two fresh executions of the same blocks reach the same digests.
    for _ in range(2):
        fresh = fx_chain()
        state, head = fresh.state, fresh.head
        for height_offset, (timestamp_ms, txs) in enumerate(recorded):
            entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in txs]
            block = apply_block(c.genesis, head, state, Batch("validator-1", timestamp_ms, head.height + 1, entries))
            state.apply(block.writes)
            head = block.head
            assert head.state_digest == digests[height_offset + 1]
        assert state.values == c.state.values


def test_setup_chain_is_deterministic() -> None:
    assert setup_chain().digest == setup_chain().digest
    assert genesis_digest(Chain().genesis) == genesis_digest(Chain().genesis)
    expected = {
        ACCOUNTS.key("bank-a"),
        ACCOUNTS.key("bank-b"),
        PARAMS.key(COUNCIL_PARAMS),
        VALIDATOR_SETS.key(SCHEDULE),
    }
    assert genesis_memory_state(Chain().genesis).values.keys() == expected
    assert key("alice").public_key != key("bob").public_key
