"""Key files: an account's Ed25519 key on disk, as `tally keys new` writes it.

A key file is JSON, `{"id": ACCOUNT, "public_key": HEX, "seed": HEX}`, mode
0600: the seed is the secret. `read_keyfile` says in one line what is wrong
with a file that is not one.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from ..core.crypto import SEED_BYTES, KeyPair
from ..core.types import AccountId, PublicKeyHex


class KeyFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An Ed25519 key on disk: `seed` is secret, `public_key` is not."""

    id: AccountId
    public_key: PublicKeyHex
    seed: str

    def keypair(self) -> KeyPair:
        return KeyPair(bytes.fromhex(self.seed))


class KeyFileError(ValueError):
    """A file that is not a usable key file; the message says which and why."""


def new_keyfile(key_id: str, seed: bytes | None = None) -> KeyFile:
    pair = KeyPair(seed if seed is not None else os.urandom(SEED_BYTES))
    return KeyFile(id=key_id, public_key=pair.public_key_hex, seed=pair.seed.hex())


def write_keyfile(path: Path, key: KeyFile) -> None:
    """Write a key file readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(key)))


def read_keyfile(path: Path | str) -> KeyFile:
    """The key file at `path`; KeyFileError (one line) when it is missing, not JSON or not a key."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        key = msgspec.json.decode(raw, type=KeyFile)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise KeyFileError(f"{path} is not a Tally key file ({exc}); make one with 'tally keys new'") from None
    try:
        pair = key.keypair()
    except ValueError:
        raise KeyFileError(f"{path}: seed is not 64 hex digits") from None
    if pair.public_key_hex != key.public_key:
        raise KeyFileError(f"{path}: public_key does not belong to the seed (the file was edited or mixed up)")
    return key
