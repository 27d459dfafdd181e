"""The demo member desk: opens wallets for the web wallet on the demo node (`make run`).

A holder account is registered by a member institution, which knows its
customer; the browser only makes the key. The demo node holds the demo
members' keys in its data directory, so it plays that member here:
`POST /demo/v1/wallets {"account", "public_key"}` registers a holder account
with the public key the browser made (the desk's member signs) and issues it
the welcome value `demo-desk.json` names. Only a node whose data directory
has `demo-desk.json` (written by `tally demo`) serves it; any other answers
404 `demo_desk_closed`. Bounds: `WALLETS_PER_MINUTE` wallets a minute (more:
429), one wallet at a time, each final before the next.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..client.keys import read_keyfile
from ..client.models import NewWallet, WalletOpened
from ..client.signer import Signer
from ..core.types import AccountId, AssetId
from ..node.admission import BatchRejected
from ..node.node import Node, NodeUnavailable
from ..ordering.mempool import MempoolFull
from .errors import ApiError
from .params import Params

Handler = Callable[[Request], Awaitable[Response]]

DESK_FILE = "demo-desk.json"
WALLETS_PER_MINUTE = 30
FINAL_TIMEOUT_MS = 30_000


class Welcome(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    issuer: AccountId
    asset: AssetId
    amount_minor: int


class DeskConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    member: AccountId  # registers the wallets
    welcome: list[Welcome]


def write_desk(root: Path, config: DeskConfig) -> None:
    (root / DESK_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(config)) + b"\n")


def read_desk(root: Path) -> DeskConfig | None:
    path = root / DESK_FILE
    return msgspec.json.decode(path.read_bytes(), type=DeskConfig) if path.exists() else None


def desk_endpoint(node: Node, params: Params) -> Handler:
    config = read_desk(node.data.root)
    decoder = msgspec.json.Decoder(NewWallet)
    lock = asyncio.Lock()
    opened_s: deque[float] = deque(maxlen=WALLETS_PER_MINUTE)

    def signer(member: str) -> Signer:
        key = read_keyfile(node.data.key_path(member)).keypair()
        account = node.ledger.account(member)
        assert account is not None, f"the desk's member {member} has no account"
        return Signer(member, key, node.genesis.chain, next_seq=account.seq)

    async def open_wallet(request: Request) -> Response:
        if config is None:
            raise ApiError(404, "demo_desk_closed", "this node opens no wallets: a member registers its customers")
        wanted = params.decode(decoder, await params.body(request))
        now_s = time.monotonic()
        if len(opened_s) == WALLETS_PER_MINUTE and now_s - opened_s[0] < 60:
            raise ApiError(429, "rate_limited", f"the demo desk opens at most {WALLETS_PER_MINUTE} wallets a minute")
        async with lock:
            if node.ledger.account(wanted.account) is not None:
                raise ApiError(409, "account_exists", f"account {wanted.account!r} exists")
            signers = {config.member: signer(config.member)}
            batch = [signers[config.member].register_account(wanted.account, wanted.public_key, "holder")]
            for gift in config.welcome:
                issuer = signers.setdefault(gift.issuer, signer(gift.issuer))
                batch.append(issuer.issue(gift.asset, wanted.account, gift.amount_minor))
            try:
                txids = await node.submit(batch)
            except (BatchRejected, MempoolFull, NodeUnavailable) as exc:
                raise ApiError(503, "desk_failed", f"the node refused the desk's transactions: {exc}") from None
            for txid in txids:
                status = await node.wait(txid, FINAL_TIMEOUT_MS)
                if status.status != "final" or status.code != "ok":
                    raise ApiError(503, "desk_failed", f"transaction {txid}: {status.status} {status.code}")
            opened_s.append(now_s)
        body = WalletOpened(account=wanted.account, member=config.member, txids=txids)
        return Response(msgspec.json.encode(body), status_code=201, media_type="application/json")

    return open_wallet
