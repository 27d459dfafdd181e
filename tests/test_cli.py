"""The `tally` command end to end: init, demo, a served node, tx, balance, history, audit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec

from helpers import NodeProcess, free_port
from tally.core.tables import BALANCES, encode_value
from tally.node.config import KeyFile


def tally(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tally.cli", *args], capture_output=True, text=True, timeout=300)


def test_keys_new_writes_a_private_key_file(tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    assert tally("keys", "new", "--id", "zoe", "--out", str(out)).returncode == 0
    key = msgspec.json.decode(out.read_bytes(), type=KeyFile)
    assert key.id == "zoe" and len(key.public_key) == 64 and key.keypair().public_key_hex == key.public_key
    assert out.stat().st_mode & 0o777 == 0o600


def test_demo_node_tx_audit_and_tampering(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    first = tally("demo", "--data-dir", str(data_dir))
    assert first.returncode == 0 and "demo loaded: 340 transactions" in first.stdout, first.stderr
    again = tally("demo", "--data-dir", str(data_dir))
    assert again.returncode == 0 and "not loaded again" in again.stdout
    assert tally("node", "init", "--data-dir", str(data_dir)).returncode != 0  # never overwrites a node

    node = NodeProcess(data_dir, free_port()).start()
    try:
        url = ["--url", node.url]
        balances = tally("balance", "alice", *url)
        assert balances.returncode == 0 and "HARBOR-GIFT" in balances.stdout and "SKYMILES" in balances.stdout
        before = dict(line.split("\t") for line in balances.stdout.strip().splitlines())
        key = str(data_dir / "keys" / "alice.json")
        pay = ["tx", "pay", "--key", key, "--asset", "SKYMILES", "--merchant", "cafe-lumen", "--amount", "25"]
        paid = tally(*pay, "--payment-id", "cli-1", *url)
        assert paid.returncode == 0, paid.stderr
        assert json.loads(paid.stdout)["status"] == "final"
        after = dict(line.split("\t") for line in tally("balance", "alice", *url).stdout.strip().splitlines())
        assert int(before["SKYMILES"]) - int(after["SKYMILES"]) == 25
        dup = tally(*pay, "--payment-id", "cli-1", *url)
        assert dup.returncode == 1 and json.loads(dup.stdout)["code"] == "duplicate_payment"
        refused = tally(
            "tx", "transfer", "--key", key, "--asset", "HARBOR-GIFT", "--to", "bob", "--amount", "1", "--seq", "0", *url
        )
        assert refused.returncode != 0 and "seq_stale" in refused.stderr
        history = tally("history", "alice", "--limit", "3", *url)
        assert history.returncode == 0 and len(history.stdout.strip().splitlines()) == 3
        assert tally("balance", "nobody", *url).returncode != 0
        second = tally("node", "start", "--data-dir", str(data_dir), "--port", str(free_port()))
        assert second.returncode != 0 and "in use by another tally process" in second.stderr
        repair = tally("node", "repair", "--data-dir", str(data_dir), "--peer", node.url)
        assert repair.returncode != 0 and "stop the node first" in repair.stderr
    finally:
        node.stop()
    # SIGTERM is an orderly stop: the node ends its signature workers and leaves nothing behind
    assert node.proc is not None and node.proc.returncode == 0
    assert node.leftovers() == []
    assert "node stopped" in (data_dir / "node.log").read_text()

    clean = tally("audit", "--data-dir", str(data_dir))
    assert clean.returncode == 0 and "0 faults" in clean.stdout, clean.stdout

    with sqlite3.connect(data_dir / "ledger.db") as db:  # someone edits a balance by hand
        db.execute("UPDATE state SET value = ? WHERE key = ?", (encode_value(10**9), BALANCES.key("alice", "SKYMILES")))
    tampered = tally("audit", "--data-dir", str(data_dir))
    assert tampered.returncode == 1
    assert "stored state differs" in tampered.stdout and "SKYMILES" in tampered.stdout


def test_audit_catches_a_rewritten_transaction(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    assert tally("demo", "--data-dir", str(data_dir)).returncode == 0
    with sqlite3.connect(data_dir / "ledger.db") as db:
        row = db.execute("SELECT pos, envelope FROM txs WHERE type = 'pay' LIMIT 1").fetchone()
        forged = json.loads(row[1])
        forged["tx"]["amount_minor"] += 1
        db.execute("UPDATE txs SET envelope = ? WHERE pos = ?", (json.dumps(forged).encode(), row[0]))
    audit = tally("audit", "--data-dir", str(data_dir))
    assert audit.returncode == 1
    assert "do not match the transactions" in audit.stdout
