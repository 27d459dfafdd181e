"""Who may read what: the policy of every route (`ROUTE_POLICY`, the one place), read tokens, and the checks.

Writes were always permissioned (a transaction is signed by its account's key, and each type names
the roles that may sign it). Reads are too: the ledger's headers, certificates, assets, the council,
receipts by txid and the node's own state are public; an account's record, balances, history and
controls, a merchant's payments and the account-level events are read only by a principal that may
read that account, and full blocks (every transaction: who paid whom) by members, auditors,
regulators and validators. docs/access.md is the integrators' page.

Tokens. A principal proves its Ed25519 key by challenge and response (client/auth.py says how):
`POST /v1/auth/challenge` gives a single-use nonce (60 s; at most 10,000 outstanding, more: 503
`too_many_challenges`); `POST /v1/auth/token` with its signature over `token_message` gives a JWT
(HS256, PyJWT) for at most 15 minutes. The node signs its tokens with a secret made at random when
it starts and kept in memory only: a restart ends every token (clients get a new one), and one
node's token is not taken by another.

A token names its principal and the key that signed the challenge. On every use the principal is
looked up again in the node's current state: a token stops working when the account's key changed
(rotation or recovery: `token_invalid`); a validator reads full blocks as long as the ledger's
schedule names it (a removed one keeps following). The principal's role is its role now (an account
the council retired reads only itself from then on). A frozen account still reads: a freeze stops
value leaving it, not its holder seeing why. While a key recovery is pending (the account's member
started moving it to a new key: the lost phone), the new key gets tokens for the account too, so
that the new wallet sees the recovery and its end; a cancelled recovery ends them.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import jwt
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..client.auth import token_message
from ..client.models import ChallengeBody, PrincipalKind, TokenBody, TokenRequest
from ..core.crypto import verify
from ..core.tables import ASSETS, RECOVERIES
from .errors import ApiError
from .responses import Handler
from .responses import json_response as json

if TYPE_CHECKING:  # (api/openapi.py reads the policy table; params.py reads openapi.py)
    from ..node.node import Node
    from .params import Params

CHALLENGE_TTL_S = 60
MAX_CHALLENGES = 10_000
TOKEN_ALGORITHM = "HS256"
TOKEN_ISSUER = "tally-node"
SEES_ALL = frozenset({"auditor", "regulator"})  # roles that read every account
FULL_BLOCK_READERS = frozenset({"auditor", "regulator", "member", "validator"})

# --- the policy, route by route ------------------------------------------------------------------

Access = Literal["public", "account", "issuer", "full_blocks", "events"]


@dataclass(frozen=True)
class RoutePolicy:
    """Who may call a route.

    - `public`: anyone, no token (a token sent is not looked at);
    - `account`: a token whose principal may read the account the path parameter `param` names
      (itself; a member: the accounts it registered; auditors and regulators: every account);
    - `issuer`: a token of the issuer of the asset the path parameter `param` names, or of an auditor
      or regulator (what the issuer oversees: its merchants flagged by the voucher-cashing guard);
    - `full_blocks`: a token of a member, auditor, regulator or validator;
    - `events`: block events for anyone; with a token, also the transactions and balance
      changes of the accounts its principal may read (api/events.py).
    """

    access: Access
    param: str | None = None
    why: str = ""


PUBLIC = RoutePolicy("public")

ROUTE_POLICY: dict[str, RoutePolicy] = {
    "/": PUBLIC,
    "/v1/auth/challenge": RoutePolicy("public", why="the first step to a read token"),
    "/v1/auth/token": RoutePolicy("public", why="a signed challenge for a read token"),
    "/v1/transactions": RoutePolicy("public", why="a transaction is signed by its account's key"),
    "/v1/transactions/batch": RoutePolicy("public", why="each transaction is signed by its account's key"),
    "/v1/transactions/{txid}": RoutePolicy("public", why="a txid is a capability its holder chooses to show"),
    "/v1/transactions/{txid}/receipt": RoutePolicy("public", why="a txid is a capability its holder chooses to show"),
    "/v1/accounts/{account}": RoutePolicy("account", "account"),
    "/v1/accounts/{account}/balances": RoutePolicy("account", "account"),
    "/v1/accounts/{account}/history": RoutePolicy("account", "account"),
    "/v1/accounts/{account}/controls": RoutePolicy("account", "account"),
    "/v1/accounts/{account}/lots": RoutePolicy("account", "account"),
    "/v1/accounts/{account}/coupons": RoutePolicy("account", "account"),
    "/v1/coupons": RoutePolicy("public", why="the coupon mall: what is on sale"),
    "/v1/coupons/{coupon}": RoutePolicy("public", why="the coupon mall: what is on sale"),
    "/v1/merchants/{merchant}/coupons": RoutePolicy("account", "merchant", "the merchant's books"),
    "/v1/assets": PUBLIC,
    "/v1/assets/{asset}": PUBLIC,
    "/v1/assets/{asset}/supply": PUBLIC,
    "/v1/assets/{asset}/incentives": RoutePolicy("public", why="an issuer's offers: the cashback its rules pay"),
    "/v1/assets/{asset}/flags": RoutePolicy("issuer", "asset", "merchants under watch: the issuer's and supervisors'"),
    "/v1/rates": RoutePolicy("public", why="published rates: what holders are offered"),
    "/v1/quote/exchange": RoutePolicy("public", why="published rates applied to an amount"),
    "/v1/quote/roaming": RoutePolicy("public", why="published rates applied to an amount"),
    "/v1/settlement": RoutePolicy("full_blocks", why="what members owe each other: members' and supervisors'"),
    "/v1/settlement/windows": RoutePolicy("full_blocks", why="what members owe each other"),
    "/v1/settlement/windows/{window}": RoutePolicy("full_blocks", why="obligations and payouts: who paid whom"),
    "/v1/settlement/report": RoutePolicy("full_blocks", why="what members owe each other"),
    "/v1/council": PUBLIC,
    "/v1/proposals": PUBLIC,
    "/v1/proposals/{proposal}": PUBLIC,
    "/v1/directory": RoutePolicy("public", why="the merchant directory: businesses that accept payment"),
    "/v1/merchants/{merchant}": RoutePolicy("public", why="a merchant's registry entry: a business, public"),
    "/v1/merchants/{merchant}/payments/{payment_id}": RoutePolicy("account", "merchant", "the merchant's books"),
    "/v1/merchants/{merchant}/qr": RoutePolicy("public", why="what the shop shows its customers"),
    "/v1/qr/parse": PUBLIC,
    "/v1/codes/{code}": RoutePolicy("public", why="a code is a capability its holder chooses to show"),
    "/v1/network": PUBLIC,
    "/demo/v1/wallets": RoutePolicy("public", why="the demo node's desk, for new browser wallets"),
    "/v1/events": RoutePolicy("events"),
    "/v1/blocks": RoutePolicy("public", why="headers: heights, hashes, times, txids"),
    "/v1/blocks/{height}": RoutePolicy("public", why="a header and its txids"),
    "/v1/blocks/{height}/certificate": PUBLIC,
    "/v1/blocks/{height}/full": RoutePolicy("full_blocks", why="every transaction of a block: who paid whom"),
    "/v1/status": PUBLIC,
    "/v1/genesis": PUBLIC,
    "/v1/validators": RoutePolicy("public", why="the validator schedule and its certified changes, for receipts"),
    "/health": PUBLIC,
    "/metrics": PUBLIC,
    "/openapi.json": PUBLIC,
    "/docs": PUBLIC,
    "/docs/static": RoutePolicy("public", why="the API page's script and style"),
    **{f"/{app}/": RoutePolicy("public", why="a web app's page") for app in ("wallet", "pos", "explorer", "console")},
    **{f"/{app}": RoutePolicy("public", why="to the app's page") for app in ("wallet", "pos", "explorer", "console")},
    "/web": RoutePolicy("public", why="the web apps' scripts and styles"),
}


def policy_of(path: str) -> RoutePolicy:
    """A route's policy; a route without one is a mistake caught when the app is made."""
    try:
        return ROUTE_POLICY[path]
    except KeyError:
        raise AssertionError(f"route {path} has no access policy in api/access.py ROUTE_POLICY") from None


def validator_keys(node: Node) -> dict[str, str]:
    """The validators whose keys may get a read token (full blocks, for catching up): id -> public key hex.

    Every validator the ledger's schedule names, past, present or scheduled (protocol 6), and the
    genesis's: a node the council has added catches up before its first height, and one it removed
    goes on following the ledger."""
    return {v.id: v.public_key for v in node.validators.history().everyone()}


# --- principals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for, with its role in the node's current state ("validator" for one)."""

    id: str
    kind: PrincipalKind
    role: str

    @property
    def sees_all(self) -> bool:
        return self.role in SEES_ALL


def may_read(node: Node, principal: Principal, account_id: str) -> bool:
    """Whether `principal` may read `account_id`: itself; a member the accounts it registered; auditors and
    regulators every account; a retired account only itself; a validator none."""
    if principal.kind != "account":
        return False
    if principal.sees_all or principal.id == account_id:
        return True
    if principal.role != "member":
        return False
    account = node.ledger.account(account_id)
    return account is not None and account.member == principal.id


class ChallengeStore:
    """Outstanding challenges: single use, `CHALLENGE_TTL_S` each, at most `MAX_CHALLENGES` at once."""

    def __init__(self, most: int = MAX_CHALLENGES, ttl_s: float = CHALLENGE_TTL_S) -> None:
        self.most, self.ttl_s = most, ttl_s
        self._open: OrderedDict[str, float] = OrderedDict()  # nonce -> monotonic deadline, oldest first

    def _expire(self, now: float) -> None:
        while self._open:
            nonce, deadline = next(iter(self._open.items()))
            if deadline > now:
                return
            del self._open[nonce]

    def issue(self) -> str:
        now = time.monotonic()
        self._expire(now)
        if len(self._open) >= self.most:
            raise ApiError(
                503,
                "too_many_challenges",
                f"{self.most} challenges are outstanding; retry shortly",
                headers={"Retry-After": "1"},
            )
        nonce = secrets.token_hex(32)
        self._open[nonce] = now + self.ttl_s
        return nonce

    def take(self, nonce: str) -> bool:
        """Use a challenge up: True when it was outstanding and unexpired (it is gone either way)."""
        deadline = self._open.pop(nonce, None)
        return deadline is not None and deadline > time.monotonic()

    def __len__(self) -> int:
        return len(self._open)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ReadAccess:
    """A node's read access: its challenges, its token secret, and the checks the routes make."""

    def __init__(self, node: Node, params: Params) -> None:
        self.node, self.params = node, params
        self.challenges = ChallengeStore()
        self._secret = secrets.token_bytes(32)  # in memory only: a restart ends every token

    # --- tokens

    def principal_key(self, principal: str, kind: PrincipalKind) -> tuple[str, str] | None:
        """The principal's key in force now, and its role; None for an unknown one."""
        if kind == "validator":
            key = validator_keys(self.node).get(principal)
            return None if key is None else (key, "validator")
        account = self.node.ledger.account(principal)
        return None if account is None else (account.public_key, account.role)

    def recovery_key(self, account: str) -> str | None:
        """The new key of a recovery the account's member started (the lost phone's new wallet), if one is pending."""
        recovery = RECOVERIES.read(self.node.store.get_state, account)
        return None if recovery is None else recovery.new_public_key

    def _keys(self, principal: str, kind: PrincipalKind) -> tuple[list[str], str] | None:
        """The keys that may get (and use) a token for the principal, and its role: the key in force, and for an
        account the new key of a pending recovery (its member vouched for it; a cancel ends its tokens)."""
        found = self.principal_key(principal, kind)
        if found is None:
            return None
        keys = [found[0]]
        if kind == "account" and (pending := self.recovery_key(principal)) is not None:
            keys.append(pending)
        return keys, found[1]

    def issue(self, request: TokenRequest) -> TokenBody:
        if not self.challenges.take(request.challenge):
            raise ApiError(401, "challenge_unknown", "no such challenge: unknown, used already or expired (60 s)")
        found = self._keys(request.principal, request.kind)
        message = token_message(self.node.genesis.chain, request.principal, request.challenge)
        sig = bytes.fromhex(request.sig)
        key = next((k for k in (found[0] if found else []) if verify(bytes.fromhex(k), message, sig)), None)
        if found is None or key is None:
            # One answer for an unknown principal and a wrong key: the answer does not tell who exists.
            raise ApiError(
                401,
                "signature_invalid",
                f"the signature does not verify with the key of {request.kind} {request.principal!r}"
                " in force on this node (or there is no such principal)",
            )
        role = found[1]
        now = time.time()
        expires = math.ceil(now) + request.ttl_s  # whole seconds (JWT), never short of the lifetime asked
        claims = {
            "iss": TOKEN_ISSUER,
            "aud": self.node.genesis.chain,
            "sub": request.principal,
            "knd": request.kind,
            "key": key,
            "iat": math.floor(now),
            "exp": expires,
        }
        token = jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)
        return TokenBody(token, "Bearer", expires * 1000, request.ttl_s, request.principal, request.kind, role)

    def principal(self, request: Request, query_token: bool = False) -> Principal | None:
        """The principal of the request's bearer token (None without one); 401 for a token that does not serve.

        `query_token`: also take `?access_token=` (RFC 6750 2.3), for browsers' EventSource, which sends no
        headers of its own."""
        header = request.headers.get("authorization")
        token: str | None = None
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise _token_invalid("the Authorization header is not 'Bearer TOKEN'")
            token = value.strip()
        elif query_token:
            token = request.query_params.get("access_token")
        if token is None:
            return None
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                audience=self.node.genesis.chain,
                issuer=TOKEN_ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(
                401, "token_expired", "the read token expired; get a new one", headers=_CHALLENGE_HEADER
            ) from None
        except jwt.InvalidTokenError as exc:
            raise _token_invalid(f"not a read token of this node ({exc}); get a new one") from None
        kind, subject, key = claims.get("knd"), claims["sub"], claims.get("key")
        if kind not in ("account", "validator") or not isinstance(subject, str):
            raise _token_invalid("not a read token of this node; get a new one")
        found = self._keys(subject, kind)
        if found is None:
            raise _token_invalid(f"{kind} {subject!r} is no longer known to this node")
        if key not in found[0]:
            raise _token_invalid(f"the key of {kind} {subject!r} changed since the token was issued; get a new one")
        return Principal(subject, kind, found[1])

    # --- the checks a route makes

    def check(self, policy: RoutePolicy, request: Request) -> Principal | None:
        """Enforce a route's policy (events: api/events.py filters); its principal, None when none is needed."""
        if policy.access == "public":
            return None
        account_id = self.params.path(request, policy.param) if policy.param is not None else None  # 400 first
        principal = self.principal(request, query_token=policy.access == "events")
        if policy.access == "events":
            return principal
        if principal is None:
            raise ApiError(
                401,
                "auth_required",
                "this read needs a read token: POST /v1/auth/challenge, then /v1/auth/token (docs/access.md)",
                headers=_CHALLENGE_HEADER,
            )
        if policy.access == "full_blocks":
            if principal.role not in FULL_BLOCK_READERS:
                raise _not_permitted(
                    f"full blocks are read by members, auditors, regulators and validators, not {principal.role}s"
                )
            return principal
        if policy.access == "issuer":
            assert account_id is not None  # here an asset id
            if not self.oversees(principal, account_id):
                raise _not_permitted(f"{principal.kind} {principal.id!r} neither issues {account_id} nor supervises")
            return principal
        assert policy.access == "account" and account_id is not None
        if not may_read(self.node, principal, account_id):
            raise _not_permitted(f"{principal.kind} {principal.id!r} may not read account {account_id!r}")
        return principal

    def oversees(self, principal: Principal, asset_id: str) -> bool:
        """The asset's issuer, auditors and regulators (an unknown asset: the route answers 404)."""
        if principal.kind != "account":
            return False
        asset = ASSETS.read(self.node.store.get_state, asset_id)
        return principal.sees_all or asset is None or asset.issuer == principal.id

    def protect(self, path: str, handler: Handler) -> Handler:
        """The route's handler behind its policy (ROUTE_POLICY[path]); the principal in request.state.principal."""
        policy = policy_of(path)
        if policy.access == "public":
            return handler

        async def checked(request: Request) -> Response:
            request.state.principal = self.check(policy, request)
            return await handler(request)

        return checked

    # --- the two routes

    def endpoints(self) -> tuple[Handler, Handler]:
        params = self.params
        decoder = msgspec.json.Decoder(TokenRequest)

        async def challenge(request: Request) -> Response:
            nonce = self.challenges.issue()
            return json(ChallengeBody(nonce, _now_ms() + CHALLENGE_TTL_S * 1000, CHALLENGE_TTL_S))

        async def token(request: Request) -> Response:
            body: TokenRequest = params.decode(decoder, await params.body(request))
            return json(self.issue(body), headers={"Cache-Control": "no-store"})

        return challenge, token


_CHALLENGE_HEADER = {"WWW-Authenticate": 'Bearer realm="tally"'}


def _token_invalid(message: str) -> ApiError:
    return ApiError(
        401, "token_invalid", message, headers={"WWW-Authenticate": 'Bearer realm="tally", error="invalid_token"'}
    )


def _not_permitted(message: str) -> ApiError:
    return ApiError(403, "not_permitted", message)
