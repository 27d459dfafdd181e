"""Execute, record and store blocks of payments in one process: the node's CPU per payment without HTTP.

`python bench/pipeline.py [BLOCKS]` registers 20,000 holders and 1,000 merchants
(each with a registry entry), signs BLOCKS blocks of 2,000 payments before the
clock, then applies each block (core/chain.apply_block), makes its stored record
(store/base.record_of) and writes it to a fresh SQLite ledger, and prints the
process CPU time per payment of each step: once in a plain asset, once in an
asset under a policy (categories, regions, validity, a holder cap, the
voucher-cashing guard), which should stay within 15% of plain: each three
times in turn, the best run of each printed.
Signature checks are not included (admission does them). Run it
before and after a change on the node's path: it is far steadier than the
end-to-end figures of `tally bench`, which share two cores with a load
generator.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import msgspec

from tally.client.signer import Signer
from tally.core.block import tx_signing_bytes, txid_of
from tally.core.chain import Batch, Head, apply_block, genesis_head
from tally.core.crypto import KeyPair, sha256
from tally.core.execute import Entry
from tally.core.genesis import genesis_memory_state
from tally.core.ops import SignedTx
from tally.core.protocol import LATEST
from tally.core.state import MemoryState
from tally.core.types import AssetPolicy, Genesis, GenesisMember, Validator
from tally.store import open_store
from tally.store.base import record_of

HOLDERS = 20_000
MERCHANTS = 1_000
BLOCK_TXS = 2_000
CHAIN = "tally-pipeline-bench"
T0_MS = 1_800_000_000_000
ROUNDS = 3  # plain and policy runs, in turn; the best of each is printed
POLICY = AssetPolicy(
    categories=["5812", "5814"],
    regions=["KR-11"],
    valid_until_ms=T0_MS + 365 * 86_400_000,
    holder_cap_minor=10**10,
    merchant_cash_out_cap_minor=10**9,
    flag_multiple=3,
)


def key(name: str) -> KeyPair:
    return KeyPair(sha256(b"tally-pipeline-bench/" + name.encode()))


def main(blocks: int) -> None:
    genesis = Genesis(
        chain=CHAIN,
        genesis_time_ms=T0_MS,
        members=[GenesisMember(id="bank", name="Bank", public_key=key("bank").public_key_hex)],
        validators=[Validator(id="validator-1", public_key=key("validator-1").public_key_hex)],
        protocol=LATEST,
    )
    state, head = genesis_memory_state(genesis), genesis_head(genesis)
    now_ms = T0_MS + 1_000

    def run(txs: list[SignedTx]) -> None:
        nonlocal head
        entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in txs]
        block = apply_block(genesis, head, state, Batch("validator-1", now_ms, head.height + 1, entries))
        assert all(r.code == "ok" for r in block.results), {r.code for r in block.results}
        state.apply(block.writes)
        head = block.head

    bank = Signer("bank", key("bank"), CHAIN, clock_ms=lambda: now_ms)
    setup = [bank.create_asset("PTS", "Points", "points", 0, True, "none")]
    setup += [bank.create_asset("CITY", "City voucher", "voucher", 0, False, "merchants", policy=POLICY)]
    setup += [bank.register_account(f"h{i}", key(f"h{i}").public_key_hex, "holder") for i in range(HOLDERS)]
    setup += [bank.register_account(f"m{j}", key(f"m{j}").public_key_hex, "merchant") for j in range(MERCHANTS)]
    setup += [registry_entry(bank, f"m{j}") for j in range(MERCHANTS)]
    setup += [bank.issue(asset, f"h{i}", 10**9) for i in range(HOLDERS) for asset in ("PTS", "CITY")]
    for start in range(0, len(setup), 4_000):
        run(setup[start : start + 4_000])

    holders = [Signer(f"h{i}", key(f"h{i}"), CHAIN, clock_ms=lambda: now_ms) for i in range(HOLDERS)]
    count = blocks * BLOCK_TXS
    signed: dict[str, list[list[SignedTx]]] = {}
    for asset in ("PTS", "CITY"):
        for holder in holders:
            holder.next_seq = 0  # each run starts from the same state: every holder's first payment
        signed[asset] = sign_payments(holders, asset, blocks)
    runs: dict[str, list[dict[str, float]]] = {"PTS": [], "CITY": []}
    for _ in range(ROUNDS):  # plain and policy in turn, so that drift in the machine's speed hits both
        for asset, payments in signed.items():
            with tempfile.TemporaryDirectory(prefix="tally-pipeline-bench-") as folder:
                copy = MemoryState(dict(state.values))
                runs[asset].append(store_blocks(Path(folder) / "ledger.db", genesis, copy, head, now_ms, payments))
    totals = {}
    for asset, spent_runs in runs.items():
        spent = min(spent_runs, key=lambda s: sum(s.values()))  # the least disturbed of the rounds
        parts = ", ".join(f"{name} {seconds / count * 1e6:.1f} us" for name, seconds in spent.items())
        totals[asset] = sum(spent.values()) / count * 1e6
        what = "a plain asset" if asset == "PTS" else "a policy asset"
        print(
            f"pipeline: {count} payments in {what} in {blocks} blocks: {totals[asset]:.1f} us CPU per payment ({parts})"
            f", best of {ROUNDS}"
        )
    print(f"pipeline: a policy asset's payment costs {totals['CITY'] / totals['PTS'] - 1:+.0%} of a plain one's")


def registry_entry(bank: Signer, merchant: str) -> SignedTx:
    """A café in Seoul: in the policy asset's categories and region."""
    return bank.set_merchant(
        merchant=merchant,
        category="5814",
        region="KR-11",
        lat_e6=37_566_500,
        lon_e6=126_978_000,
        business_no="120-81-47521",
        accepts=["PTS", "CITY"],
    )


def sign_payments(holders: list[Signer], asset: str, blocks: int) -> list[list[SignedTx]]:
    """BLOCKS blocks of payments, each holder in turn to the merchants in a stride."""
    paid = 0
    payments: list[list[SignedTx]] = []
    for _ in range(blocks):
        batch = []
        for _ in range(BLOCK_TXS):
            holder = holders[paid % len(holders)]
            batch.append(holder.pay(asset, f"m{(paid * 7) % MERCHANTS}", 1 + paid % 97, f"{asset}-{paid}"))
            paid += 1
        payments.append(batch)
    return payments


def store_blocks(
    path: Path, genesis: Genesis, state: MemoryState, head: Head, now_ms: int, payments: list[list[SignedTx]]
) -> dict[str, float]:
    """Apply, record and write each block; the process CPU seconds each step took in all."""
    store = open_store(path, genesis)
    store.put_state(dict(state.values))
    spent = {"apply_block": 0.0, "record": 0.0, "write_block": 0.0}
    for batch in payments:
        entries = [Entry(txid_of(tx_signing_bytes(s)), s.tx) for s in batch]
        started = time.process_time()
        block = apply_block(genesis, head, state, Batch("validator-1", now_ms, head.height + 1, entries))
        executed = time.process_time()
        record = record_of(block, batch, [msgspec.json.encode(s) for s in batch], None)
        recorded = time.process_time()
        store.write_block(record)
        written = time.process_time()
        spent["apply_block"] += executed - started
        spent["record"] += recorded - executed
        spent["write_block"] += written - recorded
        state.apply(block.writes)
        head = block.head
    store.close()
    return spent


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
