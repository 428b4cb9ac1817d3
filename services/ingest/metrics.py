"""Ingest's Prometheus metrics (prometheus_client).

Ingest runs several uvicorn workers behind one port: `python -m services.ingest` puts them in
prometheus_client's multiprocess mode (services/ingest/__main__.py), so its operations port sums
every worker. Hence only Counters and Histograms here: no callback gauges, which that mode cannot sum.
"""
from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.core.records import RECORD_MODELS, Rejection
from services.ingest.judge import BatchVerdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# A rejection's reason label is the field its first error names, if the record contract has that
# field: client-chosen names (unexpected fields) must not create series without bound.
KNOWN_FIELDS = frozenset({"record", "data_type"} | {name for m in RECORD_MODELS.values() for name in m.model_fields})


def reason_label(rejection: Rejection) -> str:
    """`high`, `timestamp`, `data_type`, `record` (not an object), ... or `unexpected_field`."""
    first = rejection.errors[0].field if rejection.errors else "record"
    return first if first in KNOWN_FIELDS else "unexpected_field"


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("tickflow_ingest_requests", "Requests answered with a verdict.", registry=r)
        self.unavailable = Counter(
            "tickflow_ingest_unavailable", "Requests answered 503 because Kafka was unavailable.", registry=r)
        self.unauthorized = Counter(
            "tickflow_ingest_unauthorized", "Requests refused for missing or invalid credentials.", registry=r)
        self.accepted = Counter("tickflow_ingest_accepted", "Records acknowledged by Kafka, by type.", ["type"],
                                registry=r)
        self.rejected = Counter(
            "tickflow_ingest_rejected", "Records rejected by validation, by the field of their first error.",
            ["reason"], registry=r)
        self.request_seconds = Histogram(
            "tickflow_ingest_request_duration_seconds",
            "POST /ingest from the first byte read to the answer, by status.",
            ["status"], registry=r, buckets=LATENCY_BUCKETS)
        self.publish_seconds = Histogram(
            "tickflow_ingest_kafka_publish_seconds",
            "Sending a request's records to Kafka until every one is acknowledged (acks=all).",
            registry=r, buckets=LATENCY_BUCKETS)
        self.batch_records = Histogram(
            "tickflow_ingest_batch_records", "Records per judged request.", registry=r,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000))

    def count(self, verdict: BatchVerdict) -> None:
        self.requests.inc()
        self.batch_records.observe(len(verdict.accepted) + len(verdict.rejected))
        # One increment per label, not per record: a sample costs microseconds in multiprocess mode.
        for reason, n in Tally(reason_label(rejection) for _, _, rejection in verdict.rejected).items():
            self.rejected.labels(reason).inc(n)
        for record_type, n in Tally(record.record_type for _, record in verdict.accepted).items():
            self.accepted.labels(record_type).inc(n)
