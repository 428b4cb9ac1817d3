"""The processor's statistics and its Prometheus metrics (prometheus_client; served by health.py).

The loop counts into `ProcessorStats`; its counters are read at scrape time (one source of truth,
also logged at shutdown); what is observed per batch is a Histogram here. Every observation is per
batch, never per record: one costs about 1.7 µs here, 5% of a stored bar's processor time.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram

from services.ops import StateCollector

COUNTERS = {
    "batches": "Batches committed.",
    "messages": "Kafka messages committed.",
    "bars": "Base bars stored.",
    "rolled_bars": "Rolled-up candles stored (closed windows of the configured timeframes).",
    "signals": "Signals stored.",
    "late_bars": "Late or duplicate base bars recorded in late_bars, not applied.",
    "dead_letters": "Messages stored as dead letters.",
    "other_records": "Order book, news, market data and economic records stored.",
    "write_failures": "Batches not stored (infrastructure errors); each is retried after a rewind.",
    "rewinds": "Times the partitions were positioned from PostgreSQL (start, rebalance, failure).",
    "reconnects": "Consumers replaced by the stall watchdog.",
    "state_rebuilds": "Symbol states rebuilt from stored bars because the saved one could not be restored.",
    "stranded_joins": "Group joins the Kafka client left unfinished and the processor finished.",
    "kafka_errors": "Polls that raised because Kafka was unreachable (each waited a backoff step, then polled on).",
}


@dataclass(slots=True)
class ProcessorStats:
    started_at: float = field(default_factory=time.time)
    last_loop_at: float = field(default_factory=time.monotonic)
    batches: int = 0
    messages: int = 0
    bars: int = 0  # base bars stored
    rolled_bars: int = 0  # rolled-up candles stored (closed windows of the configured timeframes)
    signals: int = 0
    late_bars: int = 0
    dead_letters: int = 0
    other_records: int = 0
    write_failures: int = 0
    rewinds: int = 0
    state_rebuilds: int = 0
    reconnects: int = 0
    stranded_joins: int = 0
    kafka_errors: int = 0  # polls that raised because Kafka was unreachable
    kafka_unreachable: bool = False  # since the last poll that reached Kafka: alive, not ready
    last_batch_ms: float = 0.0
    assigned: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProcessorMetrics:
    def __init__(self, stats: ProcessorStats) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StateCollector(lambda: self._stats_samples(stats)))
        self.batch_messages = Histogram(
            "tickflow_processor_batch_messages", "Messages per committed batch.", registry=self.registry,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000))
        self.commit_seconds = Histogram(
            "tickflow_processor_commit_seconds", "Time to write and commit one batch's transaction.",
            registry=self.registry, buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.end_to_end_seconds = Histogram(
            "tickflow_processor_end_to_end_delay_seconds",
            "From a batch's oldest base bar's timestamp to its commit (the worst record of the batch).",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
        self.consumer_lag = Gauge(
            "tickflow_processor_consumer_lag", "Messages on a partition after the last committed batch "
            "(the broker's high watermark minus the stored next offset).", ["topic", "partition"],
            registry=self.registry)

    @staticmethod
    def _stats_samples(stats: ProcessorStats) -> Iterator[tuple[str, str, str, float, dict[str, str]]]:
        for name, help_text in COUNTERS.items():
            yield f"tickflow_processor_{name}", "counter", help_text, getattr(stats, name), {}
        yield ("tickflow_processor_last_batch_ms", "gauge", "Milliseconds from poll to commit of the last batch.",
               stats.last_batch_ms, {})
        yield ("tickflow_processor_assigned_partitions", "gauge", "Partitions assigned to this member.",
               stats.assigned, {})
        yield ("tickflow_processor_kafka_unreachable", "gauge", "1 while Kafka is unreachable (then /readyz is 503).",
               float(stats.kafka_unreachable), {})

    def forget_partitions(self, partitions: set[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            try:
                self.consumer_lag.remove(topic, str(partition))
            except KeyError:
                pass
