"""Shared test helpers: a pure in-memory chain for core tests, real node processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import msgspec

from tally.client.http import TallyClient, TallyError
from tally.client.keys import read_keyfile
from tally.client.signer import Signer, sign_tx
from tally.core.audit import money_rule_faults
from tally.core.block import make_certificate, sign_vote, tx_signing_bytes, txid_of
from tally.core.chain import Batch, BlockResult, Head, apply_block, genesis_head, signature_checks
from tally.core.crypto import KeyPair, sha256, verify
from tally.core.execute import Entry
from tally.core.genesis import genesis_memory_state
from tally.core.limits import Limits
from tally.core.ops import SignedTx
from tally.core.protocol import LATEST, rules_for, version_at
from tally.core.state import MemoryState
from tally.core.tables import ACCOUNTS, BALANCES, Table
from tally.core.types import Account, Genesis, GenesisMember, TxResult, Validator
from tally.dev import process
from tally.dev.network import Network, init_network
from tally.dev.process import free_ports
from tally.node.config import DataDir
from tally.store import BlockRecord, Store
from tally.store.base import record_of

R = TypeVar("R")

ROOT = Path(__file__).resolve().parent.parent
CHAIN = "tally-test"
T0_MS = 1_800_000_000_000


def key(name: str) -> KeyPair:
    return KeyPair(sha256(b"tally-test/" + name.encode()))


def make_genesis(members: tuple[str, ...] = ("bank-a", "bank-b")) -> Genesis:
    return Genesis(
        chain=CHAIN,
        genesis_time_ms=T0_MS,
        members=[GenesisMember(id=m, name=m.upper(), public_key=key(m).public_key_hex) for m in members],
        validators=[Validator(id="validator-1", public_key=key("validator-1").public_key_hex)],
        protocol=LATEST,
    )


@dataclass
class Chain:
    """A pure chain: blocks are made by the core's one block transition, signatures checked."""

    genesis: Genesis = field(default_factory=make_genesis)
    state: MemoryState = field(init=False)
    head: Head = field(init=False)
    now_ms: int = T0_MS + 1000
    signers: dict[str, Signer] = field(default_factory=dict)
    parties: list[tuple[str, ...]] = field(default_factory=list)  # of the last block's transactions
    store: Store | None = None  # when given, every block is also written to it, certified by validator-1

    def __post_init__(self) -> None:
        self.state = genesis_memory_state(self.genesis)
        self.head = genesis_head(self.genesis)
        if self.store is not None:
            self.store.put_state(dict(self.state.values))  # as open_store with the genesis writes it

    @property
    def height(self) -> int:
        return self.head.height

    @property
    def digest(self) -> str:
        return self.head.state_digest

    def signer(self, name: str) -> Signer:
        if name not in self.signers:
            refs = rules_for(version_at(self.genesis, self.height + 1)).client_refs
            self.signers[name] = Signer(name, key(name), CHAIN, clock_ms=lambda: self.now_ms, refs=refs)
        return self.signers[name]

    def block(self, txs: list[SignedTx]) -> list[TxResult]:
        """Execute one block; each signer's next seq follows its account (a rejection may not consume it)."""
        checks = signature_checks(self.state, txs)
        assert all(verify(*c) for c in checks), "test chains only execute correctly signed transactions"
        entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in txs]
        block = apply_block(
            self.genesis, self.head, self.state, Batch("validator-1", self.now_ms, self.height + 1, entries)
        )
        self.state.apply(block.writes)
        self.head = block.head
        self.parties = block.parties
        if self.store is not None:
            self.store.write_block(block_record(block, txs))
        assert money_rule_faults(sorted(self.state.values.items())) == []
        for signed, result in zip(txs, block.results, strict=True):
            if result.code != "ok" and signed.tx.signer in self.signers:
                account = self.account(signed.tx.signer)
                assert account is not None
                self.signers[signed.tx.signer].next_seq = account.seq
        return block.results

    def one(self, signed: SignedTx) -> TxResult:
        return self.block([signed])[0]

    def account(self, name: str) -> Account | None:
        return ACCOUNTS.read(self.state.get, name)

    def state_read(self, table: Table[R], *parts: str) -> R | None:
        return table.read(self.state.get, *parts)

    def balance(self, account: str, asset: str) -> int:
        return BALANCES.read(self.state.get, account, asset) or 0


def block_record(block: BlockResult, txs: list[SignedTx]) -> BlockRecord:
    """What the pipeline stores for a block, certified by the test genesis's one validator."""
    certificate = make_certificate(block.vote, [sign_vote(key("validator-1"), "validator-1", block.vote)])
    return record_of(block, txs, [msgspec.json.encode(s) for s in txs], certificate)


def setup_chain(store: Store | None = None) -> Chain:
    """bank-a issues MILES (points, transferable) and GIFT (voucher, merchants cash out);
    alice and bob are holders, cafe and shop merchants; alice holds 1000 of each."""
    c = Chain(store=store)
    a = c.signer("bank-a")
    assert all(
        r.code == "ok"
        for r in c.block(
            [
                a.create_asset("MILES", "Miles", "points", 0, True, "none"),
                a.create_asset("GIFT", "Gift voucher", "voucher", 2, False, "merchants"),
                a.create_asset("CASH", "E-money", "emoney", 2, True, "all"),
                a.register_account("alice", key("alice").public_key_hex, "holder"),
                a.register_account("bob", key("bob").public_key_hex, "holder"),
                a.register_account("cafe", key("cafe").public_key_hex, "merchant"),
                a.register_account("shop", key("shop").public_key_hex, "merchant"),
            ]
        )
    )
    assert all(
        r.code == "ok"
        for r in c.block(
            [a.issue("MILES", "alice", 1000), a.issue("GIFT", "alice", 1000), a.issue("CASH", "alice", 1000)]
        )
    )
    return c


# --- real node processes ------------------------------------------------------


class NodeProcess(process.NodeProcess):
    """A test node: if another program took its port meanwhile, it starts on fresh ports (its url says where)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        super().__init__(data_dir, port, movable=True)


def free_port() -> int:
    return free_ports(1)[0]


def signed_for(tx_signer: KeyPair, tx: object) -> SignedTx:
    return sign_tx(tx, tx_signer)  # type: ignore[arg-type]


def final_at(client: TallyClient, txid: str) -> bool:
    """Final at this node; False while the node has not yet seen the transaction (waits up to a second)."""
    try:
        return client.status(txid, wait_ms=1000).status == "final"
    except TallyError as error:
        if error.code != "unknown_tx":
            raise
        return False


def until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll remote state (a process, etcd) until `condition` holds, failing with `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)  # polling remote state, bounded by the deadline
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def member_reader(node: NodeProcess | Path, member: str = "bank-a") -> tuple[str, KeyPair]:
    """A genesis member's key as a reader (docs/access.md): it reads the accounts it registered, and itself."""
    data = DataDir(node.data_dir if isinstance(node, NodeProcess) else node)
    return member, read_keyfile(data.key_path(member)).keypair()


def member_client(node: NodeProcess, member: str = "bank-a", **kwargs: object) -> TallyClient:
    """A client of `node` that reads as a genesis member."""
    return TallyClient(node.url, reader=member_reader(node, member), **kwargs)  # type: ignore[arg-type]


def read_headers(url: str, principal: str, key: KeyPair) -> dict[str, str]:
    """An Authorization header with a fresh read token, for tests that speak HTTP themselves."""
    with TallyClient(url, reader=(principal, key)) as client:
        return {"Authorization": f"Bearer {client.authenticate().token}"}


@dataclass
class PointsWorld:
    """On a dev node: bank-a's asset PTS, holder `hana` with 1000 PTS, merchant `mart`; the client reads as bank-a."""

    client: TallyClient
    bank: Signer
    hana: Signer
    mart: Signer
    last_txid: str  # the final issue to hana


def points_world(node: NodeProcess, seed_byte: int) -> PointsWorld:
    """Set up PointsWorld on `node`; the holders' keys come from `seed_byte` (distinct per test module)."""
    data = DataDir(node.data_dir)
    client = member_client(node)
    chain = client.genesis().chain
    bank = Signer("bank-a", read_keyfile(data.key_path("bank-a")).keypair(), chain)
    hana = Signer("hana", KeyPair(bytes([seed_byte]) * 32), chain)
    mart = Signer("mart", KeyPair(bytes([seed_byte + 1]) * 32), chain)
    txids = client.submit_batch(
        [
            bank.create_asset("PTS", "Points", "points", 0, True, "none"),
            bank.register_account("hana", hana.key.public_key_hex, "holder"),
            bank.register_account("mart", mart.key.public_key_hex, "merchant"),
            bank.issue("PTS", "hana", 1000),
        ]
    )
    assert [client.wait_final(t).code for t in txids] == ["ok"] * 4
    return PointsWorld(client, bank, hana, mart, txids[-1])


def admit_auditor(world: PointsWorld, account: str = "audit") -> tuple[str, KeyPair]:
    """The council (bank-a alone: the dev node's threshold is 1) admits an auditor, who reads every account."""
    from tally.core.types import AdmitMember

    key = KeyPair(sha256(b"tally-test-auditor/" + account.encode()))
    action = AdmitMember(account=account, name="Auditor", public_key=key.public_key_hex, role="auditor")
    world.bank.next_seq = world.client.next_seq("bank-a")
    assert world.client.wait_final(world.client.submit(world.bank.propose(f"admit-{account}", action))).code == "ok"
    return account, key


def four_node_network(root: Path, chain: str, limits: Limits | None = None) -> Network:
    """A network `init_network` writes under `root`: 4 nodes and 3 etcd members on free ports (not started)."""
    ports = free_ports(10)
    layout = init_network(
        root,
        4,
        chain=chain,
        node_ports=ports[:4],
        etcd_ports=[(ports[4], ports[5]), (ports[6], ports[7]), (ports[8], ports[9])],
        limits=limits,
    )
    return Network(root, layout)


# --- worked examples in docs/examples ------------------------------------------


def masked(text: str) -> str:
    """Hex of 12 characters or more (with a letter: not an amount) as <hex>; block heights as <n>, block
    times (milliseconds since 1970) as <ms>, times (YYYY-MM-DD HH:MM) as <time>, months (YYYY-MM) as <month>."""
    text = re.sub(r"\b20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9](:[0-5][0-9])?\b", "<time>", text)
    text = re.sub(r"\b20[0-9]{2}-[01][0-9]\b", "<month>", text)
    text = re.sub(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b", "<hex>", text)
    text = re.sub(r"\bblock time [0-9]+", "block time <ms>", text)
    return re.sub(r"\bblock [0-9]+", "block <n>", text)


def run_example(script: Path, tmp_path: Path) -> str:
    """Run a docs/examples script against a fresh demo node; its output must be the one checked in beside it
    (SCRIPT.out, masked). TALLY_REGENERATE=1 writes it instead, after a deliberate change."""
    tally = [sys.executable, "-m", "tally.cli"]
    data_dir = tmp_path / ".tally" / "node"  # where `make run` keeps its node, relative to the script's directory
    subprocess.run([*tally, "demo", "--data-dir", str(data_dir)], check=True, capture_output=True, timeout=300)
    node = NodeProcess(data_dir, free_port()).start()
    try:
        env = {**os.environ, "TALLY": str(Path(sys.executable).parent / "tally"), "TALLY_URL": node.url}
        ran = subprocess.run(
            ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=True
        )
    finally:
        node.stop()
    output = script.with_suffix(".out")
    if os.environ.get("TALLY_REGENERATE") == "1":
        output.write_text(masked(ran.stdout), "utf-8")
    assert masked(ran.stdout) == output.read_text("utf-8"), f"regenerate {output.name}: see helpers.run_example"
    return ran.stdout


def quoted_blocks_in_output(page: Path, script: Path) -> int:
    """Every ```$ tally ...``` block a docs page quotes is in its example's checked-in output, word for word;
    returns how many the page quotes."""
    quoted = re.findall(r"```\n(\$ tally .*?)\n```", page.read_text("utf-8"), re.S)
    output = script.with_suffix(".out").read_text("utf-8")
    for block in quoted:
        assert block in output, block
    return len(quoted)
