"""How every service serves its health and Prometheus metrics (prometheus_client).

- `ops_router`: `/healthz` (alive), `/readyz` (ready to work) and `/metrics` (Prometheus text) for a
  FastAPI app: mounted into a service's own app (generator, dashboard) or served on a side port
  by `BackgroundServer` (processor). Ingest splits them: health on its public port, metrics on its
  operations port (services/ingest/ops.py).
- Each service keeps its metrics in its own `CollectorRegistry` (so tests can build several apps in
  one process). State a service already counts for itself is exposed by a custom collector at
  scrape time (`StateCollector`); what is observed as it happens (latencies, sizes) is a
  prometheus_client Histogram.
- Multiprocess mode: when `PROMETHEUS_MULTIPROC_DIR` is set (ingest sets it for its uvicorn
  workers, see services/ingest/__main__.py), `/metrics` sums every process's files.
"""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.config import get_settings
from services.http_guard import server_options

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# (healthy, body): a probe's verdict and what it answers.
Probe = Callable[[], tuple[bool, dict[str, Any]]]


def always_ok() -> tuple[bool, dict[str, Any]]:
    return True, {"status": "ok"}


def scrape(registry: CollectorRegistry) -> bytes:
    """The Prometheus text of `registry`, or of every process's files in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def health_router(ready: Probe, alive: Probe = always_ok) -> APIRouter:
    """/healthz and /readyz: 200 with the probe's body, or 503 with it."""
    router = APIRouter(tags=["operations"])

    def answer(probe: Probe) -> JSONResponse:
        ok, body = probe()
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/healthz", summary="Liveness: the process works")
    def healthz() -> JSONResponse:
        return answer(alive)

    @router.get("/readyz", summary="Readiness: the service can do its work")
    def readyz() -> JSONResponse:
        return answer(ready)

    return router


def metrics_router(registry: CollectorRegistry) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(scrape(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def ops_router(registry: CollectorRegistry, ready: Probe, alive: Probe = always_ok) -> APIRouter:
    """/healthz, /readyz and /metrics."""
    router = health_router(ready, alive)
    router.include_router(metrics_router(registry))
    return router


class StateCollector(Collector):
    """Exposes numbers a service keeps in its own objects, read at scrape time.

    `read` yields (name, kind, help, value, labels) with kind "counter" or "gauge"; samples of one
    name share a family (labels may differ). A counter's name is given without `_total`.
    """

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, str, float, dict[str, str]]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for name, kind, help_text, value, labels in self._read():
            family = families.get(name)
            if family is None:
                cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                family = families[name] = cls(name, help_text, labels=sorted(labels))
            family.add_metric([labels[k] for k in sorted(labels)], value)
        yield from families.values()


class BackgroundServer:
    """uvicorn on a pre-bound socket in a daemon thread (bind errors surface in the caller)."""

    def __init__(self, app: FastAPI, host: str, port: int, name: str = "ops-http") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(128)
        self.host = host
        self.port = self.sock.getsockname()[1]
        # The process's settings, as the guarded protocols read them (services/http_guard.py).
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                **server_options(get_settings()))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self.thread.start()
        waiting = threading.Event()
        for _ in range(int(timeout / 0.01)):  # bounded wait until uvicorn reports it is serving
            if self.server.started or not self.thread.is_alive():
                break
            waiting.wait(0.01)
        if not self.server.started:
            raise RuntimeError(f"{self.thread.name}: the HTTP server did not start")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
