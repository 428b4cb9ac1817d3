"""The dashboard service (FastAPI): the page, read-only REST, the WebSocket live updates, webhooks.

- `/` the page (services/dashboard/static) with lightweight-charts served from npm's
  node_modules at `/vendor/lightweight-charts.js` (installed by `npm ci`, never committed; page.py).
- `/api/*` read-only REST on the reader role, in read-only transactions (rest.py). Documented at /docs.
- `/ws` committed bars and signals as they are committed (ws.py, updates.py), resumable by event id.
- webhooks for new signals when TICKFLOW_WEBHOOK_URLS is set (see webhooks.py).
- `/healthz`, `/readyz`, `/metrics` (monitoring.py), the storage figures among the metrics (read every minute).

This module only assembles them: `create_app` starts and stops the live-updates listener, its pruning and
the webhook notifier with the app (lifespan), and mounts the routers and the static files.
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from typing import Any, AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from services.config import Settings, get_settings
from services.dashboard import updates
from services.dashboard.monitoring import StorageRefresher, monitoring_router
from services.dashboard.page import STATIC_DIR, page_router, vendor_file
from services.dashboard.rest import rest_router
from services.dashboard.webhooks import WebhookNotifier
from services.dashboard.ws import ws_router
from services.db.connect import make_engine
from services.logs import event, setup_logging

log = logging.getLogger(__name__)


def reader_engine(settings: Settings) -> Engine:
    """The dashboard's own read-only login, and read-only transactions on top (belt and braces)."""
    return make_engine(settings.dashboard_database_url, pool_size=5, max_overflow=5, connect_args={
        "application_name": "tickflow-dashboard-api", "connect_timeout": 5,
        "options": "-c default_transaction_read_only=on -c statement_timeout=15000",
    })


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    ws_refused = {"full": 0, "slow": 0}  # WebSocket clients turned away (cap) or dropped (stopped reading)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings.log_level, settings.log_format)
        loop = asyncio.get_running_loop()
        hub = updates.Hub()
        app.state.hub = hub
        app.state.reader = reader_engine(settings)
        app.state.writer = make_engine(settings.database_url, pool_size=1, max_overflow=1,
                                       connect_args={"application_name": "tickflow-dashboard-prune"})
        notifier = WebhookNotifier(settings, settings.database_url) if settings.webhook_urls else None
        app.state.notifier = notifier

        def publish(events: list[dict[str, Any]], last_id: int) -> None:  # on the listener's thread
            try:
                loop.call_soon_threadsafe(hub.publish, events, last_id)
            except RuntimeError:  # the loop is closing: shutting down
                return
            if notifier is not None and any(e["type"] == "signal" for e in events):
                notifier.wake()

        listener = updates.UpdateListener(settings.dashboard_database_url, publish)
        app.state.listener = listener
        listener.start()
        if notifier is not None:
            notifier.start()
        pruner = asyncio.create_task(updates.prune_forever(app.state.writer, settings.dashboard_feed_retention_hours))
        app.state.storage = StorageRefresher(app.state.reader, app.state.writer, settings.timeframes,
                                             settings.storage_volume_bytes, settings.storage_refresh_s)
        refresher = asyncio.create_task(app.state.storage.run_forever())
        if not vendor_file(settings).is_file():
            event(log, "charting library missing: the page cannot draw charts; run `make install` "
                       "(npm ci in services/dashboard/web)", logging.WARNING, expected=str(vendor_file(settings)))
        event(log, "dashboard started", port=settings.dashboard_port, webhooks=len(settings.webhook_urls))
        try:
            yield
        finally:
            for background in (pruner, refresher):
                background.cancel()
                with suppress(asyncio.CancelledError):
                    await background
            listener.stop()
            if notifier is not None:
                notifier.stop()
            await run_in_threadpool(listener.join, 5)
            if not listener.is_alive():
                listener.close()
            if notifier is not None:
                await run_in_threadpool(notifier.join, 10)
            app.state.reader.dispose()
            app.state.writer.dispose()

    app = FastAPI(
        title="Tickflow dashboard",
        version="0.1.0",
        summary="Live candles, indicators and signals: a page, read-only REST and a WebSocket feed.",
        description=(
            "Times are float epoch seconds. Time parameters take ISO 8601 (UTC if no offset) or epoch "
            "seconds. Lists are keyset-paginated: follow `next` (or pass `next_cursor` as `cursor`). "
            "Bad parameters get 422 (unknown symbol: 404) with the parameter and the reason.\n\n"
            "WebSocket `/ws?after=<event id>&symbols=AAPL,MSFT&kinds=bar,signal` (all optional) streams "
            "`{\"type\": \"events\", \"events\": [...], \"last_id\": N}` messages with every committed bar and "
            "signal in commit order; reconnect with `after=<last_id>` to get exactly what was missed."
        ),
        lifespan=lifespan,
    )
    # /docs lists the paths in the order they are added here.
    app.include_router(rest_router(settings))
    app.include_router(ws_router(settings, ws_refused))
    app.include_router(page_router(settings))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(monitoring_router(app, ws_refused))
    return app
