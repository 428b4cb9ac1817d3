"""Times as people and programs write them: ISO 8601 or epoch seconds, read as UTC.

One reading for every place Tickflow takes a time from outside: the dashboard's REST parameters
(`from`, `to`, `since`, `until`), and the market summary's window end (the market_summary DAG's
`end` param, `python -m services.orchestration summarize --end`). docs/dashboard.md describes them.
"""
from __future__ import annotations

from datetime import datetime, timezone


def parse_time(value: str | float | int | datetime) -> datetime:
    """ISO 8601 (UTC when no offset) or epoch seconds, as an aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(float(value), timezone.utc)
    else:
        text = value.strip()
        try:
            dt = datetime.fromtimestamp(float(text), timezone.utc)
        except ValueError:
            dt = datetime.fromisoformat(text)
    return as_utc(dt)


def as_utc(dt: datetime) -> datetime:
    """`dt` (naive = UTC) as a plain aware UTC datetime. Plain, whatever subclass came in: Airflow
    hands over pendulum DateTimes, and one with a stdlib tzinfo loses it in arithmetic
    (`end - timedelta(days=4)` came back naive, and comparing it with a stored time failed)."""
    utc = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, timezone.utc)
