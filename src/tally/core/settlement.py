"""Obligations between members, settlement windows and multilateral netting (protocol 11).

A cross-issuer movement (an exchange, a roaming payment, a refund of one)
moves value from one member's programme to another's: the member whose asset
came back to it owes the member whose asset went out. Each one is an
`Obligation` record in the window of its block, in the settlement currency,
and it updates the window's positions between the two members, netted per
pair (`Window.pairs`: each pair once, the debtor first).

Windows are counted by height: window `base + (h - anchor) // window_blocks`
(the council's `set_settlement` re-anchors from its block, so window numbers
only grow). A window is closed once a block past its last height exists;
`settle_window` then nets it multilaterally (each member's position is what
it is owed less what it owes; they sum to zero) and settles the net
positions at once in the prefunded settlement asset, or marks them to go out
as bank payments (pacs.009).

Pure: no I/O.
"""

from __future__ import annotations

from fractions import Fraction

from .errors import Code, ensure
from .state import TxView
from .tables import CONFIG, OBLIGATIONS, SETTLEMENT, WINDOWS, window_key
from .types import Obligation, PairPosition, Settlement, SettlementMove, Window

MAX_PAIRS = 1_024  # member pairs with an open position in one window
MAX_MOVES = 1_024  # payments one window's settlement makes (at most members - 1)


def settlement_config(view: TxView) -> Settlement | None:
    return view.read(SETTLEMENT, CONFIG)


def require_settlement(view: TxView) -> Settlement:
    config = settlement_config(view)
    ensure(config is not None, Code.NO_SETTLEMENT, "the council has not set how members settle")
    assert config is not None
    return config


def fx_of(config: Settlement, currency: str) -> Fraction:
    """One minor unit of `currency` in settlement minor units (1 for the settlement currency itself)."""
    if currency == config.currency:
        return Fraction(1)
    for fx in config.fx:
        if fx.currency == currency:
            return Fraction(fx.num, fx.den)
    ensure(False, Code.NO_FX_RATE, "the council has set no FX rate for {} into {}", currency, config.currency)
    raise AssertionError  # unreachable: ensure raised


def window_of(config: Settlement, height: int) -> int:
    if height < config.anchor_height:  # the block that re-anchored: the window it ends
        assert height == config.height and config.base_window > 0
        return config.base_window - 1
    return config.base_window + (height - config.anchor_height) // config.window_blocks


def window_bounds(config: Settlement, window: int) -> tuple[int, int]:
    """The first and last height of a window counted under `config`."""
    assert window >= config.base_window
    first = config.anchor_height + (window - config.base_window) * config.window_blocks
    return first, first + config.window_blocks - 1


def open_window(view: TxView, config: Settlement, height: int) -> Window:
    number = window_of(config, height)
    window = view.read(WINDOWS, window_key(number))
    if window is not None:
        return window
    first, last = window_bounds(config, number) if number >= config.base_window else (height, height)
    return Window(number, first, last, config.currency, 0, 0, [], "open")


def note_payout_window(view: TxView, config: Settlement, height: int) -> int:
    """A cash-out's window: its record exists from the first thing that happens in it (bank adapters list them)."""
    window = open_window(view, config, height)
    if window.obligations == 0 and view.read(WINDOWS, window_key(window.window)) is None:
        view.put(WINDOWS.key(window_key(window.window)), window)
    return window.window


def add_to_pairs(pairs: list[PairPosition], debtor: str, creditor: str, amount_minor: int) -> list[PairPosition]:
    """The pair positions with `debtor` owing `creditor` `amount_minor` more, netted against the reverse."""
    if debtor == creditor:
        return pairs  # value that stays with one member is owed to nobody
    out: list[PairPosition] = []
    owed = amount_minor  # what debtor owes creditor on top of what the pair held
    for p in pairs:
        if {p.debtor, p.creditor} == {debtor, creditor}:
            owed += p.amount_minor if p.debtor == debtor else -p.amount_minor
        else:
            out.append(p)
    if owed > 0:
        out.append(PairPosition(debtor, creditor, owed))
    elif owed < 0:
        out.append(PairPosition(creditor, debtor, -owed))
    out.sort(key=lambda p: (min(p.debtor, p.creditor), max(p.debtor, p.creditor)))
    return out


def record_obligation(view: TxView, txid: str, height: int, kind: str, debtor: str, creditor: str, amount: int) -> None:
    """One cross-issuer movement: an obligation record, and the window's positions updated."""
    if debtor == creditor or amount == 0:
        return  # value stayed with one member: nobody owes anybody
    config = require_settlement(view)
    window = open_window(view, config, height)
    ensure(window.status == "open", Code.WINDOW_CLOSED, "window {} is settled", window.window)
    pairs = add_to_pairs(window.pairs, debtor, creditor, amount)
    ensure(len(pairs) <= MAX_PAIRS, Code.TOO_MANY_COUNTERPARTIES, "a window holds at most {} pairs", MAX_PAIRS)
    view.put(OBLIGATIONS.key(window_key(window.window), txid), Obligation(txid, kind, debtor, creditor, amount, height))
    view.put(
        WINDOWS.key(window_key(window.window)),
        Window(
            window.window,
            window.first_height,
            window.last_height,
            window.currency,
            window.obligations + 1,
            window.gross_minor + amount,
            pairs,
            "open",
        ),
    )


def net_positions(pairs: list[PairPosition]) -> dict[str, int]:
    """Each member's multilateral net position: owed to it less what it owes (they sum to zero)."""
    net: dict[str, int] = {}
    for p in pairs:
        net[p.debtor] = net.get(p.debtor, 0) - p.amount_minor
        net[p.creditor] = net.get(p.creditor, 0) + p.amount_minor
    assert sum(net.values()) == 0
    return {member: net[member] for member in sorted(net) if net[member] != 0}


def settlement_moves(net: dict[str, int]) -> list[SettlementMove]:
    """Payments that bring every net position to zero: the largest debtor pays the largest creditor first.

    Deterministic (ties by account id); at most members - 1 payments.
    """
    debtors = sorted(((-v, m) for m, v in net.items() if v < 0), key=lambda d: (-d[0], d[1]))
    creditors = sorted(((v, m) for m, v in net.items() if v > 0), key=lambda c: (-c[0], c[1]))
    moves: list[SettlementMove] = []
    i = j = 0
    owe, debtor = debtors[0] if debtors else (0, "")
    due, creditor = creditors[0] if creditors else (0, "")
    while i < len(debtors) and j < len(creditors):
        paid = min(owe, due)
        moves.append(SettlementMove(debtor, creditor, paid))
        owe, due = owe - paid, due - paid
        if owe == 0 and (i := i + 1) < len(debtors):
            owe, debtor = debtors[i]
        if due == 0 and (j := j + 1) < len(creditors):
            due, creditor = creditors[j]
    assert len(moves) <= MAX_MOVES
    return moves
