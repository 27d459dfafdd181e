"""Admission: decode, size, chain, expiry, sequence and signature checks.

A batch is admitted whole or not at all: any failing transaction rejects the
batch with every failure listed, and nothing enters the mempool. A batch the
mempool has no room for is refused (MempoolFull) as soon as its new
transactions are known, before the checks and signatures that cost. Signature
checks of large batches run in a process pool, one worker per core.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import msgspec

from ..core.block import tx_signing_bytes, txid_of
from ..core.errors import Code
from ..core.limits import Limits
from ..core.ops import SignedTx
from ..core.tables import ACCOUNTS
from ..core.types import Genesis
from ..ordering.mempool import Admitted, Mempool, MempoolFull
from ..store.base import Store
from .state_cache import StateCache
from .verify import POOL_MIN_BATCH, verify_batch


@dataclass(frozen=True, slots=True)
class TxFailure:
    index: int
    txid: str
    code: str
    message: str


class BatchRejected(Exception):
    def __init__(self, failures: list[TxFailure]) -> None:
        super().__init__(f"{len(failures)} transaction(s) rejected")
        self.failures = failures


@dataclass(frozen=True, slots=True)
class _Checked:
    index: int
    txid: str
    signed: SignedTx
    message: bytes
    public_key: bytes


class Admission:
    def __init__(
        self,
        genesis: Genesis,
        cache: StateCache,
        store: Store,
        mempool: Mempool,
        limits: Limits,
        pool: Executor | None,
        pool_workers: int,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.genesis = genesis
        self.cache = cache
        self.store = store
        self.mempool = mempool
        self.limits = limits
        self.pool = pool
        self.pool_workers = max(1, pool_workers)
        self.clock_ms = clock_ms

    def _check(
        self, index: int, signed: SignedTx, message: bytes, txid: str, now_ms: int, failures: list[TxFailure]
    ) -> _Checked | None:
        """Every check short of the signature and the stored-txid lookup; None when failed."""
        tx = signed.tx

        def fail(code: Code, text: str) -> None:
            failures.append(TxFailure(index, txid, code.value, text))

        if tx.chain != self.genesis.chain:
            fail(Code.WRONG_CHAIN, f"this node serves chain {self.genesis.chain!r}")
            return None
        if tx.expires_ms < now_ms:
            fail(Code.EXPIRED, "expires_ms is in the past")
            return None
        if tx.expires_ms > now_ms + self.limits.max_expiry_ms:
            fail(Code.EXPIRY_TOO_FAR, f"expires_ms may be at most {self.limits.max_expiry_ms} ms ahead")
            return None
        signer = ACCOUNTS.read(self.cache.read, tx.signer)
        if signer is None:
            fail(Code.UNKNOWN_SIGNER, f"no committed account {tx.signer!r}")
            return None
        if tx.seq < signer.seq:
            fail(Code.SEQ_STALE, f"seq {tx.seq} already used (next is {signer.seq})")
            return None
        if tx.seq >= signer.seq + self.limits.max_seq_ahead:
            fail(Code.SEQ_FUTURE, f"seq {tx.seq} is more than {self.limits.max_seq_ahead} ahead of {signer.seq}")
            return None
        if self.mempool.has_seq(tx.signer, tx.seq):
            fail(Code.DUPLICATE_SEQ, f"another pending transaction uses seq {tx.seq}")
            return None
        return _Checked(index, txid, signed, message, bytes.fromhex(signer.public_key))

    async def _verify(self, checked: list[_Checked]) -> list[bool]:
        items = [(c.public_key, c.message, bytes.fromhex(c.signed.sig)) for c in checked]
        if self.pool is None or len(items) < POOL_MIN_BATCH:
            return verify_batch(items, None, 1)  # inline: cheaper than a round trip
        return await asyncio.to_thread(verify_batch, items, self.pool, self.pool_workers)

    async def submit(self, batch: list[SignedTx]) -> list[str]:
        """Admit a batch; returns every txid (known ones included). Raises BatchRejected or MempoolFull."""
        assert len(batch) <= self.limits.max_batch_txs
        now_ms = self.clock_ms()
        failures: list[TxFailure] = []
        checked: list[_Checked] = []
        seen_seqs: set[tuple[str, int]] = set()
        seen_txids: set[str] = set()
        messages = [tx_signing_bytes(signed) for signed in batch]
        txids = [txid_of(message) for message in messages]
        # Submitting a pending or stored transaction again is a no-op. The mempool is asked first: the
        # writer stores a block before it forgets the block's transactions, so a transaction that left
        # the mempool before this line is in the store by the time it is asked.
        pending = {txid for txid in txids if self.mempool.contains(txid)}
        known = self.store.known_txids(txids)
        # A batch that cannot fit is refused before its checks and signature verification: a node
        # flooded by retries spends nothing on batches it would refuse anyway. A resubmission of
        # pending or stored transactions needs no room and still goes through.
        new_txs = len(set(txids) - pending - known)
        if not self.mempool.has_room(new_txs):
            raise MempoolFull(new_txs)
        for index, (signed, message, txid) in enumerate(zip(batch, messages, txids, strict=True)):
            if txid in seen_txids or txid in known or txid in pending or self.mempool.contains(txid):
                continue
            seen_txids.add(txid)
            item = self._check(index, signed, message, txid, now_ms, failures)
            if item is None:
                continue
            seq_key = (signed.tx.signer, signed.tx.seq)
            if seq_key in seen_seqs:
                failures.append(TxFailure(index, txid, Code.DUPLICATE_SEQ.value, "seq used twice in the batch"))
            seen_seqs.add(seq_key)
            checked.append(item)
        if checked:
            for item, ok in zip(checked, await self._verify(checked), strict=True):
                if not ok:
                    failures.append(
                        TxFailure(item.index, item.txid, Code.BAD_SIGNATURE.value, "signature does not verify")
                    )
        if failures:
            raise BatchRejected(sorted(failures, key=lambda f: f.index))
        accepted_ns = time.perf_counter_ns()
        admitted = [Admitted(c.txid, c.signed, msgspec.json.encode(c.signed), accepted_ns) for c in checked]
        clashes = self.mempool.add_all(admitted)
        if clashes:
            index_of = {c.txid: c.index for c in checked}
            raise BatchRejected(
                [
                    TxFailure(index_of[t], t, Code.DUPLICATE_SEQ.value, "another pending transaction uses this seq")
                    for t in clashes
                ]
            )
        return txids
