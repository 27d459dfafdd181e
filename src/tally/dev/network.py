"""A local network on one machine: `tally network init | up | down`.

`init` writes, under one folder, the genesis (N member institutions, N
validator nodes, 3 etcd members), every member's key and every node's data
directory (settings, validator key, a copy of the genesis). `up` checks every
node's data directory and port first, starts the etcd members and the nodes
as real processes on 127.0.0.1 and records their process ids as they start;
when a start fails it stops what it started, and a network that never ran
moves to fresh ports when one of its ports is taken. `down` stops them. For
machines of their own, see docs/network.md: the same files, spread out.

`add-node` writes one more node for a network `init` made (and starts it
when the network is up); it joins as a validator once the council adds it
(docs/governance.md, "Validators").

`init --tls` also makes a private CA (tls/ca.pem, its key tls/ca-key.pem), a
certificate for every etcd member (tls/etcd-N.pem, tls/etcd-N-key.pem) and
one for every node in its data directory (tls/cert.pem, tls/key.pem, with a
copy of the CA as tls/ca.pem, named in its node.json): the genesis then
names https:// API URLs and etcd endpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..client.keys import new_keyfile, write_keyfile
from ..core.limits import Limits
from ..core.protocol import LATEST
from ..core.types import Genesis, GenesisMember, Validator
from ..node.config import DataDir, NodeSettings, TlsFiles
from ..node.startup import PortBusy, StartupError, check
from .etcd_cluster import EtcdCluster, EtcdMember, EtcdStartFailed
from .process import PORT_ATTEMPTS, NodeProcess, NodeStartFailed, PortInUse, free_ports
from .tls import Authority, TlsDir, issue, read_authority, write_authority, write_pair

DEFAULT_NODE_PORT = 8750
DEFAULT_ETCD_PORT = 23790
STOP_POLL_S = 0.1
NODE_TLS = TlsFiles(cert="tls/cert.pem", key="tls/key.pem", ca="tls/ca.pem")  # in each node's data directory


class NetworkError(RuntimeError):
    """`up` failed; the message is one line (what failed and why), and nothing it started runs on."""


class NetworkLayout(msgspec.Struct, frozen=True):
    """What `init` decided: where every etcd member and node listens."""

    chain: str
    etcd: list[tuple[str, int, int]]  # (name, client port, peer port)
    nodes: list[tuple[str, int]]  # (validator id, API port)
    tls: bool = False  # https:// everywhere: certificates under tls/ and in each node's data directory

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def api_urls(self) -> dict[str, str]:
        return {node_id: f"{self.scheme}://127.0.0.1:{port}" for node_id, port in self.nodes}

    def etcd_endpoints(self) -> list[str]:
        return [f"{self.scheme}://127.0.0.1:{client}" for _, client, _ in self.etcd]


def _layout_path(root: Path) -> Path:
    return root / "network.json"


def _tls_dir(root: Path) -> TlsDir:
    return TlsDir(root / "tls")


def _write_etcd_tls(root: Path, layout: NetworkLayout) -> Authority:
    """The network's CA and every etcd member's certificate, under root/tls."""
    tls = _tls_dir(root)
    ca = write_authority(tls, f"{layout.chain} CA")
    for name, _, _ in layout.etcd:
        write_pair(issue(ca, name), tls.cert(name), tls.key(name))
    return ca


def _write_node_tls(data: DataDir, node_id: str, ca: Authority) -> None:
    """A node's certificate and key, and a copy of the CA, where NODE_TLS names them."""
    write_pair(issue(ca, node_id), data.root / NODE_TLS.cert, data.root / NODE_TLS.key)
    (data.root / NODE_TLS.ca).write_bytes(ca.cert_pem)


def init_network(
    root: Path,
    members: int,
    chain: str = "tally-net",
    node_ports: list[int] | None = None,
    etcd_ports: list[tuple[int, int]] | None = None,
    limits: Limits | None = None,
    genesis_time_ms: int = 0,
    verify_workers: int = 0,
    tls: bool = False,
) -> NetworkLayout:
    """Write a network's genesis, member keys, node data directories and layout under `root`.

    `tls`: a private CA and certificates for every node and etcd member (see
    the module's docstring); the genesis names https:// URLs.
    """
    root = Path(root)
    if _layout_path(root).exists():
        raise FileExistsError(f"{root} already holds a network")
    node_ports = node_ports or [DEFAULT_NODE_PORT + i for i in range(members)]
    etcd_ports = etcd_ports or [(DEFAULT_ETCD_PORT + 2 * i, DEFAULT_ETCD_PORT + 2 * i + 1) for i in range(3)]
    layout = NetworkLayout(
        chain=chain,
        etcd=[(f"etcd-{i + 1}", client, peer) for i, (client, peer) in enumerate(etcd_ports)],
        nodes=[(f"node-{i + 1}", port) for i, port in enumerate(node_ports[:members])],
        tls=tls,
    )
    member_keys = [new_keyfile(f"member-{i + 1}") for i in range(members)]
    validator_keys = [new_keyfile(node_id) for node_id, _ in layout.nodes]
    urls = layout.api_urls()
    genesis = Genesis(
        chain=chain,
        genesis_time_ms=genesis_time_ms,
        members=[
            GenesisMember(id=k.id, name=f"Member {i + 1}", public_key=k.public_key) for i, k in enumerate(member_keys)
        ],
        validators=[Validator(id=k.id, public_key=k.public_key, api_url=urls[k.id]) for k in validator_keys],
        etcd_endpoints=layout.etcd_endpoints(),
        protocol=LATEST,
    )
    encoded_genesis = msgspec.json.format(msgspec.json.encode(genesis))
    root.mkdir(parents=True, exist_ok=True)
    (root / "genesis.json").write_bytes(encoded_genesis)
    ca = _write_etcd_tls(root, layout) if tls else None
    for key in member_keys:
        write_keyfile(root / "keys" / f"{key.id}.json", key)
    for key, (node_id, port), member in zip(validator_keys, layout.nodes, member_keys, strict=True):
        data = DataDir(root / "nodes" / node_id)
        data.root.mkdir(parents=True, exist_ok=True)
        data.genesis_path.write_bytes(encoded_genesis)
        write_keyfile(data.key_path("validator"), key)
        write_keyfile(data.key_path(member.id), member)  # the member that runs this node
        if ca is not None:
            _write_node_tls(data, node_id, ca)
        settings = NodeSettings(
            validator_id=node_id,
            port=port,
            orderer="etcd",
            verify_workers=verify_workers,
            limits=limits or Limits(),
            tls=NODE_TLS if ca is not None else None,
        )
        data.settings_path.write_bytes(msgspec.json.format(msgspec.json.encode(settings)))
    _layout_path(root).write_bytes(msgspec.json.format(msgspec.json.encode(layout)))
    return layout


@dataclass(frozen=True)
class AddedNode:
    """A node `add_node` wrote: what the council's add_validator proposal names."""

    node_id: str
    public_key: str
    api_url: str
    port: int


def add_node(root: Path, port: int | None = None) -> AddedNode:
    """Write one more node for a network `init` made: its key, data directory and settings.

    The node follows the etcd log from the start (or catches up from peers
    where the log was compacted) and executes every block; it votes and
    proposes only once the council has added it as a validator (protocol 6:
    `add_validator`, from a height at least the notice ahead). Its settings
    copy the first node's limits; its peers are the genesis validators.
    """
    root = Path(root)
    layout = msgspec.json.decode(_layout_path(root).read_bytes(), type=NetworkLayout)
    node_id = f"node-{len(layout.nodes) + 1}"
    port = port or free_ports(1)[0]
    layout = msgspec.structs.replace(layout, nodes=[*layout.nodes, (node_id, port)])
    key = new_keyfile(node_id)
    data = DataDir(root / "nodes" / node_id)
    if data.root.exists():
        raise FileExistsError(f"{data.root} exists")
    first = DataDir(root / "nodes" / layout.nodes[0][0])
    data.root.mkdir(parents=True)
    data.genesis_path.write_bytes((root / "genesis.json").read_bytes())
    write_keyfile(data.key_path("validator"), key)
    if layout.tls:
        _write_node_tls(data, node_id, read_authority(_tls_dir(root)))
    settings = msgspec.structs.replace(first.settings(), validator_id=node_id, port=port)
    data.settings_path.write_bytes(msgspec.json.format(msgspec.json.encode(settings)))
    _layout_path(root).write_bytes(msgspec.json.format(msgspec.json.encode(layout)))
    return AddedNode(node_id, key.public_key, layout.api_urls()[node_id], port)


@dataclass
class Network:
    """A network's processes: its etcd cluster and its nodes."""

    root: Path
    layout: NetworkLayout
    etcd: EtcdCluster = field(init=False)
    nodes: dict[str, NodeProcess] = field(init=False)

    def __post_init__(self) -> None:
        tls = self.layout.tls
        members = [EtcdMember(name, client, peer, tls) for name, client, peer in self.layout.etcd]
        self.etcd = EtcdCluster(
            self.root / "etcd", members, token=self.layout.chain, tls=_tls_dir(self.root) if tls else None
        )
        self.nodes = {node_id: NodeProcess(self.root / "nodes" / node_id, port) for node_id, port in self.layout.nodes}

    @classmethod
    def open(cls, root: Path) -> Network:
        root = Path(root)
        return cls(root, msgspec.json.decode(_layout_path(root).read_bytes(), type=NetworkLayout))

    def up(self, move_ports: bool = True) -> list[str]:
        """Start the etcd members, then the nodes; on any failure stop what this call started and raise.

        Raises NetworkError (one line). When a port is taken, a network that
        never ran (no etcd data, no ledger) moves to fresh ports from
        free_ports (read self.nodes and self.etcd after; the notes returned say
        so); one that has run cannot (its genesis names its ports): NetworkError,
        or PortInUse with `move_ports=False`.
        """
        movable = move_ports and self.fresh()
        notes: list[str] = []
        for attempt in range(PORT_ATTEMPTS if movable else 1):
            try:
                self._up_once()
                return notes
            except PortInUse as busy:
                if not movable or attempt == PORT_ATTEMPTS - 1:
                    if not move_ports:
                        raise
                    raise NetworkError(f"{busy}; a network that has run cannot move: stop that program") from None
                self._move_ports()
                ports = sorted(p for _, p in self.layout.nodes) + sorted(p for m in self.layout.etcd for p in m[1:])
                notes.append(f"{busy}: moved the network to free ports ({', '.join(map(str, ports))})")
        raise AssertionError("unreachable")

    def fresh(self) -> bool:
        """Never started: no etcd member has data and no node a ledger."""
        return not (self.root / "etcd").exists() and not any(
            (node.data_dir / "ledger.db").exists() for node in self.nodes.values()
        )

    def _up_once(self) -> None:
        for node_id, node in self.nodes.items():  # every node could start: checked before anything starts
            try:
                check(DataDir(node.data_dir), port=node.port)
            except PortBusy as busy:
                raise PortInUse(busy.port, f"node {node_id}") from None
            except StartupError as exc:
                raise NetworkError(f"{node_id}: {exc}") from None
        try:
            try:
                self.etcd.start()
            except EtcdStartFailed as exc:
                raise NetworkError(exc.reason) from None
            except TimeoutError as exc:
                raise NetworkError(str(exc)) from None
            self._record_pids()
            for node_id, node in self.nodes.items():
                try:
                    node.start()
                except NodeStartFailed as exc:
                    raise NetworkError(f"{node_id}: {exc.reason}") from None
                except TimeoutError as exc:
                    raise NetworkError(f"{node_id}: {exc}") from None
                self._record_pids()
        except BaseException:
            self.stop()
            (self.root / "pids.json").unlink(missing_ok=True)
            raise

    def _move_ports(self) -> None:
        """Give a network that never ran fresh ports: its layout, genesis and every node's settings."""
        ports = free_ports(len(self.layout.nodes) + 2 * len(self.layout.etcd))
        nodes = [(node_id, port) for (node_id, _), port in zip(self.layout.nodes, ports, strict=False)]
        rest = ports[len(nodes) :]
        etcd = [(name, rest[2 * i], rest[2 * i + 1]) for i, (name, _, _) in enumerate(self.layout.etcd)]
        self.layout = msgspec.structs.replace(self.layout, etcd=etcd, nodes=nodes)
        urls = self.layout.api_urls()
        genesis = msgspec.json.decode((self.root / "genesis.json").read_bytes(), type=Genesis)
        genesis = msgspec.structs.replace(
            genesis,
            validators=[msgspec.structs.replace(v, api_url=urls.get(v.id, v.api_url)) for v in genesis.validators],
            etcd_endpoints=self.layout.etcd_endpoints(),
        )
        encoded = msgspec.json.format(msgspec.json.encode(genesis))
        (self.root / "genesis.json").write_bytes(encoded)
        shutil.rmtree(self.root / "etcd", ignore_errors=True)  # what the failed start left
        for node_id, port in nodes:
            data = DataDir(self.root / "nodes" / node_id)
            data.genesis_path.write_bytes(encoded)
            settings = msgspec.structs.replace(data.settings(), port=port)
            data.settings_path.write_bytes(msgspec.json.format(msgspec.json.encode(settings)))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{data.ledger_path}{suffix}").unlink(missing_ok=True)
        _layout_path(self.root).write_bytes(msgspec.json.format(msgspec.json.encode(self.layout)))
        self.__post_init__()

    def join(self, port: int | None = None) -> AddedNode:
        """Write one more node (`add_node`) and start it on this running network."""
        added = add_node(self.root, port)
        self.layout = msgspec.json.decode(_layout_path(self.root).read_bytes(), type=NetworkLayout)
        self.nodes[added.node_id] = NodeProcess(self.root / "nodes" / added.node_id, added.port)
        self.start_node(added.node_id)
        return added

    def start_node(self, node_id: str) -> None:
        """Start one node of a running network (one `add_node` wrote); NetworkError when it cannot."""
        node = self.nodes[node_id]
        try:
            check(DataDir(node.data_dir), port=node.port)
            node.start()
        except (StartupError, NodeStartFailed, TimeoutError) as exc:
            node.stop()
            raise NetworkError(f"{node_id}: {getattr(exc, 'reason', exc)}") from None
        self._record_pids()

    def _record_pids(self) -> None:
        """Add what runs now to pids.json (another `tally network` command may have started the rest)."""
        path = self.root / "pids.json"
        pids: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        pids.update({name: proc.pid for name, proc in self.etcd.procs.items()})
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
