"""Ingest's operations port: /metrics (every worker's, summed), /docs, /openapi.json, /healthz.

Served by the process that supervises the uvicorn workers (services/ingest/__main__.py), on a
port of its own that the public LoadBalancer does not route: in-cluster Prometheus scrapes it,
people reach the docs by port-forward.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from services.config import Settings
from services.ingest.app import create_app
from services.ops import BackgroundServer, always_ok, health_router, metrics_router


def ops_app(ingest_app: FastAPI) -> FastAPI:
    """The operations app of `ingest_app` (create_app): its metrics registry and its OpenAPI document."""
    ops = FastAPI(title="Tickflow ingest operations", docs_url=None, redoc_url=None, openapi_url=None)
    ops.include_router(health_router(ready=always_ok))
    ops.include_router(metrics_router(ingest_app.state.metrics.registry))

    @ops.get("/openapi.json", summary="The OpenAPI document of the public ingest API")
    def openapi() -> dict[str, Any]:
        return ingest_app.openapi()

    @ops.get("/docs", summary="Swagger UI of the public ingest API", response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Tickflow ingest - API docs")

    return ops


def serve_ops(settings: Settings) -> BackgroundServer:
    """Start the operations port in a daemon thread (call .stop() to stop)."""
    return BackgroundServer(ops_app(create_app(settings)), settings.ingest_ops_host, settings.ingest_ops_port,
                            "ingest-ops").start()
