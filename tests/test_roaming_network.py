"""The roaming story on a real network: four nodes ordering through a three-member etcd cluster.

member-1 runs a Korean programme (KPT, priced in won), member-2 an American one (UPT, in dollars),
member-3 a settlement bank whose dollar token SET the members prefund. A Korean holder exchanges points,
pays an American hotel with them and is partly refunded, each through another node; one settlement window
closes and is settled in SET; the American member's bank adapter writes its payout file and records it;
its bank's acknowledgements come in; every node agrees and every position is zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import final_at, four_node_network, key, until
from roaming import world_phases
from tally.client import Signer, TallyClient, TallyError, read_keyfile
from tally.core.ops import SignedTx
from tally.settlement.adapter import AdapterConfig, BankAccountConfig, BankAdapter, file_name
from tally.settlement.iso20022 import sha256_hex, validate

KR, US, SETTLE = "member-1", "member-2", "member-3"
NODES = ("node-1", "node-2", "node-3", "node-4")


class Net:
    def __init__(self, root: Path, urls: dict[str, str]) -> None:
        self.root = root
        self.urls = urls
        self.keys = {m: read_keyfile(root / "keys" / f"{m}.json") for m in (KR, US, SETTLE, "member-4")}
        self.readers = {n: TallyClient(url, reader=(US, self.keys[US].keypair())) for n, url in urls.items()}
        self.chain = self.readers["node-1"].genesis().chain

    def signer(self, name: str) -> Signer:
        """A signer at the account's next seq (read by the account itself; 0 before it is registered)."""
        pair = self.keys[name].keypair() if name in self.keys else key(name)
        with TallyClient(self.urls["node-1"], reader=(name, pair)) as own:
            try:
                seq = own.next_seq(name)
            except TallyError as error:
                assert error.code in ("unknown_account", "signature_invalid"), error
                seq = 0
        return Signer(name, pair, self.chain, seq)

    def final(self, node: str, *signed: SignedTx) -> list[str]:
        """Submit through `node`; each transaction's code once final there."""
        client = self.readers[node]
        txids = client.submit_batch(list(signed))
        for txid in txids:
            until(lambda txid=txid: final_at(client, txid), f"{txid} final at {node}")  # type: ignore[misc]
        return [client.status(t).code for t in txids]

    def converged(self) -> tuple[int, str]:
        def same() -> bool:
            statuses = [c.node_status() for c in self.readers.values()]
            return len({(s.height, s.state_digest) for s in statuses}) == 1 and all(
                s.final_height == s.height for s in statuses
            )

        until(same, "the four nodes to converge", timeout_s=180.0)  # a bound on a condition, not a wait
        status = self.readers["node-1"].node_status()
        return status.height, status.state_digest


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("roaming") / "net"
    network = four_node_network(root, "tally-roaming")
    network.up()
    try:
        n = Net(root, {node_id: node.url for node_id, node in network.nodes.items()})
        try:
            yield n
        finally:
            for client in n.readers.values():
                client.close()
    finally:
        network.stop()


def test_two_programmes_exchange_roam_refund_and_settle_one_window_on_four_nodes(net: Net, tmp_path: Path) -> None:
    signers: dict[str, Signer] = {}
    phases = world_phases(lambda n: signers.setdefault(n, net.signer(n)), window_blocks=6, members=(KR, US, SETTLE))
    for phase in phases:
        assert set(net.final("node-1", *phase)) == {"ok"}
    prefund = [signers[SETTLE].issue("SET", m, 100_000) for m in (KR, US)]
    assert net.final("node-1", *prefund) == ["ok", "ok"]

    alice, hotel = net.signer("alice"), net.signer("hotel")
    quote = net.readers["node-2"].quote_exchange("KPT", "UPT", 1000)
    assert (quote.out_minor, quote.value_minor, quote.remainder) == (456, 685, "12/7")
    assert net.final("node-2", alice.exchange("KPT", "UPT", 1000, quote.out_minor)) == ["ok"]
    roam = net.readers["node-3"].quote_roaming("UPT", 100, "KPT")
    assert (roam.pay_minor, roam.value_minor) == (219, 150)
    assert net.final("node-3", alice.pay_roaming("UPT", "hotel", 100, "room-1", "KPT", roam.pay_minor)) == ["ok"]
    assert net.final("node-4", hotel.refund("room-1", 30)) == ["ok"]  # 65 KPT back, 45 cents of obligation
    cash_out = hotel.cash_out("UPT", 70, "US-ACC 0042")
    assert net.final("node-1", cash_out) == ["ok"]
    reader = net.readers["node-2"]
    assert reader.balances("hotel").get("UPT", 0) == 0  # received exactly 100, refunded 30, cashed out 70
    window = reader.settlement().current_window
    assert [(p.debtor, p.creditor, p.amount_minor) for p in reader.settlement().unsettled_pairs] == [
        (KR, US, 685 + 150 - 45)
    ]

    us = net.signer(US)
    until(
        lambda: net.final("node-1", us.issue("UPT", US, 1)) == ["ok"] and reader.settlement().current_window > window,
        "the window to close",
    )
    banks = {
        KR: BankAccountConfig("Korea Points Bank", "KRPBKRSEXXX", "KR-110-0001"),
        US: BankAccountConfig("US Points Bank", "USPBUS33", "US-021000021-77"),
        SETTLE: BankAccountConfig("Settlement Bank", "SETLUS33", "US-021000021-01"),
    }
    config = AdapterConfig(member=US, banks=banks, currencies={"KRW": 0, "USD": 2}, settle="ledger")
    drop = tmp_path / "drop"
    with TallyClient(net.urls["node-3"], reader=(US, net.keys[US].keypair())) as client:
        done = BankAdapter(client, net.keys[US], config, drop).run_once()
    assert done.settled == [(window, "ledger")]
    name = file_name(US, window, "pain.001")
    content = (drop / name).read_bytes()
    validate(content)
    ack = net.signer(US).ack_payout(net.readers["node-1"].window(window).payouts[0].txid, True)
    assert net.final("node-4", ack) == ["ok"]

    height, digest = net.converged()
    for node_id, client in net.readers.items():
        detail = client.window(window)
        assert detail.window.status == "settled", node_id
        assert [(m.debtor, m.creditor, m.amount_minor) for m in detail.window.moves] == [(KR, US, 790)], node_id
        assert [(f.member, f.sha256) for f in detail.files] == [(US, sha256_hex(content))], node_id
        assert [p.status for p in detail.payouts] == ["done"], node_id
        assert client.settlement().unsettled == [], node_id  # every position is zero
        assert client.node_status().state_digest == digest
    assert reader.balances(US).get("SET", 0) == 100_000 + 790 and height > 0
