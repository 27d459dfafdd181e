"""Build and sign every transaction type for one account."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..core.crypto import KeyPair
from ..core.encoding import canonical
from ..core.types import (
    AssetKind,
    CashOut,
    CashOutPolicy,
    CreateAsset,
    Issue,
    Pay,
    Refund,
    RegisterAccount,
    SignedTx,
    Transfer,
    Tx,
)

DEFAULT_TTL_MS = 3_600_000


def sign_tx(tx: Tx, key: KeyPair) -> SignedTx:
    return SignedTx(tx=tx, sig=key.sign(canonical(tx)).hex())


class Signer:
    """An account's key and its next sequence number; each builder uses one seq."""

    def __init__(
        self,
        account: str,
        key: KeyPair,
        chain: str,
        next_seq: int = 0,
        ttl_ms: int = DEFAULT_TTL_MS,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.account = account
        self.key = key
        self.chain = chain
        self.next_seq = next_seq
        self.ttl_ms = ttl_ms
        self.clock_ms = clock_ms

    def _envelope(self) -> dict[str, object]:
        seq = self.next_seq
        self.next_seq += 1
        return {"chain": self.chain, "signer": self.account, "seq": seq, "expires_ms": self.clock_ms() + self.ttl_ms}

    def sign(self, tx: Tx) -> SignedTx:
        return sign_tx(tx, self.key)

    def register_account(self, account: str, public_key_hex: str, role: str) -> SignedTx:
        return self.sign(RegisterAccount(**self._envelope(), account=account, public_key=public_key_hex, role=role))  # type: ignore[arg-type]

    def create_asset(
        self,
        asset: str,
        name: str,
        kind: AssetKind,
        decimals: int,
        transferable: bool,
        cash_out: CashOutPolicy,
    ) -> SignedTx:
        return self.sign(
            CreateAsset(
                **self._envelope(),  # type: ignore[arg-type]
                asset=asset,
                name=name,
                kind=kind,
                decimals=decimals,
                transferable=transferable,
                cash_out=cash_out,
            )
        )

    def issue(self, asset: str, to: str, amount_minor: int) -> SignedTx:
        return self.sign(Issue(**self._envelope(), asset=asset, to=to, amount_minor=amount_minor))  # type: ignore[arg-type]

    def transfer(self, asset: str, to: str, amount_minor: int) -> SignedTx:
        return self.sign(Transfer(**self._envelope(), asset=asset, to=to, amount_minor=amount_minor))  # type: ignore[arg-type]

    def pay(self, asset: str, merchant: str, amount_minor: int, payment_id: str) -> SignedTx:
        return self.sign(
            Pay(**self._envelope(), asset=asset, merchant=merchant, amount_minor=amount_minor, payment_id=payment_id)  # type: ignore[arg-type]
        )

    def refund(self, payment_id: str, amount_minor: int) -> SignedTx:
        return self.sign(Refund(**self._envelope(), payment_id=payment_id, amount_minor=amount_minor))  # type: ignore[arg-type]

    def cash_out(self, asset: str, amount_minor: int, payout_ref: str) -> SignedTx:
        return self.sign(CashOut(**self._envelope(), asset=asset, amount_minor=amount_minor, payout_ref=payout_ref))  # type: ignore[arg-type]
