"""Obligations, settlement windows, netting and payouts (protocol 11), on pure chains.

helpers.Chain checks the money rules after every block.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import Chain
from roaming import exchange, roaming_chain
from tally.core.errors import Code
from tally.core.settlement import add_to_pairs, net_positions, settlement_moves
from tally.core.tables import BANK_FILES, PAYOUTS, WINDOW_PAYOUTS, WINDOWS, window_key
from tally.core.types import PairPosition, SettlementMove

MEMBERS = ("m-a", "m-b", "m-c", "m-d", "m-e")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(MEMBERS), st.sampled_from(MEMBERS), st.integers(min_value=0, max_value=10**9)),
        max_size=60,
    )
)
def test_net_positions_of_random_obligations_sum_to_zero_and_the_moves_settle_them(
    obligations: list[tuple[str, str, int]],
) -> None:
    pairs: list[PairPosition] = []
    owed: dict[tuple[str, str], int] = {}
    for debtor, creditor, amount in obligations:
        pairs = add_to_pairs(pairs, debtor, creditor, amount)
        if debtor != creditor:
            owed[debtor, creditor] = owed.get((debtor, creditor), 0) + amount
    # each pair appears once, netted, and agrees with a plain sum of the obligations
    assert len({frozenset((p.debtor, p.creditor)) for p in pairs}) == len(pairs)
    for p in pairs:
        assert p.amount_minor > 0
        assert p.amount_minor == owed.get((p.debtor, p.creditor), 0) - owed.get((p.creditor, p.debtor), 0)
    net = net_positions(pairs)
    assert sum(net.values()) == 0
    for member in MEMBERS:
        plain = sum(a for (d, cr), a in owed.items() if cr == member) - sum(
            a for (d, cr), a in owed.items() if d == member
        )
        assert net.get(member, 0) == plain
    moves = settlement_moves(net)
    after = dict(net)
    for m in moves:
        assert m.amount_minor > 0 and net[m.debtor] < 0 < net[m.creditor]
        after[m.debtor] += m.amount_minor
        after[m.creditor] -= m.amount_minor
    assert all(v == 0 for v in after.values())  # settled: every position is zero
    assert len(moves) <= max(len(net) - 1, 0)


def close_window(c: Chain) -> None:
    """Blocks until window 0 (heights 2..6 in roaming_chain) is closed."""
    while c.height < 7:
        c.now_ms += 1
        c.block([])


def prefund(c: Chain, members: tuple[str, ...], amount_minor: int) -> None:
    sb = c.signer("settle-bank")
    assert all(r.code == "ok" for r in c.block([sb.issue("SET", m, amount_minor) for m in members]))


def test_a_closed_window_settles_in_the_prefunded_asset_and_every_position_is_zero() -> None:
    c = roaming_chain()
    assert exchange(c, "alice", "KPT", "UPT", 1000) == "ok"  # kr-bank owes us-bank 685
    assert c.one(c.signer("alice").pay_roaming("UPT", "hotel", 100, "room-1", "KPT", 219)).code == "ok"  # +150
    prefund(c, ("kr-bank", "us-bank"), 10_000)
    kr = c.signer("kr-bank")
    assert c.one(kr.settle_window(0)).code == Code.WINDOW_OPEN
    close_window(c)
    assert c.one(kr.settle_window(1)).code == Code.WINDOW_OPEN  # the window the chain is in now
    window = c.state_read(WINDOWS, window_key(0))
    assert window is not None and window.pairs == [PairPosition("kr-bank", "us-bank", 835)]
    assert c.one(kr.settle_window(0)).code == "ok"
    window = c.state_read(WINDOWS, window_key(0))
    assert window is not None and window.status == "settled"
    assert window.moves == [SettlementMove("kr-bank", "us-bank", 835)]
    assert c.balance("kr-bank", "SET") == 10_000 - 835 and c.balance("us-bank", "SET") == 10_000 + 835
    assert c.one(kr.settle_window(0)).code == Code.WINDOW_SETTLED


def test_a_debtor_short_of_prefunding_is_refused_whole_and_the_banks_settle_instead() -> None:
    c = roaming_chain()
    assert exchange(c, "alice", "KPT", "UPT", 1000) == "ok"
    prefund(c, ("kr-bank",), 684)  # one cent short
    close_window(c)
    us = c.signer("us-bank")
    assert c.one(us.ack_settlement(0)).code == Code.NOT_AT_BANKS  # closed, but not sent to the banks
    assert c.one(us.settle_window(0)).code == Code.INSUFFICIENT_PREFUNDING
    assert c.state_read(WINDOWS, window_key(0)).status == "open"  # type: ignore[union-attr]
    assert c.balance("kr-bank", "SET") == 684 and c.balance("us-bank", "SET") == 0
    assert c.one(us.settle_window(0, method="bank")).code == "ok"
    window = c.state_read(WINDOWS, window_key(0))
    assert (
        window is not None and window.status == "bank" and window.moves == [SettlementMove("kr-bank", "us-bank", 685)]
    )
    assert c.one(c.signer("settle-bank").ack_settlement(0)).code == Code.NOT_AUTHORIZED  # not a party
    assert c.one(us.ack_settlement(0)).code == "ok"
    assert c.state_read(WINDOWS, window_key(0)).status == "settled"  # type: ignore[union-attr]
    assert c.one(us.ack_settlement(0)).code == Code.WINDOW_SETTLED


def test_a_payout_is_acknowledged_once_and_a_returned_one_gives_the_value_back() -> None:
    c = roaming_chain()
    assert c.one(c.signer("alice").pay_roaming("KPT", "cafe", 5_000, "c-1", "KPT", 1)).code == Code.SAME_ASSET
    assert c.one(c.signer("alice").pay("KPT", "cafe", 5_000, "c-1")).code == "ok"
    cafe = c.signer("cafe")
    c.now_ms += 1
    first, second = c.block([cafe.cash_out("KPT", 3_000, "KR12 0001 0002"), cafe.cash_out("KPT", 2_000, "KR99")])
    assert (first.code, second.code) == ("ok", "ok")
    payout = c.state_read(PAYOUTS, first.txid)
    assert payout is not None and (payout.status, payout.window) == ("pending", 0)
    assert c.state_read(WINDOW_PAYOUTS, window_key(0), first.txid) == 3_000
    kr = c.signer("kr-bank")
    assert c.one(c.signer("us-bank").ack_payout(first.txid, True)).code == Code.NOT_AUTHORIZED
    assert c.one(kr.ack_payout(first.txid, True)).code == "ok"
    assert c.state_read(PAYOUTS, first.txid).status == "done"  # type: ignore[union-attr]
    assert c.one(kr.ack_payout(first.txid, False, reason="late")).code == Code.PAYOUT_ACKNOWLEDGED
    assert c.balance("cafe", "KPT") == 0
    assert c.one(kr.ack_payout(second.txid, False)).code == Code.REASON_REQUIRED  # a return names the bank's reason
    assert c.one(kr.ack_payout(second.txid, False, reason="account_closed")).code == "ok"
    returned = c.state_read(PAYOUTS, second.txid)
    assert returned is not None and (returned.status, returned.ack_reason) == ("returned", "account_closed")
    assert c.balance("cafe", "KPT") == 2_000  # the value is back in the account
    assert c.one(kr.ack_payout(second.txid, True)).code == Code.PAYOUT_ACKNOWLEDGED
    assert c.one(kr.ack_payout("ab" * 32, True)).code == Code.UNKNOWN_PAYOUT


def test_a_bank_file_is_recorded_once_per_window_member_and_kind() -> None:
    c = roaming_chain()
    kr = c.signer("kr-bank")
    args = {"window": 0, "kind": "pain.001", "name": "kr-bank-w0-pain.001.xml", "transactions": 1, "total_minor": 5}
    assert c.one(kr.record_bank_file(sha256="aa" * 32, **args)).code == Code.WINDOW_OPEN
    close_window(c)
    assert c.one(kr.record_bank_file(sha256="aa" * 32, **args)).code == "ok"
    assert c.one(kr.record_bank_file(sha256="bb" * 32, **args)).code == Code.FILE_RECORDED
    recorded = c.state_read(BANK_FILES, window_key(0), "kr-bank", "pain.001")
    assert recorded is not None and recorded.sha256 == "aa" * 32
    assert c.one(c.signer("us-bank").record_bank_file(sha256="bb" * 32, **args)).code == "ok"  # its own file
