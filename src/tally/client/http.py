"""HTTP client for one node's /v1 API.

Submissions are retried, because they are safe to retry: the same signed
bytes are the same transaction (the node answers a known one with its id),
and a value-moving transaction signed again carries the same client `ref`.
A submission is retried on a connection error or timeout and on 503 (a full
mempool, a node not serving), after the node's Retry-After or a doubling
backoff, at most `Retry.attempts` times in all.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import httpx
import msgspec
from httpx_sse import SSEError, connect_sse

from ..core.block import Receipt, ValidatorsBody
from ..core.ops import SignedTx
from ..core.types import Account, Asset, Coupon, Genesis, MerchantProfile, Params, Payment
from .auth import RENEW_CODES, ReaderLike, ReadTokens, as_reader, needs_token, renewable
from .errors import TallyError as TallyError
from .errors import error_from as error_from
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
MAX_WAIT_SLICE_MS = 30_000  # the node's default limits.max_wait_ms


@dataclass(frozen=True)
class Retry:
    """How a submission is retried: bounded attempts, doubling backoff with jitter, capped waits."""

    attempts: int = 5  # in all, the first included
    first_backoff_ms: int = 200
    max_backoff_ms: int = 5_000  # also caps a node's Retry-After

    def backoff_ms(self, attempt: int, retry_after: str | None) -> int:
        """How long to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None and retry_after.isdigit():
            return min(int(retry_after) * 1000, self.max_backoff_ms)
        ceiling = min(self.first_backoff_ms * 2 ** (attempt - 1), self.max_backoff_ms)
        return random.randint(ceiling // 2, ceiling)


RETRYABLE_STATUS = 503
NO_RETRY = Retry(attempts=1)


def event_params(
    account: str | None, merchant: str | None, asset: str | None, types: tuple[str, ...]
) -> dict[str, Any]:
    params: dict[str, Any] = {"types": ",".join(types)}
    params.update({k: v for k, v in (("account", account), ("merchant", merchant), ("asset", asset)) if v})
    return params


def page_params(limit: int, cursor: str | None, **extra: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    params.update({k: v for k, v in (("cursor", cursor), *extra.items()) if v})
    return params


def directory_params(
    lat: str, lon: str, asset: str | None, category: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """GET /v1/directory's query: the point, the page, and the filters given."""
    return {"lat": lat, "lon": lon, **page_params(limit, cursor, asset=asset, category=category)}


def qr_params(asset: str, **optional: str | None) -> dict[str, Any]:
    """GET /v1/merchants/{m}/qr's query: the asset, and the optional fields given."""
    return {"asset": asset, **{k: v for k, v in optional.items() if v is not None}}


def tls_verify(verify: str | bool | ssl.SSLContext) -> bool | ssl.SSLContext:
    """How a node's certificate is checked: a CA file's path becomes a context that trusts only it."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


class TallyClient:
    """A node's /v1 API, typed: every answer is a struct, every error a TallyError.

    `verify`: how the node's TLS certificate is checked: True, httpx's default CA
    bundle (or SSL_CERT_FILE's); a path, that CA only (such as the tls/ca.pem
    `tally network init --tls` writes); or an ssl.SSLContext.

    `reader`: who reads (docs/access.md): a key file, an (account id, KeyPair) pair or a
    `Reader` (a validator's key: `Reader(id, key, "validator")`). The client gets a read token
    from the node when a read needs one, and a new one before it expires or when the node no
    longer takes it. Without a reader, the public reads work and the private ones raise
    TallyError `auth_required`.
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 60.0,
        retry: Retry | None = None,
        verify: str | bool | ssl.SSLContext = True,
        reader: ReaderLike | None = None,
    ) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, verify=tls_verify(verify))
        self.retry = retry or Retry()
        self._genesis: Genesis | None = None
        self.tokens = ReadTokens(as_reader(reader)) if reader is not None else None

    def authenticate(self) -> TokenBody:
        """Get a read token for the client's reader now (TallyError `signature_invalid`: not its key)."""
        if self.tokens is None:
            raise ValueError("this client has no reader: TallyClient(url, reader=...)")
        return self.tokens.authenticate(self.http)

    def _auth_headers(self) -> dict[str, str]:
        """The held read token (renewed when it is about to expire); none before a read needed one."""
        if self.tokens is None or not self.tokens.held:
            return {}
        return self.tokens.headers(self.http)

    def _read(self, path: str, params: dict[str, Any] | None) -> httpx.Response:
        """GET with the reader's token; one that is missing, expired or no longer valid is got anew, once."""
        response = self.http.get(path, params=params, headers=self._auth_headers())
        if response.status_code == 401 and self.tokens is not None:
            error = error_from(response)
            if needs_token(error) or renewable(error):
                self.tokens.forget()
                response = self.http.get(path, params=params, headers=self.tokens.headers(self.http))
        return response

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TallyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, content: bytes) -> Submitted:
        return self._post_json(path, content, Submitted)

    def _post_json(self, path: str, content: bytes, into: type[T]) -> T:
        """POST a JSON body, the answer decoded into its typed form (a TallyError for an error answer)."""
        response = self.http.post(path, content=content, headers={"content-type": "application/json"})
        if response.status_code >= 400:
            self._call_error(response)
        return msgspec.json.decode(response.content, type=into)

    def _submit(self, path: str, body: bytes) -> list[str]:
        """POST signed transactions, retried per `self.retry` (safe: see the module's docstring)."""
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                return self._post(path, body).txids
            except httpx.TransportError:
                if last:
                    raise
                wait_ms = self.retry.backoff_ms(attempt, None)
            except TallyError as error:
                if error.status != RETRYABLE_STATUS or last:
                    raise
                wait_ms = self.retry.backoff_ms(attempt, error.retry_after)
            time.sleep(wait_ms / 1000)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def submit(self, signed: SignedTx) -> str:
        """Submit one transaction; its id. Retried on connection errors and 503."""
        return self._submit("/v1/transactions", msgspec.json.encode(signed))[0]

    def submit_batch(self, batch: list[SignedTx]) -> list[str]:
        """Submit up to the node's batch limit at once, all or nothing; their ids. Retried as `submit`."""
        return self._submit("/v1/transactions/batch", msgspec.json.encode({"txs": batch}))

    def _get(self, path: str, into: type[T], params: dict[str, Any] | None = None) -> T:
        """GET a JSON body, decoded into its typed form (a TallyError for an error answer)."""
        response = self._read(path, params)
        if response.status_code >= 400:
            self._call_error(response)
        return msgspec.json.decode(response.content, type=into)

    def _call_error(self, response: httpx.Response) -> NoReturn:
        raise error_from(response)

    def status(self, txid: str, wait_ms: int = 0) -> TxStatusBody:
        """A transaction's status: accepted, committed or final, with its result code once in a block."""
        return self._get(f"/v1/transactions/{txid}", TxStatusBody, {"wait_ms": wait_ms})

    def wait_final(self, txid: str, timeout_ms: int = 30_000) -> TxStatusBody:
        """Long-poll until the transaction is final (in slices the node allows); TimeoutError after `timeout_ms`."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            status = self.status(txid, wait_ms=max(0, min(left_ms, MAX_WAIT_SLICE_MS)))
            if status.status == "final":
                return status
            if left_ms <= 0:
                raise TimeoutError(f"transaction {txid} is {status.status} after {timeout_ms} ms")

    def receipt(self, txid: str, wait_ms: int = 0) -> Receipt:
        """The receipt of a final transaction, to check offline with `verify_receipt`."""
        return self._get(f"/v1/transactions/{txid}/receipt", Receipt, {"wait_ms": wait_ms})

    def account(self, account_id: str) -> Account:
        """An account: role, public key, registering member and next seq."""
        return self._get(f"/v1/accounts/{account_id}", Account)

    def next_seq(self, account_id: str) -> int:
        """The sequence number the account's next transaction must carry."""
        return self.account(account_id).seq

    def balances(self, account_id: str) -> dict[str, int]:
        """Every non-zero balance of the account, by asset, in minor units."""
        return self._get(f"/v1/accounts/{account_id}/balances", BalancesBody).balances

    def history(
        self, account_id: str, limit: int = 50, cursor: str | None = None, status: str | None = None
    ) -> HistoryPage:
        """A page of the account's history, newest first; pass `next_cursor` back for the next page.

        `status`: "applied" or "rejected" for only those (default: both).
        """
        return self._get(f"/v1/accounts/{account_id}/history", HistoryPage, page_params(limit, cursor, status=status))

    def asset(self, asset_id: str) -> Asset:
        """An asset: name, kind, decimals, issuer, policy and supply."""
        return self._get(f"/v1/assets/{asset_id}", Asset)

    def lots(self, account_id: str) -> LotsBody:
        """An account's lots with their expiries, and its latest expired lots (protocol 9)."""
        return self._get(f"/v1/accounts/{account_id}/lots", LotsBody)

    def incentives(self, asset_id: str) -> IncentivesBody:
        """An asset's incentive rules (cashback) and what each budget account has left."""
        return self._get(f"/v1/assets/{asset_id}/incentives", IncentivesBody)

    def coupons(self) -> CouponsBody:
        """The coupon mall: every listed coupon (protocol 10)."""
        return self._get("/v1/coupons", CouponsBody)

    def coupon(self, coupon_id: str) -> Coupon:
        """A coupon in the mall: price, stock, validity and merchants."""
        return self._get(f"/v1/coupons/{coupon_id}", Coupon)

    def owned_coupons(self, account_id: str) -> OwnedCouponsBody:
        """The coupons an account bought, used or not."""
        return self._get(f"/v1/accounts/{account_id}/coupons", OwnedCouponsBody)

    def coupon_uses(self, merchant_id: str) -> CouponUsesBody:
        """Coupons used at a merchant, newest first."""
        return self._get(f"/v1/merchants/{merchant_id}/coupons", CouponUsesBody)

    def block(self, height: int) -> BlockBody:
        """A block's header (its time, proposer, transactions root) and its txids."""
        return self._get(f"/v1/blocks/{height}", BlockBody)

    def rates(self) -> RatesBody:
        """Every published rate with its bounds, and the settlement currency's FX rates (protocol 11)."""
        return self._get("/v1/rates", RatesBody)

    def quote_exchange(self, from_asset: str, to_asset: str, amount_minor: int) -> ExchangeQuoteBody:
        """Exactly what exchanging `amount_minor` of `from_asset` gives now (sign min_out_minor at most out_minor)."""
        params = {"from_asset": from_asset, "to_asset": to_asset, "amount_minor": amount_minor}
        return self._get("/v1/quote/exchange", ExchangeQuoteBody, params)

    def quote_roaming(self, asset: str, amount_minor: int, pay_asset: str) -> RoamingQuoteBody:
        """What paying a merchant exactly `amount_minor` of `asset` costs in `pay_asset` now."""
        params = {"asset": asset, "amount_minor": amount_minor, "pay_asset": pay_asset}
        return self._get("/v1/quote/roaming", RoamingQuoteBody, params)

    def settlement(self) -> SettlementBody:
        """How members settle, the current window and the positions not yet settled (members, supervisors)."""
        return self._get("/v1/settlement", SettlementBody)

    def windows(self, limit: int = 20, cursor: str | None = None) -> WindowsPage:
        """Settlement windows that hold obligations, newest first."""
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return self._get("/v1/settlement/windows", WindowsPage, params)

    def window(self, window: int) -> WindowDetail:
        """A window's positions, settlement, obligations, payouts and bank files."""
        return self._get(f"/v1/settlement/windows/{window}", WindowDetail)

    def settlement_report(self, window: int, member: str | None = None) -> ReportBody:
        """Per member: obligations, net position, settlement status, payouts and files, for one window."""
        params: dict[str, Any] = {"window": window} | ({"member": member} if member else {})
        return self._get("/v1/settlement/report", ReportBody, params)

    def flags(self, asset_id: str) -> FlagsBody:
        """The merchants the voucher-cashing guard flagged in an asset (its issuer, auditors, regulators)."""
        return self._get(f"/v1/assets/{asset_id}/flags", FlagsBody)

    def supply(self, asset_id: str) -> SupplyBody:
        """An asset's quota, issued, burned and outstanding value, and its freeze."""
        return self._get(f"/v1/assets/{asset_id}/supply", SupplyBody)

    def controls(self, account_id: str) -> ControlsBody:
        """What limits an account: its freeze and reason, its limits, a pending key recovery."""
        return self._get(f"/v1/accounts/{account_id}/controls", ControlsBody)

    def council(self) -> Params:
        """The council: members, threshold and parameters (protocol 5 ledgers)."""
        return self._get("/v1/council", Params)

    def proposals(self, limit: int = 100, cursor: str | None = None) -> ProposalsPage:
        """A page of council proposals in id order."""
        return self._get("/v1/proposals", ProposalsPage, page_params(limit, cursor))

    def directory(
        self,
        lat: str,
        lon: str,
        asset: str | None = None,
        category: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> DirectoryPage:
        """Merchants nearest a point (decimal degrees), nearest first (protocol 7)."""
        return self._get("/v1/directory", DirectoryPage, directory_params(lat, lon, asset, category, limit, cursor))

    def merchant(self, merchant_id: str) -> MerchantProfile:
        """A merchant's registry entry (protocol 7)."""
        return self._get(f"/v1/merchants/{merchant_id}", MerchantProfile)

    def proposal(self, proposal_id: str) -> ProposalBody:
        """A council proposal: its action, votes and outcome."""
        return self._get(f"/v1/proposals/{proposal_id}", ProposalBody)

    def assets(self, limit: int = 100, cursor: str | None = None) -> AssetsPage:
        """A page of assets in id order."""
        return self._get("/v1/assets", AssetsPage, page_params(limit, cursor))

    def payment(self, merchant: str, payment_id: str) -> Payment:
        """A payment a merchant received: payer, asset, amount and what was refunded."""
        return self._get(f"/v1/merchants/{merchant}/payments/{payment_id}", Payment)

    def merchant_qr(
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
        return self._get(f"/v1/merchants/{merchant}/qr", MerchantQrBody, params)

    def parse_qr(self, payload: str) -> MerchantCodeBody:
        """A scanned merchant QR payload, checked by the node (a TallyError `qr_<reason>` when refused)."""
        return self._post_json("/v1/qr/parse", msgspec.json.encode({"payload": payload}), MerchantCodeBody)

    def pay_code(self, code: str) -> PayCodeBody:
        """A holder's one-time payment code as the ledger holds it: open, charged or expired."""
        return self._get(f"/v1/codes/{code}", PayCodeBody)

    def blocks(self, limit: int = 20, cursor: str | None = None) -> BlocksPage:
        """A page of blocks, newest first."""
        return self._get("/v1/blocks", BlocksPage, page_params(limit, cursor))

    def events(
        self,
        *,
        after: str | None = None,
        account: str | None = None,
        merchant: str | None = None,
        asset: str | None = None,
        types: tuple[str, ...] = ("block", "tx", "balance"),
    ) -> Iterator[LedgerEvent]:
        """Follow the node's final events (GET /v1/events), in ledger order, for as long as you iterate.

        Starts after the event id `after` (None: from now). A dropped connection is
        resumed from the last event received (so none is missed or repeated),
        retried per `self.retry`; an `error` event from the node (a stream that fell
        too far behind) raises TallyError. Without a reader only `block` events are
        served; with one, the events of the accounts the reader may read (a token that
        runs out mid-stream is renewed and the stream resumed).
        """
        params = event_params(account, merchant, asset, types)
        last, failures, renewed = after, 0, False
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                if self.tokens is not None:  # inside: a node that is down is retried like the stream
                    headers.update(self.tokens.headers(self.http))
                with connect_sse(self.http, "GET", "/v1/events", params=params, headers=headers) as source:
                    if source.response.status_code >= 400:
                        source.response.read()
                        error = error_from(source.response)
                        if self.tokens is not None and renewable(error) and not renewed:
                            self.tokens.forget()
                            renewed = True
                            continue
                        raise error
                    renewed = False
                    for sse in source.iter_sse():
                        failures = 0
                        if sse.event == "error":
                            body = msgspec.json.decode(sse.data)
                            if self.tokens is not None and body["code"] in RENEW_CODES:
                                self.tokens.forget()  # the token ran out mid-stream: resume with a new one
                                break
                            raise TallyError(200, body["code"], body["message"], [])
                        kind = EVENT_TYPES.get(sse.event)
                        if kind is None:
                            continue  # a kind this SDK does not know yet
                        last = sse.id or last
                        yield LedgerEvent(sse.id, sse.event, msgspec.json.decode(sse.data, type=kind))  # type: ignore[arg-type]
            except (httpx.TransportError, SSEError):
                failures += 1
                if failures >= self.retry.attempts:
                    raise
                time.sleep(self.retry.backoff_ms(failures, None) / 1000)

    def genesis(self) -> Genesis:
        """The chain's genesis (fetched once)."""
        if self._genesis is None:
            self._genesis = self._get("/v1/genesis", Genesis)
        return self._genesis

    def validators(self) -> ValidatorsBody:
        """The validator schedule and its certified changes: `verify_receipt(receipt, genesis, body.changes)`."""
        return self._get("/v1/validators", ValidatorsBody)

    def node_status(self) -> NodeStatusBody:
        """The node's height, finality, mempool, health and limits."""
        return self._get("/v1/status", NodeStatusBody)
