"""Logs and metrics an operator reads: one line per request with its id, JSON logs, HTTP and process metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from helpers import NodeProcess, free_port, until
from tally.node.config import init_dev_node


def test_every_request_has_an_id_in_its_answer_error_body_and_log_line(node: NodeProcess) -> None:
    missing = httpx.get(f"{node.url}/v1/assets/NOBODY-HERE", timeout=10)
    request_id = missing.headers["x-request-id"]
    assert missing.status_code == 404 and missing.json()["error"]["request_id"] == request_id
    given = httpx.get(f"{node.url}/v1/status", headers={"X-Request-Id": "pos-7.order-42"}, timeout=10)
    assert given.headers["x-request-id"] == "pos-7.order-42"
    odd = httpx.get(f"{node.url}/v1/status", headers={"X-Request-Id": "not ok\t!"}, timeout=10)
    assert odd.headers["x-request-id"] != "not ok\t!" and len(odd.headers["x-request-id"]) == 16

    def logged() -> bool:
        text = (node.data_dir / "node.log").read_text()
        return f"{request_id} GET /v1/assets/NOBODY-HERE 404 " in text and "pos-7.order-42 GET /v1/status 200" in text

    until(logged, "the access log lines")


def test_http_and_process_metrics_without_created_series(node: NodeProcess) -> None:
    httpx.get(f"{node.url}/v1/assets/NOBODY-ELSE", timeout=10)
    metrics = httpx.get(f"{node.url}/metrics", timeout=10).text
    assert 'tally_http_requests_total{method="GET",route="/v1/assets/{asset}",status="404"}' in metrics
    assert 'tally_http_request_seconds_count{method="GET",route="/v1/assets/{asset}"}' in metrics
    assert "process_resident_memory_bytes" in metrics and "process_cpu_seconds_total" in metrics
    assert "python_gc_objects_collected_total" in metrics
    assert "_created" not in metrics


def test_json_log_lines_on_request(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    init_dev_node(data_dir, [("bank-a", "Bank A")], chain="tally-logs")
    port = free_port()
    log_path = tmp_path / "node.jsonl"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tally.cli", "node", "start", "--data-dir", str(data_dir), "--port", str(port),
             "--log-format", "json"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        until(up, "the node to serve")
        httpx.get(f"http://127.0.0.1:{port}/v1/genesis", headers={"X-Request-Id": "json-1"}, timeout=10)

        def access_line() -> dict[str, object] | None:
            for line in log_path.read_text().splitlines():
                if line.startswith("{") and '"json-1"' in line:
                    found: dict[str, object] = json.loads(line)
                    return found
            return None

        until(lambda: access_line() is not None, "the JSON access line")
        line = access_line()
        assert line is not None
        assert line["request_id"] == "json-1" and line["status"] == 200 and line["path"] == "/v1/genesis"
        assert line["level"] == "INFO" and line["name"] == "tally.access"
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    for text in log_path.read_text().splitlines():
        if text.startswith("{"):
            json.loads(text)  # every log record is one JSON object
