"""Shared test helpers: a pure in-memory chain for core tests, real node processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.client.signer import Signer, sign_tx
from tally.core.audit import money_rule_faults
from tally.core.block import genesis_digest, next_state_digest, tx_signing_bytes, txid_of
from tally.core.crypto import KeyPair, sha256, verify
from tally.core.execute import BlockContext, Entry, execute_block, write_set_bytes
from tally.core.genesis import genesis_memory_state
from tally.core.state import MemoryState
from tally.core.types import Genesis, GenesisMember, SignedTx, TxResult, Validator
from tally.node.process import NodeProcess, free_ports

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
    )


@dataclass
class Chain:
    """A pure chain: blocks are executed straight through the core, signatures checked."""

    genesis: Genesis = field(default_factory=make_genesis)
    state: MemoryState = field(init=False)
    digest: str = field(init=False)
    height: int = 0
    now_ms: int = T0_MS + 1000
    signers: dict[str, Signer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = genesis_memory_state(self.genesis)
        self.digest = genesis_digest(self.genesis)

    def signer(self, name: str) -> Signer:
        if name not in self.signers:
            self.signers[name] = Signer(name, key(name), CHAIN, clock_ms=lambda: self.now_ms)
        return self.signers[name]

    def block(self, txs: list[SignedTx]) -> list[TxResult]:
        """Execute one block; a rejected transaction gives its seq back to the signer."""
        entries = []
        for signed in txs:
            message = tx_signing_bytes(signed)
            account = self.state.get(f"acct/{signed.tx.signer}")
            assert account is not None and verify(
                bytes.fromhex(account.public_key),  # type: ignore[union-attr]
                message,
                bytes.fromhex(signed.sig),
            ), "test chains only execute correctly signed transactions"
            entries.append(Entry(txid_of(message), signed.tx))
        self.height += 1
        ctx = BlockContext(CHAIN, self.height, self.now_ms)
        outcome = execute_block(self.state, ctx, entries)
        self.digest = next_state_digest(self.digest, self.height, write_set_bytes(outcome.writes))
        self.state.apply(outcome.writes)
        assert money_rule_faults(sorted(self.state.values.items())) == []
        for signed, result in zip(txs, outcome.results, strict=True):
            if result.code != "ok" and signed.tx.signer in self.signers:
                self.signers[signed.tx.signer].next_seq = self.state.get(f"acct/{signed.tx.signer}").seq  # type: ignore[union-attr]
        return outcome.results

    def one(self, signed: SignedTx) -> TxResult:
        return self.block([signed])[0]

    def balance(self, account: str, asset: str) -> int:
        value = self.state.get(f"bal/{account}/{asset}")
        return int(value or 0)  # type: ignore[arg-type]


def setup_chain() -> Chain:
    """bank-a issues MILES (points, transferable) and GIFT (voucher, merchants cash out);
    alice and bob are holders, cafe and shop merchants; alice holds 1000 of each."""
    c = Chain()
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


__all__ = ["NodeProcess"]


def free_port() -> int:
    return free_ports(1)[0]


def signed_for(tx_signer: KeyPair, tx: object) -> SignedTx:
    return sign_tx(tx, tx_signer)  # type: ignore[arg-type]
