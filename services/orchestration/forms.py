"""The DAGs' params as Airflow's trigger form shows and validates them (imported by dags/ only).

What JSON Schema can say, the form and the API check before a run is created: symbols and
timeframes are choices among the configured ones (`enum`; symbols matching TICKFLOW_SYMBOL_PATTERN
may be typed too when it is set), times are RFC 3339 date-times
(`format: date-time`, checked with rfc3339-validator), numbers have their ranges. A param that
may be left empty has `null` among its types, so the form does not mark it required. What JSON
Schema cannot say (start before end) the DAG's first task checks (services/orchestration/run_params.py).

The choices are read from TICKFLOW_SYMBOLS / TICKFLOW_TIMEFRAMES when the DAG file is parsed.
"""
from __future__ import annotations

from airflow.sdk import Param

from services.config import Settings
from services.core.symbols import MAX_SYMBOL_LENGTH
from services.core.timeframes import RAW
from services.orchestration.catalog import MANUAL_WINDOW


def symbols_param(verb: str, settings: Settings) -> Param:
    """A choice among the configured symbols; with an allow-list pattern (TICKFLOW_SYMBOL_PATTERN,
    e.g. for replayed symbols) the configured ones are suggestions and any well-formed symbol may be
    typed: the first task checks it against the pattern (JSON Schema's regex dialect is not Python's)."""
    configured = ", ".join(settings.symbols)
    if settings.symbol_pattern:
        items = {"type": "string", "minLength": 1, "maxLength": MAX_SYMBOL_LENGTH}
        also = f"; others matching {settings.symbol_pattern!r} (TICKFLOW_SYMBOL_PATTERN) may be typed"
    else:
        items, also = {"type": "string", "enum": list(settings.symbols)}, ""
    return Param(None, type=["null", "array"], items=items, examples=list(settings.symbols), title="Symbols",
                 description=f"Symbols to {verb}; empty: all configured ({configured}){also}.")


def timeframes_param(settings: Settings) -> Param:
    known = [RAW, *settings.timeframes]
    return Param(None, type=["null", "array"], items={"type": "string", "enum": known}, examples=known,
                 title="Timeframes",
                 description="raw (the base bars) and/or configured timeframes; empty: all of them "
                             f"({', '.join(known)}).")


def end_param(title: str) -> Param:
    """`end` alone, for the DAGs that look back from a time: empty means the run's data interval's end."""
    return Param(None, type=["null", "string"], format="date-time", title=f"{title} (exclusive)",
                 description="UTC, RFC 3339 (e.g. 2024-05-01T00:00:00Z). Empty: the end of the run's data interval.")


def window_params(scheduled: str) -> dict[str, Param]:
    """`start` and `end`; `scheduled` says which window a scheduled run covers."""
    help_text = (f"UTC, RFC 3339 (e.g. 2024-05-01T00:00:00Z); must be before end. Both empty: a manual run covers "
                 f"{MANUAL_WINDOW}, a scheduled run {scheduled}.")
    return {
        "start": Param(None, type=["null", "string"], format="date-time", title="Start (inclusive)",
                       description=help_text),
        "end": Param(None, type=["null", "string"], format="date-time", title="End (exclusive)",
                     description=help_text.replace("must be before end", "must be after start")),
    }
