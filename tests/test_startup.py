"""`tally node start` refuses a data directory it could not run correctly: one clear line, no traceback.

Each case damages a copy of a real node's data directory (written by a real
node) and runs the real command. Also here: a port someone else holds, and
the test harness moving a node (and an etcd cluster) to fresh ports when a port
is taken, and ports reserved across processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from helpers import NodeProcess, free_port
from tally.client import Signer, TallyClient
from tally.client.keys import read_keyfile
from tally.dev import process
from tally.dev.etcd_cluster import EtcdCluster, EtcdMember
from tally.dev.process import PortInUse, free_ports
from tally.node.config import DataDir, init_dev_node

START_DEADLINE_S = 30  # a refused start ends within a few seconds; one still running after this started


@dataclass
class Started:
    returncode: int | None  # None: it did not exit (it was serving), stopped by the test
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def node_start(data_dir: Path, *extra: str) -> Started:
    """Run `tally node start`; stop it (its whole process group) if it is still running at the deadline."""
    command = [sys.executable, "-m", "tally.cli", "node", "start", "--data-dir", str(data_dir), *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=START_DEADLINE_S)
        return Started(proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        return Started(None, out, err)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def assert_refused(result: Started, *phrases: str) -> str:
    """Exited non-zero, said so in exactly one line naming the problem, and printed no traceback."""
    assert result.returncode is not None, f"the node started and served; stderr: {result.stderr[-2000:]}"
    assert result.returncode != 0
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything[-3000:]
    assert len(result.lines) == 1, result.stderr[-3000:]
    line = result.lines[0]
    print(line)  # shown with -rP
    for phrase in phrases:
        assert phrase in line, line
    return line


@pytest.fixture(scope="module")
def ledgered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A solo node's data directory with two final blocks, written by a real node that then stopped."""
    data_dir = tmp_path_factory.mktemp("ledgered") / "node"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-startup")
    node = NodeProcess(data_dir, free_port()).start()
    try:
        with TallyClient(node.url) as client:
            bank = Signer("bank-a", read_keyfile(DataDir(data_dir).key_path("bank-a")).keypair(), "tally-startup")
            assert client.wait_final(client.submit(bank.create_asset("PTS", "Points", "points", 0, True, "none")))
            assert client.wait_final(client.submit(bank.issue("PTS", "bank-a", 100)))
    finally:
        node.stop()
    assert node.proc is not None and node.proc.returncode == 0
    (data_dir / "node.log").unlink()
    return data_dir


@pytest.fixture
def copy(ledgered: Path, tmp_path: Path) -> DataDir:
    target = tmp_path / "node"
    shutil.copytree(ledgered, target)
    return DataDir(target)


def edit_settings(data: DataDir, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    settings = msgspec.json.decode(data.settings_path.read_bytes())
    change(settings)
    data.settings_path.write_bytes(msgspec.json.encode(settings))


def test_a_healthy_ledger_starts(copy: DataDir) -> None:
    node = NodeProcess(copy.root, free_port()).start()
    try:
        with TallyClient(node.url) as client:
            assert client.node_status().height == 2
    finally:
        node.stop()


def test_a_missing_last_block_row_is_named_with_what_to_run(copy: DataDir) -> None:
    with sqlite3.connect(copy.ledger_path) as db:
        db.execute("DELETE FROM blocks WHERE height = (SELECT MAX(height) FROM blocks)")
    line = assert_refused(node_start(copy.root, "--port", str(free_port())), "ledger.db", "block 2")
    assert "tally node repair" in line or "backup" in line


def test_a_missing_last_block_row_of_a_network_node_says_tally_node_repair(copy: DataDir) -> None:
    edit_settings(copy, lambda s: s.update(orderer="etcd", etcd_endpoints=[f"http://127.0.0.1:{free_port()}"]))
    with sqlite3.connect(copy.ledger_path) as db:
        db.execute("DELETE FROM blocks WHERE height = (SELECT MAX(height) FROM blocks)")
    assert_refused(node_start(copy.root, "--port", str(free_port())), "block 2", "tally node repair")


@pytest.mark.parametrize(
    ("name", "damage", "phrases"),
    [
        ("node.json not json", lambda d: d.settings_path.write_text('{"validator_id": '), ("node.json",)),
        ("node.json unknown field", lambda d: edit_settings(d, lambda s: s.update(prot=1)), ("node.json", "prot")),
        (
            "mempool_max_txs 0",
            lambda d: edit_settings(d, lambda s: s.update(limits={"mempool_max_txs": 0})),
            ("node.json", "mempool_max_txs"),
        ),
        (
            "validator not in genesis",
            lambda d: edit_settings(d, lambda s: s.update(validator_id="validator-9")),
            ("validator-9", "genesis"),
        ),
        ("genesis.json not json", lambda d: d.genesis_path.write_text("not json"), ("genesis.json",)),
        ("genesis.json missing", lambda d: d.genesis_path.unlink(), ("genesis.json",)),
        ("key file not json", lambda d: d.key_path("validator").write_text("{"), ("validator.json",)),
        ("key file missing", lambda d: d.key_path("validator").unlink(), ("validator.json",)),
        (
            "key file of another key",
            lambda d: d.key_path("validator").write_bytes(d.key_path("bank-a").read_bytes()),
            ("validator.json", "genesis"),
        ),
        ("ledger.db not a database", lambda d: d.ledger_path.write_bytes(b"\x00garbage" * 512), ("ledger.db",)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_damaged_data_directory_is_refused_in_one_line(
    copy: DataDir, name: str, damage: Callable[[DataDir], None], phrases: tuple[str, ...]
) -> None:
    for suffix in ("-wal", "-shm"):  # the ledger as a stopped node leaves it: checkpointed
        Path(f"{copy.ledger_path}{suffix}").unlink(missing_ok=True)
    damage(copy)
    assert_refused(node_start(copy.root, "--port", str(free_port())), *phrases)


def test_a_port_out_of_range_in_node_json_is_refused(copy: DataDir) -> None:
    edit_settings(copy, lambda s: s.update(port=70000))
    assert_refused(node_start(copy.root), "node.json", "port")


def test_a_ledger_of_another_genesis_is_refused(copy: DataDir, tmp_path: Path) -> None:
    other = init_dev_node(tmp_path / "other", [("bank-a", "Bank A")], chain="tally-startup")
    shutil.copy(copy.ledger_path, other.ledger_path)
    for suffix in ("-wal", "-shm"):
        if Path(f"{copy.ledger_path}{suffix}").exists():
            shutil.copy(f"{copy.ledger_path}{suffix}", f"{other.ledger_path}{suffix}")
    assert_refused(node_start(other.root, "--port", str(free_port())), "ledger.db", "genesis")


def test_a_port_in_use_is_refused_in_one_line(copy: DataDir) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        assert_refused(node_start(copy.root, "--port", str(port)), str(port), "in use")


# --- ports of test servers ------------------------------------------------------


def test_the_harness_moves_a_node_whose_port_was_taken(copy: DataDir) -> None:
    port = free_port()
    with socket.socket() as taken:  # another program took the port between choosing and binding it
        taken.bind(("127.0.0.1", port))
        taken.listen()
        node = NodeProcess(copy.root, port).start()
        try:
            assert node.port != port
            with TallyClient(node.url) as client:
                assert client.node_status().height == 2
        finally:
            node.stop()


@pytest.fixture
def other_process_ports() -> Iterator[list[int]]:
    """Ports that a second Python process took from free_ports, just where this process would look next."""
    here = process._cursor[0]
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tally.dev import process; process._cursor[0] = int(sys.argv[1]);"
            " print(*process.free_ports(4), flush=True); sys.stdin.read()",
            str(here),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        yield [int(p) for p in child.stdout.readline().split()]
    finally:
        child.stdin.close()  # it reads to the end of its input, then exits
        child.wait(timeout=30)


def test_ports_another_process_took_are_not_handed_out_here(other_process_ports: list[int]) -> None:
    assert len(other_process_ports) == 4
    assert all(process.reserved_elsewhere(p) for p in other_process_ports)
    mine = [p for _ in range(4) for p in free_ports(3)]  # from the same place in the range
    assert not set(mine) & set(other_process_ports)
    assert not any(process.reserved_elsewhere(p) for p in mine)  # held by this process, not another


def test_an_etcd_cluster_on_a_taken_port_moves_or_says_which(tmp_path: Path) -> None:
    client, peer = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", peer))
        taken.listen()
        fixed = EtcdCluster(tmp_path / "fixed", [EtcdMember("etcd-1", client, peer)])
        with pytest.raises(PortInUse) as busy:
            fixed.start()
        assert busy.value.port == peer and "etcd-1" in str(busy.value) and fixed.procs == {}
        cluster = EtcdCluster(tmp_path / "moved", [EtcdMember("etcd-1", client, peer)])
        try:
            cluster.start(move_ports=True)
            assert cluster.members[0].peer_port != peer
            assert httpx.get(cluster.endpoints[0] + "/health", timeout=10).json()["health"] == "true"
        finally:
            cluster.stop()
