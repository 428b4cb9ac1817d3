"""Times as people and programs write them: ISO 8601 or epoch seconds, read as UTC.

One reading for every place Tickflow takes a time from outside: the dashboard's REST parameters
(`from`, `to`, `since`, `until`), and the market summary's window end (the market_summary DAG's
`end` param, `python -m services.orchestration summarize --end`). docs/dashboard.md describes them.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

# Epoch seconds as a decimal number in ASCII digits. float() alone would also read other scripts'
# digits ('٣' is 3), underscores ('1_000') and 'nan'/'inf'; a time from outside is ASCII, as the
# WebSocket's `after` id is.
EPOCH_SECONDS = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_time(value: str | float | int | datetime) -> datetime:
    """ISO 8601 (UTC when no offset) or epoch seconds, as an aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(float(value), timezone.utc)
    else:
        dt = parse_time_text(value)
    return as_utc(dt)


def parse_time_text(value: str) -> datetime:
    """Epoch seconds or ISO 8601, in printable ASCII only; ValueError (or OverflowError) otherwise."""
    text = value.strip()
    if not (text.isascii() and text.isprintable()):  # fromisoformat stops reading at a NUL
        raise ValueError(f"a time is written in printable ASCII characters, got {value[:40]!r}")
    if EPOCH_SECONDS.fullmatch(text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    return datetime.fromisoformat(text)


def as_utc(dt: datetime) -> datetime:
    """`dt` (naive = UTC) as a plain aware UTC datetime. Plain, whatever subclass came in: Airflow
    hands over pendulum DateTimes, and one with a stdlib tzinfo loses it in arithmetic
    (`end - timedelta(days=4)` came back naive, and comparing it with a stored time failed)."""
    utc = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, timezone.utc)
