"""An etcd client that fails over between the cluster's members.

Every call goes to the current member; on a connection failure or timeout it
moves to the next member and retries, up to RETRIES times with a short
backoff, then raises. Keys live under /tally/<chain>/. An https:// endpoint
is reached over TLS: the member's certificate is checked against the CA of
the node's TlsPaths, and the node presents its certificate as a client
certificate (etcd's --client-cert-auth).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import pyetcd
import pyetcd.exceptions as etcd_errors

from .peers import TlsPaths

log = logging.getLogger("tally.etcd")

T = TypeVar("T")
RETRIES = 40
BACKOFF_S = 0.05
TIMEOUT_S = 5
TRANSIENT: tuple[type[Exception], ...] = (
    etcd_errors.ConnectionFailedError,
    etcd_errors.ConnectionTimeoutError,
    etcd_errors.InternalServerError,
    etcd_errors.NoServerAvailableError,
    ValueError,  # pyetcd: "Trying to use a failed node" once its endpoint has failed
)
RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
Compacted = etcd_errors.RevisionCompactedError


def keys(chain: str) -> dict[str, str]:
    prefix = f"/tally/{chain}/"
    return {"log": prefix + "log", "votes": prefix + "votes/", "stored": prefix + "stored/"}


class EtcdClient:
    def __init__(self, endpoints: list[str], tls: TlsPaths | None = None) -> None:
        if not endpoints:
            raise ValueError("etcd ordering needs at least one etcd endpoint")
        if tls is None and any(urlsplit(e).scheme == "https" for e in endpoints):
            raise ValueError('an https:// etcd endpoint needs the node\'s TLS files (node.json "tls")')
        self.endpoints = endpoints
        self.tls = tls
        self._index = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._cancels: dict[int, Callable[[], None]] = {}  # open watches, so stopping can end them
        self._watches_closed = False  # set by cancel_watches: a watch opened later ends at once

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect(self.endpoints[self._index % len(self.endpoints)])
            return self._client

    def _connect(self, endpoint: str) -> Any:
        """A pyetcd client for one member: TLS with this node's client certificate when the URL is https://."""
        url, tls = urlsplit(endpoint), self.tls
        host, port = url.hostname or "127.0.0.1", url.port or 2379
        if url.scheme != "https" or tls is None:
            return pyetcd.client(host, port, timeout=TIMEOUT_S)
        # pyetcd reads the files now: at the first call and after each fail-over, not per request.
        return pyetcd.client(
            host, port, timeout=TIMEOUT_S, ca_cert=str(tls.ca), cert_key=str(tls.key), cert_cert=str(tls.cert)
        )

    def fail_over(self, failed: Any) -> None:
        """Move to the next member (once per failed client, however many threads saw it fail)."""
        with self._lock:
            if self._client is failed and failed is not None:
                # Not closed here: another thread may still be inside a call on it.
                self._client = None
                self._index += 1
                log.warning("etcd: moving to %s", self.endpoints[self._index % len(self.endpoints)])

    def call(self, fn: Callable[[Any], T], stop: threading.Event | None = None) -> T:
        """Run fn(client), failing over on transient errors; raises after RETRIES tries."""
        for attempt in range(RETRIES):
            if stop is not None and stop.is_set():
                break  # stopping: no new attempt
            client = self.client()
            try:
                return fn(client)
            except grpc.RpcError as exc:  # what pyetcd passes through unclassified
                if exc.code() not in RETRYABLE_GRPC:
                    raise
                self.fail_over(client)
            except TRANSIENT:
                self.fail_over(client)
            if stop is not None and stop.is_set():
                break
            time.sleep(BACKOFF_S * min(attempt + 1, 10))  # backoff between tries, bounded
        raise etcd_errors.ConnectionFailedError()

    def watch(
        self, client: Any, prefix: bool, key: str, start_revision: int
    ) -> tuple[Iterator[Any], Callable[[], None]]:
        """A watch through `client` that `cancel_watches` can end from another thread."""
        watch = client.watch_prefix if prefix else client.watch
        events, cancel = watch(key, start_revision=start_revision)
        token = id(events)
        with self._lock:
            closed = self._watches_closed
            if not closed:
                self._cancels[token] = cancel
        if closed:  # stopping raced with opening this watch
            cancel()

        def done() -> None:
            with self._lock:
                self._cancels.pop(token, None)
            cancel()

        return events, done

    def cancel_watches(self) -> None:
        """End every open watch: the threads iterating them return (used when stopping)."""
        with self._lock:
            self._watches_closed = True
            cancels = list(self._cancels.values())
            self._cancels.clear()
        for cancel in cancels:
            try:
                cancel()
            except Exception as exc:  # a watch already ended by its member going away
                log.debug("cancelling a watch: %s", exc)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
