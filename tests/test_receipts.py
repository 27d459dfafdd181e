"""Receipts prove the outcome: the result code, the index and the signature, not only the inclusion.

Under protocol 2 every vote and certificate signs a Merkle root over each
transaction's (index, txid, verified key, result code). A receipt carries the
paths to the block's tx_root and to that results root, so changing any field
of a real receipt, or a faulty node rewriting its stored result, fails the
offline check against the genesis.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from helpers import Chain, key, setup_chain
from tally.client import Receipt, verify_receipt
from tally.core.block import make_certificate, sign_vote, vote_for
from tally.core.crypto import sha256
from tally.core.types import Certificate, Genesis
from tally.node.reader import LedgerReader
from tally.store import open_store
from tally.store.base import Store

replace = msgspec.structs.replace


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[Chain, Store, list[str]]]:
    """A certified block of three: an ok payment, a payment refused for insufficient funds, an ok transfer."""
    store = open_store(tmp_path / "ledger.db")
    c = setup_chain(store=store)
    alice, bob = c.signer("alice"), c.signer("bob")
    txs = [
        alice.pay("MILES", "cafe", 5, "o-1"),
        bob.pay("MILES", "cafe", 10**6, "o-2"),
        alice.transfer("MILES", "bob", 1),
    ]
    assert [r.code for r in c.block(txs)] == ["ok", "insufficient_funds", "ok"]
    yield c, store, [r.txid for r in (store.tx(t) for t in _txids(store, c.height)) if r is not None]
    store.close()


def _txids(store: Store, height: int) -> list[str]:
    return [t.txid for t in store.block_txs(height)]


def receipt_of(store: Store, txid: str, final_height: int) -> Receipt:
    found = LedgerReader(store).receipt(txid, final_height)
    assert found is not None
    return found


def test_receipts_of_accepted_and_rejected_transactions_verify(ledger: tuple[Chain, Store, list[str]]) -> None:
    c, store, txids = ledger
    for index, (txid, code) in enumerate(zip(txids, ["ok", "insufficient_funds", "ok"], strict=True)):
        receipt = receipt_of(store, txid, c.height)
        assert (receipt.index, receipt.code) == (index, code)
        assert verify_receipt(receipt, c.genesis) == (True, "ok")


def _hex_flip(h: str) -> str:
    return ("0" if h[0] != "0" else "1") + h[1:]


def _other_sig(r: Receipt, o: Receipt, g: Genesis) -> Receipt:
    return replace(r, signed_tx=replace(r.signed_tx, sig=key("mallory").sign(b"x").hex()))


def _resigned_cert(genesis: Genesis, r: Receipt, results_root: str | None) -> Certificate:
    """A certificate properly signed by the validator, but over other results (or none: a downgrade)."""
    c = r.certificate
    vote = vote_for(c.chain, c.height, c.block_hash, c.state_digest, results_root)
    return make_certificate(vote, [sign_vote(key("validator-1"), "validator-1", vote)])


MUTATIONS: dict[str, Callable[[Receipt, Receipt, Genesis], Receipt]] = {
    "code flipped (ok <-> insufficient_funds)": lambda r, o, g: replace(
        r, code="insufficient_funds" if r.code == "ok" else "ok"
    ),
    "code to another rejection": lambda r, o, g: replace(r, code="expired"),
    "index to the next": lambda r, o, g: replace(r, index=r.index + 1),
    "index to the previous": lambda r, o, g: replace(r, index=r.index - 1),
    "index past the block": lambda r, o, g: replace(r, index=99),
    "txid of another transaction": lambda r, o, g: replace(r, txid=o.txid),
    "signed transaction of another": lambda r, o, g: replace(r, signed_tx=o.signed_tx),
    "transaction with another signature": _other_sig,
    "signer key of another": lambda r, o, g: replace(r, signer_key=key("mallory").public_key_hex),
    "signer key dropped": lambda r, o, g: replace(r, signer_key=""),
    "merkle path hash": lambda r, o, g: replace(r, merkle_path=[(r.merkle_path[0][0], _hex_flip(r.merkle_path[0][1]))]),
    "merkle path side": lambda r, o, g: replace(
        r, merkle_path=[("L" if s == "R" else "R", h) for s, h in r.merkle_path]
    ),
    "merkle path of another": lambda r, o, g: replace(r, merkle_path=o.merkle_path),
    "results path hash": lambda r, o, g: replace(
        r, results_path=[(s, _hex_flip(h)) if i == 0 else (s, h) for i, (s, h) in enumerate(r.results_path)]
    ),
    "results path of another": lambda r, o, g: replace(r, results_path=o.results_path),
    "results path dropped": lambda r, o, g: replace(r, results_path=[]),
    "header time": lambda r, o, g: replace(r, header=replace(r.header, timestamp_ms=r.header.timestamp_ms + 1)),
    "header tx count": lambda r, o, g: replace(r, header=replace(r.header, tx_count=r.header.tx_count + 1)),
    "header protocol": lambda r, o, g: replace(r, header=replace(r.header, protocol=msgspec.UNSET)),
    "certificate results root": lambda r, o, g: replace(
        r, certificate=replace(r.certificate, results_root=sha256(b"other").hex())
    ),
    "certificate signatures dropped": lambda r, o, g: replace(r, certificate=replace(r.certificate, signatures=[])),
    "certificate state digest": lambda r, o, g: replace(
        r, certificate=replace(r.certificate, state_digest=sha256(b"x").hex())
    ),
    "certificate signed over other results": lambda r, o, g: replace(
        r, certificate=_resigned_cert(g, r, sha256(b"other").hex())
    ),
    "certificate downgraded to a version-1 vote": lambda r, o, g: replace(r, certificate=_resigned_cert(g, r, None)),
}


@pytest.mark.parametrize("which", [0, 1], ids=["accepted", "rejected"])
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_changing_any_field_of_a_real_receipt_is_refused(
    ledger: tuple[Chain, Store, list[str]], which: int, mutation: str
) -> None:
    c, store, txids = ledger
    receipt = receipt_of(store, txids[which], c.height)
    other = receipt_of(store, txids[2], c.height)
    changed = MUTATIONS[mutation](receipt, other, c.genesis)
    assert changed != receipt
    ok, reason = verify_receipt(changed, c.genesis)
    assert not ok, f"{mutation}: still verifies"
    assert reason != "ok"


def test_a_faulty_node_that_rewrites_a_stored_result_cannot_hand_out_a_receipt_that_verifies(
    ledger: tuple[Chain, Store, list[str]], tmp_path: Path
) -> None:
    c, store, txids = ledger
    refused = txids[1]
    db = sqlite3.connect(tmp_path / "ledger.db")
    db.execute("UPDATE txs SET code = 'ok', message = '' WHERE txid = ?", (refused,))
    db.commit()
    db.close()
    receipt = receipt_of(store, refused, c.height)
    assert receipt.code == "ok"  # the node serves what it stored...
    assert verify_receipt(receipt, c.genesis) == (
        False,
        "results path does not lead from this result to the certified results root",
    )  # ...and the holder's check refuses it


def test_blocks_of_protocol_1_do_not_certify_results_so_their_receipts_do_not_verify(tmp_path: Path) -> None:
    store = open_store(tmp_path / "v1.db")
    v1 = Chain(store=store)
    v1.genesis = replace(v1.genesis, protocol=msgspec.UNSET)
    v1.__post_init__()
    result = v1.one(v1.signer("bank-a").create_asset("PTS", "Points", "points", 0, True, "none"))
    receipt = receipt_of(store, result.txid, v1.height)
    assert receipt.results_path == [] and receipt.certificate.results_root is msgspec.UNSET
    assert verify_receipt(receipt, v1.genesis) == (False, "this block's protocol does not certify results")
    store.close()
