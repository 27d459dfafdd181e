"""Orderers: who decides the order of transactions (DESIGN.md §5).

`solo` cuts blocks from the node's own mempool; `etcd` appends each node's
batches to one log in an etcd cluster and delivers that log, in revision
order, to every node. Both hand the pipeline `OrderedBatch`es in order.
"""

from .base import OrderedBatch, Orderer
from .solo import SoloOrderer

__all__ = ["OrderedBatch", "Orderer", "SoloOrderer"]
