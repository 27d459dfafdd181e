"""Blocks from peers over HTTP, for a node whose gap in the etcd log was compacted away.

A peer's block is checked before use: its certificate must hold a quorum of
the validators at that height for that block's hash, its transactions must match the
header's Merkle root, and after execution our digest must equal the
certified one (the pipeline checks that last part). With TLS, a peer's
certificate must be signed by the network's CA, and the node presents its
own certificate as a client certificate.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from ..client.auth import Reader, ReadTokens
from ..client.errors import TallyError
from ..core.block import FullBlock, certificate_fault, tx_root, tx_signing_bytes, txid_of
from ..core.ops import SignedTx
from ..core.validators import ValidatorHistory
from .base import OrderedBatch
from .mempool import Admitted

log = logging.getLogger("tally.peers")
TIMEOUT_S = 30


@dataclass(frozen=True)
class TlsPaths:
    """A node's TLS files (PEM): its certificate and key, and the CA that signed every node's and etcd member's."""

    cert: Path
    key: Path
    ca: Path

    def client_context(self) -> ssl.SSLContext:
        """Checks a server's certificate against the CA (and its host name); presents this node's certificate."""
        context = ssl.create_default_context(cafile=self.ca)
        context.load_cert_chain(self.cert, self.key)
        return context


_full_decoder = msgspec.json.Decoder(FullBlock)
_signed_decoder = msgspec.json.Decoder(SignedTx)


def batch_from_block(block: FullBlock, history: ValidatorHistory) -> OrderedBatch:
    """Check a peer's block against its certificate; the batch that rebuilds it."""
    header, cert = block.header, block.certificate
    fault = certificate_fault(cert, history, header, block.state_digest)
    if fault is not None:
        raise ValueError(f"peer block {header.height}: {fault}")
    txs = []
    for raw in block.txs:
        signed = _signed_decoder.decode(raw)
        txs.append(Admitted(txid_of(tx_signing_bytes(signed)), signed, bytes(raw), 0))
    if tx_root([a.txid for a in txs]) != header.tx_root or len(txs) != header.tx_count:
        raise ValueError(f"peer block {header.height}: transactions do not match the header")
    return OrderedBatch(
        header.log_position, header.proposer, header.timestamp_ms, txs, verified=False, certificate=cert
    )


class Peers:
    """Other validators' APIs; `tls`: check https:// peers against its CA and present its certificate."""

    def __init__(
        self,
        urls: list[str],
        history: Callable[[], ValidatorHistory],
        reader: Reader,
        tls: TlsPaths | None = None,
    ) -> None:
        self.urls = urls
        self.history = history  # the validator sets as this node's execution knows them
        # full blocks are read with a token: this node's validator key (docs/access.md)
        self.tokens = ReadTokens(reader, chain=history().genesis.chain)
        self.http = httpx.Client(timeout=TIMEOUT_S, verify=tls.client_context() if tls is not None else True)

    def fetch(self, height: int) -> OrderedBatch | None:
        """The block at `height` from the first peer that has it final, checked; None if none has."""
        for url in self.urls:
            try:
                response = self.tokens.get(self.http, url, f"/v1/blocks/{height}/full")
                if response.status_code == 200:
                    return batch_from_block(_full_decoder.decode(response.content), self.history())
            except (httpx.HTTPError, msgspec.DecodeError, ValueError, TallyError) as exc:
                log.warning("peer %s: block %d: %s", url, height, exc)
        return None

    def close(self) -> None:
        self.http.close()
