"""Ed25519 signatures (libsodium via PyNaCl) and SHA-256."""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.signing

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class KeyPair:
    """An Ed25519 key pair made from a 32-byte seed."""

    __slots__ = ("_signing", "public_key", "seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = seed
        self._signing = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._signing.verify_key)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        return self._signing.sign(message).signature


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message`."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def verify_many(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Verify (public_key, message, signature) triples; one result each."""
    return [verify(pk, msg, sig) for pk, msg, sig in items]
