"""The dashboard service (FastAPI): the page, read-only REST, the WebSocket feed, webhooks.

- `/` the page (services/dashboard/static) with lightweight-charts served from npm's
  node_modules at `/vendor/lightweight-charts.js` (installed by `npm ci`, never committed).
- `/api/*` read-only REST on the reader role, in read-only transactions. Documented at /docs.
- `/ws` committed bars and signals as they are committed (see feed.py), resumable by event id.
- webhooks for new signals when TICKFLOW_WEBHOOK_URLS is set (see webhooks.py).
- `/healthz`, `/readyz`, `/metrics`.
"""
from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Literal
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from services.config import Settings, get_settings
from services.dashboard import feed as feedmod
from services.dashboard import queries
from services.dashboard.summary import PERIODS, parse_time
from services.dashboard.webhooks import WebhookNotifier
from services.db.connect import make_engine
from services.logs import event, setup_logging

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
DEFAULT_VENDOR_DIR = HERE / "web" / "node_modules"
CHARTS_FILE = Path("lightweight-charts") / "dist" / "lightweight-charts.standalone.production.js"
SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")
CATCH_UP_PAGE = 2000
HEARTBEAT_S = 15.0


# -- response models (for /docs) ---------------------------------------------------------------
class Bar(BaseModel):
    ts: float = Field(description="bar time, epoch seconds")
    open: float
    high: float
    low: float
    close: float
    volume: int
    sma: float | None = None
    ema_fast: float | None = None
    ema_slow: float | None = None
    rsi: float | None = None
    macd: float | None = None
    macd_signal: float | None = None
    macd_hist: float | None = None
    bb_middle: float | None = None
    bb_upper: float | None = None
    bb_lower: float | None = None


class BarPage(BaseModel):
    symbol: str
    order: Literal["asc", "desc"]
    count: int
    items: list[Bar]
    next_cursor: str | None = Field(description="pass as `cursor` (with the same other parameters) for the next page")
    next: str | None = Field(description="the next page's URL, or null on the last page")


class Signal(BaseModel):
    symbol: str
    ts: float = Field(description="time of the bar that fired it, epoch seconds")
    rule: Literal["rsi", "ema_cross", "macd_cross"]
    side: Literal["BUY", "SELL"]
    price: float
    value: float = Field(description="the indicator that fired (rsi, ema_fast or macd)")
    reference: float = Field(description="what it crossed (threshold, ema_slow or macd_signal)")


class SignalPage(BaseModel):
    order: Literal["asc", "desc"]
    count: int
    items: list[Signal]
    next_cursor: str | None
    next: str | None


class SymbolInfo(BaseModel):
    symbol: str
    configured: bool = Field(description="listed in TICKFLOW_SYMBOLS")
    first_ts: float | None
    last_ts: float | None
    last_close: float | None


class SymbolList(BaseModel):
    items: list[SymbolInfo]


class RuleSummary(BaseModel):
    rule: str
    buy_signals: int
    sell_signals: int
    evaluated: int
    hits: int
    hit_rate: float | None


class Summary(BaseModel):
    symbol: str
    period: Literal["1h", "1d"]
    window_start: float
    window_end: float
    bars: int
    first_ts: float
    last_ts: float
    open: float
    high: float
    low: float
    close: float
    return_: float = Field(alias="return", serialization_alias="return")
    volatility: float | None
    volume: int
    buy_signals: int
    sell_signals: int
    horizon_bars: int
    evaluated: int
    hits: int
    hit_rate: float | None
    run_id: str | None
    computed_at: float
    rules: list[RuleSummary]


class SummaryList(BaseModel):
    items: list[Summary]


# -- parameter checks ----------------------------------------------------------------------------
def bad_param(name: str, message: str, status: int = 422) -> HTTPException:
    """A 4xx shaped like FastAPI's own validation errors."""
    return HTTPException(status, detail=[{"loc": ["query", name], "msg": message, "type": "value_error"}])


def only_params(*allowed: str) -> Callable[[Request], None]:
    """Reject unknown query parameters (a typo like `symbl=` should not silently mean "all")."""

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise bad_param(unknown[0], f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")

    return check


def parse_symbol(value: str, name: str, known: tuple[str, ...]) -> str:
    symbol = value.strip().upper()
    if not SYMBOL_RE.match(symbol):
        raise bad_param(name, f"{value!r} is not a ticker symbol (letters, digits, '.', '-'; at most 15)")
    if symbol not in known:
        raise bad_param(name, f"unknown symbol {symbol!r}; known: {', '.join(known)}", status=404)
    return symbol


def parse_when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError):
        raise bad_param(name, f"{value!r} is neither ISO 8601 (e.g. 2024-05-01T12:00:00Z; UTC if no offset) "
                              "nor epoch seconds") from None


def check_range(start: datetime | None, end: datetime | None, names: tuple[str, str]) -> None:
    if start is not None and end is not None and start >= end:
        raise bad_param(names[1], f"`{names[1]}` must be after `{names[0]}`")


def parse_cursor(value: str | None, kind: str, order: str, size: int) -> list[Any] | None:
    if value is None:
        return None
    try:
        return queries.decode_cursor(value, kind, order, size)
    except queries.CursorError as exc:
        raise bad_param("cursor", str(exc)) from None


def next_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor"}
    params["cursor"] = cursor
    return f"{request.url.path}?{urlencode(params)}"


class SlowClient(Exception):
    """A WebSocket client stopped taking messages; `position` is the last id it surely has."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


def close_reason(text: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")


MAX_EVENT_ID = 2**63 - 1  # dashboard_feed.id is a bigint


def parse_ws_params(params: dict[str, str], known: tuple[str, ...]) -> tuple[int | None, frozenset | None, frozenset | None]:
    unknown = sorted(set(params) - {"after", "symbols", "kinds"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; allowed: after, symbols, kinds")
    after = None
    if "after" in params:
        text = params["after"]
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_EVENT_ID:
            raise ValueError(f"after must be an event id (an integer from 0 to {MAX_EVENT_ID}), got {text[:40]!r}")
        after = int(text)
    symbols = None
    if params.get("symbols"):
        symbols = frozenset(s.strip().upper() for s in params["symbols"].split(",") if s.strip())
        if bad := sorted(symbols - set(known)):
            raise ValueError(f"unknown symbol(s) {', '.join(bad)}; known: {', '.join(known)}")
    kinds = None
    if params.get("kinds"):
        kinds = frozenset(k.strip() for k in params["kinds"].split(",") if k.strip())
        if bad := sorted(kinds - {"bar", "signal"}):
            raise ValueError(f"unknown kind(s) {', '.join(bad)}; kinds are bar, signal")
    return after, symbols, kinds


# -- the app -----------------------------------------------------------------------------------
def reader_engine(settings: Settings) -> Engine:
    """Read-only role, and read-only transactions on top (belt and braces)."""
    return make_engine(settings.reader_database_url, pool_size=5, max_overflow=5, connect_args={
        "application_name": "tickflow-dashboard-api", "connect_timeout": 5,
        "options": "-c default_transaction_read_only=on -c statement_timeout=15000",
    })


def vendor_file(settings: Settings) -> Path:
    base = Path(settings.dashboard_vendor_dir) if settings.dashboard_vendor_dir else DEFAULT_VENDOR_DIR
    return base / CHARTS_FILE


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    known = tuple(settings.symbols)
    ws_refused = {"full": 0, "slow": 0}  # WebSocket clients turned away (cap) or dropped (stopped reading)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings.log_level, settings.log_format)
        loop = asyncio.get_running_loop()
        hub = feedmod.Hub()
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

        listener = feedmod.FeedListener(settings.reader_database_url, publish)
        app.state.listener = listener
        listener.start()
        if notifier is not None:
            notifier.start()
        pruner = asyncio.create_task(feedmod.prune_forever(app.state.writer, settings.dashboard_feed_retention_hours))
        if not vendor_file(settings).is_file():
            event(log, "charting library missing: the page cannot draw charts; run `make install` "
                       "(npm ci in services/dashboard/web)", logging.WARNING, expected=str(vendor_file(settings)))
        event(log, "dashboard started", port=settings.dashboard_port, webhooks=len(settings.webhook_urls))
        try:
            yield
        finally:
            pruner.cancel()
            with suppress(asyncio.CancelledError):
                await pruner
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

    def read(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(cursor, *args)` on a pooled reader connection (in a read-only transaction)."""
        conn = request.app.state.reader.raw_connection()
        try:
            with conn.cursor() as cur:
                return fn(cur, *args)
        finally:
            conn.rollback()
            conn.close()

    # -- REST ------------------------------------------------------------------------------------
    @app.get("/api/symbols", response_model=SymbolList, summary="Symbols with their first and last bar",
             dependencies=[Depends(only_params())])
    def api_symbols(request: Request) -> dict[str, Any]:
        return {"items": read(request, queries.symbols, known)}

    @app.get("/api/bars", response_model=BarPage, summary="A symbol's bars with indicators",
             responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
             dependencies=[Depends(only_params("symbol", "from", "to", "order", "limit", "cursor"))])
    def api_bars(
        request: Request,
        symbol: str = Query(min_length=1, max_length=32, description="ticker, e.g. AAPL"),
        from_: str | None = Query(None, alias="from", min_length=1, description="bars at or after this time"),
        to: str | None = Query(None, min_length=1, description="bars before this time"),
        order: Literal["asc", "desc"] = Query("asc", description="by time; desc = newest first"),
        limit: int = Query(500, ge=1, le=5000),
        cursor: str | None = Query(None, min_length=1, max_length=512, description="next_cursor of the previous page"),
    ) -> dict[str, Any]:
        sym = parse_symbol(symbol, "symbol", known)
        start, end = parse_when(from_, "from"), parse_when(to, "to")
        check_range(start, end, ("from", "to"))
        key = parse_cursor(cursor, "bars", order, 1)
        items, next_key = read(request, queries.bars, sym, start, end, order, limit, key)
        nxt = queries.encode_cursor("bars", order, next_key) if next_key else None
        return {"symbol": sym, "order": order, "count": len(items), "items": items, "next_cursor": nxt,
                "next": next_url(request, nxt)}

    @app.get("/api/signals", response_model=SignalPage, summary="Signals, for one symbol or all",
             responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
             dependencies=[Depends(only_params("symbol", "since", "until", "order", "limit", "cursor"))])
    def api_signals(
        request: Request,
        symbol: str | None = Query(None, min_length=1, max_length=32, description="ticker; all symbols when absent"),
        since: str | None = Query(None, min_length=1, description="signals at or after this time"),
        until: str | None = Query(None, min_length=1, description="signals before this time"),
        order: Literal["asc", "desc"] = Query("asc", description="by time; desc = newest first"),
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = Query(None, min_length=1, max_length=512, description="next_cursor of the previous page"),
    ) -> dict[str, Any]:
        sym = parse_symbol(symbol, "symbol", known) if symbol is not None else None
        start, end = parse_when(since, "since"), parse_when(until, "until")
        check_range(start, end, ("since", "until"))
        key = parse_cursor(cursor, "signals", order, 3)
        items, next_key = read(request, queries.signals, sym, start, end, order, limit, key)
        nxt = queries.encode_cursor("signals", order, next_key) if next_key else None
        return {"order": order, "count": len(items), "items": items, "next_cursor": nxt, "next": next_url(request, nxt)}

    @app.get("/api/summary", response_model=SummaryList, response_model_by_alias=True,
             summary="Newest per-symbol summaries of the market_summary DAG (last hour / day)",
             responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
             dependencies=[Depends(only_params("period", "symbol"))])
    def api_summary(
        request: Request,
        period: Literal["1h", "1d"] | None = Query(None, description="1h or 1d; both when absent"),
        symbol: str | None = Query(None, min_length=1, max_length=32),
    ) -> dict[str, Any]:
        sym = parse_symbol(symbol, "symbol", known) if symbol is not None else None
        periods = [period] if period else list(PERIODS)
        return {"items": read(request, queries.summaries, periods, sym)}

    # -- WebSocket -------------------------------------------------------------------------------
    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            after, symbols, kinds = parse_ws_params(dict(websocket.query_params), known)
        except ValueError as exc:
            await websocket.send_text(feedmod.dumps({"type": "error", "detail": str(exc)}))
            await websocket.close(code=1008, reason=close_reason(str(exc)))
            return
        hub: feedmod.Hub = websocket.app.state.hub
        if len(hub.subscribers) >= settings.dashboard_ws_max_clients:
            ws_refused["full"] += 1
            await websocket.close(code=1013, reason=close_reason(
                f"{settings.dashboard_ws_max_clients} clients connected, the most this server takes; retry later"))
            return
        try:
            await asyncio.wait_for(hub.ready.wait(), timeout=10)
        except TimeoutError:
            await websocket.close(code=1013, reason="feed not connected to PostgreSQL yet; retry")
            return
        sub = hub.subscribe(symbols, kinds)  # from here on, every published batch is queued for us
        try:
            await stream(websocket, sub, hub, after)
        except WebSocketDisconnect:
            pass
        except SlowClient as slow:
            # Its socket is full: a close frame may never get through, so it gets a bounded try.
            ws_refused["slow"] += 1
            event(log, "WebSocket client dropped: it stopped reading", logging.WARNING, resume_after=slow.position)
            with suppress(Exception):
                await asyncio.wait_for(websocket.close(code=1013, reason=close_reason(
                    f"too slow; reconnect with after={slow.position}")), timeout=1.0)
        finally:
            hub.unsubscribe(sub)

    async def send(websocket: WebSocket, message: str, position: int) -> None:
        """Send, or give up on a client that has not taken anything for the send timeout."""
        try:
            await asyncio.wait_for(websocket.send_text(message), timeout=settings.dashboard_ws_send_timeout_s)
        except TimeoutError:
            raise SlowClient(position) from None

    async def stream(websocket: WebSocket, sub: feedmod.Subscriber, hub: feedmod.Hub, after: int | None) -> None:
        head = hub.head or 0
        pos = head
        await send(websocket, feedmod.dumps({"type": "hello", "head": head, "after": after}), after or head)
        if after is not None:
            pos = await catch_up(websocket, sub, after, head)
        receiver = asyncio.create_task(drain_client(websocket))
        try:
            while True:
                if sub.overflowed and sub.queue.empty():
                    await send(websocket, feedmod.dumps({"type": "overflow", "last_id": pos}), pos)
                    await websocket.close(code=1013, reason=f"too slow; reconnect with after={pos}")
                    return
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, receiver}, timeout=HEARTBEAT_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    return  # the client went away
                if getter not in done:
                    getter.cancel()
                    await send(websocket, feedmod.dumps({"type": "heartbeat", "last_id": pos}), pos)
                    continue
                batch = getter.result()
                sub.taken(batch)
                if batch.last_id <= pos:
                    continue
                for message in sub.messages_after(batch, pos):
                    await send(websocket, message, pos)
                pos = batch.last_id
        finally:
            receiver.cancel()

    async def catch_up(websocket: WebSocket, sub: feedmod.Subscriber, after: int, head: int) -> int:
        """Send what was committed in (after, head] from the feed table; return the new position."""
        engine = websocket.app.state.reader

        def oldest() -> int | None:
            conn = engine.raw_connection()
            try:
                with conn.cursor() as cur:
                    return feedmod.oldest_id(cur)
            finally:
                conn.rollback()
                conn.close()

        if after > head:
            await send(websocket, feedmod.dumps({
                "type": "reset", "reason": f"after={after} is beyond the newest event id {head}", "head": head}), head)
            return head
        first = await run_in_threadpool(oldest)
        if first is not None and after < first - 1:
            await send(websocket, feedmod.dumps({
                "type": "reset", "head": head,
                "reason": f"events after {after} up to {first - 1} were pruned (retention); reload from REST"}), head)
            return head

        def page(lo: int) -> tuple[list[dict[str, Any]], int]:
            conn = engine.raw_connection()
            try:
                with conn.cursor() as cur:
                    return feedmod.fetch_events(cur, lo, head, CATCH_UP_PAGE)
            finally:
                conn.rollback()
                conn.close()

        pos = after
        while pos < head:
            events, last = await run_in_threadpool(page, pos)
            for message in feedmod.event_messages(sub.select(events), last):
                await send(websocket, message, pos)
            pos = last
        return pos

    async def drain_client(websocket: WebSocket) -> None:
        """Read (and ignore) what the client sends, until it disconnects."""
        with suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return

    # -- page, health, metrics ---------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/vendor/lightweight-charts.js", include_in_schema=False)
    def charts_library() -> Response:
        path = vendor_file(settings)
        if not path.is_file():
            return PlainTextResponse(f"lightweight-charts is not installed ({path} is missing); run `make install` "
                                     "or `npm ci` in services/dashboard/web", status_code=503)
        return FileResponse(path, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", summary="Alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Feed connected to PostgreSQL")
    def readyz(request: Request) -> JSONResponse:
        listener: feedmod.FeedListener = request.app.state.listener
        if listener.connected.is_set() and request.app.state.hub.head is not None:
            return JSONResponse({"status": "ready", "feed_head": request.app.state.hub.head})
        return JSONResponse({"status": "waiting", "detail": "the feed listener is not connected to PostgreSQL"},
                            status_code=503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
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

    return app

