"""`tally node start` as a child process on 127.0.0.1, free ports, and the processes a session started.

For tests, `tally network up` and `tally bench`. A node whose node.json names
TLS files serves https://; its readiness is checked against its CA.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from ..node.config import DataDir, tls_paths
from ..ordering.peers import TlsPaths

READY_POLL_S = 0.05
GROUP_DRAIN_TIMEOUT_S = 10
PORT_ATTEMPTS = 5  # starts tried on fresh ports when the one chosen was taken meanwhile


# Ports for test and benchmark servers come from below the kernel's ephemeral range
# (32768-60999 here, /proc/sys/net/ipv4/ip_local_port_range), which it hands to
# every program's outgoing connections; no program is handed these.
PORT_RANGE = range(20_000, 32_000)
_cursor = [PORT_RANGE.start + (os.getpid() * 97) % len(PORT_RANGE)]  # processes start apart; each call moves on
_cursor_lock = threading.Lock()
_held: set[int] = set()  # handed out by this process, reserved for it until it exits
_reservations: list[int] = []  # the open reservation file (one byte per port, locked while reserved)


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports on 127.0.0.1 from PORT_RANGE, reserved for this process.

    A port is handed out once per process, and not to two processes that take
    their ports from here at once (each holds a lock on the port's byte in a
    file all of them share, until it exits); each is also bound once to check
    no other program listens on it.
    """
    assert 0 < count < len(PORT_RANGE)
    with _cursor_lock:
        for _ in range(len(PORT_RANGE)):
            start = _cursor[0]
            if start + count > PORT_RANGE.stop:
                start = PORT_RANGE.start
            _cursor[0] = start + count
            block = range(start, start + count)
            if _held.isdisjoint(block) and _reserve(block):
                if _all_free(block):
                    _held.update(block)
                    return list(block)
                _release(block)
    raise RuntimeError(f"no {count} consecutive free ports in {PORT_RANGE}")


def reserved_elsewhere(port: int) -> bool:
    """Whether another process holds `port` from free_ports."""
    with _cursor_lock:
        if port in _held:
            return False
        if _reserve(range(port, port + 1)):
            _release(range(port, port + 1))
            return False
        return True


def _reservation_fd() -> int:
    if not _reservations:  # opened once and never closed: closing any descriptor of it drops every lock
        path = Path(tempfile.gettempdir()) / f"tally-ports-{os.getuid()}"
        _reservations.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    return _reservations[0]


def _reserve(ports: range) -> bool:
    fd = _reservation_fd()
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, len(ports), ports.start, os.SEEK_SET)
    except OSError:
        return False
    return True


def _release(ports: range) -> None:
    fcntl.lockf(_reservation_fd(), fcntl.LOCK_UN, len(ports), ports.start, os.SEEK_SET)


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


class PortInUse(RuntimeError):
    """A server could not listen: another program holds its port."""

    def __init__(self, port: int, what: str) -> None:
        super().__init__(f"port {port} ({what}) is in use by another program")
        self.port = port
        self.what = what


_IN_USE = re.compile(r"port (\d+) on \S+ is in use|\('[^']*', (\d+)\): address already in use")


def port_in_use_from(output: str) -> int | None:
    """The port a failed `tally node start` could not listen on, from what it printed."""
    found = _IN_USE.search(output)
    return int(found.group(1) or found.group(2)) if found else None


class NodeStartFailed(RuntimeError):
    """`tally node start` exited instead of serving; `reason` is its last line."""

    def __init__(self, data_dir: Path, output: str) -> None:
        lines = [line for line in output.splitlines() if line.strip()]
        self.reason = lines[-1].removeprefix("Error: ") if lines else "no output"
        super().__init__(f"node exited: {output[-3000:]}")


def node_tls(data_dir: Path) -> TlsPaths | None:
    """The TLS files the node.json in `data_dir` names; None without, or when it cannot be read (the start says why)."""
    data = DataDir(data_dir)
    try:
        return tls_paths(data.settings(), data)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


class NodeProcess:
    """A real node process with its own process group (so kill -9 takes its workers too).

    `movable`: when its port turns out to be taken as it starts, start it on
    fresh ports from free_ports instead (its url changes); for nodes no other
    node or file names by port. `url` is https:// when its node.json names TLS
    files; `verify` is then what checks its certificate (its CA), for httpx.
    """

    def __init__(self, data_dir: Path, port: int, movable: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.tls = node_tls(self.data_dir)
        self.port = port
        self.url = self._url(port)
        self.movable = movable
        self.proc: subprocess.Popen[bytes] | None = None

    def _url(self, port: int) -> str:
        return f"{'https' if self.tls is not None else 'http'}://127.0.0.1:{port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify` for this node: its CA with TLS, else the default."""
        return ssl.create_default_context(cafile=self.tls.ca) if self.tls is not None else True

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout_s: float = 60) -> NodeProcess:
        """Start the node and return once /health answers 200."""
        for attempt in range(PORT_ATTEMPTS if self.movable else 1):
            try:
                return self._start(ready_timeout_s)
            except PortInUse:
                if attempt == PORT_ATTEMPTS - 1 or not self.movable:
                    raise
                self.port = free_ports(1)[0]
                self.url = self._url(self.port)
        raise AssertionError("unreachable")

    def _start(self, ready_timeout_s: float) -> NodeProcess:
        log_path = self.data_dir / "node.log"
        with open(log_path, "ab") as log:
            offset = log.tell()
            command = [sys.executable, "-m", "tally.cli", "node", "start", "--data-dir", str(self.data_dir)]
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout_s
        verify = self.verify
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._wait_for_group(GROUP_DRAIN_TIMEOUT_S)
                with open(log_path, "rb") as log:
                    log.seek(offset)
                    output = log.read().decode(errors="replace")
                if port_in_use_from(output) == self.port:
                    raise PortInUse(self.port, f"node {self.data_dir.name}")
                raise NodeStartFailed(self.data_dir, output)
            try:
                if httpx.get(self.url + "/health", timeout=1, verify=verify).status_code == 200:
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
        """SIGTERM and wait; SIGKILL (its whole process group) if it does not stop within 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
        if self.proc is not None:
            self._wait_for_group(GROUP_DRAIN_TIMEOUT_S)

    def _wait_for_group(self, timeout_s: float) -> None:
        """Give what the node started time to exit (it ends its workers before it exits itself)."""
        deadline = time.monotonic() + timeout_s
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(READY_POLL_S)  # polling for an exit, bounded by the deadline

    def leftovers(self) -> list[int]:
        """Processes still running in the node's process group (its signature workers, if it did not end them)."""
        assert self.proc is not None
        return [p.pid for p in processes() if p.pgid == self.proc.pid]


# --- the processes a session started ----------------------------------------------

SESSION_ENV = "TALLY_PROCESS_SESSION"  # inherited by every process started below one that set it


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    command: str

    def __str__(self) -> str:
        return f"{self.pid} ({self.command[:160]})"


def processes() -> list[Proc]:
    """Every process of this machine that is running (not a zombie), read from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # ended meanwhile
        if stat[0] != "Z":
            found.append(Proc(int(name), int(stat[1]), int(stat[2]), command.strip()))
    return found


def start_session() -> str:
    """Mark this process: every process started below it, however deep or orphaned, carries the mark."""
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    os.environ[SESSION_ENV] = token
    return token


def session_processes(token: str) -> list[Proc]:
    """Running processes that carry the session's mark, other than this one and its own resource tracker."""
    mark = f"{SESSION_ENV}={token}".encode()
    me = os.getpid()
    found = []
    for proc in processes():
        if proc.pid == me or (proc.ppid == me and "multiprocessing.resource_tracker" in proc.command):
            continue  # this process's resource tracker ends when this process does
        try:
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # another user's, or ended meanwhile
        if mark in environ:
            found.append(proc)
    return found


def end_session(token: str, timeout_s: float = GROUP_DRAIN_TIMEOUT_S) -> list[str]:
    """Wait (bounded) for the session's processes to end; kill those left, each by its pid; say which they were."""
    deadline = time.monotonic() + timeout_s
    left = session_processes(token)
    while left and time.monotonic() < deadline:
        time.sleep(READY_POLL_S)  # polling for exits, bounded by the deadline
        left = session_processes(token)
    for proc in left:
        _kill(proc.pid)
    return [str(proc) for proc in left]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
