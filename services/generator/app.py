"""The generator's small HTTP API (FastAPI), served by uvicorn in a background thread.

GET /         one freshly simulated record (does not disturb the generated stream)
GET /healthz  {"status": "ok"} while the process is alive
GET /readyz   200 {"status": "ready"} once the workers run, else 503 {"status": "starting"}
GET /metrics  Prometheus text (services/ops.py)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.ingest_client import PushStats
from services.ops import StateCollector, ops_router

Sample = tuple[str, str, str, float, dict[str, str]]  # see services.ops.StateCollector

METRIC_HELP = {
    "sent": "Records handed to ingest (once per record, however many attempts).",
    "accepted": "Records accepted by ingest.",
    "rejected": "Records rejected by ingest (validation), never retried.",
    "undelivered": "Records given up on (retries exhausted, shutdown, permanent HTTP error).",
    "retries": "HTTP requests re-sent after a transient failure.",
    "batches": "Batches settled (acknowledged or given up).",
    "requests": "HTTP requests made to ingest, including retries.",
}


def stats_samples(stats: PushStats) -> Iterator[Sample]:
    """The push counters: tickflow_generator_records_<what>_total, or _<what>_total for requests."""
    for key, value in stats.snapshot().items():
        name = f"tickflow_generator_{key}" if key in ("retries", "batches", "requests") else (
            f"tickflow_generator_records_{key}")
        yield name, "counter", METRIC_HELP[key], value, {}


def create_app(
    sample: Callable[[], dict],
    stats: PushStats,
    is_ready: Callable[[], bool],
    extra_metrics: Callable[[], Iterable[Sample]] = tuple,
) -> FastAPI:
    app = FastAPI(title="Tickflow generator", docs_url=None, redoc_url=None, openapi_url=None)
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: [*stats_samples(stats), *extra_metrics()]))

    @app.get("/")
    def get_sample() -> dict:
        return sample()

    app.include_router(ops_router(registry, lambda: (True, {"status": "ready"}) if is_ready()
                                  else (False, {"status": "starting"})))
    return app
