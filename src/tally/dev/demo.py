"""Demo data: two member institutions, a point programme and a voucher,
merchants, holders and a few hundred payments, loaded through the node's own
admission and pipeline (so every demo transaction is signed and checked).

Holder and merchant keys are derived from their names: they are demo keys,
written to DATA_DIR/keys/ so the README's tour can sign with them. The demo
also opens the demo member desk (dev/desk.py), so the web wallet can open
wallets with a welcome balance.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from ..api.desk import DeskConfig, Welcome, write_desk
from ..client.keys import KeyFile, read_keyfile, write_keyfile
from ..client.signer import Signer
from ..core.crypto import KeyPair, sha256
from ..core.ops import SignedTx
from ..node.config import DataDir
from ..node.node import Node

MEMBERS = [("harbor-bank", "Harbor Bank"), ("skyway", "Skyway Airlines Loyalty")]
MERCHANTS = {"harbor-bank": ["cafe-lumen", "book-nook"], "skyway": ["duty-free-7"]}
HOLDERS = {"harbor-bank": ["alice", "bob", "chen"], "skyway": ["dana", "emeka", "farah"]}
POINTS, VOUCHER = "SKYMILES", "HARBOR-GIFT"
# The merchant registry (protocol 7): category (MCC), region, location in millionths of a degree, assets taken.
REGISTRY = {
    "cafe-lumen": ("5814", "KR-11", 37_566_500, 126_978_000, "120-81-47521", [VOUCHER, POINTS]),  # Seoul, City Hall
    "book-nook": ("5942", "KR-11", 37_570_400, 126_992_100, "211-86-10433", [VOUCHER]),  # Seoul, Jongno
    "duty-free-7": ("5309", "KR-26", 35_179_600, 129_075_600, "617-81-02917", [POINTS]),  # Busan
}
PAYMENTS = 300


def demo_key(name: str) -> KeyPair:
    return KeyPair(sha256(b"tally-demo-key/" + name.encode()))


async def load_demo(node: Node, progress: Callable[[int], None] = lambda n: None) -> int:
    """Submit the demo in phases, each final before the next; returns the tx count."""
    chain = node.genesis.chain
    data = node.data
    signers: dict[str, Signer] = {}
    for member_id, _ in MEMBERS:
        key = read_keyfile(data.key_path(member_id)).keypair()
        signers[member_id] = Signer(member_id, key, chain)
    for member_id in HOLDERS:
        for name in MERCHANTS[member_id] + HOLDERS[member_id]:
            key = demo_key(name)
            write_keyfile(data.key_path(name), KeyFile(id=name, public_key=key.public_key_hex, seed=key.seed.hex()))
            signers[name] = Signer(name, key, chain)

    bank, sky = signers["harbor-bank"], signers["skyway"]
    setup = [
        bank.create_asset(VOUCHER, "Harbor gift voucher", "voucher", 2, False, "merchants"),
        sky.create_asset(POINTS, "Skyway miles", "points", 0, True, "none"),
    ]
    for member_id in HOLDERS:
        for name in MERCHANTS[member_id]:
            setup.append(signers[member_id].register_account(name, signers[name].key.public_key_hex, "merchant"))
        for name in HOLDERS[member_id]:
            setup.append(signers[member_id].register_account(name, signers[name].key.public_key_hex, "holder"))
    holders = [h for hs in HOLDERS.values() for h in hs]
    merchants = [m for ms in MERCHANTS.values() for m in ms]
    issues = [bank.issue(VOUCHER, h, 100_000) for h in holders] + [sky.issue(POINTS, h, 50_000) for h in holders]

    rng = random.Random(7)  # the demo is the same every time
    payments: list[SignedTx] = []
    paid: list[tuple[str, str, int]] = []
    for i in range(PAYMENTS):
        holder, merchant = rng.choice(holders), rng.choice(merchants)
        asset = VOUCHER if i % 2 else POINTS
        amount = rng.randrange(100, 2_000)
        payments.append(signers[holder].pay(asset, merchant, amount, f"order-{i:04d}"))
        paid.append((merchant, f"order-{i:04d}", amount))
    transfers = [signers[holders[i]].transfer(POINTS, holders[(i + 1) % len(holders)], 500) for i in range(6)]
    refunds = [signers[m].refund(pid, amount // 2) for m, pid, amount in paid[:10]]
    cash_outs = [signers["cafe-lumen"].cash_out(VOUCHER, 1_000, "HARBOR-BANK/ACC-1001")]
    member_of = {m: member for member, ms in MERCHANTS.items() for m in ms}
    registry = [
        signers[member_of[m]].set_merchant(
            merchant=m, category=mcc, region=region, lat_e6=lat, lon_e6=lon, business_no=no, accepts=accepts
        )
        for m, (mcc, region, lat, lon, no, accepts) in REGISTRY.items()
    ]

    total = 0
    for phase in (setup, issues, payments + transfers, refunds + cash_outs + registry):
        txids = await node.submit(phase)
        for txid in txids:
            status = await node.wait(txid, 30_000)
            if status.status != "final" or status.code != "ok":
                raise RuntimeError(f"demo transaction {txid} is {status.status} {status.code} {status.message}")
        total += len(phase)
        progress(len(phase))
    welcome = [Welcome("harbor-bank", VOUCHER, 10_000), Welcome("skyway", POINTS, 5_000)]
    write_desk(data.root, DeskConfig(member="harbor-bank", welcome=welcome))
    return total


def run_demo(data: DataDir, progress: Callable[[int], None] = lambda n: None) -> int:
    async def main() -> int:
        node = Node(data)
        await node.start()
        try:
            return await load_demo(node, progress)
        finally:
            node.stop()

    return asyncio.run(main())
