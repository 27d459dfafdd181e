"""A node's data directory: genesis, validator key, settings and ledger file.

DATA_DIR/
  genesis.json        the chain's genesis (members, validators)
  node.json           this node's settings (NodeSettings)
  keys/validator.json this node's validator key (secret: keep it private)
  keys/<member>.json  member keys, only on a development node made by `node init`
  ledger.db           the SQLite ledger
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from ..client.keys import KeyFile, new_keyfile, read_keyfile, write_keyfile
from ..core.limits import Limits
from ..core.protocol import LATEST
from ..core.types import Genesis, GenesisMember, Validator

DEFAULT_PORT = 8750
MAX_VERIFY_WORKERS = 1024


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


def init_dev_node(
    root: Path | str,
    members: list[tuple[str, str]],
    chain: str = "tally-dev",
    genesis_time_ms: int = 0,
    port: int = DEFAULT_PORT,
    limits: Limits | None = None,
) -> DataDir:
    """Make a single-node data dir: fresh member and validator keys, genesis, settings."""
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
    )
    data.genesis_path.write_bytes(msgspec.json.format(msgspec.json.encode(genesis)))
    settings = NodeSettings(validator_id=validator.id, port=port, limits=limits or Limits())
    data.settings_path.write_bytes(msgspec.json.format(msgspec.json.encode(settings)))
    return data
