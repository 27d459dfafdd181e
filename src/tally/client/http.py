"""HTTP client for one node's /v1 API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec

from ..core.block import Receipt
from ..core.ops import SignedTx
from ..core.types import Account, Genesis

_receipt_decoder = msgspec.json.Decoder(Receipt)
MAX_WAIT_SLICE_MS = 30_000  # the node's default limits.max_wait_ms


class TallyError(Exception):
    """The node refused a request; `code` is the API's stable error code."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class TallyClient:
    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self._genesis: Genesis | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TallyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, content: bytes | None = None, params: dict[str, Any] | None = None) -> Any:
        headers = {"content-type": "application/json"} if content is not None else None
        response = self.http.request(method, path, content=content, params=params, headers=headers)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:200], "details": []}
            raise TallyError(response.status_code, error["code"], error["message"], error.get("details", []))
        return response.json()

    def submit(self, signed: SignedTx) -> str:
        txids: list[str] = self._call("POST", "/v1/transactions", msgspec.json.encode(signed))["txids"]
        return txids[0]

    def submit_batch(self, batch: list[SignedTx]) -> list[str]:
        body = msgspec.json.encode({"txs": batch})
        txids: list[str] = self._call("POST", "/v1/transactions/batch", body)["txids"]
        return txids

    def status(self, txid: str, wait_ms: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/transactions/{txid}", params={"wait_ms": wait_ms})
        return result

    def wait_final(self, txid: str, timeout_ms: int = 30_000) -> dict[str, Any]:
        """Long-poll until the transaction is final (in slices the node allows)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            status = self.status(txid, wait_ms=max(0, min(left_ms, MAX_WAIT_SLICE_MS)))
            if status["status"] == "final":
                return status
            if left_ms <= 0:
                raise TimeoutError(f"transaction {txid} is {status['status']} after {timeout_ms} ms")

    def receipt(self, txid: str, wait_ms: int = 0) -> Receipt:
        response = self.http.get(f"/v1/transactions/{txid}/receipt", params={"wait_ms": wait_ms})
        if response.status_code >= 400:
            error = response.json()["error"]
            raise TallyError(response.status_code, error["code"], error["message"], error.get("details", []))
        return _receipt_decoder.decode(response.content)

    def account(self, account_id: str) -> Account:
        return msgspec.convert(self._call("GET", f"/v1/accounts/{account_id}"), Account)

    def next_seq(self, account_id: str) -> int:
        return self.account(account_id).seq

    def balances(self, account_id: str) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", f"/v1/accounts/{account_id}/balances")["balances"]
        return result

    def history(self, account_id: str, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        result: dict[str, Any] = self._call("GET", f"/v1/accounts/{account_id}/history", params=params)
        return result

    def genesis(self) -> Genesis:
        if self._genesis is None:
            self._genesis = msgspec.convert(self._call("GET", "/v1/genesis"), Genesis)
        return self._genesis

    def node_status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/status")
        return result
