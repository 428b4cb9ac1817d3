"""The read-only REST API, /api/*: symbols, timeframes, bars (and the forming candle), signals,
market summaries, signal evaluations, forecasts and recommendations.

Every request reads on a pooled connection of the reader role (`app.state.reader`, made in
`app.reader_engine`) in a read-only transaction. Lists are keyset-paginated (see `queries`);
parameters are checked in `query_params`, bodies shaped by `schemas`.
"""
from __future__ import annotations

from typing import Any, Callable, get_args

from fastapi import APIRouter, Depends, Query, Request

from services.config import Settings
from services.core.stance import glance_of
from services.core.timeframes import RAW, Timeframe
from services.dashboard import queries
from services.dashboard.forming import forming
from services.dashboard.query_params import (
    bad_param,
    check_range,
    next_url,
    only_params,
    parse_cursor,
    parse_symbol,
    parse_timeframe,
    parse_when,
)
from services.dashboard.schemas import (
    BarPage,
    EvaluationList,
    ForecastList,
    Forming,
    Order,
    Period,
    RecommendationList,
    SignalPage,
    SummaryList,
    SymbolList,
    TimeframeList,
)

TIMEFRAME_HELP = ("raw: the base bars, one per price record (default); or rolled-up candles of a configured "
                  "timeframe such as 1m, 5m, 1h, 1d (README, \"Timeframes\")")


def read(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(cursor, *args)` on a pooled reader connection (in a read-only transaction)."""
    conn = request.app.state.reader.raw_connection()
    try:
        with conn.cursor() as cur:
            return fn(cur, *args)
    finally:
        conn.rollback()
        conn.close()


def rest_router(settings: Settings) -> APIRouter:
    """The /api/* routes; symbols the settings do not accept (`Settings.symbol_policy`) are unknown (404)."""
    known = settings.symbol_policy()

    def symbol_filter(symbol: str | None) -> str | None:
        """The `symbol` query parameter of a listing: None (all symbols) or an accepted symbol."""
        return None if symbol is None else parse_symbol(symbol, "symbol", known)
    router = APIRouter()

    @router.get("/api/symbols", response_model=SymbolList, summary="Symbols with their first and last bar",
                dependencies=[Depends(only_params())])
    def api_symbols(request: Request) -> dict[str, Any]:
        return {"items": read(request, queries.symbols, tuple(settings.symbols))}

    # The processor and the dashboard read the same TICKFLOW_TIMEFRAMES: what the page offers is what
    # the processor rolls up. Any other valid timeframe is still accepted by /api/bars (stored rows of
    # a timeframe configured earlier stay readable).
    timeframes = [{"timeframe": RAW, "seconds": None}] + [
        {"timeframe": tf.name, "seconds": tf.seconds} for tf in settings.timeframe_specs()]

    @router.get("/api/timeframes", response_model=TimeframeList, summary="raw and the configured timeframes",
                dependencies=[Depends(only_params())])
    def api_timeframes() -> dict[str, Any]:
        return {"items": timeframes}

    @router.get("/api/bars", response_model=BarPage, summary="A symbol's bars with indicators",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("symbol", "timeframe", "from", "to", "order", "limit", "cursor"))])
    def api_bars(
        request: Request,
        symbol: str = Query(min_length=1, max_length=32, description="ticker, e.g. AAPL"),
        timeframe: str = Query(RAW, min_length=1, max_length=8, description=TIMEFRAME_HELP),
        from_: str | None = Query(None, alias="from", min_length=1, description="bars at or after this time"),
        to: str | None = Query(None, min_length=1, description="bars before this time"),
        order: Order = Query("asc", description="by time; desc = newest first"),
        limit: int = Query(500, ge=1, le=5000),
        cursor: str | None = Query(None, min_length=1, max_length=512, description="next_cursor of the previous page"),
    ) -> dict[str, Any]:
        sym = parse_symbol(symbol, "symbol", known)
        start, end = parse_when(from_, "from"), parse_when(to, "to")
        check_range(start, end, ("from", "to"))
        tf = parse_timeframe(timeframe, "timeframe")
        key = parse_cursor(cursor, f"bars:{tf}", order)
        items, next_key = read(request, queries.bars, sym, tf, start, end, order, limit, key)
        nxt = queries.encode_cursor(f"bars:{tf}", order, next_key) if next_key else None
        return {"symbol": sym, "order": order, "count": len(items), "items": items, "next_cursor": nxt,
                "next": next_url(request, nxt)}

    @router.get("/api/bars/forming", response_model=Forming,
                summary="A symbol's forming (not yet closed, so not stored) candle of a timeframe",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("symbol", "timeframe"))])
    def api_forming(
        request: Request,
        symbol: str = Query(min_length=1, max_length=32, description="ticker, e.g. AAPL"),
        timeframe: str = Query(min_length=1, max_length=8, description="a rolled-up timeframe such as 1m, 5m, 1h, 1d"),
    ) -> dict[str, Any]:
        sym = parse_symbol(symbol, "symbol", known)
        tf = parse_timeframe(timeframe, "timeframe")
        if tf == RAW:
            raise bad_param("timeframe", "raw bars are stored as they come; only a rolled-up timeframe has a "
                                         "forming candle")
        return {"symbol": sym, "timeframe": tf, "item": read(request, forming, sym, Timeframe.parse(tf))}

    @router.get("/api/signals", response_model=SignalPage, summary="Signals, for one symbol or all",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("symbol", "timeframe", "since", "until", "order", "limit",
                                                  "cursor"))])
    def api_signals(
        request: Request,
        symbol: str | None = Query(None, min_length=1, max_length=32, description="ticker; all symbols when absent"),
        timeframe: str = Query(RAW, min_length=1, max_length=8, description=TIMEFRAME_HELP),
        since: str | None = Query(None, min_length=1, description="signals at or after this time"),
        until: str | None = Query(None, min_length=1, description="signals before this time"),
        order: Order = Query("asc", description="by time; desc = newest first"),
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = Query(None, min_length=1, max_length=512, description="next_cursor of the previous page"),
    ) -> dict[str, Any]:
        sym = symbol_filter(symbol)
        start, end = parse_when(since, "since"), parse_when(until, "until")
        check_range(start, end, ("since", "until"))
        tf = parse_timeframe(timeframe, "timeframe")
        key = parse_cursor(cursor, f"signals:{tf}", order)
        items, next_key = read(request, queries.signals, sym, tf, start, end, order, limit, key)
        nxt = queries.encode_cursor(f"signals:{tf}", order, next_key) if next_key else None
        return {"order": order, "count": len(items), "items": items, "next_cursor": nxt, "next": next_url(request, nxt)}

    @router.get("/api/summary", response_model=SummaryList, response_model_by_alias=True,
                summary="Newest per-symbol summaries of the market_summary DAG (last hour / day / week)",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("period", "symbol", "timeframe"))])
    def api_summary(
        request: Request,
        period: Period | None = Query(None, description="1h, 1d or 7d; all when absent"),
        symbol: str | None = Query(None, min_length=1, max_length=32),
        timeframe: str = Query(RAW, min_length=1, max_length=8,
                               description="the bars summarised: " + TIMEFRAME_HELP),
    ) -> dict[str, Any]:
        sym = symbol_filter(symbol)
        tf = parse_timeframe(timeframe, "timeframe")
        periods = [period] if period else list(get_args(Period))
        return {"items": read(request, queries.summaries, tf, periods, sym)}

    @router.get("/api/evaluations", response_model=EvaluationList,
                summary="Newest signal evaluations of the signal_evaluation DAG: each rule followed, "
                        "beside buy-and-hold",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("symbol", "timeframe"))])
    def api_evaluations(
        request: Request,
        symbol: str | None = Query(None, min_length=1, max_length=32),
        timeframe: str = Query(RAW, min_length=1, max_length=8, description="the bars evaluated: " + TIMEFRAME_HELP),
    ) -> dict[str, Any]:
        sym = symbol_filter(symbol)
        min_trades = settings.evaluation_min_trades
        return {"min_trades": min_trades,
                "items": read(request, queries.evaluations, parse_timeframe(timeframe, "timeframe"), sym, min_trades)}

    @router.get("/api/forecasts", response_model=ForecastList,
                summary="Each symbol's newest market_forecast days with intervals, and every candidate's evaluation",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("symbol"))])
    def api_forecasts(request: Request,
                      symbol: str | None = Query(None, min_length=1, max_length=32)) -> dict[str, Any]:
        sym = symbol_filter(symbol)
        days, scores = read(request, queries.forecasts, sym)
        return {"items": days, "evaluations": scores}

    @router.get("/api/recommendations", response_model=RecommendationList,
                summary="Newest recommendations of the market_recommendations DAG: plain words and their facts",
                responses={404: {"description": "unknown symbol"}, 422: {"description": "bad parameter"}},
                dependencies=[Depends(only_params("symbol", "timeframe"))])
    def api_recommendations(
        request: Request,
        symbol: str | None = Query(None, min_length=1, max_length=32),
        timeframe: str = Query(RAW, min_length=1, max_length=8, description="the bars judged: " + TIMEFRAME_HELP),
    ) -> dict[str, Any]:
        sym = symbol_filter(symbol)
        items = read(request, queries.recommendations, parse_timeframe(timeframe, "timeframe"), sym)
        return {"items": [{**item, "glance": glance_of(item["facts"])} for item in items]}

    return router
