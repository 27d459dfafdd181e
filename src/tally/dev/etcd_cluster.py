"""Start and stop a local etcd cluster (real `etcd` processes on 127.0.0.1).

Used by `tally network up` and the tests. etcd comes from the operating
system's packages (Debian: `etcd-server`); `make test` installs it. A start
that fails stops the members it started; one whose port is taken raises
PortInUse (and, for a cluster that never ran, `move_ports` retries on fresh
ports). With a TlsDir the members speak TLS to clients and to each other,
each with its certificate from it, and require a client certificate signed
by its CA on both sides (--client-cert-auth, --peer-client-cert-auth).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from ..node.startup import port_in_use
from .process import PORT_ATTEMPTS, PortInUse, free_ports
from .tls import TlsDir

READY_POLL_S = 0.05
_IN_USE = re.compile(r"listen tcp [^\s\"]*:(\d+): bind: address already in use")


class EtcdStartFailed(RuntimeError):
    """An etcd member exited instead of serving; `reason` is its last error, in one line."""

    def __init__(self, name: str, log: str) -> None:
        self.reason = f"etcd member {name} exited: {_last_error(log)}"
        super().__init__(f"{self.reason}\n{log[-3000:]}")


def _last_error(log: str) -> str:
    """etcd logs JSON lines (zap): the last one at error level or above, as "message: error"."""
    for line in reversed(log.splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal", "panic"):
            return f"{entry.get('msg', '')}: {entry.get('error', '')}".strip(": ")
    lines = [line for line in log.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


@dataclass(frozen=True)
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    tls: bool = False  # https:// client and peer URLs (its cluster has a TlsDir)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    """Members of one etcd cluster, each a process in its own process group.

    `tls`: the CA and each member's certificate (TlsDir.cert(member name));
    every member must then have tls=True, and none without it.
    """

    def __init__(self, root: Path, members: list[EtcdMember], token: str = "tally", tls: TlsDir | None = None) -> None:
        if any(m.tls != (tls is not None) for m in members):
            raise ValueError("etcd members use TLS exactly when their cluster has TLS files")
        self.root = Path(root)
        self.members = members
        self.token = token
        self.tls = tls
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_starts: dict[str, int] = {}  # where each member's log was when it last started

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def _command(self, member: EtcdMember, state: str) -> list[str]:
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed (Debian: apt-get install etcd-server)")
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        return [
            binary,
            "--name", member.name,
            "--data-dir", str(self.root / member.name),
            "--listen-client-urls", member.client_url,
            "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", initial,
            "--initial-cluster-token", self.token,
            "--initial-cluster-state", state,
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--logger", "zap",
            "--log-outputs", "stderr",
            *self._tls_flags(member),
        ]  # fmt: skip

    def _tls_flags(self, member: EtcdMember) -> list[str]:
        """The member's certificate for clients and peers; both sides must present one signed by the CA."""
        if self.tls is None:
            return []
        cert, key, ca = str(self.tls.cert(member.name)), str(self.tls.key(member.name)), str(self.tls.ca)
        return [
            "--cert-file", cert, "--key-file", key, "--client-cert-auth", "--trusted-ca-file", ca,
            "--peer-cert-file", cert, "--peer-key-file", key, "--peer-client-cert-auth", "--peer-trusted-ca-file", ca,
        ]  # fmt: skip

    def _health_verify(self, member: EtcdMember) -> ssl.SSLContext | bool:
        """How /health is asked over https: the CA, and the member's own certificate as the client's."""
        if self.tls is None:
            return True
        context = ssl.create_default_context(cafile=self.tls.ca)
        context.load_cert_chain(self.tls.cert(member.name), self.tls.key(member.name))
        return context

    def start_member(self, member: EtcdMember) -> None:
        state = "existing" if (self.root / member.name).exists() else "new"
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{member.name}.log", "ab") as log:
            self._log_starts[member.name] = log.tell()
            self.procs[member.name] = subprocess.Popen(
                self._command(member, state), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start(self, ready_timeout_s: float = 60, move_ports: bool = False) -> EtcdCluster:
        """Start every member and wait until each is healthy; on failure, stop those started and raise.

        `move_ports`: a cluster that never ran moves to fresh ports when one of
        its ports is taken (self.members change: read them after).
        """
        movable = move_ports and not any((self.root / m.name).exists() for m in self.members)
        for attempt in range(PORT_ATTEMPTS if movable else 1):
            try:
                return self._start_all(ready_timeout_s)
            except PortInUse:
                if not movable or attempt == PORT_ATTEMPTS - 1:
                    raise
                for member in self.members:  # what the failed start left: the cluster never ran
                    shutil.rmtree(self.root / member.name, ignore_errors=True)
                ports = free_ports(2 * len(self.members))
                self.members = [
                    replace(m, client_port=ports[2 * i], peer_port=ports[2 * i + 1]) for i, m in enumerate(self.members)
                ]
        raise AssertionError("unreachable")

    def _start_all(self, ready_timeout_s: float) -> EtcdCluster:
        for member in self.members:
            for port in (member.client_port, member.peer_port):
                if port_in_use("127.0.0.1", port):
                    raise PortInUse(port, f"etcd {member.name}")
        try:
            for member in self.members:
                self.start_member(member)
            for member in self.members:
                self.wait_healthy(member, ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, member: EtcdMember, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        verify = self._health_verify(member)
        while time.monotonic() < deadline:
            proc = self.procs.get(member.name)
            if proc is not None and proc.poll() is not None:
                with open(self.root / f"{member.name}.log", "rb") as file:
                    file.seek(self._log_starts.get(member.name, 0))
                    log = file.read().decode(errors="replace")
                busy = _IN_USE.findall(log)
                if busy and int(busy[-1]) in (member.client_port, member.peer_port):
                    raise PortInUse(int(busy[-1]), f"etcd {member.name}")
                raise EtcdStartFailed(member.name, log)
            try:
                if httpx.get(member.client_url + "/health", timeout=1, verify=verify).json().get("health") == "true":
                    return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(READY_POLL_S)  # polling for readiness, bounded by the deadline
        raise TimeoutError(f"etcd member {member.name} not healthy within {timeout_s} s")

    def kill_member(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
