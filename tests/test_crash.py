"""kill -9 the node at random moments during batched payments; nothing final is lost."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import msgspec

from helpers import NodeProcess, free_port, key, member_reader
from tally.client import Signer, TallyClient, TallyError
from tally.client.http import NO_RETRY
from tally.client.keys import read_keyfile
from tally.core.audit import money_rule_faults
from tally.node.config import DataDir, init_dev_node
from tally.store import open_store

HOLDERS = 300
MERCHANTS = 5
KILLS = 12
BATCH = 400


class Loader(threading.Thread):
    """Submits batches of payments; records each transaction the node reports final."""

    def __init__(self, url: str, chain: str, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.data_dir = data_dir
        self.chain = chain
        self.stop = threading.Event()
        self.final: set[str] = set()
        self.batches_final = 0
        self.errors = 0
        self.signers = [Signer(f"c{i}", key(f"crash-holder-{i}"), chain) for i in range(HOLDERS)]
        self.rng = random.Random(1)
        self.counter = 0

    def resync(self, client: httpx.Client) -> None:
        # bank-a registered the holders, so it reads their accounts (a new token after each restart)
        with TallyClient(self.url, retry=NO_RETRY, timeout_s=10, reader=member_reader(self.data_dir)) as reader:
            for signer in self.signers:
                signer.next_seq = reader.account(signer.account).seq

    def run(self) -> None:
        client = httpx.Client(base_url=self.url, timeout=10)
        need_sync = True
        while not self.stop.is_set():
            try:
                if need_sync:
                    self.resync(client)
                    need_sync = False
                batch = []
                for _ in range(BATCH):
                    self.counter += 1
                    signer = self.signers[self.counter % HOLDERS]
                    batch.append(
                        signer.pay("CRASH", f"shop{self.counter % MERCHANTS}", 1 + self.counter % 9, f"c{self.counter}")
                    )
                response = client.post(
                    "/v1/transactions/batch",
                    content=msgspec.json.encode({"txs": batch}),
                    headers={"content-type": "application/json"},
                )
                if response.status_code != 202:
                    need_sync = True
                    continue
                txids = response.json()["txids"]
                client.get(f"/v1/transactions/{txids[-1]}", params={"wait_ms": 10_000})
                for txid in txids:
                    status = client.get(f"/v1/transactions/{txid}").json()
                    if status.get("status") == "final":
                        self.final.add(txid)
                self.batches_final += 1
            except (httpx.TransportError, ValueError, KeyError, TallyError):
                self.errors += 1
                need_sync = True
                self.stop.wait(0.05)  # the node is down: back off before the next try


def test_kill_9_during_load_loses_nothing_final(tmp_path: Path) -> None:
    data_dir = tmp_path / "crash"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-crash")
    node = NodeProcess(data_dir, free_port()).start()
    bank = Signer("bank-a", read_keyfile(DataDir(data_dir).key_path("bank-a")).keypair(), "tally-crash")
    with TallyClient(node.url) as client:
        setup = [bank.create_asset("CRASH", "Crash points", "points", 0, True, "none")]
        setup += [
            bank.register_account(f"shop{j}", key(f"crash-holder-{10_000 + j}").public_key_hex, "merchant")
            for j in range(MERCHANTS)
        ]
        setup += [
            bank.register_account(f"c{i}", key(f"crash-holder-{i}").public_key_hex, "holder") for i in range(HOLDERS)
        ]
        setup += [bank.issue("CRASH", f"c{i}", 1_000_000) for i in range(HOLDERS)]
        txids = client.submit_batch(setup)
        assert client.wait_final(txids[-1]).code == "ok"

    loader = Loader(node.url, "tally-crash", data_dir)
    loader.start()
    rng = random.Random(42)
    heights = []
    try:
        for _ in range(KILLS):
            progress = loader.batches_final
            deadline = time.monotonic() + 60
            while loader.batches_final == progress and time.monotonic() < deadline:
                loader.stop.wait(0.01)  # wait for load to flow again after the restart
            loader.stop.wait(rng.uniform(0.05, 0.6))  # a random moment during the load
            node.kill9()
            heights.append(open_store(data_dir / "ledger.db").head())
            node.start()
    finally:
        loader.stop.set()
        loader.join(timeout=60)
        node.stop()

    assert len(heights) == KILLS
    assert len(loader.final) > 1000, "the load must have made progress between kills"
    store = open_store(data_dir / "ledger.db")
    missing = [t for t in loader.final if store.tx(t) is None]
    assert missing == []
    assert money_rule_faults(list(store.state_items())) == []
    audit = subprocess.run(
        [sys.executable, "-m", "tally.cli", "audit", "--data-dir", str(data_dir)], capture_output=True, text=True
    )
    assert audit.returncode == 0, audit.stdout[-2000:]
    assert " 0 faults" in audit.stdout
