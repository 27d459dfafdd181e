"""Slow and stalled clients against a real node: timed out, bounded in number, one log line each."""

from __future__ import annotations

import re
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from helpers import NodeProcess, free_port
from tally.node.config import init_dev_node

HEADER_TIMEOUT_MS = 1500
BODY_TIMEOUT_MS = 2000
SLACK_S = 4  # the server closes a stalled connection within its timeout and this much (2 shared cores)
STALLED = 300
PARTIAL_HEADERS = b"POST /v1/transactions HTTP/1.1\r\nHost: tally\r\nContent-Type: application/json\r\n"
PARTIAL_BODY = (
    b"POST /v1/transactions HTTP/1.1\r\nHost: tally\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    b'{"tx": {"type": '
)


def start_node(tmp_path: Path, **limits: int) -> NodeProcess:
    data = init_dev_node(tmp_path / "node", [("bank-a", "Bank A")], chain="tally-slow")
    settings = msgspec.json.decode(data.settings_path.read_bytes())
    settings["limits"] = limits
    data.settings_path.write_bytes(msgspec.json.encode(settings))
    return NodeProcess(data.root, free_port()).start()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = start_node(tmp_path, header_timeout_ms=HEADER_TIMEOUT_MS, body_timeout_ms=BODY_TIMEOUT_MS)
    yield proc
    proc.stop()


def stall(port: int, count: int, payload: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(payload)
        sockets.append(sock)
    return sockets


def closed_within(sockets: list[socket.socket], timeout_s: float) -> dict[socket.socket, float]:
    """When the server closed each socket (seconds from now), for those it closed before the deadline."""
    started = time.monotonic()
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as sel:
        for sock in sockets:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        while len(closed) < len(sockets):
            left = started + timeout_s - time.monotonic()
            if left <= 0:
                break
            for selected, _ in sel.select(timeout=left):
                sock = selected.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:  # end of stream: the server closed it
                    closed[sock] = time.monotonic() - started
                    sel.unregister(sock)
    return closed


def health(url: str) -> int:
    return httpx.get(url + "/health", timeout=5).status_code


def log_of(node: NodeProcess) -> str:
    return (node.data_dir / "node.log").read_text()


def test_stalled_headers_and_bodies_are_closed_within_their_timeouts_and_health_answers(node: NodeProcess) -> None:
    headers = stall(node.port, STALLED // 2, PARTIAL_HEADERS)
    bodies = stall(node.port, STALLED // 2, PARTIAL_BODY)
    try:
        assert health(node.url) == 200  # answered while 300 clients stall
        closed = closed_within(headers + bodies, max(HEADER_TIMEOUT_MS, BODY_TIMEOUT_MS) / 1000 + SLACK_S)
        assert len(closed) == STALLED, f"{STALLED - len(closed)} stalled connections still open"
        assert max(closed[s] for s in headers) <= HEADER_TIMEOUT_MS / 1000 + SLACK_S
        assert max(closed[s] for s in bodies) <= BODY_TIMEOUT_MS / 1000 + SLACK_S
        assert health(node.url) == 200
    finally:
        for sock in headers + bodies:
            sock.close()
    log = log_of(node)
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    assert "internal error" not in log
    timed_out = [line for line in log.splitlines() if "timed out" in line]
    assert len(timed_out) <= STALLED, len(timed_out)  # at most one line per connection


def test_a_client_that_goes_away_mid_body_is_one_line_not_an_internal_error(node: NodeProcess) -> None:
    gone = 20
    for sock in stall(node.port, gone, PARTIAL_BODY):
        sock.close()  # the client leaves half way through its body
    assert health(node.url) == 200

    def logged() -> list[str]:
        return [line for line in log_of(node).splitlines() if "went away" in line]

    deadline = time.monotonic() + SLACK_S
    while len(logged()) < gone and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the node's log file, bounded by the deadline
    log = log_of(node)
    assert len(logged()) == gone, log[-3000:]  # one line each
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    assert "ClientDisconnect" not in log and "internal error" not in log
    assert all(re.search(r"127\.0\.0\.1:\d+", line) for line in logged())  # says which client


def test_connections_over_the_limit_are_refused_at_once_and_health_returns(tmp_path: Path) -> None:
    limit = 40
    node = start_node(tmp_path, max_connections=limit, header_timeout_ms=3000)
    held: list[socket.socket] = []
    try:
        held = stall(node.port, limit, PARTIAL_HEADERS)
        extra = stall(node.port, 10, PARTIAL_HEADERS)
        refused = closed_within(extra, 1.5)  # well before any header timeout
        assert len(refused) == len(extra)
        for sock in extra:
            sock.close()
        assert closed_within(held, 3 + SLACK_S).keys() == set(held)  # the stalled ones time out
        assert health(node.url) == 200  # and the node serves again
    finally:
        for sock in held:
            sock.close()
        node.stop()
    log = log_of(node)
    assert "Traceback" not in log, log[-3000:]
    assert "max_connections" in log  # the refusals are logged, naming the limit
