"""Money-safe retries: a refusal consumes its seq (protocol 3); a client ref applies once; the SDK retries."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from helpers import CHAIN, Chain, NodeProcess, free_port, key, make_genesis, points_world, setup_chain
from tally.client import Retry, TallyClient
from tally.client.signer import sign_tx
from tally.core.block import tx_signing_bytes, txid_of
from tally.core.ops import SignedTx
from tally.core.ops.payments import Transfer
from tally.core.protocol import LATEST, rules_for, version_at
from tally.core.tables import PAYMENTS, REFS
from tally.core.types import Genesis


def v2_genesis() -> Genesis:
    return msgspec.structs.replace(make_genesis(), protocol=2)


def txid(signed: SignedTx) -> str:
    return txid_of(tx_signing_bytes(signed))


def test_new_ledgers_run_the_latest_version_which_has_client_refs() -> None:
    version = version_at(Chain().genesis, 1)
    assert version == LATEST >= 3 and rules_for(version).client_refs and rules_for(version).rejected_consumes_seq


def test_a_rule_rejection_consumes_the_seq_and_nothing_else() -> None:
    c = setup_chain()
    alice = c.signer("alice")
    seq = c.account("alice").seq  # type: ignore[union-attr]
    before = dict(c.state.values)
    result = c.one(alice.transfer("MILES", "bob", 10**6))
    assert result.code == "insufficient_funds"
    assert c.account("alice").seq == seq + 1  # type: ignore[union-attr]
    changed = {k for k in c.state.values if c.state.values[k] != before.get(k)}
    assert changed == {"acct/alice"}, changed
    # The signer's next transaction is not stranded behind the refused one.
    assert c.one(alice.transfer("MILES", "bob", 10)).code == "ok"
    assert c.balance("bob", "MILES") == 10


def test_one_refusal_in_a_block_of_fifty_leaves_the_other_49_applied() -> None:
    c = setup_chain()
    alice = c.signer("alice")
    txs = [alice.pay("MILES", "cafe", 10**6 if i == 25 else 1, f"order-{i}") for i in range(50)]
    results = c.block(txs)
    assert [r.code for r in results].count("ok") == 49
    assert results[25].code == "insufficient_funds"
    assert c.balance("cafe", "MILES") == 49 and c.balance("alice", "MILES") == 1000 - 49
    assert c.account("alice").seq == txs[-1].tx.seq + 1  # type: ignore[union-attr]


@pytest.mark.parametrize("failure", ["seq_future", "seq_stale", "expired", "wrong_chain"])
def test_an_envelope_failure_changes_nothing(failure: str) -> None:
    c = setup_chain()
    alice = c.signer("alice")
    seq = alice.next_seq
    fields = {"chain": CHAIN, "signer": "alice", "seq": seq, "expires_ms": c.now_ms + 60_000}
    if failure == "seq_future":
        fields["seq"] = seq + 1
    elif failure == "seq_stale":
        fields["seq"] = seq - 1
    elif failure == "expired":
        fields["expires_ms"] = c.now_ms - 1
    else:
        fields["chain"] = "another-chain"
    signed = sign_tx(Transfer(**fields, asset="MILES", to="bob", amount_minor=1, ref="r-1"), key("alice"))
    before = dict(c.state.values)
    assert c.one(signed).code == failure
    assert c.state.values == before


def test_version_2_ledgers_keep_their_rule_a_rejection_changes_nothing() -> None:
    c = Chain(genesis=v2_genesis())
    a = c.signer("bank-a")
    assert c.one(a.create_asset("PTS", "Points", "points", 0, True, "none")).code == "ok"
    seq = c.account("bank-a").seq  # type: ignore[union-attr]
    assert c.one(a.burn("PTS", 5)).code == "insufficient_funds"
    assert c.account("bank-a").seq == seq  # type: ignore[union-attr]


def _ready() -> Chain:
    c = setup_chain()
    assert c.one(c.signer("bank-a").issue("MILES", "bank-a", 50)).code == "ok"
    assert c.one(c.signer("alice").pay("CASH", "cafe", 300, "order-1")).code == "ok"
    return c


def _build(c: Chain, tx_type: str) -> SignedTx:
    """A fresh signature each call: a client re-signing after a timeout (new seq, same ref)."""
    if tx_type == "transfer":
        return c.signer("alice").transfer("MILES", "bob", 7, ref="r-1")
    if tx_type == "refund":
        return c.signer("cafe").refund("order-1", 5, ref="r-1")
    if tx_type == "cash_out":
        return c.signer("cafe").cash_out("CASH", 20, "KR-BANK-1", ref="r-1")
    if tx_type == "issue":
        return c.signer("bank-a").issue("MILES", "bob", 3, ref="r-1")
    return c.signer("bank-a").burn("MILES", 1, ref="r-1")


def _money(c: Chain) -> dict[str, object]:
    return {k: v for k, v in c.state.values.items() if k.startswith(("bal/", "asset/", "payout/", "pay/"))}


@pytest.mark.parametrize("tx_type", ["transfer", "refund", "cash_out", "issue", "burn"])
@pytest.mark.parametrize("same_block", [False, True])
def test_every_value_moving_type_applies_once_per_ref(tx_type: str, same_block: bool) -> None:
    once, twice = _ready(), _ready()
    first = _build(once, tx_type)
    assert once.one(first).code == "ok"
    assert _build(twice, tx_type) == first  # the same chain, the same bytes
    second = _build(twice, tx_type)
    assert txid(first) != txid(second)
    if same_block:
        results = twice.block([first, second])
        first_height = twice.height
    else:
        results = [twice.one(first)]
        first_height = twice.height
        results.append(twice.one(second))
    assert [r.code for r in results] == ["ok", "duplicate_ref"]
    assert f"transaction {txid(first)} (block {first_height})" in results[1].message
    used = twice.state_read(REFS, first.tx.signer, "r-1")
    assert used is not None and used.txid == txid(first)
    assert _money(twice) == _money(once)  # value moved exactly once
    assert _money(once) != _money(_ready())  # and it did move


def test_a_rejected_transaction_does_not_use_up_its_ref() -> None:
    c = setup_chain()
    bob = c.signer("bob")
    assert c.one(bob.transfer("MILES", "alice", 5, ref="gift-1")).code == "insufficient_funds"
    assert c.one(c.signer("alice").transfer("MILES", "bob", 5, ref="a-1")).code == "ok"
    assert c.one(bob.transfer("MILES", "alice", 5, ref="gift-1")).code == "ok"


def test_refs_are_per_signer() -> None:
    c = setup_chain()
    assert c.one(c.signer("alice").transfer("MILES", "bob", 5, ref="same")).code == "ok"
    assert c.one(c.signer("bob").transfer("MILES", "alice", 5, ref="same")).code == "ok"


def test_a_value_moving_transaction_without_a_ref_is_refused_under_version_3() -> None:
    c = setup_chain()
    seq = c.account("alice").seq  # type: ignore[union-attr]
    fields = {"chain": CHAIN, "signer": "alice", "seq": seq, "expires_ms": c.now_ms + 60_000}
    signed = sign_tx(Transfer(**fields, asset="MILES", to="bob", amount_minor=1), key("alice"))
    result = c.one(signed)
    assert result.code == "ref_required"
    assert c.balance("bob", "MILES") == 0


def test_version_2_ledgers_take_no_refs() -> None:
    c = Chain(genesis=v2_genesis())
    a = c.signer("bank-a")
    assert c.one(a.create_asset("PTS", "Points", "points", 0, True, "none")).code == "ok"
    assert c.one(a.issue("PTS", "bank-a", 5)).code == "ok"  # the v2 signer leaves refs out
    seq = c.account("bank-a").seq  # type: ignore[union-attr]
    fields = {"chain": CHAIN, "signer": "bank-a", "seq": seq, "expires_ms": c.now_ms + 60_000}
    with_ref = sign_tx(Transfer(**fields, asset="PTS", to="bank-b", amount_minor=1, ref="r-1"), key("bank-a"))
    assert c.one(with_ref).code == "ref_not_supported"


def test_a_second_payment_names_the_first_transaction() -> None:
    c = setup_chain()
    first = c.signer("alice").pay("MILES", "cafe", 5, "order-9")
    assert c.one(first).code == "ok"
    again = c.one(c.signer("alice").pay("MILES", "cafe", 5, "order-9"))
    assert again.code == "duplicate_payment" and txid(first) in again.message
    payment = c.state_read(PAYMENTS, "cafe", "order-9")
    assert payment is not None and payment.txid == txid(first)


def test_version_2_payments_keep_their_stored_form() -> None:
    c = Chain(genesis=v2_genesis())
    a = c.signer("bank-a")
    assert c.one(a.create_asset("PTS", "Points", "points", 0, True, "none")).code == "ok"
    assert c.one(a.register_account("cafe", key("cafe").public_key_hex, "merchant")).code == "ok"
    assert c.one(a.issue("PTS", "bank-a", 5)).code == "ok"
    assert c.one(a.pay("PTS", "cafe", 5, "order-1")).code == "ok"
    payment = c.state_read(PAYMENTS, "cafe", "order-1")
    assert payment is not None and payment.txid is msgspec.UNSET
    assert b"txid" not in msgspec.msgpack.encode(payment)


def test_the_sdk_retries_a_refused_connection_a_bounded_number_of_times() -> None:
    port = free_port()  # reserved, nothing listens on it
    attempts: list[str] = []
    with TallyClient(f"http://127.0.0.1:{port}", retry=Retry(attempts=4, first_backoff_ms=1)) as client:
        client.http.event_hooks["request"].append(lambda request: attempts.append(request.method))
        with pytest.raises(httpx.ConnectError):
            client.submit(setup_chain().signer("alice").transfer("MILES", "bob", 1, ref="r-1"))
    assert attempts == ["POST"] * 4


def test_backoff_doubles_within_its_cap_and_honours_retry_after() -> None:
    retry = Retry(attempts=6, first_backoff_ms=100, max_backoff_ms=1_000)
    for attempt, ceiling in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1_000), (9, 1_000)]:
        waits = {retry.backoff_ms(attempt, None) for _ in range(50)}
        assert all(ceiling // 2 <= w <= ceiling for w in waits), (attempt, waits)
    assert retry.backoff_ms(1, "0") == 0 and retry.backoff_ms(1, "2") == 1_000  # capped
    assert ceiling // 2 <= retry.backoff_ms(5, "soon") <= ceiling  # not a number of seconds: the backoff


def test_on_a_node_one_refused_payment_in_a_batch_of_50_leaves_the_other_49_final(node: NodeProcess) -> None:
    w = points_world(node, 0x31)
    seq = w.client.account("hana").seq
    batch = [w.hana.pay("PTS", "mart", 10_000 if i == 25 else 2, f"batch-of-50-{i}") for i in range(50)]
    txids = w.client.submit_batch(batch)
    codes = [w.client.wait_final(t).code for t in txids]
    assert codes == ["ok"] * 25 + ["insufficient_funds"] + ["ok"] * 24
    assert w.client.balances("mart")["PTS"] == 2 * 49 and w.client.balances("hana")["PTS"] == 1000 - 2 * 49
    assert w.client.account("hana").seq == seq + 50
    # The SDK's signer is still in step: its next transaction is final without asking the node for a seq.
    assert w.client.wait_final(w.client.submit(w.hana.pay("PTS", "mart", 1, "after-the-batch"))).code == "ok"
    w.client.close()
