"""Bad input against a real node process: 4xx with a stable code, never a 500, never a change."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from helpers import NodeProcess, PointsWorld, admit_auditor, points_world, read_headers
from tally.client import Signer, TallyClient, TallyError


@pytest.fixture(scope="module")
def points(node: NodeProcess) -> Iterator[PointsWorld]:
    """bank-a with asset PTS; holder `hana` holds 1000 PTS; merchant `mart`; the client reads as bank-a."""
    w = points_world(node, 0x11)
    yield w
    w.client.close()


@pytest.fixture(scope="module")
def world(points: PointsWorld) -> tuple[TallyClient, Signer, Signer]:
    return points.client, points.bank, points.hana


def snapshot(client: TallyClient) -> tuple[int, dict[str, int], int]:
    status = client.node_status()
    return status.height, client.balances("hana"), client.account("hana").seq


def post(url: str, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + path, content=content, headers=headers or {"content-type": "application/json"}, timeout=30)


def raw_status(node: NodeProcess, request: bytes) -> int:
    """Send bytes no well-behaved client would, and read the status code."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(request)
        return int(sock.recv(4096).split(b" ", 2)[1])


def error_code(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    code: str = response.json()["error"]["code"]
    return code


def test_bad_requests_get_codes_and_change_nothing(
    node: NodeProcess, world: tuple[TallyClient, Signer, Signer]
) -> None:
    client, _bank, hana = world
    before = snapshot(client)
    good = hana.pay("PTS", "mart", 5, "ok-shape")
    hana.next_seq -= 1  # not submitted
    good_json = json.loads(msgspec.json.encode(good))

    def mutate(**tx_changes: object) -> bytes:
        body = json.loads(json.dumps(good_json))
        body["tx"].update(tx_changes)
        return json.dumps(body).encode()

    cases: list[tuple[str, bytes, str]] = [
        ("/v1/transactions", b"{not json", "malformed_json"),
        ("/v1/transactions", b"", "malformed_json"),
        ("/v1/transactions", b"[]", "invalid_field"),
        ("/v1/transactions", mutate(amount_minor="5"), "invalid_field"),
        ("/v1/transactions", mutate(amount_minor=5.0), "invalid_field"),
        ("/v1/transactions", mutate(amount_minor=-5), "invalid_field"),
        ("/v1/transactions", mutate(amount_minor=2**70), "invalid_field"),
        ("/v1/transactions", mutate(type="mint"), "invalid_field"),
        ("/v1/transactions", mutate(extra="x"), "invalid_field"),
        ("/v1/transactions", mutate(merchant="UPPER case"), "invalid_field"),
        ("/v1/transactions", json.dumps({**good_json, "extra": 1}).encode(), "invalid_field"),
        ("/v1/transactions", json.dumps({"tx": good_json["tx"]}).encode(), "invalid_field"),
        ("/v1/transactions", mutate(amount_minor=6), "bad_signature"),  # signature no longer matches
        ("/v1/transactions", json.dumps({**good_json, "sig": "ab" * 64}).encode(), "bad_signature"),
        ("/v1/transactions", mutate(chain="other-chain"), "wrong_chain"),
        ("/v1/transactions", mutate(signer="nobody"), "unknown_signer"),
        ("/v1/transactions", mutate(expires_ms=1), "expired"),
        ("/v1/transactions", mutate(expires_ms=2**52), "expiry_too_far"),
        ("/v1/transactions", mutate(seq=10_000_000), "seq_future"),
        ("/v1/transactions/batch", b'{"txs": []}', "invalid_field"),
        ("/v1/transactions/batch", b'{"txs": "no"}', "invalid_field"),
        (
            "/v1/transactions/batch",
            b'{"txs": [' + b",".join([json.dumps(good_json).encode()] * 2001) + b"]}",
            "batch_too_large",
        ),
        ("/v1/transactions/batch", b"[" * 100_000, "invalid_field"),
        ("/v1/transactions/batch", b'{"txs": [' + b'{"a":' * 50_000, "invalid_field"),
    ]
    for path, content, code in cases:
        response = post(node.url, path, content)
        assert error_code(response) == code, (path, content[:120], response.text[:300])
    oversized = post(node.url, "/v1/transactions/batch", b" " * (4 * 1024 * 1024 + 1))
    assert oversized.status_code == 413 and error_code(oversized) == "body_too_large"
    assert (
        raw_status(node, b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}") == 413
    )
    assert snapshot(client) == before


def test_a_bad_transaction_rejects_its_whole_batch(world: tuple[TallyClient, Signer, Signer]) -> None:
    client, _bank, hana = world
    before = snapshot(client)
    ok = hana.pay("PTS", "mart", 5, "batch-ok")
    forged = hana.pay("PTS", "mart", 5, "batch-forged")
    forged = msgspec.structs.replace(forged, sig=ok.sig)
    with pytest.raises(TallyError) as info:
        client.submit_batch([ok, forged])
    assert info.value.code == "bad_signature" and info.value.status == 401
    assert [d["index"] for d in info.value.details] == [1]
    hana.next_seq -= 2
    assert snapshot(client) == before
    dup = [hana.pay("PTS", "mart", 5, "d1")]
    hana.next_seq -= 1
    dup.append(hana.pay("PTS", "mart", 6, "d2"))
    with pytest.raises(TallyError) as info:
        client.submit_batch(dup)
    assert info.value.code == "duplicate_seq"
    hana.next_seq -= 1
    assert snapshot(client) == before


def test_resubmitting_is_idempotent_and_execution_rejections_are_recorded(
    world: tuple[TallyClient, Signer, Signer],
) -> None:
    client, _bank, hana = world
    signed = hana.pay("PTS", "mart", 7, "twice")
    first = client.submit(signed)
    assert client.submit(signed) == first
    assert client.wait_final(first).code == "ok"
    assert client.submit(signed) == first  # known and final: still no second application
    too_much = hana.transfer("PTS", "mart", 10**9)
    status = client.wait_final(client.submit(too_much))
    assert status.code == "insufficient_funds" and status.status == "final"
    assert client.account("hana").seq == hana.next_seq  # protocol 3: the refused transaction used its seq
    assert client.status(first).status == "final"
    assert client.balances("mart") == {"PTS": 7}


def test_queries_and_their_errors(
    node: NodeProcess, points: PointsWorld, world: tuple[TallyClient, Signer, Signer]
) -> None:
    client = world[0]
    auditor = read_headers(node.url, *admit_auditor(points, "api-audit"))  # reads every account, unknown ones too
    get = lambda path: httpx.get(node.url + path, timeout=30, headers=auditor)  # noqa: E731
    assert error_code(get("/v1/accounts/NOT_VALID")) == "invalid_path"
    assert error_code(get("/v1/accounts/nobody")) == "unknown_account"
    assert error_code(get("/v1/accounts/nobody/balances")) == "unknown_account"
    assert error_code(get("/v1/transactions/xyz")) == "invalid_path"
    assert error_code(get("/v1/transactions/" + "0" * 64)) == "unknown_tx"
    assert error_code(get("/v1/transactions/" + "0" * 64 + "/receipt")) == "not_final"
    assert error_code(get("/v1/transactions/" + "0" * 64 + "?wait_ms=abc")) == "invalid_query"
    assert error_code(get("/v1/blocks/0")) == "invalid_path"
    assert error_code(get("/v1/blocks/99999")) == "unknown_block"
    assert error_code(get("/v1/accounts/hana/history?cursor=zz")) == "invalid_query"
    assert error_code(get("/v1/accounts/hana/history?limit=100000")) == "invalid_query"
    assert error_code(get("/v1/nowhere")) == "not_found"
    assert httpx.delete(node.url + "/v1/transactions", timeout=30).status_code == 405
    assert get("/health").json()["status"] == "ok"
    assert "tally_blocks_total" in get("/metrics").text
    spec = get("/openapi.json").json()
    assert "/v1/transactions/batch" in spec["paths"] and spec["openapi"].startswith("3.")
    assert "SwaggerUIBundle" in get("/docs").text and get("/docs/static/swagger-ui.css").status_code == 200
    assert [a["id"] for a in get("/v1/assets").json()["items"]] == ["PTS"]
    blocks = get("/v1/blocks?limit=2").json()
    newest = blocks["items"][0]
    assert newest["final"] and get(f"/v1/blocks/{newest['height']}/certificate").status_code == 200
    heights = [b["height"] for b in blocks["items"]]
    cursor = blocks["next_cursor"]
    while cursor is not None:  # page down to block 1: every height once, newest first
        page = get(f"/v1/blocks?limit=2&cursor={cursor}").json()
        heights += [b["height"] for b in page["items"]]
        cursor = page["next_cursor"]
    assert heights == list(range(newest["height"], 0, -1))
    page = client.history("hana", limit=2)
    assert len(page.items) == 2 and page.next_cursor
    older = client.history("hana", limit=2, cursor=page.next_cursor)
    assert {i.txid for i in page.items}.isdisjoint({i.txid for i in older.items})


def test_openapi_document_is_plain_openapi_30() -> None:
    """The bundled Swagger UI (4.x) renders only OpenAPI 3.0: no 3.1-only constructs."""
    from tally.api.openapi import openapi_document
    from tally.node.config import Limits

    text = json.dumps(openapi_document(Limits()))
    assert json.loads(text)["openapi"] == "3.0.3"
    assert '"type": "null"' not in text and "prefixItems" not in text
    assert '"nullable": true' in text
