"""Test vectors for clients in other languages: `python -m tally.client.vectors`.

Each vector holds a signing seed, a transaction as plain JSON, its canonical
bytes (RFC 8785), its id (SHA-256 of those bytes, hex) and its Ed25519
signature. A client that reproduces `canonical`, `txid` and `sig` from `tx`
and `seed` signs exactly as Tally verifies. There is one vector per
transaction type, from the example in its declaration (`core/ops`). The file
is checked in at docs/test-vectors/transactions.json and a test keeps it in
step.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from ..core.block import txid_of
from ..core.crypto import KeyPair, sha256
from ..core.encoding import canonical, to_plain
from ..core.ops import OPERATIONS, Tx

CHAIN = "tally-vectors"
EXPIRES_MS = 1_900_000_000_000


def vector_key(name: str) -> KeyPair:
    return KeyPair(sha256(b"tally-test-vector/" + name.encode()))


def vector_txs() -> list[tuple[str, str, Tx]]:
    """(description, signer, transaction) for every declared type, in registry order."""
    return [
        (
            op.example.description,
            op.example.signer,
            op.tx(
                chain=CHAIN, signer=op.example.signer, seq=op.example.seq, expires_ms=EXPIRES_MS, **op.example.fields
            ),
        )
        for op in OPERATIONS
    ]


def vectors() -> list[dict[str, Any]]:
    out = []
    for description, signer, tx in vector_txs():
        key = vector_key(signer)
        message = canonical(tx)
        out.append(
            {
                "description": description,
                "seed": key.seed.hex(),
                "public_key": key.public_key_hex,
                "tx": to_plain(tx),
                "canonical": message.decode("utf-8"),
                "txid": txid_of(message),
                "sig": key.sign(message).hex(),
            }
        )
    return out


def render() -> bytes:
    return msgspec.json.format(msgspec.json.encode(vectors())) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(render())
