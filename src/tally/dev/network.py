"""A local network on one machine: `tally network init | up | down`.

`init` writes, under one folder, the genesis (N member institutions, N
validator nodes, 3 etcd members), every member's key and every node's data
directory (settings, validator key, a copy of the genesis). `up` starts the
etcd members and the nodes as real processes on 127.0.0.1 and records their
process ids; `down` stops them. For machines of their own, see
docs/network.md: the same files, spread out.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..core.limits import Limits
from ..core.types import Genesis, GenesisMember, Validator
from ..node.config import DataDir, NodeSettings, new_keyfile, write_keyfile
from .etcd_cluster import EtcdCluster, EtcdMember
from .process import NodeProcess

DEFAULT_NODE_PORT = 8750
DEFAULT_ETCD_PORT = 23790
STOP_POLL_S = 0.1


class NetworkLayout(msgspec.Struct, frozen=True):
    """What `init` decided: where every etcd member and node listens."""

    chain: str
    etcd: list[tuple[str, int, int]]  # (name, client port, peer port)
    nodes: list[tuple[str, int]]  # (validator id, API port)


def _layout_path(root: Path) -> Path:
    return root / "network.json"


def init_network(
    root: Path,
    members: int,
    chain: str = "tally-net",
    node_ports: list[int] | None = None,
    etcd_ports: list[tuple[int, int]] | None = None,
    limits: Limits | None = None,
    genesis_time_ms: int = 0,
    verify_workers: int = 0,
) -> NetworkLayout:
    root = Path(root)
    if _layout_path(root).exists():
        raise FileExistsError(f"{root} already holds a network")
    node_ports = node_ports or [DEFAULT_NODE_PORT + i for i in range(members)]
    etcd_ports = etcd_ports or [(DEFAULT_ETCD_PORT + 2 * i, DEFAULT_ETCD_PORT + 2 * i + 1) for i in range(3)]
    layout = NetworkLayout(
        chain=chain,
        etcd=[(f"etcd-{i + 1}", client, peer) for i, (client, peer) in enumerate(etcd_ports)],
        nodes=[(f"node-{i + 1}", port) for i, port in enumerate(node_ports[:members])],
    )
    member_keys = [new_keyfile(f"member-{i + 1}") for i in range(members)]
    validator_keys = [new_keyfile(node_id) for node_id, _ in layout.nodes]
    genesis = Genesis(
        chain=chain,
        genesis_time_ms=genesis_time_ms,
        members=[
            GenesisMember(id=k.id, name=f"Member {i + 1}", public_key=k.public_key) for i, k in enumerate(member_keys)
        ],
        validators=[
            Validator(id=k.id, public_key=k.public_key, api_url=f"http://127.0.0.1:{port}")
            for k, (_, port) in zip(validator_keys, layout.nodes, strict=True)
        ],
        etcd_endpoints=[f"http://127.0.0.1:{client}" for _, client, _ in layout.etcd],
    )
    encoded_genesis = msgspec.json.format(msgspec.json.encode(genesis))
    root.mkdir(parents=True, exist_ok=True)
    (root / "genesis.json").write_bytes(encoded_genesis)
    for key in member_keys:
        write_keyfile(root / "keys" / f"{key.id}.json", key)
    for key, (node_id, port), member in zip(validator_keys, layout.nodes, member_keys, strict=True):
        data = DataDir(root / "nodes" / node_id)
        data.root.mkdir(parents=True, exist_ok=True)
        data.genesis_path.write_bytes(encoded_genesis)
        write_keyfile(data.key_path("validator"), key)
        write_keyfile(data.key_path(member.id), member)  # the member that runs this node
        settings = NodeSettings(
            validator_id=node_id, port=port, orderer="etcd", verify_workers=verify_workers, limits=limits or Limits()
        )
        data.settings_path.write_bytes(msgspec.json.format(msgspec.json.encode(settings)))
    _layout_path(root).write_bytes(msgspec.json.format(msgspec.json.encode(layout)))
    return layout


@dataclass
class Network:
    """A network's processes: its etcd cluster and its nodes."""

    root: Path
    layout: NetworkLayout
    etcd: EtcdCluster = field(init=False)
    nodes: dict[str, NodeProcess] = field(init=False)

    def __post_init__(self) -> None:
        members = [EtcdMember(name, client, peer) for name, client, peer in self.layout.etcd]
        self.etcd = EtcdCluster(self.root / "etcd", members, token=self.layout.chain)
        self.nodes = {node_id: NodeProcess(self.root / "nodes" / node_id, port) for node_id, port in self.layout.nodes}

    @classmethod
    def open(cls, root: Path) -> Network:
        root = Path(root)
        return cls(root, msgspec.json.decode(_layout_path(root).read_bytes(), type=NetworkLayout))

    def up(self) -> None:
        self.etcd.start()
        for node in self.nodes.values():
            node.start()
        self._record_pids()

    def _record_pids(self) -> None:
        pids = {name: proc.pid for name, proc in self.etcd.procs.items()}
        pids.update({node_id: node.pid for node_id, node in self.nodes.items() if node.proc is not None})
        (self.root / "pids.json").write_text(json.dumps(pids))

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        self.etcd.stop()


def down(root: Path, timeout_s: float = 30) -> list[str]:
    """Stop every process `up` recorded: SIGTERM to its process group, SIGKILL after `timeout_s`."""
    path = Path(root) / "pids.json"
    if not path.exists():
        return []
    stopped: dict[str, int] = {}
    for name, pid in json.loads(path.read_text()).items():
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped[name] = pid
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout_s
    for pid in stopped.values():
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(STOP_POLL_S)  # waiting for a process we do not parent to exit, bounded
        if _running(pid):
            os.killpg(pid, signal.SIGKILL)
    path.unlink()
    return list(stopped)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a process whose parent exited may linger as one)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
