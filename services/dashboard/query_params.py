"""Checks of the REST API's query parameters, failing with errors shaped like FastAPI's own.

FastAPI validates types and bounds from the route signatures; these add what it cannot: known
symbols, time values (ISO 8601 or epoch seconds), ranges, cursors, and unknown parameter names.
Every failure names the parameter and the reason (docs/dashboard.md, "REST").
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlencode

from fastapi import HTTPException, Request

from services.core.symbols import FORMAT_HELP, SymbolPolicy, is_well_formed
from services.core.timeframes import RAW, Timeframe
from services.core.times import parse_time
from services.dashboard import queries


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


def parse_symbol(value: str, name: str, known: SymbolPolicy) -> str:
    symbol = value.strip().upper()
    if not is_well_formed(symbol):
        raise bad_param(name, f"{value!r} is not a symbol ({FORMAT_HELP})")
    if not known.accepts(symbol):
        raise bad_param(name, f"unknown symbol {symbol!r}; {known.describe()}", status=404)
    return symbol


def parse_timeframe(value: str, name: str) -> str:
    """`raw` (the base bars) or a rolled-up timeframe, in its canonical spelling (`60s` is `1m`)."""
    if value.strip().lower() == RAW:
        return RAW
    try:
        return Timeframe.parse(value).name
    except ValueError as exc:
        raise bad_param(name, f"{exc}, or raw") from None


def parse_when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError):
        raise bad_param(name, f"{value!r} is neither ISO 8601 (e.g. 2024-05-01T12:00:00Z; UTC if no offset) "
                              "nor epoch seconds (ASCII digits)") from None


def check_range(start: datetime | None, end: datetime | None, names: tuple[str, str]) -> None:
    if start is not None and end is not None and start >= end:
        raise bad_param(names[1], f"`{names[1]}` must be after `{names[0]}`")


def parse_cursor(value: str | None, kind: str, order: str) -> list[Any] | None:
    """The key of a `cursor` parameter, each field checked (queries.decode_cursor); 422 naming it."""
    if value is None:
        return None
    try:
        return queries.decode_cursor(value, kind, order)
    except queries.CursorError as exc:
        raise bad_param("cursor", str(exc)) from None


def next_url(request: Request, cursor: str | None) -> str | None:
    """This request's URL with `cursor` in place of its own (None on the last page)."""
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor"}
    params["cursor"] = cursor
    return f"{request.url.path}?{urlencode(params)}"
