"""Prometheus metrics of one node (served at /metrics)."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

disable_created_metrics()  # type: ignore[no-untyped-call]  # counters and histograms without *_created series


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        PlatformCollector(registry=self.registry)  # python_info
        self.registry.register(GC_COLLECTOR)
        self.admitted = Counter("tally_tx_admitted", "Transactions admitted to the mempool", registry=self.registry)
        self.refused = Counter(
            "tally_tx_refused", "Transactions refused at admission", ["code"], registry=self.registry
        )
        self.executed = Counter(
            "tally_tx_executed", "Transactions executed in blocks, by result code", ["code"], registry=self.registry
        )
        self.blocks = Counter("tally_blocks", "Blocks stored", registry=self.registry)
        self.height = Gauge("tally_height", "Height of the last stored block", registry=self.registry)
        self.final_height = Gauge("tally_final_height", "Height of the last final block", registry=self.registry)
        self.mempool = Gauge("tally_mempool_txs", "Transactions waiting in the mempool", registry=self.registry)
        self.diverged = Gauge(
            "tally_diverged", "1 when this node's digest differs from a certified one", registry=self.registry
        )
        self.divergence_height = Gauge(
            "tally_divergence_height", "First height where this node's digest differs", registry=self.registry
        )
        self.tampered = Gauge(
            "tally_storage_tampered",
            "1 when the storage scrub found this node's stored state or blocks changed under it",
            registry=self.registry,
        )
        self.etcd_ignored = Counter(
            "tally_etcd_ignored",
            "Values read from etcd that failed their strict type or signature, ignored (by kind: log, vote, progress)",
            ["kind"],
            registry=self.registry,
        )
        self.untimely = Counter(
            "tally_untimely_blocks",
            "Blocks this validator did not vote for: their time was ahead of its clock (by proposer)",
            ["proposer"],
            registry=self.registry,
        )
        self.block_txs = Histogram(
            "tally_block_txs",
            "Transactions per block",
            buckets=(1, 10, 100, 500, 1000, 2000, 4000, 8000),
            registry=self.registry,
        )
        self.final_latency = Histogram(
            "tally_submit_to_final_seconds",
            "Time from admission to finality",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
