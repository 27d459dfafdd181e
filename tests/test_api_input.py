"""Input hardening against a real node process: identifiers, encodings, media types, methods, cursors.

Every refusal is a 4xx with a stable code in the usual error body, and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest

from helpers import NodeProcess, admit_auditor, points_world, read_headers
from tally.client import Signer, TallyClient
from tally.core.crypto import KeyPair
from tally.core.ops import SignedTx
from tally.core.types import (
    AccountId,
    ApiUrl,
    AssetId,
    BusinessNo,
    ChainId,
    ClientRef,
    CouponId,
    CurrencyCode,
    FileName,
    FreezeTarget,
    Mcc,
    OptionalAccountId,
    OptionalAssetId,
    PayCodeDigits,
    PaymentId,
    ProposalId,
    PublicKeyHex,
    ReasonCode,
    RegionCode,
    RuleId,
    SignatureHex,
    TxId,
)

JSON = "application/json"


@pytest.fixture(scope="module")
def world(node: NodeProcess) -> Iterator[tuple[TallyClient, Signer, Signer, str]]:
    """bank-a with asset PTS; holder `hana` holds 1000 PTS; merchant `mart`; and a final txid."""
    w = points_world(node, 0x21)
    READER.update(read_headers(node.url, *admit_auditor(w, "input-audit")))
    yield w.client, w.bank, w.hana, w.last_txid
    w.client.close()


def snapshot(client: TallyClient) -> tuple[int, dict[str, int], int, int]:
    status = client.node_status()
    return status.height, client.balances("hana"), client.account("hana").seq, status.mempool_txs


def post(node: NodeProcess, path: str, content: bytes, content_type: str | None = JSON) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    return httpx.post(node.url + path, content=content, headers=headers, timeout=30)


READER: dict[str, str] = {}  # an auditor's read token (the world fixture gets it): these tests read every account


def get(node: NodeProcess, path: str) -> httpx.Response:
    return httpx.get(node.url + path, timeout=30, headers=READER)


def refused(response: httpx.Response, status: int, code: str) -> None:
    """The response is `status` with `code`, in the API's one error body shape."""
    assert response.status_code == status, (status, code, response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details", "request_id"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def unsent(signer: Signer, signed: SignedTx) -> SignedTx:
    """A transaction built by `signer` that is meant to be refused: its seq is not used up."""
    signer.next_seq -= 1
    return signed


def encode(signed: SignedTx) -> bytes:
    return msgspec.json.encode(signed)


def batch_of(*bodies: bytes) -> bytes:
    return b'{"txs":[' + b",".join(bodies) + b"]}"


# --- item 5: identifiers with a trailing newline ------------------------------


def test_trailing_newline_ids_are_refused_in_submitted_transactions(
    node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]
) -> None:
    client, bank, hana, _ = world
    before = snapshot(client)
    chain = client.genesis().chain
    good = unsent(hana, hana.pay("PTS", "mart", 1, "good-one"))
    new_key = KeyPair(b"\x23" * 32).public_key_hex
    signed_ok = unsent(hana, hana.pay("PTS", "mart", 1, "sig-case"))
    cases = {
        "account id": unsent(bank, bank.register_account("cafe-x\n", new_key, "merchant")),
        "asset id": unsent(bank, bank.create_asset("NEW\n", "New", "points", 0, True, "none")),
        "issue to": unsent(bank, bank.issue("PTS", "hana\n", 5)),
        "merchant": unsent(hana, hana.pay("PTS", "mart\n", 1, "p-1")),
        "payment id": unsent(hana, hana.pay("PTS", "mart", 1, "order-1\n")),
        "signer": Signer("hana\n", hana.key, chain, next_seq=hana.next_seq).pay("PTS", "mart", 1, "p-2"),
        "chain": Signer("hana", hana.key, chain + "\n", next_seq=hana.next_seq).pay("PTS", "mart", 1, "p-3"),
        "public key": unsent(bank, bank.register_account("cafe-y", new_key + "\n", "merchant")),
        "signature": msgspec.structs.replace(signed_ok, sig=signed_ok.sig + "\n"),
    }
    for what, signed in cases.items():
        body = encode(signed)
        assert b"\\n" in body, what
        refused(post(node, "/v1/transactions", body), 400, "invalid_field")
        refused(post(node, "/v1/transactions/batch", batch_of(encode(good), body)), 400, "invalid_field")
    assert snapshot(client) == before
    refused(get(node, "/v1/accounts/cafe-x%0A"), 400, "invalid_path")
    assert get(node, "/v1/accounts/cafe-x").status_code == 404
    assert get(node, "/v1/accounts/cafe-y").status_code == 404
    assert [a["id"] for a in get(node, "/v1/assets").json()["items"]] == ["PTS"]


def test_trailing_newline_path_and_query_parameters_are_refused(
    node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]
) -> None:
    txid = world[3]
    height = world[0].status(txid).height
    paths = [
        "/v1/accounts/hana{}",
        "/v1/accounts/hana{}/balances",
        "/v1/accounts/hana{}/history",
        "/v1/assets/PTS{}",
        f"/v1/transactions/{txid}{{}}",
        f"/v1/transactions/{txid}{{}}/receipt",
        f"/v1/blocks/{height}{{}}",
        f"/v1/blocks/{height}{{}}/certificate",
        f"/v1/blocks/{height}{{}}/full",
    ]
    for template in paths:
        assert get(node, template.format("")).status_code == 200, template
        for suffix in ("%0A", "%0D%0A", "%0D", "%20", "%09"):
            refused(get(node, template.format(suffix)), 400, "invalid_path")
    queries = [
        f"/v1/transactions/{txid}?wait_ms=1{{}}",
        f"/v1/transactions/{txid}/receipt?wait_ms=1{{}}",
        "/v1/accounts/hana/history?limit=1{}",
        f"/v1/accounts/hana/history?cursor={height}:0{{}}",
        "/v1/blocks?limit=1{}",
        f"/v1/blocks?cursor={height}{{}}",
        "/v1/assets?cursor=PTS{}",
        "/v1/accounts/hana/history?status=applied{}",
    ]
    for template in queries:
        assert get(node, template.format("")).status_code == 200, template
        for suffix in ("%0A", "%0D%0A", "%20"):
            refused(get(node, template.format(suffix)), 400, "invalid_query")


# Valid values for every published string pattern (path and query parameters, body fields).
PARAM_EXAMPLES = {
    "account": "hana",
    "asset": "PTS",
    "txid": "ab" * 32,
    "cursor": "12:3",
    "merchant": "mart",
    "payment_id": "order:42",
    "types": "tx,balance",
    "code": "40817365092214738850",
    "amount": "12.50",
    "name": "Cafe Lumen",
    "city": "Seoul",
    "mcc": "5812",
    "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoYW5hIn0.c2lnbmF0dXJl",
    "lat": "37.5665",
    "lon": "-126.978",
    "category": "5814",
    "proposal": "quota:PTS:2027",
    "coupon": "americano-2027",
    "from_asset": "PTS",
    "to_asset": "MILES",
    "pay_asset": "PTS",
    "member": "bank-a",
}
# Where one name means another thing: each list's cursor is its own next_cursor.
PATH_EXAMPLES = {
    ("/v1/blocks", "cursor"): "12",
    ("/v1/assets", "cursor"): "PTS",
    ("/v1/proposals", "cursor"): "quota:PTS:2027",
    ("/v1/events", "cursor"): "12:3:0",
    ("/v1/events", "Last-Event-ID"): "12:3:0",
    ("/v1/directory", "cursor"): "412000:cafe-lumen",
    ("/v1/settlement/windows", "cursor"): "12",
}
FIELD_TYPES: list[tuple[Any, str]] = [
    (AccountId, "cafe-x"),
    (AssetId, "PTS"),
    (ChainId, "tally-it"),
    (PaymentId, "order:42"),
    (ClientRef, "refund:42-1"),
    (PayCodeDigits, "40817365092214738850"),
    (PublicKeyHex, "ab" * 32),
    (SignatureHex, "cd" * 64),
    (ProposalId, "quota:PTS:2027"),
    (ReasonCode, "court_order"),
    (FreezeTarget, "HARBOR-GIFT"),
    (ApiUrl, "http://127.0.0.1:8754"),
    (BusinessNo, "120-81-47521"),
    (RegionCode, "KR-11"),
    (Mcc, "5814"),
    (CouponId, "americano-2027"),
    (RuleId, "winter-cafes"),
    (TxId, "ab" * 32),
    (OptionalAccountId, "seoul-budget"),
    (OptionalAssetId, "SET"),
    (CurrencyCode, "KRW"),
    (FileName, "kr-bank-w000000000003-pain.001.xml"),
]


def _patterns(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "pattern" and isinstance(item, str):
                yield item
            else:
                yield from _patterns(item)
    elif isinstance(value, list):
        for item in value:
            yield from _patterns(item)


def test_openapi_publishes_parameter_patterns_and_bounds_that_refuse_a_trailing_newline(
    node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]
) -> None:
    doc = get(node, "/openapi.json").json()
    limits = get(node, "/v1/status").json()["limits"]
    seen = set()
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            for param in operation["parameters"]:
                schema = param["schema"]
                seen.add((path, param["in"], param["name"]))
                if schema["type"] == "string" and "enum" in schema:
                    for bad in [f"{choice}\n" for choice in schema["enum"]] + ["", "all"]:
                        assert bad not in schema["enum"]
                        where = path.replace("{account}", "hana").replace("{merchant}", "mart")
                        query = f"{where}?{param['name']}={quote(bad)}"
                        refused(get(node, query), 400, "invalid_query")
                elif schema["type"] == "string":
                    pattern = schema["pattern"]
                    example = PATH_EXAMPLES.get((path, param["name"])) or PARAM_EXAMPLES[param["name"]]
                    assert re.search(pattern, example) and len(example) <= schema["maxLength"], (path, param)
                    for bad in (example + "\n", "\n" + example, example + "\r\n", example + " ", "x\n"):
                        assert not re.search(pattern, bad), (path, param, bad)
                else:
                    assert schema["type"] == "integer" and schema["minimum"] <= schema["maximum"], (path, param)
    for path in doc["paths"]:
        for name in re.findall(r"\{(\w+)\}", path):
            assert (path, "path", name) in seen, (path, name)
    assert {(p, n) for p, where, n in seen if where == "query"} == {
        ("/v1/transactions/{txid}", "wait_ms"),
        ("/v1/transactions/{txid}/receipt", "wait_ms"),
        ("/v1/accounts/{account}/history", "limit"),
        ("/v1/accounts/{account}/history", "cursor"),
        ("/v1/accounts/{account}/history", "status"),
        ("/v1/blocks", "limit"),
        ("/v1/blocks", "cursor"),
        ("/v1/assets", "limit"),
        ("/v1/assets", "cursor"),
        ("/v1/proposals", "limit"),
        ("/v1/proposals", "cursor"),
        ("/v1/events", "types"),
        ("/v1/events", "account"),
        ("/v1/events", "merchant"),
        ("/v1/events", "asset"),
        ("/v1/events", "cursor"),
        ("/v1/events", "access_token"),
        *[("/v1/directory", name) for name in ("lat", "lon", "asset", "category", "limit", "cursor")],
        *[
            ("/v1/merchants/{merchant}/qr", name)
            for name in ("asset", "amount", "payment_id", "name", "city", "mcc", "format")
        ],
        *[("/v1/quote/exchange", name) for name in ("from_asset", "to_asset", "amount_minor")],
        *[("/v1/quote/roaming", name) for name in ("asset", "pay_asset", "amount_minor")],
        *[("/v1/settlement/windows", name) for name in ("limit", "cursor")],
        *[("/v1/settlement/report", name) for name in ("window", "member", "format")],
    }

    # The published bounds are the ones the node enforces.
    params = {
        (path, p["name"]): p["schema"]
        for path, operations in doc["paths"].items()
        for operation in operations.values()
        for p in operation["parameters"]
    }
    assert params[("/v1/transactions/{txid}", "wait_ms")]["maximum"] == limits["max_wait_ms"]
    assert params[("/v1/accounts/{account}/history", "limit")]["maximum"] == limits["max_history_page"]
    txid = world[3]
    query_urls = {
        ("/v1/transactions/{txid}", "wait_ms"): f"/v1/transactions/{txid}?wait_ms=",
        ("/v1/transactions/{txid}/receipt", "wait_ms"): f"/v1/transactions/{txid}/receipt?wait_ms=",
        ("/v1/accounts/{account}/history", "limit"): "/v1/accounts/hana/history?limit=",
        ("/v1/blocks", "limit"): "/v1/blocks?limit=",
        ("/v1/assets", "limit"): "/v1/assets?limit=",
    }
    for key, url in query_urls.items():
        low, high = params[key]["minimum"], params[key]["maximum"]
        refused(get(node, f"{url}{low - 1}"), 400, "invalid_query")
        refused(get(node, f"{url}{high + 1}"), 400, "invalid_query")
        assert get(node, f"{url}{low}").status_code == 200, key
    height = params[("/v1/blocks/{height}", "height")]
    refused(get(node, f"/v1/blocks/{height['minimum'] - 1}"), 400, "invalid_path")
    refused(get(node, f"/v1/blocks/{height['maximum'] + 1}"), 400, "invalid_path")
    refused(get(node, f"/v1/blocks/{height['maximum']}"), 404, "unknown_block")

    # Every pattern in the document, body fields included, is one of the checked ones.
    checked = {params[(p, n)]["pattern"] for p, n in params if n in PARAM_EXAMPLES}
    for field_type, example in FIELD_TYPES:
        pattern = field_type.__metadata__[0].pattern
        checked.add(pattern)
        assert re.search(pattern, example) and not re.search(pattern, example + "\n"), pattern
        assert msgspec.json.decode(json.dumps(example), type=field_type) == example
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(json.dumps(example + "\n"), type=field_type)
    assert set(_patterns(doc)) <= checked


# --- item 11: encodings, cursors, methods, media types, duplicate keys --------


def test_invalid_utf8_in_a_body_is_malformed_json(
    node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]
) -> None:
    client, _bank, hana, _ = world
    before = snapshot(client)
    good = encode(unsent(hana, hana.pay("PTS", "mart", 1, "utf8-case")))
    bad_bodies = [
        good.replace(b'"utf8-case"', b'"utf8-\xff\xfe"'),
        good.replace(b'"utf8-case"', b'"utf8-\xc3"'),  # truncated sequence
        good.replace(b'"utf8-case"', b'"utf8-\xed\xa0\x80"'),  # an encoded surrogate
        good.replace(b'"payment_id"', b'"payment_\xff"'),
        b'{"tx": "\xff"}',
    ]
    for body in bad_bodies:
        assert body != good
        refused(post(node, "/v1/transactions", body), 400, "malformed_json")
        refused(post(node, "/v1/transactions/batch", batch_of(good, body)), 400, "malformed_json")
    assert snapshot(client) == before


def test_history_cursors_are_bounded(node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]) -> None:
    history = "/v1/accounts/hana/history?cursor="
    everything = get(node, "/v1/accounts/hana/history").json()["items"]
    assert everything
    for cursor in ("999999999999999:0", "4398046511105:0", "1:1048576", "1:999999999", "1:-1", "-1:0", "1:0:0"):
        refused(get(node, history + cursor), 400, "invalid_query")
    top = get(node, history + "4398046511104:1048575")
    assert top.status_code == 200 and top.json()["items"] == everything
    assert get(node, history + "0:0").json()["items"] == []


def test_405_answers_name_the_allowed_methods(node: NodeProcess) -> None:
    cases = [
        ("DELETE", "/v1/transactions", {"POST"}),
        ("PUT", "/v1/transactions/batch", {"POST"}),
        ("POST", "/v1/accounts/hana", {"GET", "HEAD"}),
        ("PUT", "/v1/status", {"GET", "HEAD"}),
        ("POST", "/health", {"GET", "HEAD"}),
        ("DELETE", "/openapi.json", {"GET", "HEAD"}),
        ("POST", "/docs/static/swagger-ui.css", {"GET", "HEAD"}),
    ]
    for method, path, allowed in cases:
        response = httpx.request(method, node.url + path, timeout=30)
        refused(response, 405, "method_not_allowed")
        assert {m.strip() for m in response.headers["allow"].split(",")} == allowed, (method, path)


def test_posts_need_a_json_content_type(node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]) -> None:
    client, _bank, hana, _ = world
    before = snapshot(client)
    signed = unsent(hana, hana.pay("PTS", "mart", 1, "media-refused"))
    for content_type in (
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json-seq",
        "text/json",
        "application/json; charset=latin-1",
    ):
        refused(post(node, "/v1/transactions", encode(signed), content_type), 415, "unsupported_media_type")
        refused(
            post(node, "/v1/transactions/batch", batch_of(encode(signed)), content_type), 415, "unsupported_media_type"
        )
    assert snapshot(client) == before
    for i, content_type in enumerate(
        ("application/json; charset=utf-8", "Application/JSON;Charset=UTF-8", 'application/json; charset="utf-8"', JSON)
    ):
        one = encode(hana.pay("PTS", "mart", 1, f"media-{i}"))
        response = (
            post(node, "/v1/transactions", one, content_type)
            if i % 2
            else post(node, "/v1/transactions/batch", batch_of(one), content_type)
        )
        assert response.status_code == 202, (content_type, response.text)
        assert client.wait_final(response.json()["txids"][0]).code == "ok"


def test_duplicate_keys_are_refused(node: NodeProcess, world: tuple[TallyClient, Signer, Signer, str]) -> None:
    client, _bank, hana, _ = world
    before = snapshot(client)
    # Signed with amount 6: a decoder that keeps the last of two keys would admit it.
    signed = encode(unsent(hana, hana.pay("PTS", "mart", 6, "dup-1")))
    colon = encode(unsent(hana, hana.pay("PTS", "mart", 6, "dup:2")))
    sig = json.loads(signed)["sig"]
    assert b'"amount_minor":6' in signed and signed.startswith(b'{"tx":{"type":"pay",')
    bodies = {
        "amount twice": signed.replace(b'"amount_minor":6', b'"amount_minor":5,"amount_minor":6'),
        "same value twice": signed.replace(b'"amount_minor":6', b'"amount_minor":6,"amount_minor":6'),
        "spelt with an escape": signed.replace(b'"amount_minor":6', b'"amount\\u005fminor":5,"amount_minor":6'),
        "with spaces": signed.replace(b'"amount_minor":6', b'"amount_minor" : 5 , "amount_minor" :6'),
        "type twice": signed.replace(b'{"type":"pay",', b'{"type":"pay","type":"pay",'),
        "sig twice": signed[:-1] + f',"sig":"{sig}"}}'.encode(),
        "tx twice": b'{"tx":' + json.dumps(json.loads(signed)["tx"]).encode() + b"," + signed[1:],
        "a colon in a value too": colon.replace(b'"amount_minor":6', b'"amount_minor":5,"amount_minor":6'),
        "colons in both values": colon.replace(b'"payment_id":"dup:2"', b'"payment_id":"x:y","payment_id":"dup:2"'),
    }
    for what, body in bodies.items():
        kept = msgspec.json.decode(body, type=SignedTx)  # the last of each key: a validly signed transaction
        assert kept == msgspec.json.decode(signed if b"dup-1" in body else colon, type=SignedTx), what
        response = post(node, "/v1/transactions", body)
        refused(response, 400, "duplicate_key")
        assert "amount_minor" in response.text or what in (
            "type twice",
            "sig twice",
            "tx twice",
            "colons in both values",
        )
        refused(post(node, "/v1/transactions/batch", batch_of(signed, body)), 400, "duplicate_key")
    refused(
        post(node, "/v1/transactions/batch", b'{"txs":[' + signed + b'],"txs":[' + signed + b"]}"), 400, "duplicate_key"
    )
    assert snapshot(client) == before

    # No duplicates: accepted, however laid out, with or without colons inside strings.
    accepted = [
        json.dumps(json.loads(encode(hana.pay("PTS", "mart", 1, "nodup-1"))), indent=2).encode(),
        encode(hana.pay("PTS", "mart", 1, "order:7:a")),
        encode(hana.pay("PTS", "mart", 1, "nodup-2")).replace(b'"mart"', b'"m\\u0061rt"'),
        encode(hana.pay("PTS", "mart", 1, "nodup:3")).replace(b'"mart"', b'"m\\u0061rt"'),
    ]
    for body in accepted:
        response = post(node, "/v1/transactions", body)
        assert response.status_code == 202, response.text
        assert client.wait_final(response.json()["txids"][0]).code == "ok"


def test_the_duplicate_key_check_agrees_with_a_full_parse() -> None:
    """Every key of a transaction, repeated at every place in its object, with values with and without
    ':' and escapes: refused exactly when a parser that lists every key finds one twice."""
    from tally.api.app import ApiError, refuse_duplicate_keys

    signer = Signer("hana", KeyPair(b"\x21" * 32), "tally-it")
    signed = [
        signer.pay("PTS", "mart", 6, "plain"),
        signer.pay("PTS", "mart", 6, "with:colons:1"),
        signer.cash_out("PTS", 6, "BANK:ACC-1"),
        signer.register_account("cafe", "ab" * 32, "merchant"),
    ]

    def body(pairs: list[tuple[str, Any]], sig: str, escape: bool) -> bytes:
        tx = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"
        text = '{"tx":' + tx + ',"sig":' + json.dumps(sig) + "}"
        return (text.replace('"hana"', '"h\\u0061na"') if escape else text).encode()

    checked = 0
    for one in signed:
        pairs = list(json.loads(msgspec.json.encode(one.tx)).items())
        for escape in (False, True):
            clean = body(pairs, one.sig, escape)
            refuse_duplicate_keys(clean, [msgspec.json.decode(clean, type=SignedTx)], 0)
            for key, value in pairs:
                others = [v for k, v in pairs if k != key and type(v) is type(value)]
                for repeated in [value, *others]:
                    for at in range(len(pairs) + 1):
                        dup = [*pairs[:at], (key, repeated), *pairs[at:]]
                        text = body(dup, one.sig, escape)
                        try:
                            decoded = msgspec.json.decode(text, type=SignedTx)
                        except msgspec.ValidationError:
                            continue  # the value kept does not fit its field: invalid_field, before this check
                        with pytest.raises(ApiError) as info:
                            refuse_duplicate_keys(text, [decoded], 0)
                        assert info.value.code == "duplicate_key" and info.value.status == 400
                        checked += 1
    assert checked > 500
