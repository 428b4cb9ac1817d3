"""Ingest counters in Prometheus text format (per worker process)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from services.ingest.judge import BatchVerdict


@dataclass(slots=True)
class IngestMetrics:
    requests: int = 0
    unavailable: int = 0
    unauthorized: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: int = 0

    def count(self, verdict: BatchVerdict) -> None:
        self.requests += 1
        self.rejected += len(verdict.rejected)
        for _, record in verdict.accepted:
            self.accepted[record.record_type] += 1

    def render(self) -> str:
        lines = [
            "# HELP tickflow_ingest_requests_total Requests answered with a verdict.",
            "# TYPE tickflow_ingest_requests_total counter",
            f"tickflow_ingest_requests_total {self.requests}",
            "# HELP tickflow_ingest_unavailable_total Requests answered 503 because Kafka was unavailable.",
            "# TYPE tickflow_ingest_unavailable_total counter",
            f"tickflow_ingest_unavailable_total {self.unavailable}",
            "# HELP tickflow_ingest_unauthorized_total Requests refused for missing or invalid credentials.",
            "# TYPE tickflow_ingest_unauthorized_total counter",
            f"tickflow_ingest_unauthorized_total {self.unauthorized}",
            "# HELP tickflow_ingest_rejected_total Records rejected by validation.",
            "# TYPE tickflow_ingest_rejected_total counter",
            f"tickflow_ingest_rejected_total {self.rejected}",
            "# HELP tickflow_ingest_accepted_total Records acknowledged by Kafka, by type.",
            "# TYPE tickflow_ingest_accepted_total counter",
        ]
        lines += [f'tickflow_ingest_accepted_total{{type="{t}"}} {n}' for t, n in sorted(self.accepted.items())]
        return "\n".join(lines) + "\n"
