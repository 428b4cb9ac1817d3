"""Validation of run params (the params a DAG run is given: symbols, timeframes, time windows, tolerance, ...),
with error messages a person can act on.

A window is half-open, [start, end), in UTC — the same convention as Airflow's data intervals.
Where it comes from, in order: the run's params (`start`, `end`), then the run's data interval
(scheduled runs, Airflow backfills, manual runs with a logical date), then the `default_span`
before the moment the run was created (manual runs without a logical date).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from services.core import times
from services.core.symbols import SymbolPolicy
from services.core.times import as_utc

__all__ = ["RunParamError", "Window", "parse_time", "resolve_end", "resolve_window", "validate_symbols",
           "validate_timeframes", "validate_tolerance", "validate_max_mismatches", "validate_bool"]

EXAMPLE_TIME = "2024-05-01T00:00:00Z"


class RunParamError(ValueError):
    """A run param is invalid; the message names the param, the value and what is expected."""


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    source: str  # "params", "data interval" or "default"

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"Window.{name} must be timezone-aware")
            object.__setattr__(self, name, as_utc(value))
        if self.start >= self.end:
            raise RunParamError(
                f"start ({self.start.isoformat()}) must be before end ({self.end.isoformat()}); "
                "the window is [start, end)"
            )

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> "Window":
        return cls(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]),
                   data.get("source", "params"))

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def parse_time(name: str, value: Any) -> datetime | None:
    """An ISO 8601 date or date-time (naive = UTC), a datetime, or None/'' for "not given"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise RunParamError(
                f"{name}: {value!r} is not an ISO 8601 date-time; use e.g. {EXAMPLE_TIME!r} "
                "(without a UTC offset the time is taken as UTC)"
            ) from None
    else:
        raise RunParamError(f"{name}: expected an ISO 8601 date-time string such as {EXAMPLE_TIME!r}, "
                         f"got {type(value).__name__} {value!r}")
    return as_utc(parsed)


def resolve_window(
    start: Any,
    end: Any,
    *,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    run_after: datetime | None = None,
    default_span: timedelta = timedelta(hours=1),
) -> Window:
    """The run's window: params first, then the data interval, then `default_span` before run_after.

    `start` and `end` fall back independently, so `{"start": "..."}` alone means "from start to
    the end of the data interval (or now)".
    """
    p_start, p_end = parse_time("start", start), parse_time("end", end)
    have_interval = data_interval_start is not None and data_interval_end is not None
    if have_interval:
        fallback_start, fallback_end, source = data_interval_start, data_interval_end, "data interval"
    else:
        anchor = run_after or datetime.now(timezone.utc)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=timezone.utc)
        fallback_start, fallback_end, source = anchor - default_span, anchor, "default"
    if p_start is not None and p_end is not None:
        source = "params"
    elif p_start is not None or p_end is not None:
        source = f"params + {source}"
    window_start = p_start if p_start is not None else fallback_start
    window_end = p_end if p_end is not None else fallback_end
    if window_start >= window_end:
        raise RunParamError(
            f"start ({window_start.isoformat()}) must be before end ({window_end.isoformat()}); "
            f"the window is [start, end) and was taken from {source}"
        )
    return Window(window_start, window_end, source)


def resolve_end(param: str | None, data_interval_end: datetime | None, now: datetime | None = None) -> datetime:
    """The window end for a DAG run that looks back from a time: the `end` param (ISO 8601 or epoch
    seconds), else the run's data interval end, else now."""
    if param:
        return times.parse_time(param)
    if data_interval_end is not None:
        return times.parse_time(data_interval_end)
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


def validate_symbols(value: Any, configured: Iterable[str], accepted: SymbolPolicy | None = None) -> list[str]:
    """Upper-cased, de-duplicated symbols, each configured or `accepted` (the settings' symbol policy, which
    lets a replayed history such as GOOG or BTC/USD be named); empty/None = all configured."""
    configured = list(configured)
    if value is None or value == "" or value == []:
        return configured
    if isinstance(value, str):
        items: list[Any] = [s for s in value.replace(";", ",").split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise RunParamError(f"symbols: expected a list of symbols such as {configured[:2]}, got {value!r}")
    symbols: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise RunParamError(f"symbols: every symbol must be a string, got {item!r}")
        symbol = item.strip().upper()
        if symbol and symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        return configured
    unknown = [s for s in symbols if s not in configured and not (accepted and accepted.accepts(s))]
    if unknown:
        raise RunParamError(
            f"symbols: unknown symbol(s) {', '.join(unknown)}; configured symbols are "
            f"{', '.join(configured)} (TICKFLOW_SYMBOLS)"
            + (f", or matching {accepted.pattern.pattern!r} (TICKFLOW_SYMBOL_PATTERN)"
               if accepted and accepted.pattern else "")
        )
    return symbols


def _items(name: str, value: Any, example: list[str]) -> list[str]:
    """A list param given as a list or as comma-separated text; empty items dropped."""
    if isinstance(value, str):
        items: list[Any] = value.replace(";", ",").split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise RunParamError(f"{name}: expected a list such as {example}, got {value!r}")
    for item in items:
        if not isinstance(item, str):
            raise RunParamError(f"{name}: every item must be a string, got {item!r}")
    return [item.strip() for item in items if item.strip()]


def validate_timeframes(value: Any, configured: Iterable[str]) -> list[str]:
    """'raw' (the base bars) and configured timeframes, in that order, each once; empty/None = all.

    A timeframe may be written in any unit (`60s` is `1m`); it must be one the processor rolls
    up (TICKFLOW_TIMEFRAMES): a timeframe it does not store has nothing to compare or fill.
    """
    from services.core.timeframes import RAW, Timeframe  # light: no pandas

    known = [RAW, *configured]
    if value is None or value == "" or value == []:
        return known
    wanted: set[str] = set()
    for item in _items("timeframes", value, known[:3]):
        if item.lower() == RAW:
            wanted.add(RAW)
            continue
        try:
            wanted.add(Timeframe.parse(item).name)
        except ValueError:
            raise RunParamError(f"timeframes: {item!r} is not a timeframe; use raw (the base bars) or one of "
                             f"{', '.join(known[1:]) or 'none configured'}, e.g. {known[:3]}") from None
    unknown = sorted(wanted - set(known), key=lambda name: Timeframe.parse(name).seconds)
    if unknown:
        raise RunParamError(f"timeframes: unknown timeframe(s) {', '.join(unknown)}; the stored ones are "
                         f"{', '.join(known)} (raw = base bars; the others are TICKFLOW_TIMEFRAMES)")
    return [tf for tf in known if tf in wanted] or known


def validate_tolerance(value: Any) -> float:
    try:
        tolerance = float(value)
    except (TypeError, ValueError):
        tolerance = math.nan
    if isinstance(value, bool) or not math.isfinite(tolerance) or not 0 < tolerance < 1:
        raise RunParamError(
            f"tolerance: expected a relative tolerance between 0 and 1 such as 1e-9 "
            f"(|stored - expected| <= tolerance * max(1, |expected|)), got {value!r}"
        )
    return tolerance


def validate_max_mismatches(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RunParamError(f"max_mismatches: expected a whole number >= 0, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise RunParamError(f"max_mismatches: expected a whole number >= 0, got {value!r}")
    return int(number)


def validate_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None:
        return False
    raise RunParamError(f"{name}: expected true or false, got {value!r}")
