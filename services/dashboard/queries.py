"""Read-only queries behind the dashboard's REST API (run on the reader role's connections).

Times go out as float epoch seconds (the platform's wire format). Pages are keyset-paginated:
a query asks for `limit + 1` rows; the extra one says whether there is a next page, whose
cursor is the last row's key.
"""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from services.core.indicators import INDICATOR_COLUMNS
from services.core.signals import RULES
from services.core.symbols import FORMAT_HELP, is_well_formed
from services.core.times import parse_time

BAR_COLUMNS = ("ts", "open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)
SIGNAL_COLUMNS = ("symbol", "ts", "rule", "side", "price", "value", "reference")


class CursorError(ValueError):
    pass


NOT_OURS = "not a cursor from this API (pass the next_cursor of a previous page unchanged)"


def cursor_time(value: Any) -> datetime:
    """A cursor's time: ISO 8601 as encode_cursor writes it (ASCII, as every time from outside)."""
    if not isinstance(value, str):
        raise CursorError(f"{NOT_OURS}: its time is not a time")
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError):
        raise CursorError(f"{NOT_OURS}: its time is not a time") from None


def cursor_symbol(value: Any) -> str:
    """A cursor's symbol: well-formed, as a `symbol` parameter must be. (Not checked against the
    accepted list: a listing of all symbols pages through whatever is stored.)"""
    if not isinstance(value, str) or not is_well_formed(value):
        raise CursorError(f"{NOT_OURS}: its symbol is not a symbol ({FORMAT_HELP})")
    return value


def cursor_rule(value: Any) -> str:
    """A cursor's rule: one of the signal rules (the signals table allows no other)."""
    if value not in RULES:
        raise CursorError(f"{NOT_OURS}: its rule is not one of {', '.join(RULES)}")
    return value


# Each listing's cursor key, field by field: its rows' sort key (see bars() and signals()).
CURSOR_KEYS = {"bars": (cursor_time,), "signals": (cursor_time, cursor_symbol, cursor_rule)}


def encode_cursor(kind: str, order: str, key: list[Any]) -> str:
    raw = orjson.dumps([kind, order, *[k.isoformat() if isinstance(k, datetime) else k for k in key]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str, kind: str, order: str) -> list[Any]:
    """The key of a cursor that `encode_cursor(kind, order, key)` made, every field checked by the
    rules of its kind's listing (CURSOR_KEYS): a tampered one never reaches a query."""
    fields = CURSOR_KEYS[kind.partition(":")[0]]
    try:
        got_kind, got_order, *key = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise CursorError(NOT_OURS) from exc
    if got_kind != kind or len(key) != len(fields):
        raise CursorError(f"this cursor belongs to another endpoint or timeframe ({_listing(got_kind)}), "
                          f"not {_listing(kind)}")
    if got_order != order:
        raise CursorError(f"this cursor was made for order={_order(got_order)}; pass the same order")
    return [check(field) for check, field in zip(fields, key)]


def _order(order: Any) -> str:
    """A cursor's order for a message (a forged one is not echoed back)."""
    return order if order in ("asc", "desc") else "another order"


def _listing(kind: Any) -> str:
    """'bars:1m' -> '/api/bars with timeframe=1m' (a forged kind is not echoed back)."""
    endpoint, _, timeframe = str(kind).partition(":")
    if endpoint not in ("bars", "signals") or not 0 < len(timeframe) <= 8 or not timeframe.isalnum():
        return "unknown"
    return f"/api/{endpoint} with timeframe={timeframe}"


def _epoch(row: dict[str, Any]) -> dict[str, Any]:
    row["ts"] = row["ts"].timestamp()
    return row


def bars(cur: Any, symbol: str, timeframe: str, start: datetime | None, end: datetime | None, order: str,
         limit: int, after_key: list[Any] | None) -> tuple[list[dict[str, Any]], list[Any] | None]:
    where = ["symbol = %(symbol)s", "timeframe = %(timeframe)s"]
    params = {"symbol": symbol, "timeframe": timeframe, "limit": limit + 1}
    if start is not None:
        where.append("ts >= %(start)s")
        params["start"] = start
    if end is not None:
        where.append("ts < %(end)s")
        params["end"] = end
    if after_key is not None:
        where.append(f"ts {'>' if order == 'asc' else '<'} %(cursor)s")
        params["cursor"] = after_key[0]
    cur.execute(f"SELECT {', '.join(BAR_COLUMNS)} FROM bars WHERE {' AND '.join(where)} "
                f"ORDER BY ts {order} LIMIT %(limit)s", params)
    rows = [dict(zip(BAR_COLUMNS, r)) for r in cur.fetchall()]
    next_key = [rows[limit - 1]["ts"]] if len(rows) > limit else None
    return [_epoch(r) for r in rows[:limit]], next_key


def signals(cur: Any, symbol: str | None, timeframe: str, since: datetime | None, until: datetime | None,
            order: str, limit: int, after_key: list[Any] | None) -> tuple[list[dict[str, Any]], list[Any] | None]:
    where, params = ["timeframe = %(timeframe)s"], {"timeframe": timeframe, "limit": limit + 1}
    if symbol is not None:
        where.append("symbol = %(symbol)s")
        params["symbol"] = symbol
    if since is not None:
        where.append("ts >= %(since)s")
        params["since"] = since
    if until is not None:
        where.append("ts < %(until)s")
        params["until"] = until
    if after_key is not None:
        where.append(f"(ts, symbol, rule) {'>' if order == 'asc' else '<'} (%(c_ts)s, %(c_symbol)s, %(c_rule)s)")
        params.update(c_ts=after_key[0], c_symbol=after_key[1], c_rule=after_key[2])
    cur.execute(f"SELECT {', '.join(SIGNAL_COLUMNS)} FROM signals WHERE {' AND '.join(where)} "
                f"ORDER BY ts {order}, symbol {order}, rule {order} LIMIT %(limit)s", params)
    rows = [dict(zip(SIGNAL_COLUMNS, r)) for r in cur.fetchall()]
    next_key = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_key = [last["ts"], last["symbol"], last["rule"]]
    return [_epoch(r) for r in rows[:limit]], next_key


# Distinct symbols of `bars` by skipping through its primary key (a loose index scan), then
# each symbol's first and last bar by the same index: fast however many bars there are.
SYMBOLS_SQL = """
WITH RECURSIVE s(symbol) AS (
    (SELECT symbol FROM bars ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT b.symbol FROM bars b WHERE b.symbol > s.symbol ORDER BY b.symbol LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT s.symbol, f.ts, l.ts, l.close
FROM s
CROSS JOIN LATERAL (SELECT ts FROM bars WHERE symbol = s.symbol AND timeframe = 'raw' ORDER BY ts LIMIT 1) f
CROSS JOIN LATERAL (SELECT ts, close FROM bars WHERE symbol = s.symbol AND timeframe = 'raw' ORDER BY ts DESC LIMIT 1) l
WHERE s.symbol IS NOT NULL
"""


def symbols(cur: Any, configured: tuple[str, ...]) -> list[dict[str, Any]]:
    cur.execute(SYMBOLS_SQL)
    stored = {sym: (first.timestamp(), last.timestamp(), close) for sym, first, last, close in cur.fetchall()}
    out = []
    for sym in sorted(set(configured) | set(stored)):
        first, last, close = stored.get(sym, (None, None, None))
        out.append({"symbol": sym, "configured": sym in configured, "first_ts": first, "last_ts": last,
                    "last_close": close})
    return out


SUMMARY_FIELDS = ("symbol", "timeframe", "period", "window_start", "window_end", "bars", "first_ts", "last_ts", "open",
                  "high", "low", "close", "return", "volatility", "volume", "buy_signals", "sell_signals",
                  "horizon_bars", "evaluated", "hits", "hit_rate", "run_id", "computed_at")
RULE_FIELDS = ("rule", "buy_signals", "sell_signals", "evaluated", "hits", "hit_rate")


def _rows(cur: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The cursor's rows as dicts, timestamps as epoch seconds."""
    return [{f: v.timestamp() if isinstance(v, datetime) else v for f, v in zip(fields, row)} for row in cur.fetchall()]


def summaries(cur: Any, timeframe: str, periods: list[str], symbol: str | None) -> list[dict[str, Any]]:
    """The newest stored summary of a timeframe per symbol and period, each with its per-rule rows."""
    params: dict[str, Any] = {"timeframe": timeframe, "periods": periods}
    symbol_filter = ""
    if symbol is not None:
        symbol_filter = "AND symbol = %(symbol)s"
        params["symbol"] = symbol
    cur.execute(f"SELECT {', '.join(SUMMARY_FIELDS)} FROM market_summary_latest "
                f"WHERE timeframe = %(timeframe)s AND period = ANY(%(periods)s) {symbol_filter} "
                "ORDER BY period, symbol", params)
    items = _rows(cur, SUMMARY_FIELDS)
    if not items:
        return []
    cur.execute(f"SELECT symbol, period, window_end, {', '.join(RULE_FIELDS)} FROM market_summary_rules "
                "WHERE timeframe = %(timeframe)s AND (symbol, period, window_end) IN "
                "(SELECT symbol, period, window_end "
                f"FROM market_summary_latest WHERE timeframe = %(timeframe)s AND period = ANY(%(periods)s) "
                f"{symbol_filter}) ORDER BY rule", params)
    rules: dict[tuple, list[dict[str, Any]]] = {}
    for row in _rows(cur, ("symbol", "period", "window_end", *RULE_FIELDS)):
        rules.setdefault((row.pop("symbol"), row.pop("period"), row.pop("window_end")), []).append(row)
    for item in items:
        item["rules"] = rules.get((item["symbol"], item["period"], item["window_end"]), [])
    return items


EVALUATION_FIELDS = ("symbol", "timeframe", "rule", "window_start", "window_end", "fee_bps", "first_ts", "last_ts",
                     "bars", "buy_signals", "sell_signals", "trades", "wins", "win_rate", "mean_trade_return",
                     "total_return", "sharpe", "max_drawdown", "exposure", "open_trade_return", "bh_total_return",
                     "bh_sharpe", "bh_max_drawdown", "computed_at")
FORECAST_FIELDS = ("symbol", "target", "as_of", "step", "ts", "model", "forecast", "lo_80", "hi_80", "lo_95", "hi_95",
                   "mase", "naive_mase", "beats_naive", "best_model", "best_mase")
SCORE_FIELDS = ("symbol", "target", "as_of", "model", "selected", "mase", "smape", "coverage_80", "coverage_95",
                "cv_windows", "horizon", "error")


# Each evaluation's two judgements: too few closed trades to judge the rule by, and lost to
# buy-and-hold (a lower total return over the same bars).
JUDGEMENTS = {"too_few_trades": "trades < %(min_trades)s", "lost_to_buy_and_hold": "total_return < bh_total_return"}


def _of_timeframe(cur: Any, view: str, fields: tuple[str, ...], order: str, timeframe: str, symbol: str | None,
                  computed: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    """A `*_latest` view's rows of a timeframe (and of one symbol, unless None), ordered by `order`;
    `computed` adds columns (name -> SQL over the view, with `params`)."""
    computed = computed or {}
    columns = [*fields, *(f"{sql} AS {name}" for name, sql in computed.items())]
    cur.execute(f"SELECT {', '.join(columns)} FROM {view} WHERE timeframe = %(tf)s "
                f"AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s) ORDER BY {order}",
                {"tf": timeframe, "symbol": symbol, **params})
    return _rows(cur, (*fields, *computed))


def evaluations(cur: Any, timeframe: str, symbol: str | None, min_trades: int) -> list[dict[str, Any]]:
    """The newest signal evaluation per symbol and rule of a timeframe, judged (`JUDGEMENTS`)."""
    return _of_timeframe(cur, "signal_evaluation_latest", EVALUATION_FIELDS, "symbol, rule", timeframe, symbol,
                         JUDGEMENTS, min_trades=min_trades)


def forecasts(cur: Any, symbol: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each symbol's newest forecast days, and its candidates' cross-validation."""
    params = {"symbol": symbol}
    cur.execute(f"SELECT {', '.join(FORECAST_FIELDS)} FROM market_forecast_latest f LEFT JOIN LATERAL "
                "(SELECT model AS best_model, mase AS best_mase FROM forecast_evaluations e WHERE e.symbol = f.symbol "
                "AND e.as_of = f.as_of AND e.target = f.target AND e.model <> 'naive' AND e.mase IS NOT NULL "
                "ORDER BY e.mase, e.model LIMIT 1) best ON true "
                "WHERE %(symbol)s::text IS NULL OR symbol = %(symbol)s ORDER BY symbol, target, step", params)
    days = _rows(cur, FORECAST_FIELDS)
    cur.execute(f"SELECT {', '.join(SCORE_FIELDS)} FROM forecast_evaluations e "
                "WHERE (e.symbol, e.as_of) IN (SELECT DISTINCT symbol, as_of FROM market_forecast_latest) "
                "AND (%(symbol)s::text IS NULL OR e.symbol = %(symbol)s) ORDER BY symbol, target, model", params)
    return days, _rows(cur, SCORE_FIELDS)


RECOMMENDATION_FIELDS = ("symbol", "timeframe", "as_of", "weight", "text", "template_text", "phrasing",
                         "fallback_reason", "facts", "computed_at")


def recommendations(cur: Any, timeframe: str, symbol: str | None) -> list[dict[str, Any]]:
    """The newest recommendation per symbol of a timeframe."""
    return _of_timeframe(cur, "recommendation_latest", RECOMMENDATION_FIELDS, "symbol", timeframe, symbol)
