"""The `tally` command end to end: init, demo, a served node, tx, balance, history, audit."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec

from helpers import NodeProcess, free_port
from tally.client.keys import KeyFile, read_keyfile, write_keyfile
from tally.core.tables import BALANCES, encode_value
from tally.node.config import DataDir


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
    assert first.returncode == 0 and "demo loaded: 380 transactions" in first.stdout, first.stderr
    again = tally("demo", "--data-dir", str(data_dir))
    assert again.returncode == 0 and "not loaded again" in again.stdout
    assert tally("node", "init", "--data-dir", str(data_dir)).returncode != 0  # never overwrites a node

    node = NodeProcess(data_dir, free_port()).start()
    try:
        url = ["--url", node.url]
        key = str(data_dir / "keys" / "alice.json")
        balances = tally("balance", "alice", "--key", key, *url)
        assert balances.returncode == 0 and balances.stdout.splitlines()[0].split() == [
            "ASSET", "NAME", "BALANCE", "MINOR", "UNITS"
        ]  # fmt: skip
        before = json.loads(tally("balance", "alice", "--key", key, "--json", *url).stdout)["balances"]
        gift = next(line for line in balances.stdout.splitlines() if line.startswith("HARBOR-GIFT"))
        assert f"{before['HARBOR-GIFT'] // 100}.{before['HARBOR-GIFT'] % 100:02d}" in gift  # in the voucher's unit
        pay = ["tx", "pay", "--key", key, "--asset", "HARBOR-GIFT", "--merchant", "cafe-lumen", "--amount", "12.50"]
        paid = tally(*pay, "--payment-id", "cli-1", "--json", *url)
        assert paid.returncode == 0, paid.stderr
        assert json.loads(paid.stdout)["status"] == "final"
        after = json.loads(tally("balance", "alice", "--key", key, "--json", *url).stdout)["balances"]
        assert before["HARBOR-GIFT"] - after["HARBOR-GIFT"] == 1250
        dup = tally(*pay, "--payment-id", "cli-1", *url)
        assert dup.returncode == 1 and "rejected duplicate_payment" in dup.stdout and "by transaction" in dup.stdout
        too_fine = tally(*pay[:-1], "12.501", "--payment-id", "cli-2", *url)
        assert too_fine.returncode != 0 and too_fine.stderr.count("\n") == 1
        assert "at most 2 digits after the point" in too_fine.stderr
        refused = tally(
            "tx", "transfer", "--key", key, "--asset", "SKYMILES", "--to", "bob", "--amount", "1", "--seq", "0", *url
        )
        assert refused.returncode != 0 and "seq_stale" in refused.stderr
        # A value-moving command makes a ref and prints it; run again with it, value moves once.
        bank_key = str(data_dir / "keys" / "harbor-bank.json")
        issue = ["tx", "issue", "--key", bank_key, "--asset", "HARBOR-GIFT", "--to", "bob", "--amount-minor", "7"]
        issued = tally(*issue, "--json", *url)
        assert issued.returncode == 0 and json.loads(issued.stdout)["code"] == "ok", issued.stderr
        ref = issued.stderr.split()[1]
        assert issued.stderr.startswith(f"ref {ref} ") and f"--ref {ref}" in issued.stderr
        retried = tally(*issue, "--ref", ref, "--json", *url)
        assert retried.returncode == 1
        status = json.loads(retried.stdout)
        assert status["code"] == "duplicate_ref" and json.loads(issued.stdout)["txid"] in status["message"]
        unread = tally("history", "alice", "--limit", "3", *url)  # reads need a key: said in one line
        assert unread.returncode == 1 and unread.stderr.startswith("Error: auth_required") and "--key" in unread.stderr
        history = tally("history", "alice", "--key", key, "--limit", "3", *url)
        assert history.returncode == 0, history.stderr
        lines = history.stdout.strip().splitlines()
        assert lines[0].split()[:4] == ["TIME", "(UTC)", "TYPE", "ASSET"] and "BALANCE AFTER" in lines[0]
        assert "pay" in lines[1] and "rejected: duplicate_payment" in lines[1]  # the second try, marked
        assert "pay" in lines[2] and "out 12.50" in lines[2] and "cafe-lumen" in lines[2] and "ok" in lines[2]
        assert (
            len(json.loads(tally("history", "alice", "--key", key, "--limit", "3", "--json", *url).stdout)["items"])
            == 3
        )
        missing = tally("balance", "nobody", "--key", bank_key, *url)  # a member may not read what it did not register
        assert (
            missing.returncode == 1
            and missing.stderr.startswith("Error: not_permitted")
            and "Traceback" not in missing.stderr
        )
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


def test_errors_are_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    not_json = tmp_path / "key.json"
    not_json.write_text("this is not json\n")
    cases = {
        "bad key file": (
            [
                "tx",
                "burn",
                "--key",
                str(not_json),
                "--asset",
                "X",
                "--amount-minor",
                "1",
                "--url",
                f"http://127.0.0.1:{port}",
            ],
            "is not a Tally key file",
        ),
        "stopped node": (["balance", "alice", "--url", f"http://127.0.0.1:{port}"], f"http://127.0.0.1:{port}"),
    }
    for what, (args, expected) in cases.items():
        done = tally(*args)
        assert done.returncode == 1, what
        assert done.stderr.count("\n") == 1 and expected in done.stderr, (what, done.stderr)
        assert "Traceback" not in done.stderr
    stopped = tally("balance", "alice", "--url", f"http://127.0.0.1:{port}")
    assert "is it running?" in stopped.stderr
    debug = tally("--debug", "balance", "alice", "--url", f"http://127.0.0.1:{port}")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConnectError" in debug.stderr


def test_version_and_the_node_url_from_the_environment(tmp_path: Path) -> None:
    version = tally("--version")
    assert version.returncode == 0 and version.stdout.strip() == "tally, version 0.1.0"
    port = free_port()
    env = {**os.environ, "TALLY_URL": f"http://127.0.0.1:{port}"}
    done = subprocess.run(
        [sys.executable, "-m", "tally.cli", "status"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 1 and f"127.0.0.1:{port}" in done.stderr


def test_amounts_keys_and_json_against_a_node(node: NodeProcess) -> None:
    """A 2-decimal voucher in its own unit; a key that is not the account's; --json everywhere data is printed."""
    data = DataDir(node.data_dir)
    url = ["--url", node.url]
    bank = str(data.key_path("bank-a"))
    created = tally(
        "tx", "create-asset", "--key", bank, "--asset", "CLI-V", "--name", "CLI voucher", "--kind", "voucher",
        "--decimals", "2", "--json", *url,
    )  # fmt: skip
    assert created.returncode == 0 and json.loads(created.stdout)["code"] == "ok", created.stderr
    issued = tally("tx", "issue", "--key", bank, "--asset", "CLI-V", "--to", "bank-a", "--amount", "726.92", *url)
    assert issued.returncode == 0 and "final at block" in issued.stdout and ": ok" in issued.stdout, issued.stderr
    shown = tally("balance", "bank-a", "--key", bank, *url)
    assert "CLI-V" in shown.stdout and "726.92" in shown.stdout and "72692" in shown.stdout
    assert json.loads(tally("balance", "bank-a", "--key", bank, "--json", *url).stdout)["balances"]["CLI-V"] == 72692
    for args in (["assets"], ["account", "bank-a", "--key", bank], ["status"], ["history", "bank-a", "--key", bank]):
        plain, as_json = tally(*args, *url), tally(*args, "--json", *url)
        assert plain.returncode == 0 and as_json.returncode == 0, (args, plain.stderr, as_json.stderr)
        json.loads(as_json.stdout)
    assets = json.loads(tally("assets", "--json", *url).stdout)
    assert {a["id"]: a["decimals"] for a in assets}["CLI-V"] == 2
    # bank-b's key file used for account bank-a: said before anything is signed or sent.
    wrong = KeyFile(
        id="bank-a",
        public_key=read_keyfile(data.key_path("bank-b")).public_key,
        seed=read_keyfile(data.key_path("bank-b")).seed,
    )
    wrong_path = node.data_dir.parent / "wrong.json"
    write_keyfile(wrong_path, wrong)
    refused = tally("tx", "burn", "--key", str(wrong_path), "--asset", "CLI-V", "--amount", "1", *url)
    assert refused.returncode == 1 and "is not" not in refused.stdout
    assert "has another key" in refused.stderr and "use that account's own key file" in refused.stderr


def test_a_taken_port_is_said_before_serving_and_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    assert tally("node", "init", "--data-dir", str(data_dir)).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = tally("node", "start", "--data-dir", str(data_dir), "--port", str(port))
    assert busy.returncode == 1 and f"make run PORT={port + 1}" in busy.stderr
    assert "http://" not in busy.stdout  # nothing announced
    node = NodeProcess(data_dir, free_port()).start()
    assert node.proc is not None
    os.killpg(node.proc.pid, signal.SIGINT)  # what Ctrl-C sends: the terminal signals the whole group
    assert node.proc.wait(timeout=60) == 0
    node.stop()  # waits for its process group to drain
    log = (data_dir / "node.log").read_text()
    assert "node stopped" in log and "Aborted" not in log and "Traceback" not in log
    assert node.leftovers() == []
