"""A real `tally node start` process driven over HTTP with the SDK."""

from __future__ import annotations

import msgspec
import pytest

from helpers import NodeProcess, free_port, member_reader
from tally.client import KeyPair, Retry, Signer, TallyClient, TallyError, verify_receipt
from tally.client.keys import read_keyfile
from tally.core.types import Certificate, ValidatorSignature
from tally.node.config import DataDir, Limits, init_dev_node


def test_register_issue_transfer_pay_refund_cash_out_and_receipts(node: NodeProcess) -> None:
    data = DataDir(node.data_dir)
    with TallyClient(node.url, reader=member_reader(node, "bank-b")) as client:  # bank-b registers them all
        genesis = client.genesis()
        bank = Signer(
            "bank-b", read_keyfile(data.key_path("bank-b")).keypair(), genesis.chain, client.next_seq("bank-b")
        )
        yuna, jun = (
            Signer("yuna", KeyPair(b"\x21" * 32), genesis.chain),
            Signer("jun", KeyPair(b"\x22" * 32), genesis.chain),
        )
        bakery = Signer("bakery", KeyPair(b"\x23" * 32), genesis.chain)

        def final_ok(signed: object) -> str:
            txid = client.submit(signed)  # type: ignore[arg-type]
            status = client.wait_final(txid)
            assert status.code == "ok", status
            return txid

        final_ok(bank.create_asset("CITY", "City money", "local_currency", 2, True, "merchants"))
        final_ok(bank.register_account("yuna", yuna.key.public_key_hex, "holder"))
        final_ok(bank.register_account("jun", jun.key.public_key_hex, "holder"))
        final_ok(bank.register_account("bakery", bakery.key.public_key_hex, "merchant"))
        final_ok(bank.issue("CITY", "yuna", 50_000))
        final_ok(yuna.transfer("CITY", "jun", 10_000))
        pay_txid = final_ok(yuna.pay("CITY", "bakery", 4_500, "bread-1"))
        final_ok(bakery.refund("bread-1", 1_500))
        cash_txid = final_ok(bakery.cash_out("CITY", 3_000, "BANK-B/BAKERY-001"))

        assert client.balances("yuna") == {"CITY": 37_000}
        assert client.balances("jun") == {"CITY": 10_000}
        assert client.balances("bakery") == {}  # paid 4500, refunded 1500, cashed out 3000
        asset = client.asset("CITY")
        assert (asset.issued_minor, asset.burned_minor) == (50_000, 3_000)

        for txid in (pay_txid, cash_txid):
            receipt = client.receipt(txid)
            assert receipt.txid == txid and receipt.code == "ok"
            assert verify_receipt(receipt, genesis) == (True, "ok")

        receipt = client.receipt(pay_txid)
        cert = receipt.certificate
        short = msgspec.structs.replace(receipt, certificate=msgspec.structs.replace(cert, signatures=[]))
        assert verify_receipt(short, genesis)[0] is False
        forged_sig = ValidatorSignature(validator=cert.signatures[0].validator, sig="ab" * 64)
        forged = msgspec.structs.replace(
            receipt, certificate=Certificate(**{**msgspec.structs.asdict(cert), "signatures": [forged_sig]})
        )
        assert verify_receipt(forged, genesis)[0] is False
        other_digest = msgspec.structs.replace(
            receipt, certificate=msgspec.structs.replace(cert, state_digest="00" * 32)
        )
        assert verify_receipt(other_digest, genesis)[0] is False
        swapped = msgspec.structs.replace(receipt, txid=cash_txid)
        assert verify_receipt(swapped, genesis)[0] is False
        bad_path = msgspec.structs.replace(receipt, merkle_path=[("L", "00" * 32), *receipt.merkle_path])
        assert verify_receipt(bad_path, genesis)[0] is False

        history = client.history("bakery")
        assert [i.type for i in history.items] == ["cash_out", "refund", "pay", "register_account"]
        # the payer sees the refund too (it is named nowhere in the refund, only in the payment it refunds)
        yuna_history = client.history("yuna")
        assert [i.type for i in yuna_history.items] == ["refund", "pay", "transfer", "issue", "register_account"]


def test_full_mempool_answers_503_with_retry_after(tmp_path: object) -> None:
    data_dir = tmp_path / "small"  # type: ignore[operator]
    init_dev_node(
        data_dir, [("bank-a", "Bank A")], chain="tally-small", limits=Limits(mempool_max_txs=5, retry_after_s=2)
    )
    proc = NodeProcess(data_dir, free_port()).start()
    try:
        with TallyClient(proc.url, retry=Retry(attempts=3, max_backoff_ms=20)) as client:
            posts: list[str] = []
            client.http.event_hooks["request"].append(
                lambda r: posts.append(r.url.path) if r.method == "POST" else None
            )
            bank = Signer("bank-a", read_keyfile(DataDir(data_dir).key_path("bank-a")).keypair(), "tally-small")
            batch = [
                bank.register_account(f"h{i}", KeyPair(bytes([i + 1]) * 32).public_key_hex, "holder") for i in range(6)
            ]
            with pytest.raises(TallyError) as info:
                client.submit_batch(batch)
            assert info.value.status == 503 and info.value.code == "mempool_full"
            assert info.value.retry_after == "2"
            assert len(posts) == 3  # the SDK retried a 503, bounded by its Retry policy
            response = client.http.post(
                "/v1/transactions/batch",
                content=msgspec.json.encode({"txs": batch}),
                headers={"content-type": "application/json"},
            )
            assert response.headers["retry-after"] == "2"
            assert client.node_status().height == 0  # nothing was admitted
            txids = client.submit_batch(batch[:5])  # what fits is taken whole
            assert all(client.wait_final(t).code == "ok" for t in txids)
    finally:
        proc.stop()
