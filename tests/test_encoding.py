"""Canonical bytes, hashes, Merkle proofs and the checked-in test vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from tally.client.execution_vectors import render as render_execution
from tally.client.receipt_vectors import render as render_receipts
from tally.client.vectors import render, vectors
from tally.core.block import Receipt, txid_of, verify_receipt
from tally.core.crypto import KeyPair, verify
from tally.core.encoding import MAX_SAFE_INTEGER, canonical, canonical_reference
from tally.core.execute import BlockContext, Entry, execute_block, write_set_bytes
from tally.core.merkle import merkle_proof, merkle_root, verify_proof
from tally.core.ops import BY_TYPE, SignedTx
from tally.core.protocol import rules_for
from tally.core.state import MemoryState
from tally.core.tables import ACCOUNTS, table_of
from tally.core.types import Genesis

VECTORS = Path(__file__).parent.parent / "docs" / "test-vectors" / "transactions.json"
EXECUTION_VECTORS = VECTORS.parent / "execution.json"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(st.characters(exclude_categories=["Cs"])),
    # Object keys stay in the Basic Multilingual Plane: there UTF-16 order (RFC 8785) and code
    # point order (msgspec) agree. Tally's objects are structs with ASCII field names.
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=8), inner, max_size=5
        )
    ),
    max_leaves=30,
)


@given(json_values)
def test_fast_canonical_equals_rfc8785(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_keys_outside_the_bmp_are_why_canonical_is_for_structs() -> None:
    """RFC 8785 sorts keys by UTF-16 units, msgspec by code point: they differ past U+FFFF."""
    value = {"\ue000": None, "\U00010000": None}
    assert canonical_reference(value) != canonical(value)


def test_checked_in_vectors_are_current() -> None:
    assert VECTORS.read_bytes() == render(), (
        "regenerate: python -m tally.client.vectors > docs/test-vectors/transactions.json"
    )


def test_vectors_hold() -> None:
    for vector in json.loads(VECTORS.read_text()):
        message = rfc8785.dumps(vector["tx"])
        assert message.decode() == vector["canonical"]
        assert txid_of(message) == vector["txid"]
        key = KeyPair(bytes.fromhex(vector["seed"]))
        assert key.public_key_hex == vector["public_key"]
        assert key.sign(message).hex() == vector["sig"]
        assert verify(key.public_key, message, bytes.fromhex(vector["sig"]))
        signed = msgspec.convert({"tx": vector["tx"], "sig": vector["sig"]}, SignedTx)
        assert canonical(signed.tx) == message == canonical_reference(signed.tx)
    assert [v["tx"]["type"] for v in vectors()] == list(BY_TYPE)  # one vector per transaction type


def test_verify_rejects_tampering() -> None:
    key = KeyPair(b"\x02" * 32)
    sig = key.sign(b"pay 10")
    assert verify(key.public_key, b"pay 10", sig)
    assert not verify(key.public_key, b"pay 11", sig)
    assert not verify(key.public_key, b"pay 10", sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not verify(KeyPair(b"\x03" * 32).public_key, b"pay 10", sig)
    assert not verify(b"short", b"pay 10", sig)


@given(st.integers(1, 40), st.data())
def test_merkle_proofs(size: int, data: st.DataObject) -> None:
    leaves = [i.to_bytes(32, "big") for i in range(size)]
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, size - 1))
    path = merkle_proof(leaves, index)
    assert verify_proof(leaves[index], path, root)
    assert not verify_proof((size + 1).to_bytes(32, "big"), path, root)
    if path:
        side, _sibling = path[0]
        assert not verify_proof(leaves[index], [(side, bytes(32)), *path[1:]], root)


def test_merkle_root_depends_on_order() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert merkle_root([a, b]) != merkle_root([b, a])
    assert merkle_root([a]) != a


def test_checked_in_execution_vectors_are_current() -> None:
    assert EXECUTION_VECTORS.read_bytes() == render_execution(), (
        "regenerate: python -m tally.client.execution_vectors > docs/test-vectors/execution.json"
    )


def test_execution_vectors_execute_from_the_file_alone() -> None:
    """What a ledger in another language would do with the file: state, transaction -> code and write-set."""
    cases = json.loads(EXECUTION_VECTORS.read_text())
    codes = {"ok", "insufficient_funds", "duplicate_payment", "not_authorized", "duplicate_ref"}
    assert {c["code"] for c in cases} >= codes
    for case in cases:
        state = MemoryState({k: msgspec.convert(v, table_of(k).record) for k, v in case["state_before"].items()})
        signed = msgspec.convert(case["signed_tx"], SignedTx)
        message = canonical(signed.tx)
        signer = ACCOUNTS.read(state.get, signed.tx.signer)
        assert signer is not None and verify(bytes.fromhex(signer.public_key), message, bytes.fromhex(signed.sig))
        block = case["block"]
        context = BlockContext(block["chain"], block["height"], block["timestamp_ms"])
        rules = rules_for(block["protocol"])
        outcome = execute_block(state, context, [Entry(txid_of(message), signed.tx)], rules)
        result = outcome.results[0]
        assert (result.code, result.message) == (case["code"], case["message"]), case["description"]
        assert write_set_bytes(outcome.writes).decode() == case["write_set"], case["description"]


RECEIPT_VECTORS = VECTORS.parent / "receipts.json"


def test_checked_in_receipt_vectors_are_current() -> None:
    assert RECEIPT_VECTORS.read_bytes() == render_receipts(), (
        "regenerate: python -m tally.client.receipt_vectors > docs/test-vectors/receipts.json"
    )


def test_receipt_vectors_verify_from_the_file_alone() -> None:
    """What a wallet in another language would do: check each receipt against the genesis in the file."""
    vectors = json.loads(RECEIPT_VECTORS.read_text())
    genesis = msgspec.convert(vectors["genesis"], Genesis)
    valid = [msgspec.convert(v["receipt"], Receipt) for v in vectors["valid"]]
    assert {r.code for r in valid} >= {"ok", "insufficient_funds", "not_transferable"}
    assert all(verify_receipt(r, genesis) == (True, "ok") for r in valid)
    for case in vectors["tampered"]:
        receipt = msgspec.convert(case["receipt"], Receipt)
        assert verify_receipt(receipt, genesis) == (False, case["reason"]), case["description"]
