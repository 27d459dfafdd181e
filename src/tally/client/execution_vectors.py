"""Execution vectors: `python -m tally.client.execution_vectors`.

Each vector is one transaction executed alone in a block: the state before
(every record, as plain JSON, keyed as the ledger keys them), the block's
chain, height and time, the signed transaction, and what execution must
give: the result code and message and the block's write-set (canonical JSON
of the sorted state changes, a deleted record as null). A ledger in another
language that reproduces every vector executes as Tally does. The vectors
run one scenario in order (a member registers a holder and a merchant,
creates a voucher, issues it, and the holder and merchant use it, by payment
and by the holder's one-time payment code), ok and
rejected alike, under the protocol version each vector's block names
(core/protocol.py): the latest, in which a transaction refused by a rule
still consumes its seq and value-moving types carry a client `ref`. Checked
in at docs/test-vectors/execution.json; a test keeps the file in step and
re-executes every vector from the file alone.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from ..core.block import tx_signing_bytes, txid_of
from ..core.chain import Batch, apply_block, genesis_head
from ..core.encoding import to_plain
from ..core.errors import ENVELOPE_CODES
from ..core.execute import Entry
from ..core.genesis import genesis_memory_state
from ..core.protocol import LATEST, version_at
from ..core.types import Genesis, GenesisMember, Validator
from .signer import Signer
from .vectors import CHAIN, vector_key

T0_MS = 1_800_000_000_000

BLOCK_INTERVAL_MS = 1_000

# (description, signer, type, fields): run in order, one block each.
SCENARIO: list[tuple[str, str, str, dict[str, Any]]] = [
    ("register a holder", "bank-a", "register_account", {"account": "alice", "role": "holder"}),
    ("register a merchant", "bank-a", "register_account", {"account": "cafe", "role": "merchant"}),
    ("register an existing account", "bank-a", "register_account", {"account": "alice", "role": "holder"}),
    (
        "create a voucher",
        "bank-a",
        "create_asset",
        {
            "asset": "CITY-V",
            "name": "City voucher",
            "kind": "voucher",
            "decimals": 2,
            "transferable": False,
            "cash_out": "merchants",
        },
    ),
    ("issue to a holder", "bank-a", "issue", {"asset": "CITY-V", "to": "alice", "amount_minor": 10_000}),
    ("a holder may not issue", "alice", "issue", {"asset": "CITY-V", "to": "alice", "amount_minor": 1}),
    ("a voucher that is not transferable", "alice", "transfer", {"asset": "CITY-V", "to": "cafe", "amount_minor": 1}),
    (
        "pay a merchant",
        "alice",
        "pay",
        {"asset": "CITY-V", "merchant": "cafe", "amount_minor": 4_500, "payment_id": "order-17"},
    ),
    (
        "pay the same payment request again",
        "alice",
        "pay",
        {"asset": "CITY-V", "merchant": "cafe", "amount_minor": 4_500, "payment_id": "order-17"},
    ),
    ("refund part of a payment", "cafe", "refund", {"payment_id": "order-17", "amount_minor": 500}),
    ("refund beyond the payment", "cafe", "refund", {"payment_id": "order-17", "amount_minor": 4_001}),
    (
        "a merchant cashes out",
        "cafe",
        "cash_out",
        {"asset": "CITY-V", "amount_minor": 4_000, "payout_ref": "BANK/1", "ref": "cash-out-1"},
    ),
    (
        "a retried cash-out, signed again with the same ref",
        "cafe",
        "cash_out",
        {"asset": "CITY-V", "amount_minor": 4_000, "payout_ref": "BANK/1", "ref": "cash-out-1"},
    ),
    ("a holder may not cash out", "alice", "cash_out", {"asset": "CITY-V", "amount_minor": 1, "payout_ref": "BANK/2"}),
    (
        "spend more than held",
        "alice",
        "pay",
        {"asset": "CITY-V", "merchant": "cafe", "amount_minor": 6_001, "payment_id": "order-18"},
    ),
    (
        "a holder opens a payment code",
        "alice",
        "open_code",
        {"code": "40817365092214738850", "asset": "CITY-V", "limit_minor": 3_000},
    ),
    (
        "the merchant charges the code",
        "cafe",
        "charge",
        {"code": "40817365092214738850", "amount_minor": 2_500, "payment_id": "order-19"},
    ),
    (
        "a second charge of the same code",
        "cafe",
        "charge",
        {"code": "40817365092214738850", "amount_minor": 100, "payment_id": "order-20"},
    ),
    (
        "a merchant may not open a code",
        "cafe",
        "open_code",
        {"code": "11111111111111111111", "asset": "CITY-V", "limit_minor": 1},
    ),
    (
        "a holder opens another code",
        "alice",
        "open_code",
        {"code": "99990000111122223333", "asset": "CITY-V", "limit_minor": 1_000},
    ),
    (
        "charge more than the code's limit",
        "cafe",
        "charge",
        {"code": "99990000111122223333", "amount_minor": 1_001, "payment_id": "order-21"},
    ),
    # Governance (protocol 5): the council is bank-a alone (threshold 1), so a proposal runs at once.
    (
        "the council sets a quota",
        "bank-a",
        "propose",
        {"proposal": "quota-1", "action": {"kind": "set_quota", "asset": "CITY-V", "quota_minor": 12_000}},
    ),
    ("issue beyond the quota", "bank-a", "issue", {"asset": "CITY-V", "to": "alice", "amount_minor": 10_000}),
    (
        "a member limits a holder's payments",
        "bank-a",
        "set_limits",
        {"account": "alice", "asset": "CITY-V", "max_payment_minor": 100, "daily_out_minor": 0, "balance_cap_minor": 0},
    ),
    (
        "pay one minor unit above the limit",
        "alice",
        "pay",
        {"asset": "CITY-V", "merchant": "cafe", "amount_minor": 101, "payment_id": "order-22"},
    ),
    (
        "the council admits a regulator",
        "bank-a",
        "propose",
        {
            "proposal": "admit-fsc",
            "action": {
                "kind": "admit_member",
                "account": "fsc",
                "name": "Regulator",
                "public_key": vector_key("fsc").public_key_hex,
                "role": "regulator",
            },
        },
    ),
    (
        "the regulator freezes a merchant",
        "fsc",
        "freeze",
        {"subject_kind": "account", "subject": "cafe", "reason": "court_order"},
    ),
    ("a frozen merchant refunds", "cafe", "refund", {"payment_id": "order-19", "amount_minor": 1}),
    ("a holder may not freeze", "alice", "freeze", {"subject_kind": "account", "subject": "cafe", "reason": "x"}),
    ("a holder rotates its key", "alice", "rotate_key", {"new_public_key": vector_key("alice-2").public_key_hex}),
]


def vector_genesis() -> Genesis:
    return Genesis(
        chain=CHAIN,
        genesis_time_ms=T0_MS,
        members=[GenesisMember(id="bank-a", name="Bank A", public_key=vector_key("bank-a").public_key_hex)],
        validators=[Validator(id="validator-1", public_key=vector_key("validator-1").public_key_hex)],
        protocol=LATEST,
    )


def execution_vectors() -> list[dict[str, Any]]:
    genesis = vector_genesis()
    state = genesis_memory_state(genesis)
    head = genesis_head(genesis)
    now_ms = T0_MS
    signers: dict[str, Signer] = {}
    out = []
    for description, signer_id, tx_type, fields in SCENARIO:
        now_ms += BLOCK_INTERVAL_MS
        if signer_id not in signers:
            signers[signer_id] = Signer(signer_id, vector_key(signer_id), CHAIN, clock_ms=lambda: T0_MS)
        signer = signers[signer_id]
        if tx_type == "register_account":
            fields = {**fields, "public_key": vector_key(fields["account"]).public_key_hex}
        signed = signer.build(tx_type, **fields)
        before = {k: to_plain(state.values[k]) for k in sorted(state.values)}
        entry = Entry(txid_of(tx_signing_bytes(signed)), signed.tx)
        block = apply_block(genesis, head, state, Batch("validator-1", now_ms, head.height + 1, [entry]))
        result = block.results[0]
        if result.code in ENVELOPE_CODES:
            signer.next_seq -= 1  # an envelope failure does not consume the seq
        out.append(
            {
                "description": description,
                "block": {
                    "chain": CHAIN,
                    "height": head.height + 1,
                    "timestamp_ms": block.header.timestamp_ms,
                    "protocol": version_at(genesis, head.height + 1),
                },
                "state_before": before,
                "signed_tx": to_plain(signed),
                "code": result.code,
                "message": result.message,
                "write_set": block.write_set.decode("utf-8"),
            }
        )
        state.apply(block.writes)
        head = block.head
    return out


def render() -> bytes:
    return msgspec.json.format(msgspec.json.encode(execution_vectors())) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(render())
