"""Checks a node's data directory before the node is built from it.

`tally node start` (api/server.py `run`) calls `check` first. A node that
starts must be able to run: every file it reads decodes, every setting is in
its bounds, its validator is in the genesis with the key it holds, its TLS
files (when node.json names them) are a certificate, its key and a CA, its port
is free, and its ledger is whole at the tail (the last block row with its
transactions and certificate, nothing stored above it). Anything else ends
the start with one `StartupError`, whose message is one line: what is wrong,
in which file, and what to run.
"""

from __future__ import annotations

import datetime
import errno
import os
import socket
import sqlite3
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec
from cryptography import x509

from ..client.keys import KeyFile
from ..core.block import block_hash
from ..core.crypto import SEED_BYTES, KeyPair
from ..core.protocol import rules_for, version_at
from ..core.types import Genesis
from ..ordering.peers import TlsPaths
from ..store import Store, open_store
from .config import DataDir, DataDirBusy, NodeSettings, tls_paths

T = TypeVar("T")

PORT_RANGE = range(1, 65536)


class StartupError(Exception):
    """The node cannot start; the message is one line saying why and what to do."""


class PortBusy(StartupError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is in use by another program: stop it, or pick another port"
            f" ('make run PORT={port + 1}', or 'tally node start --port {port + 1}')"
        )
        self.host = host
        self.port = port


@dataclass(frozen=True)
class Checked:
    """What the checks read: the node is built from the same files."""

    genesis: Genesis
    settings: NodeSettings
    host: str
    port: int


def check(data: DataDir, host: str | None = None, port: int | None = None, probe_port: bool = True) -> Checked:
    """Raise StartupError (one line) unless a node can start from `data` and listen on host:port."""
    if not data.settings_path.exists() and not data.genesis_path.exists():
        raise StartupError(f"{data.root} holds no node: run 'tally node init --data-dir {data.root}' first")
    try:
        lock = data.lock()  # what is checked stays as it is until the node is built: no node or repair runs on it
    except DataDirBusy as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"cannot lock {data.lock_path}: {exc.strerror}") from None
    try:
        genesis = _decode(data.genesis_path, Genesis)
        settings = _decode(data.settings_path, NodeSettings)
        _check_validator(data, genesis, settings)
        if settings.orderer == "etcd" and not (settings.etcd_endpoints or genesis.etcd_endpoints):
            raise StartupError(
                f"{data.settings_path}: the orderer is etcd but neither it nor {data.genesis_path.name}"
                " names an etcd endpoint"
            )
        _check_tls(data, genesis, settings)
        listen_host = host or settings.host
        listen_port = settings.port if port is None else port
        if listen_port not in PORT_RANGE:
            raise StartupError(f"port {listen_port} is out of range: a node listens on a port from 1 to 65535")
        if probe_port:
            probe(listen_host, listen_port)
        if data.ledger_path.exists():
            check_ledger(data, genesis, settings)
    finally:
        os.close(lock)
    return Checked(genesis, settings, listen_host, listen_port)


def _decode(path: Path, kind: type[T]) -> T:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StartupError(f"{path} is missing") from None
    except OSError as exc:
        raise StartupError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise StartupError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise StartupError(f"{path} is not valid JSON: {exc}") from None


def _check_validator(data: DataDir, genesis: Genesis, settings: NodeSettings) -> None:
    ids = [v.id for v in genesis.validators]
    if not ids:
        raise StartupError(f"{data.genesis_path} lists no validator: no block could ever be certified")
    if len(set(ids)) != len(ids):
        raise StartupError(f"{data.genesis_path} lists a validator twice: {', '.join(sorted(ids))}")
    validator = next((v for v in genesis.validators if v.id == settings.validator_id), None)
    joins = rules_for(version_at(genesis, 1)).validator_changes and settings.orderer == "etcd"
    if validator is None and not joins:
        raise StartupError(
            f"{data.settings_path}: validator_id {settings.validator_id!r} is not a validator in"
            f" {data.genesis_path} ({', '.join(ids)}): this node could never certify a block"
        )
    path = data.key_path("validator")
    key = _decode(path, KeyFile)
    try:
        seed = bytes.fromhex(key.seed)
    except ValueError:
        seed = b""
    if len(seed) != SEED_BYTES:
        raise StartupError(f"{path}: the seed is not {SEED_BYTES} bytes of hex")
    if KeyPair(seed).public_key_hex != key.public_key:
        raise StartupError(f"{path}: the public key is not the seed's")
    if validator is None:
        return  # a validator the council adds later (protocol 6): it follows the log, and votes once in the set
    if key.public_key != validator.public_key:
        raise StartupError(
            f"{path} is not the key of validator {validator.id} in {data.genesis_path}: its public key"
            f" {key.public_key[:16]}… is not {validator.public_key[:16]}…; this node's votes would never count"
        )


def _check_tls(data: DataDir, genesis: Genesis, settings: NodeSettings) -> None:
    """https:// etcd endpoints come with TLS files; the files node.json's "tls" names are usable."""
    paths = tls_paths(settings, data)
    if paths is not None:
        _check_tls_files(f"{data.settings_path}: tls", paths)
    elif settings.orderer == "etcd" and any(
        e.startswith("https://") for e in settings.etcd_endpoints or genesis.etcd_endpoints
    ):
        raise StartupError(
            f"{data.settings_path}: the etcd endpoints are https:// but it names no TLS files"
            ' ("tls": {"cert": ..., "key": ..., "ca": ...}; docs/network.md, TLS)'
        )


def _check_tls_files(where: str, paths: TlsPaths) -> None:
    """Readable; the CA a PEM certificate; the certificate current and the key its key."""
    for what, path in (("cert", paths.cert), ("key", paths.key), ("ca", paths.ca)):
        try:
            path.read_bytes()
        except FileNotFoundError:
            raise StartupError(f"{where} {what} {path} is missing") from None
        except OSError as exc:
            raise StartupError(f"{where} {what}: cannot read {path}: {exc.strerror}") from None
    try:
        context = ssl.create_default_context(cafile=paths.ca)
    except ssl.SSLError as exc:
        raise StartupError(f"{where} ca {paths.ca} holds no PEM certificate ({exc.reason or exc})") from None
    try:
        context.load_cert_chain(paths.cert, paths.key)
    except ssl.SSLError as exc:
        raise StartupError(
            f"{where}: {paths.cert} and {paths.key} are not a PEM certificate and its private key ({exc.reason or exc})"
        ) from None
    expires = x509.load_pem_x509_certificate(paths.cert.read_bytes()).not_valid_after_utc
    if expires < datetime.datetime.now(datetime.UTC):
        raise StartupError(f"{where} cert {paths.cert} expired on {expires:%Y-%m-%d %H:%M} UTC: issue a new one")


def probe(host: str, port: int) -> None:
    """Raise StartupError unless host:port can be listened on now (bound the way the server binds it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(host, port) from None
            raise StartupError(f"cannot listen on {host} port {port}: {exc.strerror}") from None


def port_in_use(host: str, port: int) -> bool:
    """Whether another socket listens on (or holds) host:port."""
    try:
        probe(host, port)
    except PortBusy:
        return True
    return False


def check_ledger(data: DataDir, genesis: Genesis, settings: NodeSettings) -> None:
    """The ledger opens, belongs to this genesis and is whole at its tail."""
    path = data.ledger_path
    if settings.orderer == "etcd":
        fix = (
            f"stop the node and run 'tally node repair --data-dir {data.root}' to rebuild it from the other validators"
        )
    else:
        fix = (
            f"a solo node has no peer to rebuild it from: restore {path.name} from a backup"
            f" ('tally audit --data-dir {data.root}' lists every fault)"
        )
    try:
        store = open_store(path)
    except sqlite3.Error as exc:
        raise StartupError(f"{path} cannot be read as a ledger ({exc}); {fix}") from None
    try:
        stored = store.get_meta("genesis")
        if stored is not None and stored != msgspec.json.encode(genesis):  # the rule open_store applies
            raise StartupError(
                f"{path} was made under another genesis than {data.genesis_path}: put that ledger's own"
                f" genesis.json beside it, or move {path.name} away to start this chain afresh"
            )
        problem = _ledger_problem(store)
    except sqlite3.Error as exc:
        problem = f"cannot be read ({exc})"
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        problem = f"holds a record that does not decode ({exc})"
    finally:
        store.close()
    if problem is not None:
        raise StartupError(f"{path} {problem}; {fix}")


def _ledger_problem(store: Store) -> str | None:
    """What is wrong at the ledger's tail, if anything: its last block and what lies above it."""
    head = store.head()
    height = head.height if head is not None else 0
    above = height + 1
    if store.block_txs(above) or store.certificate(above) is not None:
        return (
            f"holds block {above}'s transactions or certificate but not block {above} itself"
            " (its last block is incomplete)"
        )
    if head is None:
        return None
    found = store.block_header(height)
    if found is None:
        return f"lists block {height} as its head but cannot read it"
    header = found[0]
    if header.height != height or block_hash(header) != head.block_hash:
        return f"holds a block {height} whose header does not hash to its stored hash"
    count = len(store.block_txs(height))
    if count != header.tx_count:
        return f"holds {count} transactions of block {height}, whose header says {header.tx_count}"
    if height > 1:
        previous = store.block_header(height - 1)
        if previous is None:
            return f"holds block {height} but not block {height - 1}"
        if header.prev_hash != block_hash(previous[0]):
            return f"holds a block {height} that does not follow its block {height - 1}"
    return None
