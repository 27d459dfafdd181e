"""Test vectors for clients in other languages: `python -m tally.client.vectors`.

Each vector holds a signing seed, a transaction as plain JSON, its canonical
bytes (RFC 8785), its id (SHA-256 of those bytes, hex) and its Ed25519
signature. A client that reproduces `canonical`, `txid` and `sig` from `tx`
and `seed` signs exactly as Tally verifies. The file is checked in at
docs/test-vectors/transactions.json and a test keeps it in step.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from ..core.block import txid_of
from ..core.crypto import KeyPair, sha256
from ..core.encoding import canonical, to_plain
from ..core.types import CashOut, CreateAsset, Issue, Pay, Refund, RegisterAccount, Transfer, Tx

CHAIN = "tally-vectors"
EXPIRES_MS = 1_900_000_000_000


def _seed(name: str) -> bytes:
    return sha256(b"tally-test-vector/" + name.encode())


def vector_txs() -> list[tuple[str, str, Tx]]:
    c, e = CHAIN, EXPIRES_MS
    alice_pk = KeyPair(_seed("alice")).public_key_hex
    voucher_name = "City voucher — 지역화폐 “local”"
    ref = 'KR12 0001 \\ "quoted" \t tab'
    return [
        (
            "register a holder",
            "bank-a",
            RegisterAccount(
                chain=c, signer="bank-a", seq=0, expires_ms=e, account="alice", public_key=alice_pk, role="holder"
            ),
        ),
        (
            "create a voucher",
            "bank-a",
            CreateAsset(
                chain=c,
                signer="bank-a",
                seq=1,
                expires_ms=e,
                asset="CITY-V",
                name=voucher_name,
                kind="voucher",
                decimals=2,
                transferable=False,
                cash_out="merchants",
            ),
        ),
        (
            "issue",
            "bank-a",
            Issue(
                chain=c,
                signer="bank-a",
                seq=2,
                expires_ms=e,
                asset="CITY-V",
                to="alice",
                amount_minor=9_007_199_254_740_991,
            ),
        ),
        (
            "transfer",
            "alice",
            Transfer(chain=c, signer="alice", seq=0, expires_ms=e, asset="CITY-V", to="bob", amount_minor=1),
        ),
        (
            "pay",
            "alice",
            Pay(
                chain=c,
                signer="alice",
                seq=1,
                expires_ms=e,
                asset="CITY-V",
                merchant="cafe",
                amount_minor=4500,
                payment_id="order:2026-11-22:17",
            ),
        ),
        (
            "refund",
            "cafe",
            Refund(chain=c, signer="cafe", seq=0, expires_ms=e, payment_id="order:2026-11-22:17", amount_minor=500),
        ),
        (
            "cash out",
            "cafe",
            CashOut(chain=c, signer="cafe", seq=1, expires_ms=e, asset="CITY-V", amount_minor=4000, payout_ref=ref),
        ),
    ]


def vectors() -> list[dict[str, Any]]:
    out = []
    for description, signer, tx in vector_txs():
        key = KeyPair(_seed(signer))
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
