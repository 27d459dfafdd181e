"""Build and sign every transaction type for one account.

The builders come from the registry of transaction types (`core/ops`):
`signer.build("pay", asset=..., merchant=..., amount_minor=..., payment_id=...)`,
or the same as a method, `signer.pay(asset, merchant, amount_minor, payment_id)`,
its positional arguments in the order of the type's fields.

Value-moving types (all but `pay`, whose payment id is its key) carry a
client reference `ref`, unique per signer: pass your own (an order or
request id you keep) so that re-signing after a crash or timeout can never
move value twice; the node refuses a second use with `duplicate_ref`. Left
out, the signer uses `seq-<seq>`: unique, but a re-signed retry gets a new
seq and so a new ref.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from ..core.crypto import KeyPair
from ..core.encoding import canonical
from ..core.ops import BY_TYPE, SignedTx, Tx

DEFAULT_TTL_MS = 3_600_000


def sign_tx(tx: Tx, key: KeyPair) -> SignedTx:
    return SignedTx(tx=tx, sig=key.sign(canonical(tx)).hex())


class UnknownTxType(AttributeError):
    pass


class Signer:
    """An account's key and its next sequence number; each built transaction uses one seq."""

    def __init__(
        self,
        account: str,
        key: KeyPair,
        chain: str,
        next_seq: int = 0,
        ttl_ms: int = DEFAULT_TTL_MS,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        refs: bool = True,
    ) -> None:
        """`refs=False` for ledgers on protocol 1 or 2, which take no client references."""
        self.account = account
        self.refs = refs
        self.key = key
        self.chain = chain
        self.next_seq = next_seq
        self.ttl_ms = ttl_ms
        self.clock_ms = clock_ms

    def _envelope(self) -> dict[str, Any]:
        seq = self.next_seq
        self.next_seq += 1
        return {"chain": self.chain, "signer": self.account, "seq": seq, "expires_ms": self.clock_ms() + self.ttl_ms}

    def sign(self, tx: Tx) -> SignedTx:
        return sign_tx(tx, self.key)

    def build(self, tx_type: str, **fields: Any) -> SignedTx:
        """Build, with the next seq, and sign a transaction of `tx_type` (its `type` tag)."""
        op = BY_TYPE.get(tx_type)
        if op is None:
            raise UnknownTxType(f"no transaction type {tx_type!r}; known: {', '.join(sorted(BY_TYPE))}")
        missing = [f for f in op.required_fields if f not in fields and f != "ref"]
        if missing:
            raise TypeError(f"{tx_type} needs {', '.join(missing)}")
        envelope = self._envelope()
        if op.client_ref and self.refs and fields.get("ref") is None:
            fields["ref"] = f"seq-{envelope['seq']}"
        elif fields.get("ref") is None:
            fields.pop("ref", None)
        if any(isinstance(value, dict) for value in fields.values()):  # a proposal's action, a policy, a rule
            for f in msgspec.structs.fields(op.tx):  # (as JSON would give them: made into their types)
                if isinstance(fields.get(f.name), dict):
                    fields[f.name] = msgspec.convert(fields[f.name], f.type)
        return self.sign(op.tx(**envelope, **fields))

    def __getattr__(self, tx_type: str) -> Callable[..., SignedTx]:
        op = BY_TYPE.get(tx_type)
        if op is None:
            raise UnknownTxType(f"{type(self).__name__} has no attribute or transaction type {tx_type!r}")

        def builder(*args: Any, **fields: Any) -> SignedTx:
            if len(args) > len(op.fields):
                raise TypeError(f"{tx_type} takes at most {len(op.fields)} positional arguments: {op.fields}")
            return self.build(tx_type, **dict(zip(op.fields, args, strict=False)), **fields)

        builder.__name__ = tx_type
        builder.__doc__ = op.summary
        return builder
