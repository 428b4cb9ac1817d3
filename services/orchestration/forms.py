"""The DAGs' params as Airflow's trigger form shows and validates them (imported by dags/ only).

What JSON Schema can say, the form and the API check before a run is created: symbols and
timeframes are choices among the configured ones (`enum`), times are RFC 3339 date-times
(`format: date-time`, checked with rfc3339-validator), numbers have their ranges. A param that
may be left empty has `null` among its types, so the form does not mark it required. What JSON
Schema cannot say (start before end) the DAG's first task checks (services/orchestration/params.py).

The choices are read from TICKFLOW_SYMBOLS / TICKFLOW_TIMEFRAMES when the DAG file is parsed.
"""
from __future__ import annotations

from airflow.sdk import Param

from services.config import Settings
from services.core.timeframes import RAW
from services.orchestration.catalog import MANUAL_WINDOW


def symbols_param(verb: str, settings: Settings) -> Param:
    return Param(None, type=["null", "array"], items={"type": "string", "enum": list(settings.symbols)},
                 examples=list(settings.symbols), title="Symbols",
                 description=f"Symbols to {verb}; empty: all configured ({', '.join(settings.symbols)}).")


def timeframes_param(settings: Settings) -> Param:
    known = [RAW, *settings.timeframes]
    return Param(None, type=["null", "array"], items={"type": "string", "enum": known}, examples=known,
                 title="Timeframes",
                 description="raw (the base bars) and/or configured timeframes; empty: all of them "
                             f"({', '.join(known)}).")


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
