"""What the OpenAPI document says beyond the types: route groups (tags), an example per route, the limits.

docs/api.md follows the same groups; tests/test_api_docs.py keeps the two in step.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..core.limits import Limits

TAGS: list[tuple[str, str]] = [
    ("auth", "Read tokens: a principal signs a challenge with its key for a bearer token (docs/access.md)."),
    ("transactions", "Submit signed transactions, follow them to finality, fetch receipts that verify offline."),
    ("accounts", "Accounts, balances in minor units, and histories in the ledger's order."),
    ("assets", "Assets with their decimals, issuer, policy and supply."),
    (
        "merchants",
        "What a merchant's point of sale reads (its payments), the registry, and the directory near a point.",
    ),
    ("qr", "QR codes at the counter: a merchant's code to show, a scanned code checked, a holder's payment code."),
    (
        "governance",
        "The council and its proposals, an asset's quota and supply, an account's freeze, limits and key recovery.",
    ),
    (
        "settlement",
        "Published rates, exact quotes for exchanges and roaming payments, and settlement between members:"
        " positions, windows, payouts, bank files and reports (docs/settlement.md).",
    ),
    ("events", "Final blocks, transactions and balance changes as they happen (server-sent events)."),
    ("blocks", "Blocks, certificates and the full blocks peers catch up from."),
    ("node", "The node's status, limits, the network as it sees it, and the chain's genesis."),
    ("demo", "The demo node's member desk: opens wallets for the web wallet (served by the demo node only)."),
]

QR_EXAMPLE = (
    "00020101021226470015org.tallyledger0110tally-demo0210cafe-lumen520459995303999540512.505802KR"
    "5910Cafe Lumen6005Seoul62780519qr-5f1c2a9b0d3e4f6750510015org.tallyledger0111HARBOR-GIFT"
    "021318000001800006304A5E4"
)
TXID = "9f2c1d0e7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa99887766"
COUPON = {
    "id": "americano",
    "issuer": "skyway",
    "name": "One Americano",
    "price_asset": "SKYMILES",
    "price_minor": 4000,
    "stock": 497,
    "sold": 3,
    "valid_until_ms": 1830000000000,
    "merchants": ["cafe-lumen"],
    "height": 40,
}

PROPOSAL_EXAMPLE = {
    "id": "quota:SKYMILES:2027",
    "action": {"kind": "set_quota", "asset": "SKYMILES", "quota_minor": 2000000},
    "proposer": "skyway",
    "votes": ["skyway", "harbor-bank"],
    "opened_height": 120,
    "expires_ms": 1800604800000,
    "status": "executed",
    "closed_height": 131,
    "closed_txid": TXID,
    "result_code": "ok",
    "result_message": "",
    "state": "executed",
    "votes_counted": 2,
    "threshold": 2,
}

CHALLENGE = "5b1e0c7d9a2f4e6b8c3d1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"
TOKEN_REQUEST_EXAMPLE = {
    "principal": "alice",
    "challenge": CHALLENGE,
    "sig": "8d4f" + "0" * 124,
}
ACCESS_TEXT = (
    "## Who reads what\n\n"
    "Headers, certificates, receipts by txid, assets, the council, the node's status and the counter's QR and"
    " payment-code routes are public. An account's record, balances, history and controls, a merchant's payments"
    " and the account-level events need a read token whose principal may read the account: the account itself,"
    " the member that registered it, an auditor or a regulator. Full blocks need a member, auditor, regulator or"
    " validator. Get a token: `POST /v1/auth/challenge`, sign the canonical JSON"
    ' `{"chain", "challenge", "principal", "purpose": "tally-read-token-v1"}` with the principal\'s Ed25519 key,'
    " `POST /v1/auth/token`; send it as `Authorization: Bearer TOKEN` (docs/access.md)."
)

# Per route: its tag and an example of what it answers (a request body's example comes from the test vectors).

RATE_KPT = {"num": 48, "den": 5}
RATE_UPT = {"num": 3, "den": 2}
WINDOW = {
    "window": 0,
    "first_height": 8,
    "last_height": 12,
    "currency": "USD",
    "status": "settled",
    "closed": True,
    "obligations": 3,
    "gross_minor": 880,
    "pairs": [{"debtor": "kr-bank", "creditor": "us-bank", "amount_minor": 790}],
    "members": [{"member": "kr-bank", "net_minor": -790}, {"member": "us-bank", "net_minor": 790}],
    "moves": [{"debtor": "kr-bank", "creditor": "us-bank", "amount_minor": 790}],
    "settled_height": 14,
    "settled_txid": TXID,
}
SETTLEMENT_DOCS: dict[str, tuple[str, Any]] = {  # the examples of the settlement routes (docs/settlement.md)
    "/v1/rates": (
        "settlement",
        {
            "settlement_currency": "USD",
            "fx": [{"currency": "KRW", "rate": {"num": 1, "den": 14}}],
            "items": [
                {
                    "asset": "KPT",
                    "currency": "KRW",
                    "rate": RATE_KPT,
                    "min_rate": {"num": 1, "den": 1},
                    "max_rate": {"num": 20, "den": 1},
                    "source": "float",
                    "fee_bp": 0,
                    "fee_account": "kr-bank",
                    "height": 6,
                    "unit_value": "24/35",
                }
            ],
            "truncated": False,
        },
    ),
    "/v1/quote/exchange": (
        "settlement",
        {
            "from_asset": "KPT",
            "to_asset": "UPT",
            "amount_minor": 1000,
            "value_minor": 685,
            "gross_minor": 456,
            "fee_minor": 0,
            "out_minor": 456,
            "remainder": "12/7",
            "from_rate": RATE_KPT,
            "to_rate": RATE_UPT,
            "settlement_currency": "USD",
            "height": 9,
        },
    ),
    "/v1/quote/roaming": (
        "settlement",
        {
            "asset": "UPT",
            "amount_minor": 100,
            "pay_asset": "KPT",
            "pay_minor": 219,
            "value_minor": 150,
            "remainder": "6/35",
            "from_rate": RATE_KPT,
            "to_rate": RATE_UPT,
            "settlement_currency": "USD",
            "height": 9,
        },
    ),
    "/v1/settlement": (
        "settlement",
        {
            "currency": "USD",
            "window_blocks": 5,
            "asset": "SET",
            "fx": [{"currency": "KRW", "rate": {"num": 1, "den": 14}}],
            "height": 11,
            "current_window": 0,
            "unsettled": [{"member": "kr-bank", "net_minor": -790}, {"member": "us-bank", "net_minor": 790}],
            "unsettled_pairs": [{"debtor": "kr-bank", "creditor": "us-bank", "amount_minor": 790}],
            "windows": [
                {**WINDOW, "status": "open", "closed": False, "moves": [], "settled_height": 0, "settled_txid": ""}
            ],
        },
    ),
    "/v1/settlement/windows": ("settlement", {"items": [WINDOW], "next_cursor": None}),
    "/v1/settlement/windows/{window}": (
        "settlement",
        {
            "window": WINDOW,
            "obligations": [
                {
                    "txid": TXID,
                    "kind": "exchange",
                    "debtor": "kr-bank",
                    "creditor": "us-bank",
                    "amount_minor": 685,
                    "height": 9,
                }
            ],
            "payouts": [
                {
                    "txid": TXID,
                    "account": "hotel",
                    "asset": "UPT",
                    "amount_minor": 70,
                    "payout_ref": "US-ACC-0001",
                    "height": 10,
                    "window": 0,
                    "status": "done",
                    "ack_txid": TXID,
                }
            ],
            "files": [
                {
                    "window": 0,
                    "member": "us-bank",
                    "kind": "pain.001",
                    "name": "us-bank-w000000000000-pain.001.xml",
                    "sha256": "5e" * 32,
                    "transactions": 1,
                    "total_minor": 70,
                    "height": 14,
                    "txid": TXID,
                }
            ],
            "truncated": False,
        },
    ),
    "/v1/settlement/report": (
        "settlement",
        {
            "currency": "USD",
            "rows": [
                {
                    "window": 0,
                    "member": "kr-bank",
                    "status": "settled",
                    "owes_minor": 835,
                    "owed_minor": 45,
                    "net_minor": -790,
                    "settled_minor": -790,
                    "payouts": 0,
                    "payouts_by_asset": "",
                    "payouts_done": 0,
                    "payouts_returned": 0,
                    "files": "",
                }
            ],
            "truncated": False,
        },
    ),
}

ROUTE_DOCS: dict[str, tuple[str, Any]] = {
    "/v1/auth/challenge": ("auth", {"challenge": CHALLENGE, "expires_ms": 1800000060000, "ttl_s": 60}),
    "/v1/auth/token": (
        "auth",
        {
            "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
            "token_type": "Bearer",
            "expires_ms": 1800000900000,
            "ttl_s": 900,
            "principal": "alice",
            "kind": "account",
            "role": "holder",
        },
    ),
    "/v1/transactions": ("transactions", {"txids": [TXID], "status": "accepted"}),
    "/v1/transactions/batch": ("transactions", {"txids": [TXID, TXID.replace("9f", "a0")], "status": "accepted"}),
    "/v1/transactions/{txid}": (
        "transactions",
        {"txid": TXID, "status": "final", "code": "ok", "message": "", "height": 12},
    ),
    "/v1/transactions/{txid}/receipt": (
        "transactions",
        "see docs/test-vectors/receipts.json: a signed transaction, its code, index, signer_key, tx_path,"
        " results_path, the block header and the certificate",
    ),
    "/v1/accounts/{account}": (
        "accounts",
        {"id": "alice", "role": "holder", "public_key": "3b6a27bc" + "0" * 56, "member": "harbor-bank", "seq": 7},
    ),
    "/v1/accounts/{account}/balances": ("accounts", {"account": "alice", "balances": {"HARBOR-GIFT": 72692}}),
    "/v1/accounts/{account}/history": (
        "accounts",
        {
            "account": "alice",
            "items": [
                {
                    "height": 12,
                    "index": 3,
                    "txid": TXID,
                    "type": "pay",
                    "time_ms": 1800000000000,
                    "status": "applied",
                    "code": "ok",
                    "message": "",
                    "movements": [
                        {
                            "asset": "HARBOR-GIFT",
                            "amount_minor": -1250,
                            "counterparty": "cafe-lumen",
                            "balance_after_minor": 72692,
                        }
                    ],
                    "tx": {
                        "type": "pay",
                        "signer": "alice",
                        "asset": "HARBOR-GIFT",
                        "merchant": "cafe-lumen",
                        "amount_minor": 1250,
                        "payment_id": "order-42",
                    },
                }
            ],
            "next_cursor": "12:3",
        },
    ),
    "/v1/assets": (
        "assets",
        {
            "items": [
                {
                    "id": "HARBOR-GIFT",
                    "name": "Harbor gift voucher",
                    "kind": "voucher",
                    "decimals": 2,
                    "issuer": "harbor-bank",
                    "transferable": False,
                    "cash_out": "merchants",
                    "status": "active",
                    "issued_minor": 900000,
                    "burned_minor": 1000,
                }
            ],
            "next_cursor": None,
        },
    ),
    "/v1/assets/{asset}": (
        "assets",
        {
            "id": "SKYMILES",
            "name": "Skyway miles",
            "kind": "points",
            "decimals": 0,
            "issuer": "skyway",
            "transferable": True,
            "cash_out": "none",
            "status": "active",
            "issued_minor": 450000,
            "burned_minor": 0,
        },
    ),
    "/v1/merchants/{merchant}/payments/{payment_id}": (
        "merchants",
        {
            "merchant": "cafe-lumen",
            "payment_id": "order-42",
            "payer": "alice",
            "asset": "HARBOR-GIFT",
            "amount_minor": 1250,
            "refunded_minor": 250,
            "txid": TXID,
        },
    ),
    "/v1/merchants/{merchant}/qr": (
        "qr",
        {
            "payload": QR_EXAMPLE,
            "dynamic": True,
            "merchant": "cafe-lumen",
            "asset": "HARBOR-GIFT",
            "amount": "12.50",
            "amount_minor": 1250,
            "payment_id": "qr-5f1c2a9b0d3e4f67",
            "expires_ms": 1800000180000,
            "svg": '<svg xmlns="http://www.w3.org/2000/svg" ...>...</svg>',
        },
    ),
    "/v1/qr/parse": (
        "qr",
        {
            "chain": "tally-demo",
            "merchant": "cafe-lumen",
            "asset": "HARBOR-GIFT",
            "name": "Cafe Lumen",
            "city": "Seoul",
            "mcc": "5999",
            "country": "KR",
            "currency": "999",
            "dynamic": True,
            "amount": "12.50",
            "amount_minor": 1250,
            "payment_id": "qr-5f1c2a9b0d3e4f67",
            "expires_ms": 1800000180000,
        },
    ),
    "/v1/codes/{code}": (
        "qr",
        {
            "code": "40817365092214738850",
            "holder": "alice",
            "asset": "HARBOR-GIFT",
            "limit_minor": 3000,
            "expires_ms": 1800000180000,
            "status": "open",
            "charged_txid": None,
        },
    ),
    "/v1/network": (
        "node",
        {
            "chain": "tally-dev",
            "observer": "validator-1",
            "common_final_height": 118,
            "digests_agree": True,
            "validators": [
                {
                    "id": "validator-1",
                    "url": "http://127.0.0.1:8761",
                    "reachable": True,
                    "error": "",
                    "height": 120,
                    "final_height": 119,
                    "healthy": True,
                    "digest_at_common": "5eed" + "0" * 60,
                }
            ],
            "time_ms": 1800000000000,
        },
    ),
    "/demo/v1/wallets": (
        "demo",
        {"account": "w-k3x9q2", "member": "harbor-bank", "txids": [TXID, TXID.replace("9f", "a0")]},
    ),
    "/v1/events": ("events", "EVENTS"),
    "/v1/blocks": ("blocks", {"items": ["<a block, as GET /v1/blocks/{height}>"], "next_cursor": "11"}),
    "/v1/blocks/{height}": (
        "blocks",
        {
            "height": 12,
            "hash": "c0ffee" + "0" * 58,
            "state_digest": "5eed" + "0" * 60,
            "header": {
                "chain": "tally-dev",
                "height": 12,
                "timestamp_ms": 1800000000000,
                "tx_count": 4,
                "protocol": 3,
                "proposer": "validator-1",
            },
            "txids": [TXID],
            "final": True,
        },
    ),
    "/v1/blocks/{height}/certificate": (
        "blocks",
        {
            "chain": "tally-dev",
            "height": 12,
            "block_hash": "c0ffee" + "0" * 58,
            "state_digest": "5eed" + "0" * 60,
            "results_root": "ab" * 32,
            "signatures": [{"validator": "validator-1", "sig": "cd" * 64}],
        },
    ),
    "/v1/blocks/{height}/full": (
        "blocks",
        {
            "header": "<as above>",
            "state_digest": "5eed" + "0" * 60,
            "txs": ["<signed transactions>"],
            "certificate": "<as GET /v1/blocks/{height}/certificate>",
        },
    ),
    "/v1/status": (
        "node",
        {
            "chain": "tally-dev",
            "validator": "validator-1",
            "height": 12,
            "final_height": 12,
            "state_digest": "5eed" + "0" * 60,
            "mempool_txs": 0,
            "mempool_max_txs": 200000,
            "healthy": True,
            "orderer": "solo",
            "divergence": None,
            "limits": {"max_batch_txs": 2000},
            "unavailable": None,
            "event_streams": 1,
        },
    ),
    "/v1/genesis": (
        "node",
        {
            "chain": "tally-dev",
            "genesis_time_ms": 1800000000000,
            "members": [{"id": "harbor-bank", "name": "Harbor Bank", "public_key": "ab" * 32}],
            "validators": [{"id": "validator-1", "public_key": "cd" * 32, "api_url": "http://127.0.0.1:8750"}],
            "etcd_endpoints": [],
            "protocol": 3,
        },
    ),
    "/v1/validators": (
        "governance",
        {
            "final_height": 240,
            "notice_blocks": 16,
            "sets": [
                {
                    "from_height": 1,
                    "validators": [{"id": "node-1", "public_key": "cd" * 32, "api_url": ""}],
                    "scheduled_height": 0,
                },
                {
                    "from_height": 120,
                    "validators": [
                        {"id": "node-1", "public_key": "cd" * 32, "api_url": ""},
                        {"id": "node-5", "public_key": "ef" * 32, "api_url": "http://127.0.0.1:8754"},
                    ],
                    "scheduled_height": 98,
                },
            ],
            "changes": [],
        },
    ),
    "/v1/assets/{asset}/supply": (
        "governance",
        {
            "asset": "SKYMILES",
            "status": "active",
            "quota_minor": 1000000,
            "issued_minor": 450000,
            "burned_minor": 2000,
            "outstanding_minor": 448000,
            "frozen": None,
        },
    ),
    "/v1/accounts/{account}/lots": (
        "accounts",
        {
            "account": "alice",
            "items": [
                {
                    "asset": "SEOUL-LOVE",
                    "lots": [
                        {"expires_ms": 1954335600000, "amount_minor": 95500, "expired": False},
                        {"expires_ms": 1954422000000, "amount_minor": 600000, "expired": False},
                    ],
                    "spendable_minor": 695500,
                    "expired": [{"expires_ms": 1796137200000, "amount_minor": 2000, "height": 5120, "to": "issuer"}],
                }
            ],
        },
    ),
    "/v1/assets/{asset}/incentives": (
        "assets",
        {
            "asset": "SEOUL-LOVE",
            "items": [
                {
                    "rule": {
                        "id": "seoul-cafes",
                        "rate_bp": 500,
                        "budget_account": "seoul-budget",
                        "categories": ["5814"],
                        "regions": ["KR-11"],
                        "cap_per_holder_minor": 5000,
                    },
                    "budget_minor": 9704775,
                    "active": True,
                }
            ],
        },
    ),
    "/v1/coupons": (
        "assets",
        {
            "items": [COUPON],
            "truncated": False,
        },
    ),
    "/v1/coupons/{coupon}": (
        "assets",
        COUPON,
    ),
    "/v1/accounts/{account}/coupons": (
        "accounts",
        {
            "account": "dana",
            "items": [
                {
                    "bought_txid": TXID,
                    "coupon": "americano",
                    "bought_height": 41,
                    "used_txid": "",
                    "used_merchant": "",
                    "used_height": 0,
                }
            ],
            "truncated": False,
        },
    ),
    "/v1/merchants/{merchant}/coupons": (
        "merchants",
        {
            "merchant": "cafe-lumen",
            "items": [{"bought_txid": TXID, "coupon": "americano", "holder": "dana", "height": 44, "txid": TXID}],
            "truncated": False,
        },
    ),
    "/v1/assets/{asset}/flags": (
        "assets",
        {
            "asset": "SEOUL-LOVE",
            "flags": [
                {
                    "merchant": "cafe-lumen",
                    "asset": "SEOUL-LOVE",
                    "month": 683,
                    "redeemed_minor": 15000001,
                    "usual_minor": 5000000,
                    "multiple": 3,
                    "height": 212,
                    "txid": TXID,
                }
            ],
            "truncated": False,
        },
    ),
    "/v1/accounts/{account}/controls": (
        "governance",
        {
            "account": "alice",
            "frozen": {"reason": "court_order", "by": "fsc", "height": 41, "txid": TXID},
            "limits": [
                {
                    "asset": "HARBOR-GIFT",
                    "source": "own",
                    "max_payment_minor": 50000,
                    "daily_out_minor": 200000,
                    "balance_cap_minor": 0,
                    "set_by": "harbor-bank",
                    "sent_today_minor": 4500,
                }
            ],
            "recovery": None,
        },
    ),
    "/v1/council": (
        "governance",
        {
            "council": ["harbor-bank", "skyway", "city-hall"],
            "threshold": 2,
            "proposal_ttl_ms": 604800000,
            "recovery_delay_ms": 86400000,
            "utc_offset_min": 540,
            "default_limits": [
                {
                    "role": "holder",
                    "asset": "HARBOR-GIFT",
                    "max_payment_minor": 100000,
                    "daily_out_minor": 0,
                    "balance_cap_minor": 0,
                }
            ],
        },
    ),
    "/v1/proposals": ("governance", {"items": [PROPOSAL_EXAMPLE], "next_cursor": None}),
    "/v1/proposals/{proposal}": ("governance", PROPOSAL_EXAMPLE),
    "/v1/directory": (
        "merchants",
        {
            "items": [
                {
                    "merchant": "cafe-lumen",
                    "distance_m": 412,
                    "category": "5814",
                    "accepts": ["HARBOR-GIFT", "SKYMILES"],
                    "lat": "37.5665",
                    "lon": "126.978",
                }
            ],
            "next_cursor": None,
        },
    ),
    "/v1/merchants/{merchant}": (
        "merchants",
        {
            "category": "5814",
            "region": "KR-11",
            "lat_e6": 37566500,
            "lon_e6": 126978000,
            "business_no": "120-81-47521",
            "accepts": ["HARBOR-GIFT"],
            "set_by": "harbor-bank",
            "height": 12,
        },
    ),
    **SETTLEMENT_DOCS,
}

EVENTS_EXAMPLE = (
    'id: 12:3:0\nevent: tx\ndata: {"txid":"9f2c...","height":12,"index":3,"type":"pay",...}\n\n'
    'id: 12:3:1\nevent: balance\ndata: {"account":"alice","asset":"HARBOR-GIFT","amount_minor":-1250,...}\n\n'
)

# What each limit bounds, in the unit its name says (node.json `limits`; docs/api.md has the same table).
LIMIT_NOTES: dict[str, str] = {
    "max_body_bytes": "request body size",
    "max_batch_txs": "transactions per batch",
    "mempool_max_txs": "transactions waiting in the mempool (more: 503 mempool_full)",
    "max_block_txs": "transactions per block",
    "block_interval_ms": "a block is cut this long after its first pending transaction",
    "max_seq_ahead": "how far ahead of the committed seq a transaction may be",
    "max_expiry_ms": "how far ahead expires_ms may be",
    "max_wait_ms": "the longest wait_ms",
    "max_history_page": "history page size",
    "state_cache_entries": "state entries cached in memory",
    "retry_after_s": "the Retry-After of a 503 mempool_full",
    "max_log_batch_bytes": "an etcd log entry",
    "log_retention_blocks": "etcd log kept for a lagging validator",
    "block_time_precision_ms": "how far a block's time may be ahead of a validator's clock for its vote",
    "scrub_interval_ms": "one storage scrub round per interval",
    "scrub_keys_per_round": "state rows compared per scrub round",
    "max_connections": "open connections (more: 503 too_many_connections)",
    "header_timeout_ms": "request headers must arrive within",
    "body_timeout_ms": "a request body must arrive within",
    "max_event_streams": "open event streams (more: 503 too_many_streams)",
    "event_send_timeout_ms": "an event stream whose client takes nothing this long is dropped",
    "max_event_lag_blocks": "an event stream this far behind the final height is closed (too_slow)",
}


def limits_table(limits: Limits) -> str:
    """The limits as a Markdown table: name, value, what it bounds."""
    rows = [f"| `{name}` | {value} | {LIMIT_NOTES[name]} |" for name, value in msgspec.structs.asdict(limits).items()]
    return "\n".join(["| limit | value | what it bounds |", "| --- | --- | --- |", *rows])
