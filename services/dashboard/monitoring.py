"""/healthz, /readyz and /metrics of the dashboard (services/ops.py)."""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from services.dashboard import updates
from services.ops import StateCollector, ops_router


def _samples(app: FastAPI, ws_refused: dict[str, int]) -> Iterator[tuple[str, str, str, float, dict[str, str]]]:
    state = app.state
    hub: updates.Hub | None = getattr(state, "hub", None)
    if hub is None:  # not started (its lifespan makes the hub)
        return
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
