"""Receipt vectors: `python -m tally.client.receipt_vectors`.

A small certified chain (protocol 2, one validator) whose second block holds
accepted and rejected transactions, and the receipt of each: a verifier in
another language (a wallet checking an e-receipt) that accepts every
`valid` receipt and refuses every `tampered` one, for the stated reason,
checks receipts as Tally does. Everything needed is in the file: the
genesis (the trust root) and the receipts. Checked in at
docs/test-vectors/receipts.json; a test keeps the file in step and checks
every receipt from the file alone.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from ..core.block import Receipt, make_certificate, make_receipt, sign_vote, tx_signing_bytes, txid_of, verify_receipt
from ..core.chain import Batch, BlockResult, Head, apply_block, genesis_head
from ..core.crypto import sha256
from ..core.encoding import to_plain
from ..core.execute import Entry
from ..core.genesis import genesis_memory_state
from ..core.ops import SignedTx
from ..core.state import MemoryState
from ..core.tables import SCHEDULE, VALIDATOR_SETS
from ..core.types import Genesis
from .execution_vectors import T0_MS, vector_genesis
from .signer import Signer
from .vectors import CHAIN, vector_key

replace = msgspec.structs.replace


def _block(genesis: Genesis, head: Head, state: MemoryState, txs: list[SignedTx]) -> BlockResult:
    entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in txs]
    block = apply_block(genesis, head, state, Batch("validator-1", head.timestamp_ms + 1_000, head.height + 1, entries))
    state.apply(block.writes)
    return block


def receipts() -> tuple[Genesis, list[tuple[str, Receipt]]]:
    """The genesis and (description, receipt) for every transaction of the second block."""
    genesis = vector_genesis()  # the execution vectors' genesis: one bank, one validator, the latest protocol
    state = genesis_memory_state(genesis)
    bank = Signer("bank-a", vector_key("bank-a"), CHAIN, clock_ms=lambda: T0_MS)
    alice = Signer("alice", vector_key("alice"), CHAIN, clock_ms=lambda: T0_MS)
    first = _block(
        genesis,
        genesis_head(genesis),
        state,
        [
            bank.create_asset("CITY-V", "City voucher", "voucher", 2, False, "merchants"),
            bank.register_account("alice", vector_key("alice").public_key_hex, "holder"),
            bank.register_account("cafe", vector_key("cafe").public_key_hex, "merchant"),
            bank.issue("CITY-V", "alice", 10_000),
        ],
    )
    cafe = Signer("cafe", vector_key("cafe"), CHAIN, clock_ms=lambda: T0_MS)
    described = [("an accepted payment", alice.pay("CITY-V", "cafe", 4_500, "order-17"))]
    described.append(("a payment refused: insufficient_funds", alice.pay("CITY-V", "cafe", 6_000, "order-18")))
    described.append(("a transfer refused: not_transferable", alice.transfer("CITY-V", "cafe", 1)))
    described.append(("an accepted refund", cafe.refund("order-17", 500)))
    txs = [signed for _, signed in described]
    second = _block(genesis, first.head, state, txs)
    cert = make_certificate(second.vote, [sign_vote(vector_key("validator-1"), "validator-1", second.vote)])
    codes = [r.code for r in second.results]
    schedule = VALIDATOR_SETS.read(state.get, SCHEDULE)  # the results tree's last leaf (protocol 6)
    return genesis, [
        (description, make_receipt(txs, codes, second.signer_keys, index, second.header, cert, schedule))
        for index, (description, _) in enumerate(described)
    ]


def _tampered(valid: list[tuple[str, Receipt]]) -> list[tuple[str, Receipt]]:
    paid, refused = valid[0][1], valid[1][1]
    return [
        ("a refused payment's code changed to ok", replace(refused, code="ok")),
        ("an accepted payment's code changed to a rejection", replace(paid, code="insufficient_funds")),
        ("the index changed", replace(paid, index=1)),
        ("the signer key of another", replace(paid, signer_key=vector_key("mallory").public_key_hex)),
        ("another signature", replace(paid, signed_tx=replace(paid.signed_tx, sig=refused.signed_tx.sig))),
        (
            "the results root changed",
            replace(paid, certificate=replace(paid.certificate, results_root=sha256(b"x").hex())),
        ),
        ("no validator signatures", replace(paid, certificate=replace(paid.certificate, signatures=[]))),
    ]


def receipt_vectors() -> dict[str, Any]:
    genesis, valid = receipts()
    out: dict[str, Any] = {"genesis": to_plain(genesis), "valid": [], "tampered": []}
    for description, receipt in valid:
        ok, reason = verify_receipt(receipt, genesis)
        assert ok, (description, reason)
        out["valid"].append({"description": description, "receipt": to_plain(receipt)})
    for description, receipt in _tampered(valid):
        ok, reason = verify_receipt(receipt, genesis)
        assert not ok, description
        out["tampered"].append({"description": description, "receipt": to_plain(receipt), "reason": reason})
    return out


def render() -> bytes:
    return msgspec.json.format(msgspec.json.encode(receipt_vectors())) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(render())
