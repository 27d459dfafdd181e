"""Probes of the trust issue against a real four-node network on a real three-member etcd cluster.

In order, on one network: garbage under every key prefix the nodes read,
with one validator down (nothing stalls, ledger time does not move); a
balance edited in a running node's SQLite file (that node notices and
stops serving, the others go on); a validator whose clock runs 48 hours
fast (its block is never final and it is named).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from helpers import four_node_network, key, until
from tally.client import Signer, TallyClient, TallyError
from tally.client.keys import read_keyfile
from tally.core.crypto import KeyPair
from tally.core.limits import Limits
from tally.core.tables import BALANCES, encode_value
from tally.dev.network import Network
from tally.ordering.clock import CLOCK_OFFSET_ENV
from tally.ordering.etcd import encode_entry
from tally.ordering.etcd_client import EtcdClient, keys

WAIT_S = 60.0
HOLDERS = 20
HOURS_48_MS = 48 * 3600 * 1000


class Net:
    def __init__(self, net: Network, root: Path) -> None:
        self.net = net
        self.root = root
        reader = read_keyfile(root / "keys" / "member-1.json")  # member-1 registered every account these read
        self.clients = {node_id: TallyClient(node.url, reader=reader) for node_id, node in net.nodes.items()}
        self.genesis = self.clients["node-1"].genesis()
        self.chain = self.genesis.chain
        self.member = Signer("member-1", read_keyfile(root / "keys" / "member-1.json").keypair(), self.chain)
        self.holders = [Signer(f"h{i}", key(f"trust-holder-{i}"), self.chain) for i in range(HOLDERS)]
        self.etcd = EtcdClient(net.etcd.endpoints)
        self.counter = 0

    def validator_key(self, node_id: str) -> KeyPair:
        return read_keyfile(self.net.nodes[node_id].data_dir / "keys" / "validator.json").keypair()

    def put(self, key_: str | bytes, value: bytes) -> None:
        self.etcd.call(lambda c: c.put(key_, value))

    def pay(self, node_id: str, count: int) -> list[str]:
        batch = []
        for _ in range(count):
            self.counter += 1
            holder = self.holders[self.counter % HOLDERS]
            batch.append(holder.pay("TRUST", "shop", 1, f"t{self.counter}"))
        return self.clients[node_id].submit_batch(batch)

    def status_of(self, node_id: str, txid: str) -> str:
        try:
            return str(self.clients[node_id].status(txid, wait_ms=500).status)
        except TallyError as error:
            if error.code != "unknown_tx":
                raise
            return "unknown"

    def wait_final(self, node_ids: list[str], txids: list[str]) -> None:
        for node_id in node_ids:
            for txid in txids[-1:]:
                until(lambda n=node_id, t=txid: self.status_of(n, t) == "final", f"{txid} final at {node_id}")  # type: ignore[misc]

    def metric(self, node_id: str, name: str, labels: str = "") -> float:
        text = httpx.get(f"{self.net.nodes[node_id].url}/metrics").text
        match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.MULTILINE)
        return float(match[1]) if match else 0.0

    def health(self, node_id: str) -> tuple[int, str]:
        response = httpx.get(f"{self.net.nodes[node_id].url}/health")
        return response.status_code, response.json()["status"]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("trust") / "net"
    network = four_node_network(root, "tally-trust", Limits(log_retention_blocks=15))
    network.up()
    try:
        n = Net(network, root)
        try:
            setup = [n.member.create_asset("TRUST", "Trust points", "points", 0, True, "all")]
            setup.append(n.member.register_account("shop", key("trust-shop").public_key_hex, "merchant"))
            setup += [n.member.register_account(h.account, h.key.public_key_hex, "holder") for h in n.holders]
            setup += [n.member.issue("TRUST", h.account, 1_000_000) for h in n.holders]
            n.wait_final(["node-1"], n.clients["node-1"].submit_batch(setup))
            yield n
        finally:
            for client in n.clients.values():
                client.close()
            n.etcd.close()
    finally:
        network.stop()


def test_garbage_under_every_prefix_with_a_validator_down_stops_nothing_and_moves_no_clock(net: Net) -> None:
    net.net.nodes["node-4"].kill9()  # from now on every one of the three others must vote
    prefixes = keys(net.chain)
    height = net.clients["node-1"].node_status().height
    now_ms = time.time_ns() // 1_000_000
    in_96_hours = now_ms + 96 * 3600 * 1000
    intruder = key("intruder")
    log_garbage = [
        b"not msgpack at all",
        encode_entry(intruder, "node-2", in_96_hours, []),  # forged: node-2's name, not its key
        encode_entry(intruder, "intruder", in_96_hours, []),  # not a validator
        encode_entry(net.validator_key("node-1"), "node-1", 2**63 + 5, []),  # signed, past what a store holds
    ]
    for value in log_garbage:
        net.put(prefixes["log"], value)
    for h in range(height + 1, height + 6):
        net.put(f"{prefixes['votes']}{h:012d}/node-2", b'{"sig":"zz"}')
        net.put(f"{prefixes['votes']}{h:012d}/node-3", b"\xff\xfe")
        net.put(f"{prefixes['votes']}{h:012d}/mallory", b"{}")
    net.put(f"{prefixes['votes']}not-a-height/node-2", b"{}")
    for suffix, value in [("mallory", b"1:1"), ("node-2/x", b"zz"), ("", b""), ("node-9", b"-1:-1")]:
        net.put(prefixes["stored"] + suffix, value)

    txids = net.pay("node-1", 50)
    net.wait_final(["node-1", "node-2", "node-3"], txids)
    newest = net.clients["node-1"].blocks(limit=1).items[0]
    assert newest.header["timestamp_ms"] < time.time_ns() // 1_000_000 + 2_000  # no block took the 96 h time
    assert net.metric("node-1", "tally_etcd_ignored_total", '{kind="log"}') >= len(log_garbage)
    assert net.metric("node-1", "tally_etcd_ignored_total", '{kind="vote"}') >= 1
    until(lambda: net.metric("node-1", "tally_etcd_ignored_total", '{kind="progress"}') >= 1, "progress counted")
    assert "ignored log at" in (net.net.nodes["node-1"].data_dir / "node.log").read_text()

    net.net.nodes["node-4"].start()
    net.wait_final(["node-4"], txids)


def test_a_balance_edited_at_a_running_node_is_found_there_and_the_others_go_on(net: Net) -> None:
    victim = net.net.nodes["node-2"]
    ledger = victim.data_dir / "ledger.db"
    db = sqlite3.connect(ledger, timeout=30)
    db.execute("UPDATE state SET value = ? WHERE key = ?", (encode_value(10**12), BALANCES.key("h1", "TRUST")))
    db.commit()
    db.close()
    until(lambda: net.health("node-2") == (503, "tampered"), "node-2 to find its storage changed")
    with pytest.raises(TallyError) as refused:
        net.clients["node-2"].balances("h1")
    assert (refused.value.status, refused.value.code) == (503, "storage_tampered")
    txids = net.pay("node-1", 30)
    net.wait_final(["node-1", "node-3", "node-4"], txids)  # three of four: still more than two thirds
    assert net.clients["node-1"].balances("h1")["TRUST"] < 10**12


def test_a_validator_with_a_fast_clock_never_makes_its_block_final_and_is_named(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = net.net.nodes["node-4"]
    fast.stop()
    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(HOURS_48_MS))
    fast.start()  # the environment is read at start: only node-4's clock is fast
    monkeypatch.delenv(CLOCK_OFFSET_ENV)
    (txid,) = net.pay("node-4", 1)  # node-4 proposes what it admitted, stamped 48 hours ahead
    until(lambda: net.status_of("node-1", txid) == "committed", "node-1 to execute node-4's block")
    until(
        lambda: net.metric("node-1", "tally_untimely_blocks_total", '{proposer="node-4"}') >= 1,
        "node-1 to refuse its vote and name node-4",
    )
    until(
        lambda: net.metric("node-3", "tally_untimely_blocks_total", '{proposer="node-4"}') >= 1,
        "node-3 to refuse its vote and name node-4",
    )
    # node-1 and node-3 refused, node-2 stopped (tampered): one vote of four, never a quorum.
    status = net.clients["node-1"].node_status()
    assert status.final_height < status.height
    assert net.status_of("node-1", txid) == "committed"
    assert "proposer node-4 has a fast clock" in (net.net.nodes["node-1"].data_dir / "node.log").read_text()
    body = net.clients["node-1"].http.get(f"/v1/blocks/{net.clients['node-1'].status(txid).height}").json()
    assert body["header"]["timestamp_ms"] > time.time_ns() // 1_000_000 + HOURS_48_MS // 2
    assert msgspec.json.decode(msgspec.json.encode(body))["final"] is False
