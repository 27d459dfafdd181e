"""Four member nodes ordered by a real three-member etcd cluster, all on 127.0.0.1.

The scenarios run in order against one network and each leaves it whole:
load, a node down, an etcd member down, two nodes down, a tampered ledger and
its repair, a node catching up from a peer after compaction, receipts.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import msgspec
import pyetcd
import pyetcd.exceptions
import pytest

from helpers import final_at, four_node_network, key, until
from tally.client import Signer, TallyClient, TallyError, verify_receipt
from tally.client.keys import read_keyfile
from tally.client.models import NodeStatusBody
from tally.core.audit import money_rule_faults
from tally.core.ops import SignedTx
from tally.core.tables import BALANCES, encode_value
from tally.core.types import Certificate, ValidatorSignature
from tally.dev.network import Network
from tally.dev.process import free_ports
from tally.node.config import Limits
from tally.store import Store, open_store

HOLDERS = 200
SHOPS = 5
RETENTION_BLOCKS = 15
WAIT_S = 60


class World:
    def __init__(self, net: Network, root: Path) -> None:
        self.net = net
        self.root = root
        reader = read_keyfile(root / "keys" / "member-1.json")  # member-1 registered every account these read
        self.clients = {node_id: TallyClient(node.url, reader=reader) for node_id, node in net.nodes.items()}
        self.genesis = next(iter(self.clients.values())).genesis()
        chain = self.genesis.chain
        self.member = Signer("member-1", read_keyfile(root / "keys" / "member-1.json").keypair(), chain)
        self.holders = [Signer(f"h{i}", key(f"net-holder-{i}"), chain) for i in range(HOLDERS)]
        self.shops = [Signer(f"s{j}", key(f"net-holder-{10_000 + j}"), chain) for j in range(SHOPS)]
        self.counter = 0

    def client(self, node_id: str) -> TallyClient:
        return self.clients[node_id]

    def status(self, node_id: str) -> NodeStatusBody:
        return self.clients[node_id].node_status()

    def up(self) -> list[str]:
        return [n for n, node in self.net.nodes.items() if node.proc is not None and node.proc.poll() is None]

    def payments(self, count: int, holders: range | None = None) -> list[SignedTx]:
        chosen = holders or range(HOLDERS)
        out = []
        for _ in range(count):
            self.counter += 1
            h = self.holders[chosen[self.counter % len(chosen)]]
            out.append(h.pay("NET", f"s{self.counter % SHOPS}", 1 + self.counter % 7, f"n{self.counter}"))
        return out

    def tx_status(self, node_id: str, txid: str) -> str:
        """The transaction's status at a node; "unknown" until the node has seen it."""
        try:
            return str(self.clients[node_id].status(txid).status)
        except TallyError as error:
            if error.code != "unknown_tx":
                raise
            return "unknown"

    def wait_final(self, node_id: str, txids: list[str]) -> None:
        """Wait until the node holds each transaction final (it may not have seen it yet)."""
        client = self.clients[node_id]

        def final(txid: str) -> bool:
            return final_at(client, txid)

        for txid in txids:
            until(lambda txid=txid: final(txid), f"{txid} final at {node_id}")  # type: ignore[misc]

    def converged(self, node_ids: list[str] | None = None) -> tuple[int, str]:
        """Wait until the nodes agree on height and digest, everything final; return them."""
        ids = node_ids or self.up()

        def same() -> bool:
            statuses = [self.status(n) for n in ids]
            return len({(s.height, s.state_digest) for s in statuses}) == 1 and all(
                s.final_height == s.height for s in statuses
            )

        # Four nodes and three etcd members share the machine's two cores: on a loaded machine catching up takes
        # a while (one loaded `make test` ran past 60 s here), so the bound is generous; it is a bound, not a wait.
        until(same, f"nodes {ids} to converge", timeout_s=180.0)
        status = self.status(ids[0])
        return status.height, status.state_digest

    def store(self, node_id: str) -> Store:
        return open_store(self.net.nodes[node_id].data_dir / "ledger.db")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("network") / "net"
    net = four_node_network(root, "tally-net-test", Limits(log_retention_blocks=RETENTION_BLOCKS))
    net.up()
    try:
        w = World(net, root)
        try:
            setup = [w.member.create_asset("NET", "Network points", "points", 0, True, "all")]
            setup += [w.member.register_account(s.account, s.key.public_key_hex, "merchant") for s in w.shops]
            setup += [w.member.register_account(h.account, h.key.public_key_hex, "holder") for h in w.holders]
            setup += [w.member.issue("NET", h.account, 1_000_000) for h in w.holders]
            txids = w.client("node-1").submit_batch(setup)
            w.wait_final("node-1", txids[-1:])
            yield w
        finally:
            for client in w.clients.values():
                client.close()
    finally:
        net.stop()  # also when the network's first requests fail


def test_ten_thousand_mixed_transactions_round_robin(world: World) -> None:
    nodes = list(world.net.nodes)
    batches: list[tuple[str, list[SignedTx]]] = []
    per_node: dict[str, list[SignedTx]] = {n: [] for n in nodes}
    for k in range(10_000):
        holder = world.holders[k % HOLDERS]
        node = nodes[k % HOLDERS % len(nodes)]  # a holder's transactions go through one node, in order
        if k % 10 == 0:
            tx = holder.transfer("NET", f"h{(k + 1) % HOLDERS}", 3)
        elif k % 25 == 1:
            tx = holder.cash_out("NET", 2, "BANK/123")
        else:
            tx = holder.pay("NET", f"s{k % SHOPS}", 5, f"mixed-{k}")
        per_node[node].append(tx)
    for start in range(0, max(len(v) for v in per_node.values()), 500):
        for node in nodes:
            chunk = per_node[node][start : start + 500]
            if chunk:
                batches.append((node, chunk))
    all_txids: list[str] = []
    last_at: dict[str, str] = {}
    for node, chunk in batches:  # round-robin over the nodes
        txids = world.client(node).submit_batch(chunk)
        all_txids += txids
        last_at[node] = txids[-1]
    assert len(set(all_txids)) == 10_000
    for node, txid in last_at.items():
        world.wait_final(node, [txid])
    height, _digest = world.converged(nodes)
    for node in nodes:
        store = world.store(node)
        assert store.known_txids(all_txids) == set(all_txids)
        codes = [store.tx(t).code for t in all_txids[::50]]  # type: ignore[union-attr]
        assert codes.count("ok") == len(codes)
        assert money_rule_faults(list(store.state_items())) == []
        assert store.head().height == height and store.final_height() == height  # type: ignore[union-attr]
        store.close()
    audit = subprocess.run(
        [sys.executable, "-m", "tally.cli", "audit", "--data-dir", str(world.net.nodes["node-3"].data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert audit.returncode == 0 and " 0 faults" in audit.stdout, audit.stdout[-2000:]


def test_a_node_down_the_rest_finalise_and_it_catches_up(world: World) -> None:
    world.net.nodes["node-4"].kill9()
    txids = world.client("node-2").submit_batch(world.payments(300))
    world.wait_final("node-2", txids)  # 3 of 4 validators are more than two thirds
    world.net.nodes["node-4"].start()
    world.converged()


def test_an_etcd_member_down_the_network_keeps_finalising(world: World) -> None:
    member = world.net.etcd.members[0]  # the nodes started on the first endpoint
    world.net.etcd.kill_member(member.name)
    txids = world.client("node-1").submit_batch(world.payments(200))
    world.wait_final("node-3", txids)
    world.net.etcd.start_member(member)
    world.net.etcd.wait_healthy(member)
    txids = world.client("node-4").submit_batch(world.payments(200))
    world.wait_final("node-1", txids)
    world.converged()


def test_two_of_four_down_nothing_final_nothing_lost(world: World) -> None:
    final_before = world.status("node-1").final_height
    world.net.nodes["node-3"].kill9()
    world.net.nodes["node-4"].kill9()
    try:
        txids = world.client("node-1").submit_batch(world.payments(100))
        until(lambda: all(world.tx_status(n, txids[-1]) == "committed" for n in ("node-1", "node-2")), "commit")
        statuses = {world.client("node-1").status(t).status for t in txids}
        assert statuses == {"committed"}
        assert world.status("node-1").final_height == final_before
        assert world.status("node-2").final_height == final_before
    finally:  # the later tests of the module need all four, whatever happened here
        world.net.nodes["node-3"].start()
        world.net.nodes["node-4"].start()
    for node in world.net.nodes:
        world.wait_final(node, txids)
    world.converged()


def test_a_tampered_balance_is_caught_and_repaired(world: World) -> None:
    victim = world.net.nodes["node-2"]
    victim.stop()
    with sqlite3.connect(victim.data_dir / "ledger.db") as db:
        db.execute("UPDATE state SET value = ? WHERE key = ?", (encode_value(10**9), BALANCES.key("h7", "NET")))
    victim.start()
    txid = world.client("node-1").submit(world.holders[7].pay("NET", "s1", 11, "touch-h7"))
    world.wait_final("node-1", [txid])
    height = world.client("node-1").status(txid).height
    until(lambda: world.status("node-2").divergence is not None, "node-2 to report divergence")
    divergence = world.status("node-2").divergence
    assert divergence is not None and divergence.height == height
    assert divergence.our_digest != divergence.certified_digest
    assert world.client("node-1").node_status().divergence is None
    certificate = world.client("node-1").http.get(f"/v1/blocks/{height}/certificate").json()
    signers = {s["validator"] for s in certificate["signatures"]}
    assert "node-2" not in signers and len(signers) >= 3  # its wrong digest joined no certificate
    assert "tally_diverged 1.0" in world.client("node-2").http.get("/metrics").text
    assert "DIVERGENCE at height" in (victim.data_dir / "node.log").read_text()
    victim.stop()
    repaired = subprocess.run(
        [sys.executable, "-m", "tally.cli", "node", "repair", "--data-dir", str(victim.data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert repaired.returncode == 0, repaired.stderr
    victim.start()
    height, _digest = world.converged()
    assert world.status("node-2").divergence is None
    assert world.client("node-2").balances("h7") == world.client("node-1").balances("h7")


def test_a_node_behind_a_compacted_log_catches_up_from_a_peer(world: World) -> None:
    late = world.net.nodes["node-4"]
    late.stop()
    behind = world.status("node-1").height
    late_head = world.store("node-4").head()
    assert late_head is not None
    needed_from = late_head.log_position + 1  # the first log revision node-4 has not applied
    for _ in range(RETENTION_BLOCKS * 3):  # one proposal, one block
        txids = world.client("node-1").submit_batch(world.payments(3))
        world.wait_final("node-1", txids[-1:])
    endpoint = world.net.etcd.members[1]
    log_key = f"/tally/{world.genesis.chain}/log"

    def compacted_past_late_node() -> bool:
        """Watching the log from where node-4 stopped fails once etcd compacted past it."""
        client = pyetcd.client("127.0.0.1", endpoint.client_port, timeout=5)
        try:
            events, cancel = client.watch(log_key, start_revision=needed_from)
            timer = threading.Timer(1.0, cancel)  # the first event, or the compaction error, comes at once
            timer.start()
            for _ in events:
                break
            timer.cancel()
            cancel()
            return False
        except pyetcd.exceptions.RevisionCompactedError:
            return True
        finally:
            client.close()

    until(compacted_past_late_node, "etcd compaction")
    assert world.status("node-1").height >= behind + RETENTION_BLOCKS * 3
    late.start()
    world.converged()
    assert "fetching blocks from peers" in (late.data_dir / "node.log").read_text()


def test_receipts_from_any_node_verify_offline(world: World) -> None:
    txid = world.client("node-3").submit(world.holders[3].pay("NET", "s2", 9, "receipt-1"))
    world.wait_final("node-3", [txid])
    world.converged()
    for node in world.net.nodes:
        receipt = world.client(node).receipt(txid)
        assert verify_receipt(receipt, world.genesis) == (True, "ok")
        cert = receipt.certificate
        assert len(cert.signatures) >= 3
        short = msgspec.structs.replace(cert, signatures=cert.signatures[:2])
        assert verify_receipt(msgspec.structs.replace(receipt, certificate=short), world.genesis)[0] is False
        forged = [ValidatorSignature(s.validator, "cd" * 64) for s in cert.signatures[:1]] + list(cert.signatures[1:3])
        forged_cert = Certificate(cert.chain, cert.height, cert.block_hash, cert.state_digest, forged)
        assert verify_receipt(msgspec.structs.replace(receipt, certificate=forged_cert), world.genesis)[0] is False
        doubled = [cert.signatures[0]] * 3
        doubled_cert = Certificate(cert.chain, cert.height, cert.block_hash, cert.state_digest, doubled)
        assert verify_receipt(msgspec.structs.replace(receipt, certificate=doubled_cert), world.genesis)[0] is False


def test_the_same_transaction_through_two_nodes_applies_once(world: World) -> None:
    before = world.client("node-1").balances("s4").get("NET", 0)
    signed = world.holders[11].pay("NET", "s4", 17, "twice-through-two-nodes")
    with ThreadPoolExecutor(2) as pool:  # both nodes admit it and propose it to the log
        first, second = pool.map(lambda node: world.client(node).submit(signed), ["node-1", "node-2"])
    assert first == second
    world.wait_final("node-1", [first])
    world.wait_final("node-2", [first])
    world.converged()
    for node in world.net.nodes:
        assert world.client(node).balances("s4")["NET"] == before + 17
        assert world.client(node).status(first).code == "ok"


def test_every_value_moving_type_signed_twice_with_one_ref_through_two_nodes_applies_once(world: World) -> None:
    """A client timed out at node-1 and signed the request again (new seq, same ref) for node-2, at once."""
    chain = world.genesis.chain
    member2 = Signer("member-2", read_keyfile(world.root / "keys" / "member-2.json").keypair(), chain)
    payer, payee, shop, cashier = world.holders[21], world.holders[22], world.shops[1], world.shops[2]
    setup = [
        payer.pay("NET", shop.account, 50, "ref-twice-payment"),
        member2.create_asset("NET-B", "Second points", "points", 0, True, "none"),
        member2.issue("NET-B", "member-2", 100, ref="ref-twice-setup"),
    ]
    setup_ids = world.client("node-1").submit_batch(setup)
    world.wait_final("node-1", setup_ids)
    for client_ in (world.client("node-1"), world.client("node-2")):
        assert [client_.status(t).code for t in setup_ids] == ["ok", "ok", "ok"]

    member2_reader = TallyClient(world.net.nodes["node-3"].url, reader=("member-2", member2.key))  # its own account

    def watched() -> dict[str, int]:
        client_ = world.client("node-3")
        return {
            "payee NET": client_.balances(payee.account).get("NET", 0),
            "payer NET": client_.balances(payer.account).get("NET", 0),
            "cashier NET": client_.balances(cashier.account).get("NET", 0),
            "h23 NET": client_.balances("h23").get("NET", 0),
            "member-2 NET-B": member2_reader.balances("member-2").get("NET-B", 0),
        }

    pairs = {
        "transfer": [world.holders[20].transfer("NET", payee.account, 7, ref="twice") for _ in "ab"],
        "refund": [shop.refund("ref-twice-payment", 5, ref="twice") for _ in "ab"],
        "cash_out": [cashier.cash_out("NET", 4, "BANK-9", ref="twice") for _ in "ab"],
        "issue": [world.member.issue("NET", "h23", 3, ref="twice") for _ in "ab"],
        "burn": [member2.burn("NET-B", 2, ref="twice") for _ in "ab"],
    }
    before = watched()
    firsts = [first for first, _ in pairs.values()]
    seconds = [second for _, second in pairs.values()]
    with ThreadPoolExecutor(2) as pool:
        sent = list(
            pool.map(lambda job: world.client(job[0]).submit_batch(job[1]), [("node-1", firsts), ("node-2", seconds)])
        )
    for node in ("node-1", "node-2"):
        world.wait_final(node, sent[0] + sent[1])
    world.converged()
    for tx_type, first_id, second_id in zip(pairs, sent[0], sent[1], strict=True):
        codes = sorted([world.client("node-4").status(t).code for t in (first_id, second_id)])
        # The first applied; the second found the ref used, or (ordered first) its seq not yet reached.
        assert codes in (["duplicate_ref", "ok"], ["ok", "seq_future"]), (tx_type, codes)
    after = watched()
    member2_reader.close()
    assert after["payee NET"] - before["payee NET"] == 7
    assert after["payer NET"] - before["payer NET"] == 5
    assert after["cashier NET"] - before["cashier NET"] == -4
    assert after["h23 NET"] - before["h23 NET"] == 3
    assert after["member-2 NET-B"] - before["member-2 NET-B"] == -2


def test_network_cli_init_up_down(tmp_path: Path) -> None:
    root = tmp_path / "cli-net"
    base = free_ports(2 + 6)[0]  # two node APIs, then three etcd members' client and peer ports
    etcd_base = base + 2
    cli = [sys.executable, "-m", "tally.cli", "network"]
    made = subprocess.run(
        [
            *cli,
            "init",
            "--dir",
            str(root),
            "--members",
            "2",
            "--base-port",
            str(base),
            "--etcd-base-port",
            str(etcd_base),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    up = subprocess.run([*cli, "up", "--dir", str(root)], capture_output=True, text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        assert f"node node-2: http://127.0.0.1:{base + 1}" in up.stdout
        with TallyClient(f"http://127.0.0.1:{base + 1}") as client:
            member = Signer("member-2", read_keyfile(root / "keys" / "member-2.json").keypair(), "tally-net")
            txid = client.submit(member.create_asset("CLI", "Cli points", "points", 0, True, "none"))
            assert client.wait_final(txid).code == "ok"
            assert len(client.receipt(txid).certificate.signatures) == 2  # both validators: 2 of 2
    finally:
        down = subprocess.run([*cli, "down", "--dir", str(root)], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0 and "node-1" in down.stdout and "etcd-3" in down.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{base}/health", timeout=2)
