"""Read tokens: how a principal proves its key to a node and reads what it may (docs/access.md).

A node answers the reads of an account (its balances, history, controls, a merchant's payments, the
account-level events) only to a principal that may read it, and full blocks only to members,
auditors, regulators and validators. The principal proves its key by challenge and response:

1. `POST /v1/auth/challenge` gives a random single-use nonce (good for 60 s);
2. the principal signs `token_message(chain, principal, challenge)` with its Ed25519 key: the
   canonical JSON of `{"chain", "challenge", "principal", "purpose": "tally-read-token-v1"}`;
3. `POST /v1/auth/token` with `{principal, challenge, sig}` (and `kind: "validator"` for a
   validator's key) gives a bearer token for at most 15 minutes, sent as
   `Authorization: Bearer TOKEN`.

`ReadTokens` (and `AsyncReadTokens`) do it on first need, per node, and again shortly before a token
expires or when the node answers `token_expired` / `token_invalid` (a restarted node, a rotated key).
`TallyClient(url, reader=...)` uses them for every read; a validator fetching a peer's full blocks
calls `ReadTokens.get`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from ..core.crypto import KeyPair
from ..core.encoding import canonical
from ..core.types import Genesis
from .errors import TallyError, error_from
from .keys import KeyFile
from .models import MAX_TOKEN_TTL_S, READ_TOKEN_PURPOSE, ChallengeBody, PrincipalKind, TokenBody

RENEW_BEFORE_S = 30.0  # a held token is renewed this long before it expires
# What a node answers when a held token no longer serves: get a new one and ask again (once).
RENEW_CODES = frozenset({"token_expired", "token_invalid"})


def token_message(chain: str, principal: str, challenge: str) -> bytes:
    """The bytes a principal signs for a read token: canonical JSON naming the chain, principal, challenge, purpose."""
    return canonical({"chain": chain, "challenge": challenge, "principal": principal, "purpose": READ_TOKEN_PURPOSE})


@dataclass(frozen=True)
class Reader:
    """Who reads: an account (its key in force on the ledger) or a validator (its key in the validator set)."""

    principal: str
    key: KeyPair
    kind: PrincipalKind = "account"


ReaderLike = Reader | tuple[str, KeyPair] | KeyFile


def as_reader(value: ReaderLike) -> Reader:
    """A Reader from a Reader, an (account id, KeyPair) pair or a key file."""
    if isinstance(value, Reader):
        return value
    if isinstance(value, KeyFile):
        return Reader(value.id, value.keypair())
    principal, key = value
    return Reader(principal, key)


@dataclass
class _Held:
    token: str
    renew_at: float  # time.monotonic() after which it is renewed first


def _decode(response: httpx.Response, into: type[Any]) -> Any:
    if response.status_code >= 400:
        raise error_from(response)
    return msgspec.json.decode(response.content, type=into)


_JSON = {"content-type": "application/json"}


@dataclass
class _Tokens:
    reader: Reader
    chain: str | None = None  # None: each node's genesis says
    ttl_s: int = MAX_TOKEN_TTL_S
    held: dict[str, _Held] = field(default_factory=dict)  # by the node's base URL ("" for a client's own)
    chains: dict[str, str] = field(default_factory=dict)

    def forget(self, base_url: str = "") -> None:
        """Drop the token held for a node: the next read gets a new one."""
        self.held.pop(base_url, None)

    def _current(self, base_url: str) -> str | None:
        held = self.held.get(base_url)
        return held.token if held is not None and time.monotonic() < held.renew_at else None

    def _request(self, base_url: str, chain: str, challenge: ChallengeBody) -> bytes:
        sig = self.reader.key.sign(token_message(chain, self.reader.principal, challenge.challenge)).hex()
        body = {"principal": self.reader.principal, "challenge": challenge.challenge, "sig": sig}
        if self.reader.kind != "account":
            body["kind"] = self.reader.kind
        if self.ttl_s != MAX_TOKEN_TTL_S:
            body["ttl_s"] = self.ttl_s  # type: ignore[assignment]
        return msgspec.json.encode(body)

    def _keep(self, base_url: str, started: float, body: TokenBody) -> str:
        self.held[base_url] = _Held(body.token, started + max(body.ttl_s - RENEW_BEFORE_S, body.ttl_s / 2))
        return body.token


class ReadTokens(_Tokens):
    """A principal's read tokens, one per node, for a synchronous httpx client."""

    def token(self, http: httpx.Client, base_url: str = "") -> str:
        """A token for the node at `base_url` ("": the client's own base URL): the held one, or a new one.

        Raises TallyError when the node refuses (`signature_invalid`: not this principal's key)."""
        held = self._current(base_url)
        if held is not None:
            return held
        return self.authenticate(http, base_url).token

    def authenticate(self, http: httpx.Client, base_url: str = "") -> TokenBody:
        """Get a new token from the node now (challenge, signature, token); it is held for later reads."""
        chain = self.chain or self.chains.get(base_url)
        if chain is None:
            chain = self.chains[base_url] = _decode(http.get(f"{base_url}/v1/genesis"), Genesis).chain
        started = time.monotonic()
        challenge = _decode(http.post(f"{base_url}/v1/auth/challenge"), ChallengeBody)
        body = self._request(base_url, chain, challenge)
        token: TokenBody = _decode(http.post(f"{base_url}/v1/auth/token", content=body, headers=_JSON), TokenBody)
        self._keep(base_url, started, token)
        return token

    def headers(self, http: httpx.Client, base_url: str = "") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(http, base_url)}"}

    def get(self, http: httpx.Client, base_url: str, path: str, **kwargs: Any) -> httpx.Response:
        """GET `base_url + path` with this principal's token; a token the node no longer takes is renewed once.

        This is what a validator calls to fetch a peer's full block:
        `tokens.get(http, peer_url, f"/v1/blocks/{height}/full")`. The answer is returned as it
        came (check its status); refusing to issue a token raises TallyError."""
        response = http.get(f"{base_url}{path}", headers=self.headers(http, base_url), **kwargs)
        if response.status_code == 401 and _code(response) in RENEW_CODES:
            self.forget(base_url)
            response = http.get(f"{base_url}{path}", headers=self.headers(http, base_url), **kwargs)
        return response


class AsyncReadTokens(_Tokens):
    """A principal's read tokens, one per node, for an httpx.AsyncClient."""

    async def token(self, http: httpx.AsyncClient, base_url: str = "") -> str:
        held = self._current(base_url)
        if held is not None:
            return held
        return (await self.authenticate(http, base_url)).token

    async def authenticate(self, http: httpx.AsyncClient, base_url: str = "") -> TokenBody:
        chain = self.chain or self.chains.get(base_url)
        if chain is None:
            chain = self.chains[base_url] = _decode(await http.get(f"{base_url}/v1/genesis"), Genesis).chain
        started = time.monotonic()
        challenge = _decode(await http.post(f"{base_url}/v1/auth/challenge"), ChallengeBody)
        body = self._request(base_url, chain, challenge)
        response = await http.post(f"{base_url}/v1/auth/token", content=body, headers=_JSON)
        token: TokenBody = _decode(response, TokenBody)
        self._keep(base_url, started, token)
        return token

    async def headers(self, http: httpx.AsyncClient, base_url: str = "") -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(http, base_url)}"}


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def renewable(error: TallyError) -> bool:
    """A refusal that a new token may cure: the held one expired or no longer matches (restart, rotation)."""
    return error.status == 401 and error.code in RENEW_CODES


def needs_token(error: TallyError) -> bool:
    """A refusal of a read sent without a token."""
    return error.status == 401 and error.code == "auth_required"
