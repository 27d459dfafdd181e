"""GET /v1/status's body: the node's height, finality, health and limits (the network view reuses it)."""

from __future__ import annotations

import msgspec

from ..client.models import DivergenceBody, NodeStatusBody, UnavailableBody
from ..node.node import Node


def divergence_body(node: Node) -> DivergenceBody | None:
    found = node.diverged()
    if found is None:
        return None
    return DivergenceBody(height=found.height, our_digest=found.ours, certified_digest=found.certified)


def unavailable_body(node: Node) -> UnavailableBody | None:
    found = node.unavailable()
    return None if found is None else UnavailableBody(found.code, found.message)


def node_status_body(node: Node) -> NodeStatusBody:
    head = node.stored_head
    return NodeStatusBody(
        chain=node.genesis.chain,
        validator=node.settings.validator_id,
        height=head.height,
        final_height=node.final_height,
        state_digest=head.state_digest,
        mempool_txs=node.mempool_size,
        mempool_max_txs=node.limits.mempool_max_txs,
        healthy=node.healthy,
        orderer=node.settings.orderer,
        divergence=divergence_body(node),
        limits=msgspec.structs.asdict(node.limits),
        unavailable=unavailable_body(node),
        event_streams=node.event_streams,
    )
