"""The generator's small HTTP API (FastAPI), served by uvicorn in a background thread.

GET /         one freshly simulated record (does not disturb the generated stream)
GET /healthz  {"status": "ok"} while the process is alive
GET /readyz   200 {"status": "ready"} once the workers run, else 503 {"status": "starting"}
GET /metrics  Prometheus text format of the counters
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from services.generator.pusher import PushStats

METRIC_HELP = {
    "sent": "Records handed to ingest (once per record, however many attempts).",
    "accepted": "Records accepted by ingest.",
    "rejected": "Records rejected by ingest (validation), never retried.",
    "undelivered": "Records given up on (retries exhausted, shutdown, permanent HTTP error).",
    "retries": "HTTP requests re-sent after a transient failure.",
    "batches": "Batches settled (acknowledged or given up).",
    "requests": "HTTP requests made to ingest, including retries.",
}


def render_metrics(stats: PushStats, extra: Mapping[str, tuple[str, str, float]] | None = None) -> str:
    """Prometheus text exposition (version 0.0.4) of the counters.

    `extra` maps metric name -> (type, help, value) for additional series.
    """
    lines: list[str] = []
    for key, value in stats.snapshot().items():
        name = f"tickflow_generator_{key}_total" if key in ("retries", "batches", "requests") else (
            f"tickflow_generator_records_{key}_total"
        )
        lines += [f"# HELP {name} {METRIC_HELP[key]}", f"# TYPE {name} counter", f"{name} {value}"]
    for name, (mtype, help_text, value) in (extra or {}).items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {mtype}", f"{name} {_fmt(value)}"]
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return repr(float(value))


def create_app(
    sample: Callable[[], dict],
    stats: PushStats,
    is_ready: Callable[[], bool],
    extra_metrics: Callable[[], Mapping[str, tuple[str, str, float]]] | None = None,
) -> FastAPI:
    app = FastAPI(title="Tickflow generator", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/")
    def get_sample() -> dict:
        return sample()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if is_ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "starting"}, status_code=503)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        extra = extra_metrics() if extra_metrics else None
        return PlainTextResponse(render_metrics(stats, extra), media_type="text/plain; version=0.0.4")

    return app


class BackgroundServer:
    """uvicorn on a pre-bound socket in a daemon thread (bind errors surface in the caller)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
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
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="generator-http", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self.thread.start()
        deadline = threading.Event()
        # Wait (bounded) until uvicorn reports it is serving.
        for _ in range(int(timeout / 0.01)):
            if self.server.started or not self.thread.is_alive():
                break
            deadline.wait(0.01)
        if not self.server.started:
            raise RuntimeError("generator HTTP server did not start")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
