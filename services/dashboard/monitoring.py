"""/healthz, /readyz and /metrics of the dashboard (services/ops.py).

/metrics also carries the storage figures (services/core/storage.py): `StorageRefresher` reads them
every `storage_refresh_s` (60 s) in a thread of its own, never on a request's path, and a scrape
reports the last figures read. Unknown figures are NaN (no volume size set, or no sample an hour
old yet); days until full is +Inf while the database is not growing.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from services.core.storage import StorageFigures
from services.dashboard import updates
from services.logs import event
from services.ops import StateCollector, ops_router

log = logging.getLogger(__name__)
Samples = Iterator[tuple[str, str, str, float, dict[str, str]]]


class StorageRefresher:
    """Reads the storage figures on the reader login and records the size as a sample on the writer."""

    def __init__(self, reader: Engine, writer: Engine, timeframes: tuple[str, ...], volume_bytes: int | None,
                 interval_s: float) -> None:
        self.reader, self.writer = reader, writer
        self.timeframes, self.volume_bytes, self.interval_s = timeframes, volume_bytes, interval_s
        self.figures: StorageFigures | None = None
        self.failures = 0

    def refresh(self) -> StorageFigures:
        from services.db.storage import measure_and_record

        read, write = self.reader.raw_connection(), self.writer.raw_connection()
        try:
            figures, recorded = measure_and_record(read.driver_connection, write.driver_connection, self.timeframes,
                                                   self.volume_bytes)
        finally:
            read.close()
            write.close()
        if recorded:  # at most one in 15 minutes, from whichever dashboard or check comes first
            event(log, "storage sample recorded", at=figures.measured_at.isoformat(),
                  database_bytes=figures.database_bytes)
        self.figures = figures
        return figures

    async def run_forever(self) -> None:
        while True:
            try:
                await run_in_threadpool(self.refresh)
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: the next round tries again
                self.failures += 1
                event(log, "could not read the storage figures", logging.WARNING, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval_s)


def storage_samples(figures: StorageFigures | None, failures: int) -> Samples:
    yield ("tickflow_storage_refresh_failures", "counter", "Times the dashboard could not read the storage figures.",
           failures, {})
    if figures is None:
        return
    nan = math.nan
    days = figures.days_left
    yield ("tickflow_storage_measured_timestamp_seconds", "gauge", "When the storage figures were read "
           "(the database's clock).", figures.measured_at.timestamp(), {})
    yield "tickflow_db_size_bytes", "gauge", "Size of Tickflow's database.", figures.database_bytes, {}
    yield ("tickflow_db_volume_used_bytes", "gauge", "Every database in PostgreSQL's default tablespace: what "
           "fills the volume (WAL aside).", figures.used_bytes, {})
    yield ("tickflow_db_volume_bytes", "gauge", "Size of PostgreSQL's volume (TICKFLOW_STORAGE_VOLUME_BYTES; "
           "NaN: unknown).", nan if figures.volume_bytes is None else figures.volume_bytes, {})
    yield ("tickflow_db_growth_bytes_per_day", "gauge", "Growth of the database per day, over up to 7 whole days "
           "(NaN: no sample an hour old yet).", nan if figures.bytes_per_day is None else figures.bytes_per_day, {})
    yield ("tickflow_db_days_until_full", "gauge", "Days until the volume is full at that growth (NaN: unknown, "
           "+Inf: not growing).", nan if days is None else days, {})
    yield ("tickflow_partitions_missing_ahead", "gauge", "Table slices whose partitions reach less than 6 days "
           "ahead (a data_retention run was missed).", len(figures.missing_ahead), {})
    for name, days_ahead in sorted(figures.ahead_days().items()):
        yield ("tickflow_partitions_ahead_days", "gauge", "How far ahead each table slice's partitions reach.",
               days_ahead, {"slice": name})
    for table, rows in sorted(figures.default_rows.items()):
        yield ("tickflow_partition_default_rows", "gauge", "Rows waiting in a table's DEFAULT partition for "
               "maintenance to home them (counted up to a million).", rows, {"table": table})
    for table, n in sorted(figures.table_bytes.items()):
        yield ("tickflow_partition_table_bytes", "gauge", "Size of a partitioned table, all its partitions.", n,
               {"table": table})


def _samples(app: FastAPI, ws_refused: dict[str, int]) -> Samples:
    state = app.state
    hub: updates.Hub | None = getattr(state, "hub", None)
    if hub is None:  # not started (its lifespan makes the hub)
        return
    storage: Any = getattr(state, "storage", None)
    if storage is not None:
        yield from storage_samples(storage.figures, storage.failures)
    yield "tickflow_dashboard_ws_clients", "gauge", "WebSocket clients connected.", len(hub.subscribers), {}
    yield "tickflow_dashboard_feed_head", "gauge", "Last feed event id published.", hub.head or 0, {}
    yield "tickflow_dashboard_feed_events", "counter", "Feed events published to clients.", hub.published_events, {}
    yield ("tickflow_dashboard_feed_notifications", "counter", "NOTIFY messages heard from PostgreSQL.",
           state.listener.notifications, {})
    for reason, n in sorted(ws_refused.items()):
        yield ("tickflow_dashboard_ws_refused", "counter",
               "WebSocket clients refused (full: at the cap) or dropped (slow: stopped reading).", n,
               {"reason": reason})
    if state.notifier is not None:
        for outcome, n in sorted(state.notifier.attempts.items()):
            yield ("tickflow_dashboard_webhook_attempts", "counter", "Webhook delivery attempts, by outcome.", n,
                   {"outcome": outcome})


def monitoring_router(app: FastAPI, ws_refused: dict[str, int]) -> APIRouter:
    """The routes; /metrics reports `ws_refused` (WebSocket clients refused or dropped, by reason,
    counted by `ws.ws_router`) beside the live updates' and the webhooks' counters in `app.state`."""
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: _samples(app, ws_refused)))

    def ready() -> tuple[bool, dict[str, object]]:
        listener: updates.UpdateListener | None = getattr(app.state, "listener", None)
        if listener is not None and listener.connected.is_set() and app.state.hub.head is not None:
            return True, {"status": "ready", "feed_head": app.state.hub.head}
        return False, {"status": "waiting", "detail": "the feed listener is not connected to PostgreSQL"}

    return ops_router(registry, ready)
