"""The ingest HTTP API (FastAPI).

POST /ingest takes one record or a JSON array of records. Every record gets a verdict; the
accepted ones go to their Kafka topic (keyed by symbol), the rejected ones to `ingest.rejected`
with the reason. The client hears "accepted" only for records Kafka acknowledged.

This app is what the public port serves: POST /ingest, /healthz and /readyz. Its metrics, /docs
and /openapi.json are on the operations port (services/ingest/ops.py), never behind the
LoadBalancer.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import multiprocess
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from services.config import Settings, get_settings
from services.core.records import Record, ValidationContext
from services.heap import freeze_startup_heap
from services.ingest.auth import TokenCheck
from services.ingest.judge import MAX_DEPTH, judge, nesting_exceeds
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import KafkaUnavailable, Publisher
from services.kafka_io import make_producer
from services.logs import event, setup_logging
from services.ops import MULTIPROC_ENV, health_router

log = logging.getLogger(__name__)

RETRY_AFTER_S = "2"


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def request_body_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI request body of POST /ingest (one record or an array), and the record schemas."""
    schema = TypeAdapter(Record | list[Record]).json_schema(ref_template="#/components/schemas/{model}")
    records = schema.pop("$defs")
    body = {"required": True, "content": {"application/json": {"schema": schema}},
            "description": "One record, or a JSON array of records (each judged on its own)."}
    return body, records


def create_app(settings: Settings | None = None, publisher: Publisher | None = None,
               metrics: IngestMetrics | None = None) -> FastAPI:
    settings = settings or get_settings()
    symbols = settings.symbol_policy()
    metrics = metrics or IngestMetrics()
    auth = TokenCheck(settings.ingest_tokens)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings.log_level, settings.log_format)
        own_producer = None
        if app.state.publisher is None:
            own_producer = make_producer(settings.kafka_bootstrap)
            app.state.publisher = Publisher(own_producer, settings.kafka_bootstrap, settings.topics)
        event(log, "ingest started", kafka=settings.kafka_bootstrap, auth=auth.enabled)
        freeze_startup_heap()
        try:
            yield
        finally:
            if own_producer is not None:
                own_producer.close(timeout=5)
            if os.environ.get(MULTIPROC_ENV):  # a worker ends: its live gauges go (counters stay summed)
                multiprocess.mark_process_dead(os.getpid())

    app = FastAPI(
        title="Tickflow ingest",
        version="0.1.0",
        summary="Validates market records and publishes them to Kafka.",
        lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,  # on the operations port
    )
    app.state.publisher = publisher
    app.state.metrics = metrics
    body_spec, record_schemas = request_body_schema()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = FastAPI.openapi(app)
            spec.setdefault("components", {}).setdefault("schemas", {}).update(record_schemas)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.post(
        "/ingest",
        summary="Submit one record or a JSON array of records",
        responses={
            200: {"description": "At least one record accepted; per-record results"},
            400: {"description": f"Body is not valid JSON, or nested more than {MAX_DEPTH} levels deep"},
            408: {"description": "The body did not arrive in time (ingest_body_timeout_s)"},
            413: {"description": "Body or batch too large"},
            401: {"description": "Tokens are configured and the request has no valid bearer token"},
            415: {"description": "Content-Type is not application/json"},
            422: {"description": "No record accepted; per-record reasons (index, field, message)"},
            503: {"description": "Kafka unavailable; retry after the Retry-After header"},
        },
        openapi_extra={"requestBody": body_spec},
    )
    async def ingest(request: Request) -> Response:
        started = time.perf_counter()
        response = await judge_and_publish(request)
        metrics.request_seconds.labels(str(response.status_code)).observe(time.perf_counter() - started)
        return response

    async def judge_and_publish(request: Request) -> Response:
        denied = auth.problem(request.headers.get("authorization"))
        if denied:
            metrics.unauthorized.inc()
            return _problem(401, denied, **{"WWW-Authenticate": "Bearer"})
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return _problem(415, f"Content-Type must be application/json, got {content_type or 'none'!r}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.ingest_max_body_bytes:
            return _problem(413, f"body is {declared} bytes; the limit is {settings.ingest_max_body_bytes}")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(settings.ingest_body_timeout_s):  # slow senders hold a worker
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > settings.ingest_max_body_bytes:
                        return _problem(413, f"body exceeds the limit of {settings.ingest_max_body_bytes} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            return _problem(408, f"the body did not arrive within {settings.ingest_body_timeout_s:g} s "
                                 f"({size} bytes received)", Connection="close")
        try:
            body = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as exc:
            return _problem(400, f"body is not valid JSON: {exc}")
        if nesting_exceeds(body):
            return _problem(400, f"body is nested more than {MAX_DEPTH} levels deep; records are flat JSON objects")
        if isinstance(body, list):
            if not body:
                return _problem(422, "the array is empty: send at least one record")
            if len(body) > settings.ingest_max_batch:
                return _problem(413, f"{len(body)} records in one request; the limit is {settings.ingest_max_batch}")

        ctx = ValidationContext(
            now=time.time(), symbols=symbols, max_future_skew=settings.max_future_skew_seconds
        )
        verdict = judge(body, ctx)
        pub: Publisher = request.app.state.publisher
        try:
            with metrics.publish_seconds.time():
                await run_in_threadpool(pub.publish, verdict.accepted, verdict.rejected)
        except KafkaUnavailable as exc:
            metrics.unavailable.inc()
            event(log, "kafka unavailable", logging.WARNING, reason=str(exc), records=len(verdict.accepted))
            return _problem(503, f"{exc}; nothing was accepted, retry later", **{"Retry-After": RETRY_AFTER_S})
        metrics.count(verdict)
        if verdict.rejected:
            first = verdict.rejected[0]
            event(log, "records rejected", logging.INFO, rejected=len(verdict.rejected),
                  accepted=len(verdict.accepted), first_index=first[0], first_reason=first[2].reason)
        status = 200 if verdict.accepted else 422
        return Response(orjson.dumps(verdict.response()), status_code=status, media_type="application/json")

    def kafka_reachable() -> tuple[bool, dict[str, Any]]:
        pub: Publisher | None = app.state.publisher
        if pub is not None and pub.reachable():
            return True, {"status": "ready"}
        return False, {"detail": "Kafka is unreachable"}

    app.include_router(health_router(kafka_reachable))
    return app
