"""`tally node start` as a child process on 127.0.0.1: for tests and `tally bench`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

READY_POLL_S = 0.05
GROUP_DRAIN_TIMEOUT_S = 10


# Ports for test and benchmark servers come from below the kernel's ephemeral range
# (32768-60999 here, /proc/sys/net/ipv4/ip_local_port_range), which it hands to
# every program's outgoing connections; no program is handed these.
PORT_RANGE = range(20_000, 32_000)
_cursor = [PORT_RANGE.start + (os.getpid() * 97) % len(PORT_RANGE)]  # processes start apart; each call moves on
_cursor_lock = threading.Lock()


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports on 127.0.0.1 from PORT_RANGE, none handed out before by this process."""
    assert 0 < count < len(PORT_RANGE)
    with _cursor_lock:
        for _ in range(len(PORT_RANGE)):
            start = _cursor[0]
            if start + count > PORT_RANGE.stop:
                start = PORT_RANGE.start
            _cursor[0] = start + count
            if _all_free(range(start, start + count)):
                return list(range(start, start + count))
    raise RuntimeError(f"no {count} consecutive free ports in {PORT_RANGE}")


def _all_free(ports: range) -> bool:
    sockets = []
    try:
        for port in ports:
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for sock in sockets:
            sock.close()


class NodeProcess:
    """A real node process with its own process group (so kill -9 takes its workers too)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout_s: float = 60) -> NodeProcess:
        """Start the node and return once /health answers 200."""
        with open(self.data_dir / "node.log", "ab") as log:
            command = [sys.executable, "-m", "tally.cli", "node", "start", "--data-dir", str(self.data_dir)]
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("node exited: " + (self.data_dir / "node.log").read_text()[-3000:])
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(READY_POLL_S)  # polling for readiness, bounded by the deadline
        self.kill9()
        raise TimeoutError(f"node did not answer /health within {ready_timeout_s} s")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop within 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
        if self.proc is not None:
            self._wait_for_group(GROUP_DRAIN_TIMEOUT_S)

    def _wait_for_group(self, timeout_s: float) -> None:
        """Give the node's helpers (the multiprocessing resource tracker ends on EOF) time to exit."""
        deadline = time.monotonic() + timeout_s
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(READY_POLL_S)  # polling for an exit, bounded by the deadline

    def leftovers(self) -> list[int]:
        """Processes still in the node's process group (its signature workers, if it did not end them)."""
        assert self.proc is not None
        found = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True, check=False)
        return [int(pid) for pid in found.stdout.split()]
