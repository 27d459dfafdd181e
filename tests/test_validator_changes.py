"""The council changes the validator set of a real network: four nodes, a three-member etcd cluster.

`tally network add-node` writes and starts node-5, which catches up on its
own (the etcd log, or peers where the log was compacted) while it is not
yet a validator. member-1, the council (threshold 1), adds node-5 from a
stated height and then removes node-1 from a later one. Certificates after
each height carry the quorum of the set in force; receipts from before and
after verify offline from the genesis and the certified changes; a
certificate signed with node-1's key after its removal does not count.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from helpers import final_at, four_node_network, key, until
from tally.client import Signer, TallyClient, verify_receipt
from tally.client.keys import read_keyfile
from tally.core.block import (
    ValidatorsBody,
    block_hash,
    certificate_fault,
    follow_changes,
    make_certificate,
    quorum_size,
    sign_vote,
    valid_signers,
    vote_for,
)
from tally.core.ops import SignedTx
from tally.core.types import AddValidator, BlockHeader, Certificate, RemoveValidator
from tally.core.validators import VALIDATOR_NOTICE_BLOCKS
from tally.dev.network import Network, down

IDS = ("node-1", "node-2", "node-3")  # the removed validator and two that stay
MARGIN_BLOCKS = 4  # beyond the notice: the proposal may land a few blocks after the height it was read at


class World:
    def __init__(self, net: Network, root: Path) -> None:
        self.net = net
        self.root = root
        self.clients = {node_id: TallyClient(node.url) for node_id, node in net.nodes.items()}
        self.genesis = self.client("node-2").genesis()
        chain = self.genesis.chain
        self.member = Signer("member-1", read_keyfile(root / "keys" / "member-1.json").keypair(), chain)
        self.holder = Signer("vc-holder", key("vc-holder"), chain)
        self.count = 0

    def client(self, node_id: str) -> TallyClient:
        if node_id not in self.clients:
            self.clients[node_id] = TallyClient(self.net.nodes[node_id].url)
        return self.clients[node_id]

    def final(self, signed: SignedTx, node_id: str = "node-2") -> str:
        txid = self.client(node_id).submit(signed)
        until(lambda: final_at(self.client(node_id), txid), f"{txid} final at {node_id}")
        status = self.client(node_id).status(txid)
        assert status.code == "ok", status
        return txid

    def height(self, node_id: str = "node-2") -> int:
        return self.client(node_id).node_status().final_height

    def advance_past(self, height: int) -> None:
        """Payments, one block each, until the final height passes `height`."""
        while self.height() <= height:
            self.count += 1
            self.final(self.holder.transfer("VC", "member-1", 1))

    def certificate(self, height: int, node_id: str = "node-2") -> tuple[BlockHeader, Certificate]:
        url = self.net.nodes[node_id].url
        header = msgspec.json.decode(httpx.get(f"{url}/v1/blocks/{height}").content, type=dict)["header"]
        cert = httpx.get(f"{url}/v1/blocks/{height}/certificate").content
        return msgspec.convert(header, BlockHeader), msgspec.json.decode(cert, type=Certificate)

    def validators(self, node_id: str = "node-2") -> ValidatorsBody:
        raw = httpx.get(f"{self.net.nodes[node_id].url}/v1/validators").content
        return msgspec.json.decode(raw, type=ValidatorsBody)

    def converged(self) -> None:
        ids = list(self.net.nodes)

        def same() -> bool:
            statuses = [self.client(n).node_status() for n in ids]
            return len({(s.height, s.state_digest) for s in statuses}) == 1 and all(
                s.final_height == s.height for s in statuses
            )

        until(same, f"nodes {ids} to converge")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("validators") / "net"
    net = four_node_network(root, "tally-vset-test")
    net.up()
    try:
        w = World(net, root)
        try:
            w.final(w.member.create_asset("VC", "Validator test points", "points", 0, True, "all"))
            w.final(w.member.register_account("vc-holder", w.holder.key.public_key_hex, "holder"))
            w.final(w.member.issue("VC", "vc-holder", 1_000_000))
            yield w
        finally:
            for client in w.clients.values():
                client.close()
    finally:
        net.stop()
        down(root)  # node-5, which the CLI started


def test_the_council_adds_a_fifth_validator_and_removes_one(world: World) -> None:
    before = world.final(world.holder.transfer("VC", "member-1", 3))

    added = subprocess.run(
        [sys.executable, "-m", "tally.cli", "network", "add-node", "--dir", str(world.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    assert "started node-5" in added.stdout
    world.net = Network.open(world.root)  # its layout now names node-5 (the processes stay ours to stop)
    node5 = read_keyfile(world.root / "nodes" / "node-5" / "keys" / "validator.json")
    world.converged()  # node-5 caught up while it is no validator

    joins_at = world.height() + 1 + VALIDATOR_NOTICE_BLOCKS + MARGIN_BLOCKS
    world.final(
        world.member.propose(
            "add-node-5", AddValidator(validator="node-5", public_key=node5.public_key, from_height=joins_at)
        )
    )
    leaves_at = joins_at + 6
    world.final(world.member.propose("remove-node-1", RemoveValidator(validator="node-1", from_height=leaves_at)))
    world.advance_past(leaves_at + 2)
    after = world.final(world.holder.transfer("VC", "member-1", 4), node_id="node-5")
    world.converged()

    body = world.validators()
    assert [s.from_height for s in body.sets] == [1, joins_at, leaves_at]
    history = follow_changes(world.genesis, body.changes)
    four, five, without_1 = (history.at(h) for h in (joins_at - 1, joins_at, leaves_at))
    assert [v.id for v in five] == ["node-1", "node-2", "node-3", "node-4", "node-5"]
    assert [v.id for v in without_1] == ["node-2", "node-3", "node-4", "node-5"]

    for height, validators in ((joins_at - 1, four), (joins_at, five), (leaves_at, without_1)):
        header, cert = world.certificate(height)
        assert certificate_fault(cert, history, header) is None
        signers = valid_signers(cert, validators)
        assert len(signers) >= quorum_size(len(validators)), (height, signers)
        assert {s.validator for s in cert.signatures} <= {v.id for v in validators}

    final = world.height()
    signed_after = [world.certificate(h)[1] for h in range(leaves_at, final + 1)]
    assert all("node-1" not in {s.validator for s in c.signatures} for c in signed_after), "node-1 signs no more"
    assert any("node-5" in {s.validator for s in c.signatures} for c in signed_after), "node-5 votes"

    shown = subprocess.run(
        [sys.executable, "-m", "tally.cli", "validators", "--url", world.net.nodes["node-5"].url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"{leaves_at}" in shown.stdout and "node-2, node-3, node-4, node-5" in shown.stdout

    for txid in (before, after):
        receipt = world.client("node-3").receipt(txid)
        assert verify_receipt(receipt, world.genesis, body.changes) == (True, "ok")
    late = world.client("node-3").receipt(after)
    assert late.header.height > leaves_at

    # node-1's key, after its removal, does not make a quorum with two validators that remain
    h = late.header
    vote = vote_for(h.chain, h.height, block_hash(h), late.certificate.state_digest, late.certificate.results_root)
    keys = {n: read_keyfile(world.root / "nodes" / n / "keys" / "validator.json").keypair() for n in IDS}
    forged = make_certificate(vote, [sign_vote(k, n, vote) for n, k in keys.items()])
    assert certificate_fault(forged, history, h) == "certificate lacks a quorum of valid validator signatures"
    forged_receipt = msgspec.structs.replace(late, certificate=forged)
    assert verify_receipt(forged_receipt, world.genesis, body.changes)[0] is False
