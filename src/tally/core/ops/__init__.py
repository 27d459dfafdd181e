"""The registry of transaction types: every family module's `OPERATIONS`.

To add a transaction type, declare it in its family module (see
docs/architecture.md); nothing here changes. Decoding (`SignedTx`, the
tagged union `Tx`), execution, prefetching, history, the SDK, the CLI, the
OpenAPI schema and the test vectors all read `OPERATIONS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import msgspec

from ..operation import Operation
from ..types import SignatureHex, TxBase
from . import (
    accounts,
    assets,
    codes,
    controls,
    council,
    coupons,
    exchange,
    incentives,
    keys,
    merchants,
    payments,
    policies,
    settlement,
)

FAMILIES = (
    accounts,
    assets,
    payments,
    codes,
    council,
    controls,
    keys,
    merchants,
    policies,
    incentives,
    coupons,
    exchange,
    settlement,
)

OPERATIONS: tuple[Operation[Any], ...] = tuple(op for family in FAMILIES for op in family.OPERATIONS)
BY_TYPE: dict[str, Operation[Any]] = {op.type: op for op in OPERATIONS}
BY_STRUCT: dict[type, Operation[Any]] = {op.tx: op for op in OPERATIONS}
assert len(BY_TYPE) == len(OPERATIONS), "every transaction type is declared once"

if TYPE_CHECKING:
    Tx = TxBase
else:
    Tx = Union[tuple(op.tx for op in OPERATIONS)]  # noqa: UP007  (a tagged union built from the registry)


class SignedTx(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A transaction and the signer's Ed25519 signature over its canonical bytes."""

    tx: Tx
    sig: SignatureHex


_TAGS: dict[type, str] = {op.tx: op.type for op in OPERATIONS}  # Operation.type, looked up once


def operation_of(tx: TxBase) -> Operation[Any]:
    return BY_STRUCT[type(tx)]


def tx_type(tx: TxBase) -> str:
    """The transaction's `type` tag, e.g. "pay"."""
    return _TAGS[type(tx)]


__all__ = ["BY_TYPE", "OPERATIONS", "SignedTx", "Tx", "operation_of", "tx_type"]
