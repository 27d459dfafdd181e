"""Start and stop a local etcd cluster (real `etcd` processes on 127.0.0.1).

Used by `tally network up` and the tests. etcd comes from the operating
system's packages (Debian: `etcd-server`); `make test` installs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_POLL_S = 0.05


@dataclass(frozen=True)
class EtcdMember:
    name: str
    client_port: int
    peer_port: int

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    """Members of one etcd cluster, each a process in its own process group."""

    def __init__(self, root: Path, members: list[EtcdMember], token: str = "tally") -> None:
        self.root = Path(root)
        self.members = members
        self.token = token
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

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
        ]  # fmt: skip

    def start_member(self, member: EtcdMember) -> None:
        state = "existing" if (self.root / member.name).exists() else "new"
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{member.name}.log", "ab") as log:
            self.procs[member.name] = subprocess.Popen(
                self._command(member, state), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start(self, ready_timeout_s: float = 60) -> EtcdCluster:
        for member in self.members:
            self.start_member(member)
        for member in self.members:
            self.wait_healthy(member, ready_timeout_s)
        return self

    def wait_healthy(self, member: EtcdMember, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self.procs.get(member.name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError((self.root / f"{member.name}.log").read_text()[-3000:])
            try:
                if httpx.get(member.client_url + "/health", timeout=1).json().get("health") == "true":
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
