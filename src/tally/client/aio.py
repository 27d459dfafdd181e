"""The asynchronous client: `AsyncTallyClient`, the same API as `TallyClient` with `await`.

    async with AsyncTallyClient("http://127.0.0.1:8750") as node:
        txid = await node.submit(signed)
        status = await node.wait_final(txid)
        async for event in node.events(merchant="cafe-lumen", types=("tx",)):
            ...

Submissions are retried as `TallyClient` retries them (see client/http.py).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
import msgspec
from httpx_sse import SSEError, aconnect_sse

from ..core.block import Receipt, ValidatorsBody
from ..core.ops import SignedTx
from ..core.types import Account, Asset, Coupon, Genesis, MerchantProfile, Params, Payment
from .auth import RENEW_CODES, AsyncReadTokens, ReaderLike, as_reader, needs_token, renewable
from .http import (
    MAX_WAIT_SLICE_MS,
    RETRYABLE_STATUS,
    Retry,
    TallyError,
    directory_params,
    error_from,
    event_params,
    page_params,
    qr_params,
    tls_verify,
)
from .models import (
    EVENT_TYPES,
    AssetsPage,
    BalancesBody,
    BlockBody,
    BlocksPage,
    ControlsBody,
    CouponsBody,
    CouponUsesBody,
    DirectoryPage,
    ExchangeQuoteBody,
    FlagsBody,
    HistoryPage,
    IncentivesBody,
    LedgerEvent,
    LotsBody,
    MerchantCodeBody,
    MerchantQrBody,
    NodeStatusBody,
    OwnedCouponsBody,
    PayCodeBody,
    ProposalBody,
    ProposalsPage,
    RatesBody,
    ReportBody,
    RoamingQuoteBody,
    SettlementBody,
    Submitted,
    SupplyBody,
    TokenBody,
    TxStatusBody,
    WindowDetail,
    WindowsPage,
)

T = TypeVar("T")


class AsyncTallyClient:
    """A node's /v1 API for asyncio code; typed answers, TallyError for refusals."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 60.0,
        retry: Retry | None = None,
        verify: str | bool | ssl.SSLContext = True,
        reader: ReaderLike | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, verify=tls_verify(verify))
        self.retry = retry or Retry()
        self._genesis: Genesis | None = None
        self.tokens = AsyncReadTokens(as_reader(reader)) if reader is not None else None

    async def authenticate(self) -> TokenBody:
        """Get a read token for the client's reader now (TallyError `signature_invalid`: not its key)."""
        if self.tokens is None:
            raise ValueError("this client has no reader: AsyncTallyClient(url, reader=...)")
        return await self.tokens.authenticate(self.http)

    async def _auth_headers(self) -> dict[str, str]:
        if self.tokens is None or not self.tokens.held:
            return {}
        return await self.tokens.headers(self.http)

    async def _read(self, path: str, params: dict[str, Any] | None) -> httpx.Response:
        """GET with the reader's token; one that is missing, expired or no longer valid is got anew, once."""
        response = await self.http.get(path, params=params, headers=await self._auth_headers())
        if response.status_code == 401 and self.tokens is not None:
            error = error_from(response)
            if needs_token(error) or renewable(error):
                self.tokens.forget()
                response = await self.http.get(path, params=params, headers=await self.tokens.headers(self.http))
        return response

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncTallyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, into: type[T], params: dict[str, Any] | None = None) -> T:
        response = await self._read(path, params)
        if response.status_code >= 400:
            raise error_from(response)
        return msgspec.json.decode(response.content, type=into)

    async def _post_json(self, path: str, content: bytes, into: type[T]) -> T:
        response = await self.http.post(path, content=content, headers={"content-type": "application/json"})
        if response.status_code >= 400:
            raise error_from(response)
        return msgspec.json.decode(response.content, type=into)

    async def _submit(self, path: str, body: bytes) -> list[str]:
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = await self.http.post(path, content=body, headers={"content-type": "application/json"})
                if response.status_code < 400:
                    return msgspec.json.decode(response.content, type=Submitted).txids
                error = error_from(response)
                if error.status != RETRYABLE_STATUS or last:
                    raise error
                wait_ms = self.retry.backoff_ms(attempt, error.retry_after)
            except httpx.TransportError:
                if last:
                    raise
                wait_ms = self.retry.backoff_ms(attempt, None)
            await asyncio.sleep(wait_ms / 1000)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def submit(self, signed: SignedTx) -> str:
        """Submit one transaction; its id. Retried on connection errors and 503."""
        return (await self._submit("/v1/transactions", msgspec.json.encode(signed)))[0]

    async def submit_batch(self, batch: list[SignedTx]) -> list[str]:
        """Submit a batch, admitted whole or not at all; the ids. Retried as `submit`."""
        return await self._submit("/v1/transactions/batch", msgspec.json.encode({"txs": batch}))

    async def status(self, txid: str, wait_ms: int = 0) -> TxStatusBody:
        """A transaction's status: accepted, committed or final, with its result code once in a block."""
        return await self._get(f"/v1/transactions/{txid}", TxStatusBody, {"wait_ms": wait_ms})

    async def wait_final(self, txid: str, timeout_ms: int = 30_000) -> TxStatusBody:
        """Long-poll until the transaction is final; TimeoutError after `timeout_ms`."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            status = await self.status(txid, wait_ms=max(0, min(left_ms, MAX_WAIT_SLICE_MS)))
            if status.status == "final":
                return status
            if left_ms <= 0:
                raise TimeoutError(f"transaction {txid} is {status.status} after {timeout_ms} ms")

    async def receipt(self, txid: str, wait_ms: int = 0) -> Receipt:
        """The receipt of a final transaction, to check offline with `verify_receipt`."""
        return await self._get(f"/v1/transactions/{txid}/receipt", Receipt, {"wait_ms": wait_ms})

    async def account(self, account_id: str) -> Account:
        """An account: role, public key, registering member and next seq."""
        return await self._get(f"/v1/accounts/{account_id}", Account)

    async def next_seq(self, account_id: str) -> int:
        """The sequence number the account's next transaction must carry."""
        return (await self.account(account_id)).seq

    async def balances(self, account_id: str) -> dict[str, int]:
        """Every non-zero balance of the account, by asset, in minor units."""
        return (await self._get(f"/v1/accounts/{account_id}/balances", BalancesBody)).balances

    async def history(
        self, account_id: str, limit: int = 50, cursor: str | None = None, status: str | None = None
    ) -> HistoryPage:
        """A page of the account's history, newest first (`status`: "applied" or "rejected" only)."""
        params = page_params(limit, cursor, status=status)
        return await self._get(f"/v1/accounts/{account_id}/history", HistoryPage, params)

    async def asset(self, asset_id: str) -> Asset:
        """An asset: name, kind, decimals, issuer, policy and supply."""
        return await self._get(f"/v1/assets/{asset_id}", Asset)

    async def lots(self, account_id: str) -> LotsBody:
        """An account's lots with their expiries, and its latest expired lots (protocol 9)."""
        return await self._get(f"/v1/accounts/{account_id}/lots", LotsBody)

    async def incentives(self, asset_id: str) -> IncentivesBody:
        """An asset's incentive rules (cashback) and what each budget account has left."""
        return await self._get(f"/v1/assets/{asset_id}/incentives", IncentivesBody)

    async def coupons(self) -> CouponsBody:
        """The coupon mall: every listed coupon (protocol 10)."""
        return await self._get("/v1/coupons", CouponsBody)

    async def coupon(self, coupon_id: str) -> Coupon:
        """A coupon in the mall: price, stock, validity and merchants."""
        return await self._get(f"/v1/coupons/{coupon_id}", Coupon)

    async def owned_coupons(self, account_id: str) -> OwnedCouponsBody:
        """The coupons an account bought, used or not."""
        return await self._get(f"/v1/accounts/{account_id}/coupons", OwnedCouponsBody)

    async def coupon_uses(self, merchant_id: str) -> CouponUsesBody:
        """Coupons used at a merchant, newest first."""
        return await self._get(f"/v1/merchants/{merchant_id}/coupons", CouponUsesBody)

    async def block(self, height: int) -> BlockBody:
        """A block's header (its time, proposer, transactions root) and its txids."""
        return await self._get(f"/v1/blocks/{height}", BlockBody)

    async def rates(self) -> RatesBody:
        """Every published rate with its bounds, and the settlement currency's FX rates (protocol 11)."""
        return await self._get("/v1/rates", RatesBody)

    async def quote_exchange(self, from_asset: str, to_asset: str, amount_minor: int) -> ExchangeQuoteBody:
        """Exactly what exchanging `amount_minor` of `from_asset` gives now (sign min_out_minor at most out_minor)."""
        params = {"from_asset": from_asset, "to_asset": to_asset, "amount_minor": amount_minor}
        return await self._get("/v1/quote/exchange", ExchangeQuoteBody, params)

    async def quote_roaming(self, asset: str, amount_minor: int, pay_asset: str) -> RoamingQuoteBody:
        """What paying a merchant exactly `amount_minor` of `asset` costs in `pay_asset` now."""
        params = {"asset": asset, "amount_minor": amount_minor, "pay_asset": pay_asset}
        return await self._get("/v1/quote/roaming", RoamingQuoteBody, params)

    async def settlement(self) -> SettlementBody:
        """How members settle, the current window and the positions not yet settled (members, supervisors)."""
        return await self._get("/v1/settlement", SettlementBody)

    async def windows(self, limit: int = 20, cursor: str | None = None) -> WindowsPage:
        """Settlement windows that hold obligations, newest first."""
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return await self._get("/v1/settlement/windows", WindowsPage, params)

    async def window(self, window: int) -> WindowDetail:
        """A window's positions, settlement, obligations, payouts and bank files."""
        return await self._get(f"/v1/settlement/windows/{window}", WindowDetail)

    async def settlement_report(self, window: int, member: str | None = None) -> ReportBody:
        """Per member: obligations, net position, settlement status, payouts and files, for one window."""
        params: dict[str, Any] = {"window": window} | ({"member": member} if member else {})
        return await self._get("/v1/settlement/report", ReportBody, params)

    async def flags(self, asset_id: str) -> FlagsBody:
        """The merchants the voucher-cashing guard flagged in an asset (its issuer, auditors, regulators)."""
        return await self._get(f"/v1/assets/{asset_id}/flags", FlagsBody)

    async def supply(self, asset_id: str) -> SupplyBody:
        """An asset's quota, issued, burned and outstanding value, and its freeze."""
        return await self._get(f"/v1/assets/{asset_id}/supply", SupplyBody)

    async def controls(self, account_id: str) -> ControlsBody:
        """What limits an account: its freeze and reason, its limits, a pending key recovery."""
        return await self._get(f"/v1/accounts/{account_id}/controls", ControlsBody)

    async def council(self) -> Params:
        """The council: members, threshold and parameters (protocol 5 ledgers)."""
        return await self._get("/v1/council", Params)

    async def proposals(self, limit: int = 100, cursor: str | None = None) -> ProposalsPage:
        """A page of council proposals in id order."""
        return await self._get("/v1/proposals", ProposalsPage, page_params(limit, cursor))

    async def directory(
        self,
        lat: str,
        lon: str,
        asset: str | None = None,
        category: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> DirectoryPage:
        """Merchants nearest a point (decimal degrees), nearest first (protocol 7)."""
        params = directory_params(lat, lon, asset, category, limit, cursor)
        return await self._get("/v1/directory", DirectoryPage, params)

    async def merchant(self, merchant_id: str) -> MerchantProfile:
        """A merchant's registry entry (protocol 7)."""
        return await self._get(f"/v1/merchants/{merchant_id}", MerchantProfile)

    async def proposal(self, proposal_id: str) -> ProposalBody:
        """A council proposal: its action, votes and outcome."""
        return await self._get(f"/v1/proposals/{proposal_id}", ProposalBody)

    async def assets(self, limit: int = 100, cursor: str | None = None) -> AssetsPage:
        """A page of assets in id order."""
        return await self._get("/v1/assets", AssetsPage, page_params(limit, cursor))

    async def payment(self, merchant: str, payment_id: str) -> Payment:
        """A payment a merchant received: payer, asset, amount and what was refunded."""
        return await self._get(f"/v1/merchants/{merchant}/payments/{payment_id}", Payment)

    async def merchant_qr(
        self,
        merchant: str,
        asset: str,
        amount: str | None = None,
        payment_id: str | None = None,
        name: str | None = None,
        city: str | None = None,
    ) -> MerchantQrBody:
        """A merchant's QR code for `asset`: static, or dynamic for one payment of `amount` (in the asset's unit)."""
        params = qr_params(asset, amount=amount, payment_id=payment_id, name=name, city=city)
        return await self._get(f"/v1/merchants/{merchant}/qr", MerchantQrBody, params)

    async def parse_qr(self, payload: str) -> MerchantCodeBody:
        """A scanned merchant QR payload, checked by the node (a TallyError `qr_<reason>` when refused)."""
        return await self._post_json("/v1/qr/parse", msgspec.json.encode({"payload": payload}), MerchantCodeBody)

    async def pay_code(self, code: str) -> PayCodeBody:
        """A holder's one-time payment code as the ledger holds it: open, charged or expired."""
        return await self._get(f"/v1/codes/{code}", PayCodeBody)

    async def blocks(self, limit: int = 20, cursor: str | None = None) -> BlocksPage:
        """A page of blocks, newest first."""
        return await self._get("/v1/blocks", BlocksPage, page_params(limit, cursor))

    async def genesis(self) -> Genesis:
        """The chain's genesis (fetched once)."""
        if self._genesis is None:
            self._genesis = await self._get("/v1/genesis", Genesis)
        return self._genesis

    async def validators(self) -> ValidatorsBody:
        """The validator schedule and its certified changes: `verify_receipt(receipt, genesis, body.changes)`."""
        return await self._get("/v1/validators", ValidatorsBody)

    async def node_status(self) -> NodeStatusBody:
        """The node's height, finality, mempool, health and limits."""
        return await self._get("/v1/status", NodeStatusBody)

    async def events(
        self,
        *,
        after: str | None = None,
        account: str | None = None,
        merchant: str | None = None,
        asset: str | None = None,
        types: tuple[str, ...] = ("block", "tx", "balance"),
    ) -> AsyncIterator[LedgerEvent]:
        """Follow the node's final events, resuming after the last one on a dropped connection."""
        params = event_params(account, merchant, asset, types)
        last, failures, renewed = after, 0, False
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                if self.tokens is not None:  # inside: a node that is down is retried like the stream
                    headers.update(await self.tokens.headers(self.http))
                async with aconnect_sse(self.http, "GET", "/v1/events", params=params, headers=headers) as source:
                    if source.response.status_code >= 400:
                        await source.response.aread()
                        error = error_from(source.response)
                        if self.tokens is not None and renewable(error) and not renewed:
                            self.tokens.forget()
                            renewed = True
                            continue
                        raise error
                    renewed = False
                    async for sse in source.aiter_sse():
                        failures = 0
                        if sse.event == "error":
                            body = msgspec.json.decode(sse.data)
                            if self.tokens is not None and body["code"] in RENEW_CODES:
                                self.tokens.forget()  # the token ran out mid-stream: resume with a new one
                                break
                            raise TallyError(200, body["code"], body["message"], [])
                        kind = EVENT_TYPES.get(sse.event)
                        if kind is None:
                            continue
                        last = sse.id or last
                        data = msgspec.json.decode(sse.data, type=kind)
                        yield LedgerEvent(sse.id, sse.event, data)  # type: ignore[arg-type]
            except (httpx.TransportError, SSEError):
                failures += 1
                if failures >= self.retry.attempts:
                    raise
                await asyncio.sleep(self.retry.backoff_ms(failures, None) / 1000)
