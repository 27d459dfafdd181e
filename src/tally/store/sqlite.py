"""SQLite store: one file in WAL mode, one database transaction per block.

The pipeline thread writes through its own connection; every other thread
reads through a connection of its own (WAL lets readers run beside the
writer). `synchronous=FULL` makes a committed block survive power loss, not
only a crash of the process: a block is reported final only after its commit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec

from ..core.execute import Movement
from ..core.tables import PAYMENTS, decode_value, encode_value
from ..core.types import BlockHeader, Certificate, Payment, StateValue
from . import directory
from .base import SWEEP_TYPE, BlockRecord, Head, HistoryItem, TxLocation

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    header BLOB NOT NULL,
    state_digest TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    log_position INTEGER NOT NULL,
    write_set BLOB NOT NULL,
    results_root TEXT NOT NULL DEFAULT ''  -- '' under protocol 1
);
CREATE TABLE IF NOT EXISTS certificates (height INTEGER PRIMARY KEY, body BLOB NOT NULL);
-- pos = height << 20 | index in block: appends in order, one row per transaction
CREATE TABLE IF NOT EXISTS txs (
    pos INTEGER PRIMARY KEY,
    txid TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    envelope BLOB NOT NULL,
    signer_key TEXT NOT NULL DEFAULT '',  -- the key its signature verified against ('' when it did not)
    moves BLOB  -- msgpack list of its balance changes, for history (NULL: stored before they were recorded)
);
-- every account a transaction names or moves value of: its history
CREATE TABLE IF NOT EXISTS parties (account TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (account, pos))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""

POS_BITS = 20
MAX_BLOCK_TXS = 1 << POS_BITS
KNOWN_CHUNK = 500
PAGE_CACHE_KIB = 256 * 1024  # per connection; the node holds three
MMAP_BYTES = 1 << 30  # reads map the file instead of copying pages
WAL_CHECKPOINT_PAGES = 8192  # checkpoint every ~32 MiB of WAL, not every 4 MiB

MAX_HISTORY_LIMIT = 1000  # rows one history read returns at most
_header_decoder = msgspec.json.Decoder(BlockHeader)
_moves_encoder = msgspec.msgpack.Encoder()
_moves_decoder = msgspec.msgpack.Decoder(tuple[Movement, ...])
_cert_decoder = msgspec.json.Decoder(Certificate)


class SqliteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        conn = self._conn()
        if _columns(conn, "txs") >= {"signer", "counterparty"}:
            _migrate_parties(conn)
        conn.executescript(SCHEMA)
        conn.executescript(directory.SCHEMA)
        _add_column(conn, "blocks", "results_root", "TEXT NOT NULL DEFAULT ''")
        _add_column(conn, "txs", "signer_key", "TEXT NOT NULL DEFAULT ''")
        _add_column(conn, "txs", "moves", "BLOB")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """One read transaction: WAL keeps this connection's view fixed while the node writes on."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the snapshot starts at the first read
            yield
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- meta and state ----------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_meta(self, key: str, value: bytes) -> None:
        self._conn().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def put_state(self, values: dict[str, StateValue]) -> None:
        """Seed state outside any block (genesis only)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
            [(k, encode_value(v)) for k, v in sorted(values.items())],
        )
        conn.execute("COMMIT")

    def get_state(self, key: str) -> StateValue | None:
        row = self._conn().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else decode_value(key, row[0])

    def get_states(self, keys: list[str]) -> dict[str, StateValue]:
        """The stored values of these keys (absent keys are left out), in batched reads."""
        found: dict[str, StateValue] = {}
        conn = self._conn()
        for start in range(0, len(keys), KNOWN_CHUNK):
            chunk = keys[start : start + KNOWN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, value in conn.execute(f"SELECT key, value FROM state WHERE key IN ({marks})", chunk):
                found[key] = decode_value(key, value)
        return found

    def state_items(self, prefix: str = "") -> Iterator[tuple[str, StateValue]]:
        cursor = self._conn().execute(
            "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\uffff"),
        )
        for key, value in cursor:
            yield key, decode_value(key, value)

    # --- blocks ------------------------------------------------------------

    def head(self) -> Head | None:
        row = (
            self._conn()
            .execute(
                "SELECT height, hash, state_digest, timestamp_ms, log_position FROM blocks ORDER BY height DESC LIMIT 1"
            )
            .fetchone()
        )
        return None if row is None else Head(row[0], row[1], row[2], row[3], row[4])

    def write_block(self, record: BlockRecord) -> None:
        """Block, transactions with results, state changes and certificate, all or nothing."""
        header = record.header
        upserts = [(k, encode_value(v)) for k, v in record.writes.items() if v is not None]
        deletes = [(k,) for k, v in record.writes.items() if v is None]
        assert len(record.txs) + len(record.sweeps) < MAX_BLOCK_TXS
        base = header.height << POS_BITS
        encode = _moves_encoder.encode
        # A block's transactions from index 0 up; its sweeps' history entries from the top index down.
        positioned = [*enumerate(record.txs), *((MAX_BLOCK_TXS - 1 - j, e) for j, e in enumerate(record.sweeps))]
        txs = [
            (base + i, t.txid, t.type, t.code, t.message, t.envelope, t.signer_key, encode(t.movements))
            for i, t in positioned
        ]
        parties = [(account, base + i) for i, t in positioned for account in t.parties]
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO blocks (height, hash, header, state_digest, timestamp_ms, log_position, write_set,"
                " results_root) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    header.height,
                    record.block_hash,
                    msgspec.json.encode(header),
                    record.state_digest,
                    header.timestamp_ms,
                    header.log_position,
                    record.write_set,
                    record.results_root or "",
                ),
            )
            conn.executemany(
                "INSERT INTO txs (pos, txid, type, code, message, envelope, signer_key, moves)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                txs,
            )
            conn.executemany("INSERT OR IGNORE INTO parties (account, pos) VALUES (?, ?)", parties)
            conn.executemany("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", upserts)
            conn.executemany("DELETE FROM state WHERE key = ?", deletes)
            directory.index_merchants(conn, record.writes)
            if record.certificate is not None:
                conn.execute(
                    "INSERT INTO certificates (height, body) VALUES (?, ?)",
                    (header.height, msgspec.json.encode(record.certificate)),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def merchants_near(
        self,
        lat_e6: int,
        lon_e6: int,
        limit: int,
        asset: str | None = None,
        category: str | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[directory.Nearby]:
        """The directory: merchants nearest the point (store/directory.py)."""
        return directory.merchants_near(self._conn(), lat_e6, lon_e6, limit, asset, category, after)

    def put_certificate(self, certificate: Certificate) -> None:
        """Store the certificate of a block stored without one (votes arrived later)."""
        self._conn().execute(
            "INSERT OR IGNORE INTO certificates (height, body) VALUES (?, ?)",
            (certificate.height, msgspec.json.encode(certificate)),
        )

    def final_height(self) -> int:
        """The highest height up to which every block has a certificate."""
        row = (
            self._conn()
            .execute(
                "SELECT MIN(b.height) FROM blocks b LEFT JOIN certificates c ON c.height = b.height"
                " WHERE c.height IS NULL"
            )
            .fetchone()
        )
        if row[0] is not None:
            return int(row[0]) - 1
        head = self.head()
        return head.height if head else 0

    def block_header(self, height: int) -> tuple[BlockHeader, str] | None:
        row = self._conn().execute("SELECT header, state_digest FROM blocks WHERE height = ?", (height,)).fetchone()
        return None if row is None else (_header_decoder.decode(row[0]), row[1])

    def block_results_root(self, height: int) -> str | None:
        """The results root a vote for this block certifies (None under protocol 1, or no such block)."""
        row = self._conn().execute("SELECT results_root FROM blocks WHERE height = ?", (height,)).fetchone()
        return str(row[0]) or None if row is not None else None

    def block_write_set(self, height: int) -> bytes | None:
        row = self._conn().execute("SELECT write_set FROM blocks WHERE height = ?", (height,)).fetchone()
        return None if row is None else bytes(row[0])

    def certificate(self, height: int) -> Certificate | None:
        row = self._conn().execute("SELECT body FROM certificates WHERE height = ?", (height,)).fetchone()
        return None if row is None else _cert_decoder.decode(row[0])

    def block_txs(self, height: int) -> list[TxLocation]:
        rows = (
            self._conn()
            .execute(
                "SELECT txid, pos, code, message, envelope, signer_key, type, moves FROM txs"
                f" WHERE pos >= ? AND pos < ? AND type != '{SWEEP_TYPE}' ORDER BY pos",
                (height << POS_BITS, (height + 1) << POS_BITS),
            )
            .fetchall()
        )
        return [_location(r) for r in rows]

    def block_sweeps(self, height: int) -> list[TxLocation]:
        rows = (
            self._conn()
            .execute(
                "SELECT txid, pos, code, message, envelope, signer_key, type, moves FROM txs"
                f" WHERE pos >= ? AND pos < ? AND type = '{SWEEP_TYPE}' ORDER BY pos",
                (height << POS_BITS, (height + 1) << POS_BITS),
            )
            .fetchall()
        )
        return [_location(r) for r in rows]

    def block_tx_rows(self, height: int) -> list[str]:
        rows = (
            self._conn()
            .execute(
                "SELECT txid || char(31) || code || char(31) || length(message) || char(31) || message || signer_key"
                " || char(31) || length(CAST(envelope AS TEXT)) || char(31) || CAST(envelope AS TEXT) FROM txs"
                f" WHERE pos >= ? AND pos < ? AND type != '{SWEEP_TYPE}' ORDER BY pos",
                (height << POS_BITS, (height + 1) << POS_BITS),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def tx(self, txid: str) -> TxLocation | None:
        row = (
            self._conn()
            .execute(
                "SELECT txid, pos, code, message, envelope, signer_key, type, moves FROM txs WHERE txid = ?", (txid,)
            )
            .fetchone()
        )
        return None if row is None else _location(row)

    def known_txids(self, txids: list[str]) -> set[str]:
        """Which of these transactions are stored (one query per chunk, not per id)."""
        known: set[str] = set()
        conn = self._conn()
        for start in range(0, len(txids), KNOWN_CHUNK):
            chunk = txids[start : start + KNOWN_CHUNK]
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in conn.execute(f"SELECT txid FROM txs WHERE txid IN ({marks})", chunk))
        return known

    def history(
        self, account: str, before: tuple[int, int] | None, limit: int, applied: bool | None = None
    ) -> list[HistoryItem]:
        """An account's transactions, newest first, strictly before the cursor; `applied` filters by result."""
        assert 0 < limit <= MAX_HISTORY_LIMIT
        pos = (before[0] << POS_BITS | before[1]) if before is not None else 2**62
        assert 0 <= pos < 2**63  # SQLite integers are signed 64-bit
        result = "" if applied is None else (" AND t.code = 'ok'" if applied else " AND t.code != 'ok'")
        rows = (
            self._conn()
            .execute(
                "SELECT t.pos, t.txid, t.type, t.code, t.message, t.envelope, b.timestamp_ms, t.moves"
                " FROM parties p JOIN txs t ON t.pos = p.pos JOIN blocks b ON b.height = p.pos >> 20"
                f" WHERE p.account = ? AND p.pos < ?{result} ORDER BY p.pos DESC LIMIT ?",
                (account, pos, limit),
            )
            .fetchall()
        )
        return [
            HistoryItem(
                r[0] >> POS_BITS,
                r[0] & (MAX_BLOCK_TXS - 1),
                r[1],
                r[2],
                r[3],
                r[4],
                bytes(r[5]),
                r[6],
                None if r[7] is None else _moves_decoder.decode(r[7]),
            )
            for r in rows
        ]


def _location(row: tuple[str, int, str, str, bytes, str, str, bytes | None]) -> TxLocation:
    txid, pos, code, message, envelope, signer_key, tx_type, moves = row
    movements = None if moves is None else _moves_decoder.decode(moves)
    index = pos & (MAX_BLOCK_TXS - 1)
    return TxLocation(txid, pos >> POS_BITS, index, code, message, bytes(envelope), signer_key, tx_type, movements)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _add_column(conn: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """Ledgers written before `column` existed get it, with its default."""
    if column not in _columns(conn, table):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def _migrate_parties(conn: sqlite3.Connection) -> None:
    """Ledgers written before the parties table: index signer and counterparty there.

    Those ledgers kept one counterparty per transaction, which missed a
    refund's payer; the payer is read from the payment record.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS parties (account TEXT NOT NULL, pos INTEGER NOT NULL,"
            " PRIMARY KEY (account, pos)) WITHOUT ROWID"
        )
        conn.execute("INSERT OR IGNORE INTO parties SELECT signer, pos FROM txs")
        conn.execute("INSERT OR IGNORE INTO parties SELECT counterparty, pos FROM txs WHERE counterparty != ''")
        refunds = conn.execute("SELECT pos, signer, envelope FROM txs WHERE type = 'refund' AND code = 'ok'").fetchall()
        for pos, merchant, envelope in refunds:
            payment_id = msgspec.json.decode(envelope)["tx"]["payment_id"]
            row = conn.execute(
                "SELECT value FROM state WHERE key = ?", (PAYMENTS.key(merchant, payment_id),)
            ).fetchone()
            if row is not None:
                payment = PAYMENTS.decode(row[0])
                assert isinstance(payment, Payment)
                conn.execute("INSERT OR IGNORE INTO parties VALUES (?, ?)", (payment.payer, pos))
        conn.execute("DROP INDEX IF EXISTS txs_by_signer")
        conn.execute("DROP INDEX IF EXISTS txs_by_counterparty")
        conn.execute("ALTER TABLE txs DROP COLUMN signer")
        conn.execute("ALTER TABLE txs DROP COLUMN counterparty")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
