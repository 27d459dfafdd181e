"""Stopping leaves nothing behind: a node on SIGTERM, `tally network up` that fails, the test suite itself.

Processes are found by reading /proc directly (process group, or a marker in
the environment every descendant inherits), not through the code under test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from helpers import NodeProcess, free_port
from tally.client import Signer
from tally.client.keys import read_keyfile
from tally.dev.network import init_network
from tally.dev.process import free_ports
from tally.node.config import DataDir, init_dev_node

EXIT_DEADLINE_S = 30
POLL_S = 0.01


def proc_stat(pid: int) -> list[str] | None:
    """state, ppid, pgrp, session, ... of a process; None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def live_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def live_in_group(pgid: int) -> list[str]:
    """Processes of the group that are still running (zombies are dead: they only await their reaper)."""
    found = []
    for pid in live_pids():
        stat = proc_stat(pid)
        if stat is not None and stat[0] != "Z" and int(stat[2]) == pgid:
            found.append(f"{pid} {cmdline(pid)[:120]}")
    return found


def live_with_marker(marker: str) -> list[str]:
    """Running processes whose environment holds `marker` (inherited by every descendant)."""
    needle = marker.encode()
    found = []
    for pid in live_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        stat = proc_stat(pid)
        if needle in environ.split(b"\0") and stat is not None and stat[0] != "Z":
            found.append(f"{pid} {cmdline(pid)[:120]}")
    return found


def kill_pids(descriptions: list[str]) -> None:
    for line in descriptions:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def until(condition: object, what: str, timeout_s: float = EXIT_DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(POLL_S)  # polling process state, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A solo node with a pool of two signature workers, whatever the core count."""
    data = init_dev_node(tmp_path / "node", [("bank-a", "Bank A")], chain="tally-stop")
    settings = msgspec.json.decode(data.settings_path.read_bytes())
    settings["verify_workers"] = 2
    data.settings_path.write_bytes(msgspec.json.encode(settings))
    return data.root


def test_sigterm_drains_a_request_then_stops_the_node_and_everything_it_started(data_dir: Path) -> None:
    node = NodeProcess(data_dir, free_port()).start()
    assert node.proc is not None
    try:
        group = node.pid
        assert len(live_in_group(group)) >= 4, live_in_group(group)  # node, 2 workers, resource tracker
        bank = Signer("bank-a", read_keyfile(DataDir(data_dir).key_path("bank-a")).keypair(), "tally-stop")
        body = msgspec.json.encode(bank.create_asset("PTS", "Points", "points", 0, True, "none"))
        with socket.create_connection(("127.0.0.1", node.port), timeout=EXIT_DEADLINE_S) as client:
            head = "POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            head += "Expect: 100-continue\r\n"
            client.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
            assert client.recv(65536).startswith(b"HTTP/1.1 100")  # the node is reading the body: in flight
            node.proc.send_signal(signal.SIGTERM)
            client.sendall(body)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = client.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 202"), answer  # drained: the request in flight was answered
        returncode = node.proc.wait(timeout=EXIT_DEADLINE_S)
        left = live_in_group(group)  # at the moment the node exited: nothing of it runs on
    finally:
        node.stop()
        kill_pids(live_in_group(node.pid))
    assert returncode == 0
    assert left == [], left
    log = (data_dir / "node.log").read_text()
    assert "node stopped" in log and "Traceback" not in log, log[-3000:]


def test_sigterm_during_startup_still_runs_the_nodes_own_shutdown(data_dir: Path) -> None:
    port = free_port()
    with open(data_dir / "node.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tally.cli", "node", "start", "--data-dir", str(data_dir), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # SIGTERM as soon as its first signature worker exists: the node is still starting
        until(lambda: any("spawn_main" in line for line in live_in_group(proc.pid)), "a signature worker")
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=EXIT_DEADLINE_S)
        left = live_in_group(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        kill_pids(live_in_group(proc.pid))
    assert returncode == 0
    assert left == [], left
    log = (data_dir / "node.log").read_text()
    assert "node stopped" in log and "Traceback" not in log, log[-3000:]


def test_a_node_killed_outright_leaves_no_signature_workers(data_dir: Path) -> None:
    node = NodeProcess(data_dir, free_port()).start()
    assert node.proc is not None
    group = node.pid
    try:
        os.kill(node.pid, signal.SIGKILL)  # only the node: the OOM killer does this, not `kill -9 -PGID`
        node.proc.wait(timeout=EXIT_DEADLINE_S)
        until(lambda: not live_in_group(group), "the workers and the resource tracker to exit", 10)
    finally:
        kill_pids(live_in_group(group))


# --- tally network up -----------------------------------------------------------


@pytest.fixture
def marker() -> Iterator[str]:
    """An environment entry that every process `tally network up` starts inherits; those left are killed."""
    entry = f"TALLY_SHUTDOWN_TEST={uuid.uuid4().hex}"
    yield entry
    kill_pids(live_with_marker(entry))


def network_cli(marker: str, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    name, value = marker.split("=", 1)
    return subprocess.run(
        [sys.executable, "-m", "tally.cli", "network", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, name: value},
    )


def two_member_network(root: Path) -> list[int]:
    ports = free_ports(8)
    init_network(root, 2, chain="tally-up", node_ports=ports[:2], etcd_ports=[(p, p + 1) for p in ports[2::2]])
    return ports


def test_network_up_refuses_a_damaged_node_and_leaves_nothing_running(tmp_path: Path, marker: str) -> None:
    root = tmp_path / "net"
    two_member_network(root)
    (root / "nodes" / "node-2" / "node.json").write_text("{")
    up = network_cli(marker, "up", "--dir", str(root))
    left = live_with_marker(marker)
    assert up.returncode != 0
    assert "Traceback" not in up.stderr, up.stderr[-3000:]
    lines = [line for line in up.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "node-2" in lines[0] and "node.json" in lines[0], up.stderr
    assert left == [], left


def test_network_up_that_fails_part_way_stops_what_it_started(tmp_path: Path, marker: str) -> None:
    root = tmp_path / "net"
    ports = two_member_network(root)
    first = network_cli(marker, "up", "--dir", str(root))
    down = network_cli(marker, "down", "--dir", str(root))
    assert first.returncode == 0 and down.returncode == 0, first.stderr + down.stderr
    until(lambda: not live_with_marker(marker), "the first run to end")
    with socket.socket() as taken:  # now another program holds node-2's port: etcd and node-1 start, node-2 cannot
        taken.bind(("127.0.0.1", ports[1]))
        taken.listen()
        up = network_cli(marker, "up", "--dir", str(root))
        left = live_with_marker(marker)
    assert up.returncode != 0
    assert "Traceback" not in up.stderr, up.stderr[-3000:]
    lines = [line for line in up.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "node-2" in lines[0] and str(ports[1]) in lines[0], up.stderr
    assert left == [], left

    member = root / "etcd" / "etcd-3"  # now etcd-3 cannot start, after etcd-1 and etcd-2 have
    shutil.rmtree(member)
    member.write_text("not a data directory")
    up = network_cli(marker, "up", "--dir", str(root))
    left = live_with_marker(marker)
    assert up.returncode != 0
    assert "Traceback" not in up.stderr, up.stderr[-3000:]
    lines = [line for line in up.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "etcd-3" in lines[0], up.stderr
    assert left == [], left


def test_network_up_moves_a_fresh_network_off_a_taken_port(tmp_path: Path, marker: str) -> None:
    root = tmp_path / "net"
    ports = two_member_network(root)
    with socket.socket() as taken:  # another program holds node-2's port
        taken.bind(("127.0.0.1", ports[1]))
        taken.listen()
        up = network_cli(marker, "up", "--dir", str(root))
        try:
            assert up.returncode == 0, up.stderr
            urls = [line.split()[2] for line in up.stdout.splitlines() if line.startswith("node ")]
            assert len(urls) == 2 and f":{ports[1]}" not in " ".join(urls), up.stdout
            for url in urls:
                assert httpx.get(url + "/health", timeout=10).status_code == 200
        finally:
            down = network_cli(marker, "down", "--dir", str(root))
    assert down.returncode == 0 and "node-2" in down.stdout and "etcd-3" in down.stdout
    until(lambda: not live_with_marker(marker), "every process of the network to exit")


# --- the test suite's own check ------------------------------------------------


def test_the_session_check_finds_and_ends_an_orphan_it_started() -> None:
    from tally.dev.process import end_session, session_processes

    token = f"check-{uuid.uuid4().hex}"
    # a child starts a grandchild in a session of its own and exits: the grandchild, waiting on a pipe
    # only it holds, is an orphan that never ends by itself
    spawner = (
        "import subprocess, sys;"
        "p = subprocess.Popen([sys.executable, '-c', 'import os; r, w = os.pipe(); os.read(r, 1)'],"
        " start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid, flush=True)"
    )
    env = {**os.environ, "TALLY_PROCESS_SESSION": token}
    out = subprocess.run([sys.executable, "-c", spawner], capture_output=True, text=True, env=env, timeout=60)
    orphan = int(out.stdout.split()[0])
    try:
        assert [p.pid for p in session_processes(token)] == [orphan]
        ended = end_session(token, timeout_s=0.5)
        assert len(ended) == 1 and str(orphan) in ended[0]
        until(lambda: proc_stat(orphan) is None or proc_stat(orphan)[0] == "Z", "the orphan to end")  # type: ignore[index]
        assert session_processes(token) == []
    finally:
        kill_pids([str(orphan)] if proc_stat(orphan) else [])
