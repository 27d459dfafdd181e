"""The roaming test world (protocol 11): two programmes in two currencies and a settlement token."""

from __future__ import annotations

from collections.abc import Callable

from helpers import Chain, key, make_genesis
from tally.client import Signer
from tally.core.ops import SignedTx
from tally.core.types import FxRate, Ratio, SetRateBounds, SetSettlement

START_MS = 1_800_000_000_000
MEMBERS = ("kr-bank", "us-bank", "settle-bank")


def world_phases(
    signer: Callable[[str], Signer],
    kpt_rate: tuple[int, int] = (48, 5),
    upt_rate: tuple[int, int] = (3, 2),
    fee_bp: int = 0,
    window_blocks: int = 5,
    members: tuple[str, str, str] = MEMBERS,
) -> list[list[SignedTx]]:
    """The world's transactions in two phases (the second needs the first's accounts and assets); `members`
    name the Korean programme's issuer, the American one's and the settlement bank."""
    kr, us, sb = (signer(m) for m in members)
    setup = [kr.register_account("alice", key("alice").public_key_hex, "holder")]
    setup += [us.register_account("bob", key("bob").public_key_hex, "holder")]
    setup += [kr.register_account("cafe", key("cafe").public_key_hex, "merchant")]
    setup += [us.register_account("hotel", key("hotel").public_key_hex, "merchant")]
    setup += [kr.create_asset("KPT", "Korea points", "points", 0, True, "merchants")]
    setup += [us.create_asset("UPT", "US points", "points", 0, True, "merchants")]
    setup += [sb.create_asset("SET", "Settlement token", "emoney", 2, True, "none")]
    kpt_bounds = SetRateBounds(asset="KPT", currency="KRW", min_rate=Ratio(1, 1000), max_rate=Ratio(1000, 1))
    upt_bounds = SetRateBounds(asset="UPT", currency="USD", min_rate=Ratio(1, 1000), max_rate=Ratio(1000, 1))
    config = SetSettlement(currency="USD", window_blocks=window_blocks, asset="SET", fx=[FxRate("KRW", Ratio(1, 14))])
    council = [
        kr.propose("bounds:KPT", kpt_bounds),
        kr.propose("bounds:UPT", upt_bounds),
        kr.propose("settlement:1", config),
        kr.set_rate("KPT", Ratio(*kpt_rate)),
        us.set_rate("UPT", Ratio(*upt_rate), fee_bp=fee_bp),
        kr.issue("KPT", "alice", 100_000),
        us.issue("UPT", members[1], 1_000_000),
        us.issue("UPT", "bob", 10_000),
    ]
    return [setup, council]


def roaming_chain(
    kpt_rate: tuple[int, int] = (48, 5),
    upt_rate: tuple[int, int] = (3, 2),
    fee_bp: int = 0,
    window_blocks: int = 5,
) -> Chain:
    """kr-bank's KPT (won, 9.6 won a point), us-bank's UPT (cents, 1.5 cents a point), settle-bank's SET (cents).

    1 USD = 1,400 KRW: one won is 1/14 cent. alice holds 100,000 KPT; us-bank's float is 1,000,000 UPT.
    cafe is kr-bank's merchant (takes KPT), hotel us-bank's (takes UPT).
    """
    c = Chain(genesis=make_genesis(MEMBERS), now_ms=START_MS)
    for phase in world_phases(c.signer, kpt_rate, upt_rate, fee_bp, window_blocks):
        assert [r.code for r in c.block(phase)] == ["ok"] * len(phase)
    return c


def exchange(c: Chain, holder: str, from_asset: str, to_asset: str, amount: int, min_out: int = 1) -> str:
    c.now_ms += 1
    return c.one(c.signer(holder).exchange(from_asset, to_asset, amount, min_out)).code
