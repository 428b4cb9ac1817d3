"""/healthz, /readyz and /metrics (Prometheus text) of the dashboard."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from services.dashboard import feed as feedmod


def monitoring_router(ws_refused: dict[str, int]) -> APIRouter:
    """The routes; /metrics reports `ws_refused` (WebSocket clients refused or dropped, by reason,
    counted by `ws.ws_router`) beside the feed's and the webhooks' counters in `app.state`."""
    router = APIRouter()

    @router.get("/healthz", summary="Alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Feed connected to PostgreSQL")
    def readyz(request: Request) -> JSONResponse:
        listener: feedmod.FeedListener = request.app.state.listener
        if listener.connected.is_set() and request.app.state.hub.head is not None:
            return JSONResponse({"status": "ready", "feed_head": request.app.state.hub.head})
        return JSONResponse({"status": "waiting", "detail": "the feed listener is not connected to PostgreSQL"},
                            status_code=503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> str:
        state = request.app.state
        hub: feedmod.Hub = state.hub
        lines = [
            "# TYPE tickflow_dashboard_ws_clients gauge", f"tickflow_dashboard_ws_clients {len(hub.subscribers)}",
            "# TYPE tickflow_dashboard_feed_head gauge", f"tickflow_dashboard_feed_head {hub.head or 0}",
            "# TYPE tickflow_dashboard_feed_events_total counter",
            f"tickflow_dashboard_feed_events_total {hub.published_events}",
            "# TYPE tickflow_dashboard_feed_notifications_total counter",
            f"tickflow_dashboard_feed_notifications_total {state.listener.notifications}",
            "# TYPE tickflow_dashboard_ws_refused_total counter",
            *(f'tickflow_dashboard_ws_refused_total{{reason="{k}"}} {v}' for k, v in sorted(ws_refused.items())),
        ]
        if state.notifier is not None:
            lines.append("# TYPE tickflow_dashboard_webhook_attempts_total counter")
            lines += [f'tickflow_dashboard_webhook_attempts_total{{outcome="{k}"}} {v}'
                      for k, v in sorted(state.notifier.attempts.items())]
        return "\n".join(lines) + "\n"

    return router
