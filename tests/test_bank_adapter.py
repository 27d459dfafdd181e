"""The bank adapter against a real node: one file per window, even across a node restart and a repeated run;
files that validate against their schemas and match the SHA-256 the ledger recorded; acknowledgements once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import NodeProcess, free_port, key, until
from roaming import MEMBERS, world_phases
from tally.client import Signer, TallyClient, TallyError, read_keyfile
from tally.client.keys import KeyFile
from tally.node.config import DataDir, init_dev_node
from tally.settlement.adapter import (
    AdapterConfig,
    BankAccountConfig,
    BankAdapter,
    BankFileConflict,
    file_name,
)
from tally.settlement.iso20022 import sha256_hex, validate

CHAIN = "tally-bank-files"
BANKS = {
    "kr-bank": BankAccountConfig("Korea Points Bank", "KRPBKRSEXXX", "KR-110-0001"),
    "us-bank": BankAccountConfig("US Points Bank", "USPBUS33", "US-021000021-77"),
    "settle-bank": BankAccountConfig("Settlement Bank", "SETLUS33", "US-021000021-01"),
}


class World:
    def __init__(self, node: NodeProcess, data: DataDir) -> None:
        self.node = node
        self.data = data
        self.keys = {m: read_keyfile(data.key_path(m)) for m in MEMBERS}
        self.client = TallyClient(node.url, reader=("us-bank", self.keys["us-bank"].keypair()))

    def signer(self, name: str) -> Signer:
        """A signer at the account's next seq on the node (adapters sign as members too)."""
        pair = self.keys[name].keypair() if name in self.keys else key(name)
        with TallyClient(self.node.url, reader=(name, pair)) as own:  # an account reads itself
            try:
                seq = own.next_seq(name)
            except TallyError as error:  # not registered yet: its first transaction is seq 0
                assert error.code in ("unknown_account", "signature_invalid"), error
                seq = 0
        return Signer(name, pair, CHAIN, seq)

    def final(self, *signed: object) -> list[str]:
        txids = self.client.submit_batch(list(signed))  # type: ignore[arg-type]
        return [self.client.wait_final(t).code for t in txids]

    def close_window(self, window: int) -> None:
        """Blocks (small issues) until the chain has moved past `window`."""
        us = self.signer("us-bank")
        until(lambda: self.final(us.issue("UPT", "us-bank", 1)) == ["ok"] and self.current() > window, "a new window")

    def current(self) -> int:
        return self.client.settlement().current_window

    def adapter(self, member: str, drop: Path, settle: str = "ledger") -> BankAdapter:
        config = AdapterConfig(member=member, banks=BANKS, currencies={"KRW": 0, "USD": 2}, settle=settle)  # type: ignore[arg-type]
        client = TallyClient(self.node.url, reader=(member, self.keys[member].keypair()))
        return BankAdapter(client, self.keys[member], config, drop)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data = init_dev_node(tmp_path / "node", [(m, m.upper()) for m in MEMBERS], chain=CHAIN)
    node = NodeProcess(data.root, free_port()).start()
    try:
        w = World(node, data)
        signers: dict[str, Signer] = {}
        for phase in world_phases(lambda n: signers.setdefault(n, w.signer(n)), window_blocks=4):
            assert set(w.final(*phase)) == {"ok"}
        yield w
        w.client.close()
    finally:
        node.stop()


def test_a_window_gives_one_file_per_member_and_kind_across_a_restart_and_a_repeated_run(
    world: World, tmp_path: Path
) -> None:
    alice, hotel = world.signer("alice"), world.signer("hotel")
    sb = world.signer("settle-bank")
    paid = world.final(
        alice.exchange("KPT", "UPT", 1000, 456),
        alice.pay_roaming("UPT", "hotel", 100, "room-1", "KPT", 219),
        sb.issue("SET", "kr-bank", 100_000),
    )
    assert paid == ["ok"] * 3
    cash_outs = [hotel.cash_out("UPT", 60, "GB82 WEST 1234 5698 7654 32"), hotel.cash_out("UPT", 40, "US-ACC 0042")]
    txids = world.client.submit_batch(cash_outs)
    assert [world.client.wait_final(t).code for t in txids] == ["ok", "ok"]
    window = world.client.window(world.current()).window.window
    world.close_window(window)

    drop = tmp_path / "drop"
    first = world.adapter("us-bank", drop).run_once()
    assert first.settled == [(window, "ledger")]  # kr-bank prefunded: settled at once in SET
    name = file_name("us-bank", window, "pain.001")
    assert first.written == [drop / name] and [(w, k) for w, k, _ in first.recorded] == [(window, "pain.001")]
    content = (drop / name).read_bytes()
    validate(content)  # against the checked-in ISO 20022 schema
    detail = world.client.window(window)
    assert detail.window.status == "settled" and detail.window.pairs[0].amount_minor == 835
    assert [(f.member, f.kind, f.sha256, f.transactions, f.total_minor) for f in detail.files] == [
        ("us-bank", "pain.001", sha256_hex(content), 2, 150)  # 1 UPT = 1.5 cents: 60 + 40 UPT = 150 cents
    ]
    assert b"GB82WEST12345698765432" in content and b"<EndToEndId>" + txids[0][:35].encode() in content

    # the same pass again, then a new adapter after the node restarted: nothing written, nothing recorded
    again = world.adapter("us-bank", drop).run_once()
    assert (again.settled, again.written, again.recorded) == ([], [], [])
    world.node.stop()
    world.node.start()
    world.client = TallyClient(world.node.url, reader=("us-bank", world.keys["us-bank"].keypair()))
    after_restart = world.adapter("us-bank", drop).run_once()
    assert (after_restart.settled, after_restart.written, after_restart.recorded) == ([], [], [])
    assert (drop / name).read_bytes() == content and sorted(p.name for p in drop.iterdir()) == [name]
    assert len(world.client.window(window).files) == 1

    # the bank takes the file from the drop folder: it was sent (the ledger says so), so it is not written again
    (drop / name).unlink()
    taken = world.adapter("us-bank", drop).run_once()
    assert (taken.written, taken.recorded) == ([], []) and not (drop / name).exists()
    (drop / name).write_bytes(content)

    # a file changed on disk is never overwritten: the adapter stops and says so
    (drop / name).write_bytes(content.replace(b"US-ACC", b"XX-ACC"))
    with pytest.raises(BankFileConflict):
        world.adapter("us-bank", drop).run_once()
    assert b"XX-ACC" in (drop / name).read_bytes()

    # the bank's acknowledgements, once each: one paid, one returned (the value back in the hotel's account)
    us = world.signer("us-bank")
    before = world.client.balances("hotel").get("UPT", 0)
    assert world.final(us.ack_payout(txids[0], True), us.ack_payout(txids[1], False, reason="account_closed")) == [
        "ok",
        "ok",
    ]
    assert world.final(us.ack_payout(txids[0], False, reason="late")) == ["payout_acknowledged"]
    payouts = {p.txid: p for p in world.client.window(window).payouts}
    assert (payouts[txids[0]].status, payouts[txids[1]].status) == ("done", "returned")
    assert world.client.balances("hotel").get("UPT", 0) == before + 40
    report = world.client.settlement_report(window, "us-bank").rows[0]
    assert (report.payouts, report.payouts_done, report.payouts_returned, report.net_minor) == (2, 1, 1, 835)
    assert world.client.settlement().unsettled == []  # every position is zero


def test_a_window_short_of_prefunding_goes_to_the_banks_as_a_pacs_009(world: World, tmp_path: Path) -> None:
    alice = world.signer("alice")
    assert world.final(alice.exchange("KPT", "UPT", 1000, 456)) == ["ok"]  # kr-bank owes 685 cents; holds no SET
    window = world.current()
    world.close_window(window)
    drop = tmp_path / "drop"
    kr = world.adapter("kr-bank", drop).run_once()
    assert kr.settled == [(window, "bank")]
    name = file_name("kr-bank", window, "pacs.009")
    assert kr.written == [drop / name]
    content = (drop / name).read_bytes()
    validate(content)
    assert b'<IntrBkSttlmAmt Ccy="USD">6.85</IntrBkSttlmAmt>' in content
    assert b"KRPBKRSEXXX" in content and b"USPBUS33" in content
    # the creditor's adapter writes no pacs.009 (the debtor's bank pays), and the creditor confirms receipt
    assert world.adapter("us-bank", drop).run_once().written == []
    assert world.final(world.signer("us-bank").ack_settlement(window)) == ["ok"]
    assert world.client.window(window).window.status == "settled"
    assert world.adapter("kr-bank", drop).run_once().written == []  # still one file: the same bytes
    assert (drop / name).read_bytes() == content


def test_the_adapter_signs_as_its_member_only(world: World, tmp_path: Path) -> None:
    config = AdapterConfig(member="us-bank", banks=BANKS, currencies={"USD": 2})
    stranger = KeyFile(id="kr-bank", public_key=world.keys["kr-bank"].public_key, seed=world.keys["kr-bank"].seed)
    with pytest.raises(AssertionError):
        BankAdapter(world.client, stranger, config, tmp_path)


def test_a_window_number_past_the_bound_is_refused_at_admission_and_the_node_keeps_going(world: World) -> None:
    """Window numbers are 12 digits (their state key): 10^12 is malformed input, refused before it is ordered."""
    signed = world.signer("kr-bank").settle_window(10**12)
    with pytest.raises(TallyError) as refused:
        world.client.submit(signed)
    assert refused.value.status == 400
    assert world.final(world.signer("kr-bank").settle_window(999_999_999_999)) == ["window_open"]
    assert world.client.node_status().final_height == world.client.node_status().height


def test_a_payout_returned_before_its_window_closed_is_not_in_the_file(world: World, tmp_path: Path) -> None:
    hotel = world.signer("hotel")
    assert world.final(world.signer("alice").pay_roaming("UPT", "hotel", 100, "room-2", "KPT", 219)) == ["ok"]
    kept, returned = world.client.submit_batch(
        [hotel.cash_out("UPT", 60, "US-ACC 0001"), hotel.cash_out("UPT", 40, "US-ACC 0002")]
    )
    assert [world.client.wait_final(t).code for t in (kept, returned)] == ["ok", "ok"]
    assert world.final(world.signer("us-bank").ack_payout(returned, False, reason="account_closed")) == ["ok"]
    window = world.current()
    world.close_window(window)
    drop = tmp_path / "drop"
    world.adapter("us-bank", drop, settle="off").run_once()
    content = (drop / file_name("us-bank", window, "pain.001")).read_bytes()
    assert kept[:35].encode() in content and returned[:35].encode() not in content
    assert [(f.transactions, f.total_minor) for f in world.client.window(window).files] == [(1, 90)]
