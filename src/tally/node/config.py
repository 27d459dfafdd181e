"""A node's data directory: genesis, validator key, settings and ledger file.

DATA_DIR/
  genesis.json        the chain's genesis (members, validators)
  node.json           this node's settings (NodeSettings)
  keys/validator.json this node's validator key (secret: keep it private)
  keys/<member>.json  member keys, only on a development node made by `node init`
  ledger.db           the SQLite ledger
  tls/                this node's certificate, key and the network's CA, when node.json's
                      "tls" names them there (`tally network init --tls` does)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Annotated, Literal, TypedDict

import msgspec

from ..client.keys import KeyFile, new_keyfile, read_keyfile, write_keyfile
from ..core.limits import Limits
from ..core.protocol import LATEST
from ..core.types import Genesis, GenesisMember, Validator
from ..ordering.peers import TlsPaths

DEFAULT_PORT = 8750
MAX_VERIFY_WORKERS = 1024


class TlsFiles(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """node.json "tls": PEM files; a relative path is relative to the data directory, an absolute one is used as is.

    `cert` and `key`: this node's certificate and private key; it serves its API
    with them (https://) and presents them as a client certificate to etcd and to
    its peers. `ca`: the CA that signed every node's and etcd member's
    certificate; etcd's and the peers' certificates are checked against it.
    """

    cert: Annotated[str, msgspec.Meta(min_length=1)]
    key: Annotated[str, msgspec.Meta(min_length=1)]
    ca: Annotated[str, msgspec.Meta(min_length=1)]


class NodeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """node.json; the bounds are checked as it is read (node/startup.py refuses a start outside them)."""

    validator_id: Annotated[str, msgspec.Meta(min_length=1)]
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = DEFAULT_PORT
    verify_workers: Annotated[int, msgspec.Meta(ge=0, le=MAX_VERIFY_WORKERS)] = 0  # 0: one per core
    orderer: Literal["solo", "etcd"] = "solo"
    etcd_endpoints: list[str] = []  # empty: the genesis's
    peers: list[str] = []  # other nodes' API URLs, for catch-up; empty: the genesis's
    limits: Limits = Limits()
    tls: TlsFiles | None = None  # None: the API serves plain HTTP, and etcd and peers are reached without TLS


class DataDirBusy(RuntimeError):
    pass


class DataDir:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def genesis_path(self) -> Path:
        return self.root / "genesis.json"

    @property
    def settings_path(self) -> Path:
        return self.root / "node.json"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.db"

    def key_path(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.json"

    @property
    def lock_path(self) -> Path:
        return self.root / "node.lock"

    def lock(self) -> int:
        """Hold the data directory for this process: one node (or repair) at a time.

        Returns the lock's file descriptor; the lock goes with the process.
        """
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(f"{self.root} is in use by another tally process (node or repair)") from None
        return fd

    def exists(self) -> bool:
        return self.genesis_path.exists() and self.settings_path.exists()

    def genesis(self) -> Genesis:
        return msgspec.json.decode(self.genesis_path.read_bytes(), type=Genesis)

    def settings(self) -> NodeSettings:
        return msgspec.json.decode(self.settings_path.read_bytes(), type=NodeSettings)

    def validator_key(self) -> KeyFile:
        return read_keyfile(self.key_path("validator"))


def tls_paths(settings: NodeSettings, data: DataDir) -> TlsPaths | None:
    """The node's TLS files as paths (relative ones under the data directory); None without TLS."""
    if settings.tls is None:
        return None
    files = settings.tls
    return TlsPaths(cert=data.root / files.cert, key=data.root / files.key, ca=data.root / files.ca)


class UvicornSsl(TypedDict, total=False):
    """uvicorn.Config's TLS keyword arguments (a TypedDict, so that `**` of it type-checks)."""

    ssl_certfile: str
    ssl_keyfile: str
    ssl_ca_certs: str


def uvicorn_ssl_options(settings: NodeSettings, data: DataDir) -> UvicornSsl:
    """uvicorn.Config's keyword arguments to serve HTTPS with the node's certificate; {} without TLS.

    Clients are not asked for a certificate (uvicorn's ssl_cert_reqs stays
    CERT_NONE): the API is open to wallets, and transactions carry their own
    signatures.
    """
    paths = tls_paths(settings, data)
    if paths is None:
        return {}
    return {"ssl_certfile": str(paths.cert), "ssl_keyfile": str(paths.key), "ssl_ca_certs": str(paths.ca)}


def init_dev_node(
    root: Path | str,
    members: list[tuple[str, str]],
    chain: str = "tally-dev",
    genesis_time_ms: int = 0,
    port: int = DEFAULT_PORT,
    limits: Limits | None = None,
    utc_offset_min: int = 0,
) -> DataDir:
    """Make a single-node data dir: fresh member and validator keys, genesis, settings.

    `utc_offset_min` is the chain's time zone (minutes east of UTC): daily limits and monthly caps reset
    at its midnight. A fixed offset, not a zone name, so every node computes the same day whatever its
    time-zone database."""
    data = DataDir(root)
    if data.exists():
        raise FileExistsError(f"{data.root} already holds a node")
    data.root.mkdir(parents=True, exist_ok=True)
    member_keys = [new_keyfile(member_id) for member_id, _ in members]
    for key in member_keys:
        write_keyfile(data.key_path(key.id), key)
    validator = new_keyfile("validator-1")
    write_keyfile(data.key_path("validator"), validator)
    genesis = Genesis(
        chain=chain,
        genesis_time_ms=genesis_time_ms,
        members=[
            GenesisMember(id=key.id, name=name, public_key=key.public_key)
            for key, (_, name) in zip(member_keys, members, strict=True)
        ],
        validators=[Validator(id=validator.id, public_key=validator.public_key)],
        protocol=LATEST,
        utc_offset_min=utc_offset_min if utc_offset_min else msgspec.UNSET,
    )
    data.genesis_path.write_bytes(msgspec.json.format(msgspec.json.encode(genesis)))
    settings = NodeSettings(validator_id=validator.id, port=port, limits=limits or Limits())
    data.settings_path.write_bytes(msgspec.json.format(msgspec.json.encode(settings)))
    return data
