"""The processor's side door: /healthz, /readyz and /metrics on its own port (services/ops.py)."""
from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.ops import BackgroundServer, ops_router
from services.processor.metrics import ProcessorStats
from services.processor.runner import Processor


def health_app(stats: ProcessorStats, registry: CollectorRegistry, liveness_timeout_s: float) -> FastAPI:
    """/healthz fails once the poll loop has not run for `liveness_timeout_s` seconds; /readyz until
    partitions are assigned, and while Kafka is unreachable."""

    def alive() -> tuple[bool, dict[str, str]]:
        if time.monotonic() - stats.last_loop_at < liveness_timeout_s:
            return True, {"status": "ok"}
        return False, {"status": "stalled", "detail": f"the poll loop has not run for {liveness_timeout_s:g} s"}

    def ready() -> tuple[bool, dict[str, str]]:
        if stats.kafka_unreachable:
            return False, {"status": "waiting", "detail": "Kafka is unreachable; retrying with backoff"}
        if stats.assigned:
            return True, {"status": "ready"}
        return False, {"status": "waiting", "detail": "no partitions assigned yet"}

    app = FastAPI(title="Tickflow processor", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(ops_router(registry, ready, alive))
    return app


def serve_health(host: str, port: int, processor: Processor, liveness_timeout_s: float) -> BackgroundServer:
    """Start the side door in a daemon thread and return the server (call .stop() to stop)."""
    return BackgroundServer(health_app(processor.stats, processor.metrics.registry, liveness_timeout_s), host, port,
                            "processor-health").start()
