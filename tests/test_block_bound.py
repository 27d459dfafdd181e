"""The council bounds how many transactions a block holds (protocol 5): execution, and a real node's orderer;
and `tally tx propose` with its action as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import NodeProcess, points_world, setup_chain
from tally.client import TallyClient
from tally.core.errors import ENVELOPE_CODES, Code
from tally.core.tables import PROPOSALS
from tally.core.types import SetParam
from tally.node.config import DataDir


def test_transactions_past_the_bound_change_nothing_not_even_their_seq() -> None:
    c = setup_chain()
    a = c.signer("bank-a")
    assert c.one(a.propose("small", SetParam(name="max_block_txs", value=2))).code == "ok"
    alice = c.signer("alice")
    before = dict(c.state.values)
    results = c.block(
        [alice.transfer("MILES", "bob", 1), alice.transfer("MILES", "bob", 2), a.issue("MILES", "bob", 3)]
    )
    assert [r.code for r in results] == ["ok", "ok", Code.BLOCK_FULL]
    assert Code.BLOCK_FULL in ENVELOPE_CODES  # like an envelope failure: nothing at all changes
    assert c.balance("bob", "MILES") == 3
    assert c.account("bank-a").seq == before["acct/bank-a"].seq  # type: ignore[attr-defined,union-attr]
    c.signers["bank-a"].next_seq = c.account("bank-a").seq  # type: ignore[union-attr]
    assert c.one(a.issue("MILES", "bob", 3, ref="again")).code == "ok"  # signed again, it goes through


def test_the_bound_stays_within_what_a_node_can_store() -> None:
    c = setup_chain()
    a = c.signer("bank-a")
    for value in (0, 1 << 20):
        assert c.one(a.propose(f"bad-{value}", SetParam(name="max_block_txs", value=value))).code == "ok"
        failed = c.state_read(PROPOSALS, f"bad-{value}")
        assert failed is not None and failed.result_code == Code.BAD_PARAMETER


def test_a_node_cuts_its_blocks_within_the_councils_bound(node: NodeProcess) -> None:
    w = points_world(node, 0x51)
    client, bank = w.client, w.bank
    assert (
        client.wait_final(client.submit(bank.propose("bound-3", SetParam(name="max_block_txs", value=3)))).code == "ok"
    )
    payments = [w.hana.pay("PTS", "mart", 1, f"bound-{i}") for i in range(10)]
    txids = client.submit_batch(payments)
    statuses = [client.wait_final(t) for t in txids]
    assert [s.code for s in statuses] == ["ok"] * 10, "the orderer cut the batch: nothing is refused block_full"
    heights = [s.height for s in statuses]
    assert max(heights.count(h) for h in set(heights)) <= 3
    assert client.balances("mart")["PTS"] == 10


def test_tally_tx_propose_takes_the_action_as_json(node: NodeProcess) -> None:
    """The generic `tally tx propose` reads a proposal's action as JSON; bad JSON is one line, nothing sent."""
    key_file = str(DataDir(node.data_dir).key_path("bank-a"))
    base = [sys.executable, "-m", "tally.cli", "tx", "propose", "--key", key_file, "--url", node.url]
    action = '{"kind": "set_param", "name": "proposal_ttl_ms", "value": 3600000}'
    ran = subprocess.run(
        [*base, "--proposal", "ttl-1h", "--action", action, "--json"], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0 and json.loads(ran.stdout)["code"] == "ok", ran.stderr
    with TallyClient(node.url) as client:
        assert client.council().proposal_ttl_ms == 3_600_000
        assert client.proposal("ttl-1h").status == "executed"
    bad = subprocess.run(
        [*base, "--proposal", "bad", "--action", "{not json"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "--action" in bad.stderr and "not JSON" in bad.stderr
    unknown = subprocess.run(
        [*base, "--proposal", "bad", "--action", '{"kind": "nope"}'], capture_output=True, text=True
    )
    assert unknown.returncode != 0 and unknown.stderr.count("\n") == 1, unknown.stderr
