"""Permissioned reads (api/access.py) against a real node: every read route of ROUTE_POLICY, every kind of reader.

Readers: no token; a holder (its own account, another's); a merchant; a member (the accounts it registered,
another member's); an auditor; a regulator; a member the council retired; the validator; an expired token;
a token issued before its account's key rotated. Each asserts the status and the error code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import msgspec
import pytest

from helpers import NodeProcess, until
from tally.api.access import ROUTE_POLICY, ChallengeStore
from tally.api.errors import ApiError
from tally.client import Reader, ReadTokens, Signer, TallyClient, TallyError, read_keyfile, token_message
from tally.client.models import TokenBody
from tally.core.crypto import KeyPair, sha256
from tally.core.types import AdmitMember, RemoveMember
from tally.node.config import DataDir


def _key(name: str) -> KeyPair:
    return KeyPair(sha256(b"read-access/" + name.encode()))


HOLDER, OTHER_HOLDER, MERCHANT, ROTATED = "hana", "bo", "mart", "rot"
AUDITOR, REGULATOR, RETIRED = "aud", "reg", "bank-c"
ACCOUNTS = ["hana", "bo", "mart", "bank-a", "bank-b", "aud", "reg", "bank-c", "nobody"]
# Which accounts each principal may read (written out, not derived from the code under test).
READS: dict[str, set[str]] = {
    "hana": {"hana"},
    "mart": {"mart"},
    "bank-a": {"hana", "mart", "bank-a", "rot"},  # the accounts bank-a registered, and itself
    "bank-b": {"bo", "bank-b"},
    "aud": set(ACCOUNTS),
    "reg": set(ACCOUNTS),
    "bank-c": {"bank-c"},  # retired: only itself
    "validator-1": set(),
}
FULL_BLOCKS = {"bank-a", "bank-b", "aud", "reg", "validator-1"}


@dataclass
class World:
    node: NodeProcess
    client: TallyClient
    tokens: dict[str, str]  # principal -> a valid token
    expired: str
    rotated: str  # issued to `rot` before its key rotated
    txid: str  # hana's payment to mart, payment id p-1
    height: int


def _token(url: str, principal: str, key: KeyPair, kind: str = "account", ttl_s: int = 900) -> str:
    return _token_body(url, principal, key, kind, ttl_s).token


def _token_body(url: str, principal: str, key: KeyPair, kind: str = "account", ttl_s: int = 900) -> TokenBody:
    with httpx.Client(base_url=url, timeout=10) as http:
        tokens = ReadTokens(Reader(principal, key, kind), ttl_s=ttl_s)  # type: ignore[arg-type]
        return tokens.authenticate(http)


@pytest.fixture(scope="module")
def world(node: NodeProcess) -> Iterator[World]:
    data = DataDir(node.data_dir)
    client = TallyClient(node.url)
    chain = client.genesis().chain
    bank_a_key = read_keyfile(data.key_path("bank-a")).keypair()
    bank_b_key = read_keyfile(data.key_path("bank-b")).keypair()
    a = Signer("bank-a", bank_a_key, chain)
    b = Signer("bank-b", bank_b_key, chain)
    signers = {name: Signer(name, _key(name), chain) for name in ("hana", "bo", "mart", "rot", "bank-c")}

    def final(*txs: object) -> None:
        txids = client.submit_batch(list(txs))  # type: ignore[arg-type]
        assert [client.wait_final(t).code for t in txids] == ["ok"] * len(txids)

    final(
        a.create_asset("PTS", "Points", "points", 0, True, "none"),
        a.register_account("hana", _key("hana").public_key_hex, "holder"),
        a.register_account("mart", _key("mart").public_key_hex, "merchant"),
        a.register_account("rot", _key("rot").public_key_hex, "holder"),
        b.register_account("bo", _key("bo").public_key_hex, "holder"),
        a.propose(
            "admit-aud",
            AdmitMember(account="aud", name="Auditor", public_key=_key("aud").public_key_hex, role="auditor"),
        ),
        a.propose(
            "admit-reg",
            AdmitMember(account="reg", name="Regulator", public_key=_key("reg").public_key_hex, role="regulator"),
        ),
        a.propose(
            "admit-c",
            AdmitMember(account="bank-c", name="Bank C", public_key=_key("bank-c").public_key_hex, role="member"),
        ),
    )
    final(a.issue("PTS", "hana", 100), a.issue("PTS", "bo", 100))
    txid = client.submit(signers["hana"].pay("PTS", "mart", 5, "p-1"))
    status = client.wait_final(txid)
    assert status.code == "ok"
    keys = {name: _key(name) for name in ("hana", "mart", "aud", "reg", "bank-c", "rot")}
    keys |= {"bank-a": bank_a_key, "bank-b": bank_b_key}
    tokens = {name: _token(node.url, name, key) for name, key in keys.items()}
    tokens["validator-1"] = _token(node.url, "validator-1", data.validator_key().keypair(), "validator")
    rotated = tokens.pop("rot")
    final(a.propose("remove-c", RemoveMember(account="bank-c")))  # bank-c's token: issued while a member
    final(signers["rot"].rotate_key(_key("rot-new").public_key_hex))
    expired = _token(node.url, "hana", keys["hana"], ttl_s=1)
    time.sleep(1.1)
    yield World(node, client, tokens, expired, rotated, txid, status.height)
    client.close()


def _get(world: World, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{world.node.url}{path}", headers=headers, timeout=10)


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def _concrete(world: World, template: str, account: str = "hana") -> str:
    values = {
        "account": account,
        "merchant": "mart",
        "payment_id": "p-1",
        "txid": world.txid,
        "height": str(world.height),
        "asset": "PTS",
        "proposal": "admit-aud",
        "code": "0" * 20,
        "coupon": "americano",
        "window": "0",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], template)


READ_ROUTES = [
    path
    for path in ROUTE_POLICY
    if path
    not in {"/v1/auth/challenge", "/v1/auth/token", "/v1/transactions", "/v1/transactions/batch", "/demo/v1/wallets"}
    | {"/v1/qr/parse", "/v1/events", "/docs/static", "/web"}
]


def test_every_documented_route_has_a_policy(world: World) -> None:
    """The app refuses to start with a route lacking a policy (api/app.py); the document names the same routes."""
    documented = set(world.client.http.get("/openapi.json").json()["paths"])
    assert documented <= set(ROUTE_POLICY), documented - set(ROUTE_POLICY)


def test_public_routes_answer_everyone_and_ignore_tokens(world: World) -> None:
    public = [p for p in READ_ROUTES if ROUTE_POLICY[p].access == "public"]
    assert "/v1/blocks/{height}" in public and "/v1/transactions/{txid}/receipt" in public
    for path in public:
        for token in (None, world.tokens["hana"], world.expired, world.rotated, "not-a-token"):
            response = _get(world, _concrete(world, path), token)
            assert response.status_code not in (401, 403), (path, token, response.text)


@pytest.mark.parametrize("path", [p for p in READ_ROUTES if ROUTE_POLICY[p].access == "account"])
def test_account_routes_by_reader(world: World, path: str) -> None:
    param = ROUTE_POLICY[path].param
    targets = ACCOUNTS if param == "account" else ["mart"]
    for target in targets:
        url = _concrete(world, path, target)
        response = _get(world, url)
        assert (response.status_code, _code(response)) == (401, "auth_required"), url
        assert response.headers["www-authenticate"].startswith("Bearer")
        for principal, token in world.tokens.items():
            response = _get(world, url, token)
            if target in READS[principal]:
                if target == "nobody":
                    assert (response.status_code, _code(response)) == (404, "unknown_account"), (principal, url)
                else:
                    assert response.status_code == 200, (principal, url, response.text)
            else:
                assert (response.status_code, _code(response)) == (403, "not_permitted"), (principal, url)
        response = _get(world, url, world.expired)
        assert (response.status_code, _code(response)) == (401, "token_expired"), url
        response = _get(world, url, world.rotated)
        assert (response.status_code, _code(response)) == (401, "token_invalid"), url
        assert "changed" in response.json()["error"]["message"]


def test_full_blocks_by_reader(world: World) -> None:
    url = f"/v1/blocks/{world.height}/full"
    response = _get(world, url)
    assert (response.status_code, _code(response)) == (401, "auth_required")
    for principal, token in world.tokens.items():
        response = _get(world, url, token)
        if principal in FULL_BLOCKS:
            assert response.status_code == 200, (principal, response.text)
            assert response.json()["header"]["height"] == world.height
        else:
            assert (response.status_code, _code(response)) == (403, "not_permitted"), principal
    assert _code(_get(world, url, world.expired)) == "token_expired"
    assert _code(_get(world, url, world.rotated)) == "token_invalid"


def test_bad_tokens_and_headers(world: World) -> None:
    url = "/v1/accounts/hana/balances"
    for header in ("Bearer", "Basic abc", "Bearer not.a.token", f"Bearer {world.tokens['hana']}x"):
        response = httpx.get(f"{world.node.url}{url}", headers={"Authorization": header}, timeout=10)
        assert (response.status_code, _code(response)) == (401, "token_invalid"), header
    assert _get(world, "/v1/accounts/NOT_VALID/balances").status_code == 400  # the path is checked first


def test_the_token_flow_and_its_refusals(world: World) -> None:
    url = world.node.url
    chain = world.client.genesis().chain
    post = lambda path, body=None: httpx.post(f"{url}{path}", json=body, timeout=10)  # noqa: E731
    first = post("/v1/auth/challenge").json()
    assert re.fullmatch(r"[0-9a-f]{64}", first["challenge"]) and first["ttl_s"] == 60
    hana = _key("hana")

    def body(challenge: str, principal: str = "hana", key: KeyPair = hana, **extra: object) -> dict[str, object]:
        sig = key.sign(token_message(chain, principal, challenge)).hex()
        return {"principal": principal, "challenge": challenge, "sig": sig, **extra}

    # a signature by another key, for an unknown principal, for another chain: one refusal
    wrong = post("/v1/auth/token", body(first["challenge"], key=_key("mart")))
    assert (wrong.status_code, _code(wrong)) == (401, "signature_invalid")
    again = post("/v1/auth/token", body(first["challenge"]))  # a challenge is used up by its first try
    assert (again.status_code, _code(again)) == (401, "challenge_unknown")
    unknown = post("/v1/auth/token", body(post("/v1/auth/challenge").json()["challenge"], principal="nobody"))
    assert (unknown.status_code, _code(unknown)) == (401, "signature_invalid")
    challenge = post("/v1/auth/challenge").json()["challenge"]
    other_chain = {**body(challenge), "sig": hana.sign(token_message("other", "hana", challenge)).hex()}
    assert _code(post("/v1/auth/token", other_chain)) == "signature_invalid"
    never = post("/v1/auth/token", body("ab" * 32))
    assert (never.status_code, _code(never)) == (401, "challenge_unknown")
    malformed = post("/v1/auth/token", {"principal": "hana", "challenge": "x", "sig": "y"})
    assert (malformed.status_code, _code(malformed)) == (400, "invalid_field")
    too_long = post("/v1/auth/token", body(post("/v1/auth/challenge").json()["challenge"], ttl_s=901))
    assert _code(too_long) == "invalid_field"
    # a validator id is not an account: as an account it is unknown
    validator_key = DataDir(world.node.data_dir).validator_key().keypair()
    as_account = post(
        "/v1/auth/token", body(post("/v1/auth/challenge").json()["challenge"], "validator-1", validator_key)
    )
    assert _code(as_account) == "signature_invalid"
    good = post("/v1/auth/token", body(post("/v1/auth/challenge").json()["challenge"], ttl_s=60))
    assert good.status_code == 200 and good.headers["cache-control"] == "no-store"
    token = good.json()
    assert token["token_type"] == "Bearer" and token["role"] == "holder" and token["ttl_s"] == 60
    assert 59_000 <= token["expires_ms"] - time.time() * 1000 <= 61_000  # whole seconds, at least the ttl asked
    assert _get(world, "/v1/accounts/hana", token["token"]).json()["id"] == "hana"


def test_the_challenge_store_is_bounded_and_single_use() -> None:
    store = ChallengeStore(most=3, ttl_s=0.2)
    nonces = [store.issue() for _ in range(3)]
    with pytest.raises(ApiError) as full:
        store.issue()
    assert full.value.status == 503 and full.value.code == "too_many_challenges"
    assert store.take(nonces[0]) and not store.take(nonces[0])
    time.sleep(0.25)
    assert not store.take(nonces[1])
    store.issue()  # the expired ones made room
    assert len(store) == 1


def test_the_sdk_reads_with_a_reader_and_renews(world: World) -> None:
    with TallyClient(world.node.url) as anonymous:
        with pytest.raises(TallyError) as refused:
            anonymous.balances("hana")
        assert (refused.value.status, refused.value.code) == (401, "auth_required")
    with TallyClient(world.node.url, reader=("hana", _key("hana"))) as hana:
        assert hana.balances("hana") == {"PTS": 95}
        assert hana.history("hana", limit=1).items[0].txid == world.txid
        with pytest.raises(TallyError) as other:
            hana.balances("bo")
        assert other.value.code == "not_permitted"
        assert hana.tokens is not None
        held = next(iter(hana.tokens.held.values()))
        held.token = world.expired  # an expired token held: the client gets a new one and reads
        assert hana.account("hana").id == "hana"
    with TallyClient(world.node.url, reader=("rot", _key("rot"))) as rot:
        with pytest.raises(TallyError) as old_key:
            rot.account("rot")
        assert old_key.value.code == "signature_invalid"
    with TallyClient(world.node.url, reader=("rot", _key("rot-new"))) as rot:
        assert rot.account("rot").public_key == _key("rot-new").public_key_hex


def _events(world: World, token: str | None, query: str, until_height: int) -> list[tuple[str, dict[str, object]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    found: list[tuple[str, dict[str, object]]] = []
    with httpx.stream("GET", f"{world.node.url}/v1/events?cursor=0:0:0&{query}", headers=headers, timeout=10) as r:
        assert r.status_code == 200, r.read()
        kind = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = msgspec.json.decode(line[6:])
                found.append((kind, data))
                if kind == "block" and data["height"] >= until_height:
                    return found
    return found


def test_events_by_reader(world: World) -> None:
    url = world.node.url
    top = world.height
    public = _events(world, None, "", top)
    assert {kind for kind, _ in public} == {"block"}
    for query in ("types=tx", "types=block,balance", "account=hana&types=tx"):
        refused = httpx.get(f"{url}/v1/events?{query}", timeout=10)
        assert (refused.status_code, _code(refused)) == (401, "auth_required"), query
    for token, code in ((world.expired, "token_expired"), (world.rotated, "token_invalid")):
        refused = httpx.get(f"{url}/v1/events", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert (refused.status_code, _code(refused)) == (401, code)
    other = httpx.get(f"{url}/v1/events?account=bo", headers={"Authorization": f"Bearer {world.tokens['hana']}"})
    assert (other.status_code, _code(other)) == (403, "not_permitted")
    # hana sees the transactions that touch her, with her own balance changes only
    seen = _events(world, world.tokens["hana"], "types=tx,balance,block", top)
    txs = [data for kind, data in seen if kind == "tx"]
    assert [t["type"] for t in txs] == ["register_account", "issue", "pay"] and txs[-1]["txid"] == world.txid
    assert all(m["account"] == "hana" for t in txs for m in t["movements"])  # type: ignore[attr-defined]
    assert all(data["account"] == "hana" for kind, data in seen if kind == "balance")
    # the access token as a query parameter (browsers' EventSource sends no headers)
    by_query = _events(world, None, f"types=tx,block&access_token={world.tokens['mart']}", top)
    assert [(d["type"], d["txid"] == world.txid) for k, d in by_query if k == "tx"] == [
        ("register_account", False),
        ("pay", True),
    ]
    # an auditor sees every transaction with every movement
    everything = _events(world, world.tokens["aud"], "types=tx,block", top)
    payment = next(d for k, d in everything if k == "tx" and d["txid"] == world.txid)
    assert {m["account"] for m in payment["movements"]} == {"hana", "mart"}  # type: ignore[union-attr]
    assert len([1 for k, _ in everything if k == "tx"]) > len(txs)


def test_a_stream_ends_when_its_token_expires(world: World) -> None:
    body = _token_body(world.node.url, "hana", _key("hana"), ttl_s=2)
    with httpx.stream(
        "GET", f"{world.node.url}/v1/events?types=tx", headers={"Authorization": f"Bearer {body.token}"}, timeout=30
    ) as r:
        assert r.status_code == 200
        until(lambda: time.time() * 1000 > body.expires_ms, "the token's expiry (wall clock)", timeout_s=10)
        key = _key("hana")  # a new block wakes the stream, which checks its token again
        with TallyClient(world.node.url, reader=("hana", key)) as hana:
            payer = Signer("hana", key, hana.genesis().chain, hana.next_seq("hana"))
            hana.wait_final(hana.submit(payer.pay("PTS", "mart", 1, "p-2")))
        lines = []
        for line in r.iter_lines():
            lines.append(line)
            if line.startswith("data: "):
                break
        assert "event: error" in lines and "token_expired" in lines[-1]


def test_docs_access_md_states_the_policy_of_every_route() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "access.md").read_text()
    for path in ROUTE_POLICY:
        assert f"{path}`" in text or f"{path}/`" in text, path


def test_the_new_key_of_a_pending_recovery_reads_its_account(world: World) -> None:
    """A lost phone's new wallet reads the account once its member started the recovery to its key; a cancel ends it."""
    data = DataDir(world.node.data_dir)
    client = world.client
    chain = client.genesis().chain
    with TallyClient(world.node.url, reader=("bank-a", read_keyfile(data.key_path("bank-a")).keypair())) as bank:
        member = Signer("bank-a", read_keyfile(data.key_path("bank-a")).keypair(), chain, bank.next_seq("bank-a"))
        new = _key("hana-new-phone")
        with TallyClient(world.node.url, reader=("hana", new)) as phone:
            with pytest.raises(TallyError) as before:
                phone.account("hana")
            assert before.value.code == "signature_invalid"
            assert client.wait_final(client.submit(member.start_recovery("hana", new.public_key_hex))).code == "ok"
            assert phone.controls("hana").recovery.new_public_key == new.public_key_hex  # type: ignore[union-attr]
            with pytest.raises(TallyError) as other:
                phone.balances("mart")
            assert other.value.code == "not_permitted"
            assert client.wait_final(client.submit(member.cancel_recovery("hana"))).code == "ok"
            token = phone.tokens.held[""].token  # type: ignore[union-attr]
            response = _get(world, "/v1/accounts/hana", token)
            assert (response.status_code, _code(response)) == (401, "token_invalid")
        with TallyClient(world.node.url, reader=("hana", _key("hana"))) as hana:  # the old key reads throughout
            assert hana.controls("hana").recovery is None
