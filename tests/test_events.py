"""The live event stream (GET /v1/events) against a real node: complete, in order, resumable, bounded."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from helpers import NodeProcess, free_port, member_client, member_reader, points_world, read_headers, until
from tally.client import Retry, TallyClient
from tally.client.models import LedgerEvent
from tally.core.limits import Limits
from tally.node.config import init_dev_node


def _node(tmp_path: Path, **limits: int) -> NodeProcess:
    data_dir = tmp_path / "node"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-events", limits=Limits(**limits))
    return NodeProcess(data_dir, free_port()).start()


class Follower:
    """An SDK client following a merchant's payments in a thread, as a POS would."""

    def __init__(self, node: NodeProcess, **filters: str) -> None:
        retry = Retry(attempts=40, first_backoff_ms=100, max_backoff_ms=500)
        self.client = TallyClient(node.url, retry=retry, reader=member_reader(node))  # bank-a reads mart's events
        self.events: list[LedgerEvent] = []
        self.failed: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, kwargs=filters, daemon=True)
        self.thread.start()

    def _run(self, **filters: str) -> None:
        try:
            for event in self.client.events(after="0:0:0", types=("tx",), **filters):
                self.events.append(event)
                if self.stop.is_set():
                    return
        except BaseException as exc:  # reported by the test
            self.failed = exc

    def txids(self) -> list[str]:
        return [e.data.txid for e in self.events]  # type: ignore[union-attr]


def test_a_merchant_follower_gets_every_final_payment_once_in_order_across_a_restart(tmp_path: Path) -> None:
    node = _node(tmp_path)
    follower: Follower | None = None
    try:
        w = points_world(node, 0x41)
        follower = Follower(node, merchant="mart")
        first = w.client.submit_batch([w.hana.pay("PTS", "mart", 1 + i % 5, f"ev-{i}") for i in range(30)])
        assert all(w.client.wait_final(t).code == "ok" for t in first)
        w.client.close()
        until(lambda: len(follower.events) >= 30, "the follower to see the first 30 payments")

        node.stop()  # the stream drops; the SDK reconnects with Last-Event-ID once the node is back
        node.start()
        client = member_client(node)
        w.hana.next_seq = client.next_seq("hana")
        other = client.submit(w.bank.issue("PTS", "mart", 9, ref="not-a-payment"))  # mart's, but not a payment
        second = client.submit_batch([w.hana.pay("PTS", "mart", 2, f"ev-after-{i}") for i in range(30)])
        refund = client.submit(w.mart.refund("ev-0", 1, ref="refund-ev-0"))
        assert all(client.wait_final(t).code == "ok" for t in [other, *second, refund])
        until(lambda: len(follower.events) >= 61, "the follower to see the payments after the restart")
        assert follower.failed is None, follower.failed

        got = follower.txids()
        assert got == [*first, *second, refund]  # every one, once, in ledger order; the issue is not mart's payment
        positions = [(e.data.height, e.data.index) for e in follower.events]  # type: ignore[union-attr]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        paid = follower.events[0].data
        assert paid.type == "pay" and paid.status == "applied"  # type: ignore[union-attr]
        assert {(m.account, m.amount_minor) for m in paid.movements} == {("hana", -1), ("mart", 1)}  # type: ignore[union-attr]

        # A second client reads ten events, disconnects, and resumes after the last id it saw.
        resumed: list[LedgerEvent] = []
        for event in client.events(after="0:0:0", merchant="mart", types=("tx",)):
            resumed.append(event)
            if len(resumed) == 10:
                break
        for event in client.events(after=resumed[-1].id, merchant="mart", types=("tx",)):
            resumed.append(event)
            if len(resumed) == len(got):
                break
        assert [e.data.txid for e in resumed] == got  # type: ignore[union-attr]
        client.close()
    finally:
        if follower is not None:
            follower.stop.set()
        node.stop()


def test_a_client_that_never_reads_is_dropped_and_blocks_still_become_final(tmp_path: Path) -> None:
    node = _node(tmp_path, event_send_timeout_ms=1000)
    try:
        w = points_world(node, 0x43)
        assert w.client.wait_final(w.client.submit(w.bank.issue("PTS", "hana", 10_000, ref="top-up"))).code == "ok"
        for round_ in range(5):  # ~6 MB of events: more than the kernel buffers for one socket (4 MB)
            txids = w.client.submit_batch([w.hana.pay("PTS", "mart", 1, f"fill-{round_}-{i}") for i in range(1000)])
            assert w.client.wait_final(txids[-1]).code == "ok"
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", node.port))
        token = read_headers(node.url, *member_reader(node))["Authorization"]  # every event of bank-a's accounts
        request = f"GET /v1/events?cursor=0:0:0 HTTP/1.1\r\nHost: node\r\nAuthorization: {token}\r\n"
        stalled.sendall(request.encode() + b"Accept: text/event-stream\r\n\r\n")
        until(lambda: w.client.node_status().event_streams == 1, "the stalled stream to open")
        # The node goes on finalising blocks while the stalled client holds its stream ...
        more = w.client.submit_batch([w.hana.pay("PTS", "mart", 1, f"while-stalled-{i}") for i in range(200)])
        assert all(w.client.wait_final(t).code == "ok" for t in more)
        # ... and drops the stream once a send has waited event_send_timeout_ms.
        until(lambda: w.client.node_status().event_streams == 0, "the stalled stream to be dropped")
        with pytest.raises(ConnectionResetError):  # reset: the node keeps nothing queued for it
            while stalled.recv(65536):
                pass
        stalled.close()
        assert "dropped the event stream of" in (node.data_dir / "node.log").read_text()
        w.client.close()
    finally:
        node.stop()


def test_bad_stream_requests_are_refused_with_a_code(tmp_path: Path) -> None:
    node = _node(tmp_path, max_event_streams=1)
    try:
        get = lambda query, **headers: httpx.get(f"{node.url}/v1/events?{query}", headers=headers, timeout=10)  # noqa: E731
        assert get("types=tx,nonsense").json()["error"]["code"] == "invalid_query"
        assert get("account=Not%20An%20Id").json()["error"]["code"] == "invalid_query"
        assert get("cursor=12").json()["error"]["code"] == "invalid_event_id"
        bad_header = get("", **{"Last-Event-ID": "x:y:z"})
        assert bad_header.status_code == 400 and bad_header.json()["error"]["code"] == "invalid_event_id"
        with httpx.stream("GET", f"{node.url}/v1/events", timeout=10) as first:
            assert first.status_code == 200 and first.headers["content-type"].startswith("text/event-stream")
            until(lambda: TallyClient(node.url).node_status().event_streams == 1, "the stream to count")
            second = get("")
            assert second.status_code == 503 and second.json()["error"]["code"] == "too_many_streams"
    finally:
        node.stop()


@pytest.mark.parametrize("kinds", [("block",), ("tx", "balance")])
def test_events_carry_blocks_transactions_and_balances_as_asked(tmp_path: Path, kinds: tuple[str, ...]) -> None:
    node = _node(tmp_path)
    try:
        w = points_world(node, 0x45)
        txid = w.client.submit(w.hana.pay("PTS", "mart", 7, "kinds-1"))
        height = w.client.wait_final(txid).height
        seen: list[LedgerEvent] = []
        last_kind = kinds[-1]  # a block's last event is its block event; a transaction's, its balance changes
        for event in w.client.events(after="0:0:0", types=kinds, account="mart"):
            seen.append(event)
            if event.kind == last_kind and event.data.height == height:
                break
        assert {e.kind for e in seen} == set(kinds)
        if "balance" in kinds:
            balance = seen[-1].data
            assert (balance.account, balance.asset, balance.amount_minor) == ("mart", "PTS", 7)  # type: ignore[union-attr]
            assert balance.counterparty == "hana"  # type: ignore[union-attr]
        w.client.close()
    finally:
        node.stop()
