"""A node defends itself: storage changed under it is found and refused; a stopped pipeline stops admission.

Real node processes over HTTP; the tampering is done the way an intruder or
a broken disk would, on the node's SQLite file while it runs.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import httpx
import msgspec
import pytest

from helpers import NodeProcess, free_port, make_genesis, setup_chain, until
from tally.client import KeyPair, Signer, TallyClient, TallyError
from tally.client.keys import read_keyfile
from tally.core.tables import BALANCES, encode_value
from tally.core.types import StateValue
from tally.node.audit import audit_ledger
from tally.node.config import DataDir, init_dev_node
from tally.node.scrub import block_fault, written
from tally.store import BlockRecord, Store, open_store

WAIT_S = 30.0


class Solo:
    def __init__(self, root: Path) -> None:
        init_dev_node(root, [("bank-a", "Bank A")], chain="tally-defend")
        self.data = DataDir(root)
        self.proc = NodeProcess(root, free_port()).start()
        bank_key = read_keyfile(self.data.key_path("bank-a")).keypair()
        self.client = TallyClient(self.proc.url, reader=("bank-a", bank_key))  # bank-a reads alice, its holder
        self.bank = Signer("bank-a", bank_key, "tally-defend")
        self.alice = Signer("alice", KeyPair(b"\x31" * 32), "tally-defend")

    def final(self, signed: object) -> None:
        status = self.client.wait_final(self.client.submit(signed))  # type: ignore[arg-type]
        assert status.code == "ok", status

    def fund_alice(self) -> None:
        self.final(self.bank.create_asset("PTS", "Points", "points", 0, True, "none"))
        self.final(self.bank.register_account("alice", self.alice.key.public_key_hex, "holder"))
        self.final(self.bank.issue("PTS", "alice", 1_000))

    def health(self) -> tuple[int, str]:
        response = httpx.get(f"{self.proc.url}/health")
        return response.status_code, response.json()["status"]

    def sql(self, statement: str, *args: object) -> None:
        db = sqlite3.connect(self.data.ledger_path, timeout=30)
        db.execute(statement, args)
        db.commit()
        db.close()


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[Solo]:
    node = Solo(tmp_path / "node")
    try:
        yield node
    finally:
        node.client.close()
        node.proc.stop()


def test_a_balance_edited_in_the_running_nodes_file_is_found_reported_and_no_longer_served(solo: Solo) -> None:
    solo.fund_alice()
    assert solo.client.balances("alice") == {"PTS": 1_000}
    solo.sql("UPDATE state SET value = ? WHERE key = ?", encode_value(1_000_000), BALANCES.key("alice", "PTS"))

    until(lambda: solo.health() == (503, "tampered"), "the node to find its storage changed")
    with pytest.raises(TallyError) as refused_read:
        solo.client.balances("alice")  # the altered balance is not served
    assert (refused_read.value.status, refused_read.value.code) == (503, "storage_tampered")
    with pytest.raises(TallyError) as refused_tx:
        solo.client.submit(solo.alice.transfer("PTS", "bank-a", 1))
    assert (refused_tx.value.status, refused_tx.value.code) == (503, "storage_tampered")
    status = solo.client.node_status()
    assert status.healthy is False and status.unavailable is not None
    assert status.unavailable.code == "storage_tampered" and "alice" in status.unavailable.message
    metrics = httpx.get(f"{solo.proc.url}/metrics").text
    assert "tally_storage_tampered 1.0" in metrics
    assert "STORAGE TAMPERED" in (solo.data.root / "node.log").read_text()


def test_a_stopped_pipeline_stops_admission_with_503_and_a_code(solo: Solo) -> None:
    """Regression: after a failed block the node still answered 202 and kept transactions `accepted` forever."""
    solo.fund_alice()
    head = solo.client.node_status().height
    # A row in the way of the next block: its write fails, as a full disk or a broken file would make it.
    solo.sql(
        "INSERT INTO blocks (height, hash, header, state_digest, timestamp_ms, log_position, write_set)"
        " VALUES (?, '', x'', '', 0, 0, x'')",
        head + 1,
    )
    solo.client.submit(solo.alice.transfer("PTS", "bank-a", 1))  # taken: the failure is in its block
    until(lambda: solo.health() == (503, "failed"), "the pipeline to stop")
    with pytest.raises(TallyError) as refused:
        solo.client.submit(solo.alice.transfer("PTS", "bank-a", 2))
    assert (refused.value.status, refused.value.code) == (503, "node_stopped")
    unavailable = solo.client.node_status().unavailable
    assert unavailable is not None and unavailable.code == "node_stopped"


class Recording:
    """A store that keeps the records written to it: what the node wrote, for the scrub to compare with."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records: list[BlockRecord] = []

    def write_block(self, record: BlockRecord) -> None:
        self.records.append(record)
        self.store.write_block(record)

    def put_state(self, values: dict[str, StateValue]) -> None:
        self.store.put_state(values)


def _edit_header(db: sqlite3.Connection, height: int) -> None:
    (raw,) = db.execute("SELECT header FROM blocks WHERE height = ?", (height,)).fetchone()
    header = msgspec.json.decode(raw)
    header["proposer"] = "validator-2"
    db.execute("UPDATE blocks SET header = ? WHERE height = ?", (msgspec.json.encode(header), height))


def test_the_scrub_finds_every_kind_of_change_to_a_recent_block(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = open_store(path)
    recording = Recording(store)
    chain = setup_chain(store=cast(Store, recording))
    alice = chain.signer("alice")
    results = chain.block([alice.pay("MILES", "cafe", 5, "o-1"), alice.pay("MILES", "cafe", 10**6, "o-2")])
    assert [r.code for r in results] == ["ok", "insufficient_funds"]
    wrote = written(recording.records[-1])
    height = wrote.height
    refused_txid = store.block_txs(height)[1].txid
    assert block_fault(store, wrote) is None
    store.close()
    edits: dict[str, Callable[[sqlite3.Connection], object]] = {
        "a result": lambda db: db.execute("UPDATE txs SET code = 'ok', message = '' WHERE txid = ?", (refused_txid,)),
        "a signer key": lambda db: db.execute("UPDATE txs SET signer_key = '' WHERE txid = ?", (refused_txid,)),
        "the header": lambda db: _edit_header(db, height),
        "the digest": lambda db: db.execute("UPDATE blocks SET state_digest = '00' WHERE height = ?", (height,)),
        "the results root": lambda db: db.execute("UPDATE blocks SET results_root = '' WHERE height = ?", (height,)),
        "the write-set": lambda db: db.execute("UPDATE blocks SET write_set = x'5b5d' WHERE height = ?", (height,)),
        "the block row": lambda db: db.execute("DELETE FROM blocks WHERE height = ?", (height,)),
    }
    for what, edit in edits.items():
        copy = tmp_path / f"{len(what)}-{what.replace(' ', '-')}.db"
        shutil.copy(path, copy)
        db = sqlite3.connect(copy)
        edit(db)
        db.commit()
        db.close()
        tampered = open_store(copy)
        assert block_fault(tampered, wrote) is not None, f"a change to {what} went unnoticed"
        tampered.close()


def test_audit_beside_a_busy_node_reads_one_snapshot_and_reports_no_false_faults(tmp_path: Path) -> None:
    """Regression: blocks stored while `tally audit` ran made it compare old blocks with newer state."""
    path = tmp_path / "ledger.db"
    writer = open_store(path, make_genesis())
    chain = setup_chain(store=writer)
    alice = chain.signer("alice")
    written_during_audit = []

    def a_block_lands(blocks_done: int) -> None:  # the node stores a block while the audit is under way
        results = chain.block([alice.pay("MILES", "cafe", 1, f"busy-{len(written_during_audit)}")])
        written_during_audit.append(results[0].code)

    report = audit_ledger(str(path), progress=a_block_lands, workers=1)
    assert written_during_audit == ["ok", "ok"]  # one per audited block
    assert report.faults == [] and report.blocks == 2
    assert audit_ledger(str(path), workers=1).blocks == 4  # and a later audit sees them
    writer.close()
