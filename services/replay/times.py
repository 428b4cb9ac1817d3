"""Times in OHLCV files, as exports write them: the layouts the replay reads and the rule that picks one.

ISO 8601 (with or without a zone or a time), M/D/YYYY, D/M/YYYY, D.M.YYYY (which of the two is decided
by a number above 12; otherwise `--date-format`), YYYYMMDD, `--date-format` (strftime) and epoch
seconds / ms / µs / ns. Times without a zone are placed by `--tz` (intraday), or kept as their UTC date
(daily files: every time at midnight). Pure functions: the files module reads, these rules judge.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd


@dataclass
class BadValue(ValueError):
    """A pure rule's complaint about one value: its row label (0-based), its text, and what is wrong."""

    position: int
    text: str
    problem: str

    def __str__(self) -> str:
        return f"{self.text!r}: {self.problem}"


ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?",
                 re.IGNORECASE)
ZONED = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"  # a zone after a time
NUMERIC_DATE = (r"^(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})"
                r"(?:[ T](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?$")
EPOCH = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
COMPACT = re.compile(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")  # 20240102
KNOWN = ("ISO 8601 (2024-01-02, 2024-01-02T09:30:00, with or without a zone), M/D/YYYY, D/M/YYYY, D.M.YYYY "
         "(with or without a time), YYYYMMDD, or epoch seconds/ms/µs/ns")


@dataclass(frozen=True)
class DateLayout:
    """How a file writes its times: `kind` is iso, epoch, day_first, month_first or format."""

    name: str
    kind: str
    format: str | None = None
    separator: str = "/"


def date_layout(texts: pd.Series, date_format: str | None = None) -> DateLayout:
    """The layout of a column of times written as text (stripped, no empty cells; index = row labels).

    M/D/YYYY or D/M/YYYY (or with dots) is decided by the data: a first number above 12 anywhere makes
    the column day-first, a second one above 12 month-first; neither leaves it ambiguous and both
    contradictory: BadValue, asking for --date-format."""
    if date_format:
        return DateLayout(f"--date-format {date_format}", "format", date_format)
    if texts.empty:
        return DateLayout("ISO 8601", "iso")
    first = str(texts.iloc[0])
    if COMPACT.fullmatch(first) and texts.str.fullmatch(COMPACT.pattern).all():
        return DateLayout("YYYYMMDD", "format", "%Y%m%d")
    if EPOCH.fullmatch(first):
        return DateLayout("epoch numbers", "epoch")
    if ISO.fullmatch(first):
        return DateLayout("ISO 8601", "iso")
    match = re.match(NUMERIC_DATE, first)
    if match is None:
        raise BadValue(int(texts.index[0]), first, f"not a time in a layout the replay reads ({KNOWN}); "
                                                   "give its layout with --date-format, e.g. --date-format '%d-%b-%Y'")
    sep = match["sep"]
    parts = texts.str.extract(NUMERIC_DATE)
    a, b = pd.to_numeric(parts["a"]), pd.to_numeric(parts["b"])
    day_first, month_first = texts.index[a > 12], texts.index[b > 12]
    shapes = {False: f"M{sep}D{sep}YYYY", True: f"D{sep}M{sep}YYYY"}
    if len(day_first) and len(month_first):
        later = max(day_first[0], month_first[0])
        earlier = min(day_first[0], month_first[0])
        raise BadValue(int(later), str(texts[later]),
                       f"written {shapes[later in day_first]} while {texts[earlier]!r} above is "
                       f"{shapes[earlier in day_first]}: the dates are not written one way; fix the file or "
                       f"give --date-format")
    if not len(day_first) and not len(month_first):
        raise BadValue(int(texts.index[0]), first,
                       f"ambiguous: this and every other date could be {shapes[False]} or {shapes[True]} "
                       f"(no number above 12 tells which is the day); give --date-format "
                       f"'%m{sep}%d{sep}%Y' or --date-format '%d{sep}%m{sep}%Y'")
    if len(day_first):
        return DateLayout(shapes[True], "day_first", separator=sep)
    return DateLayout(shapes[False], "month_first", separator=sep)


def _unreadable(texts: pd.Series, times: pd.Series, layout: DateLayout) -> None:
    bad = times.isna()
    if bad.any():
        label = times.index[bad.to_numpy()][0]
        more = f" ({int(bad.sum()) - 1:,} more like it)" if bad.sum() > 1 else ""
        raise BadValue(int(label), str(texts[label]),
                       f"cannot read it as {layout.name} like the dates above{more}; give --date-format if the "
                       f"column is in another layout")


def parse_times(texts: pd.Series, layout: DateLayout) -> tuple[pd.Series, pd.Series]:
    """(the times of zone-aware texts in UTC, the naive times of the others), by row label; BadValue for a
    text the layout does not read."""
    if layout.kind == "epoch":
        numbers = pd.to_numeric(texts, errors="coerce")
        _unreadable(texts, numbers, layout)
        return epoch_times(numbers), pd.Series([], dtype="datetime64[us]")
    if layout.kind == "format":
        parsed = pd.to_datetime(texts, format=layout.format, errors="coerce")
        if parsed.dtype == object:  # several offsets (%z): as UTC
            parsed = pd.to_datetime(texts, format=layout.format, errors="coerce", utc=True)
        _unreadable(texts, parsed, layout)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            return parsed.dt.tz_convert("UTC"), pd.Series([], dtype="datetime64[us]")
        return pd.Series([], dtype="datetime64[us, UTC]"), parsed
    if layout.kind == "iso":
        zoned = texts.str.contains(ZONED, regex=True)
        aware = pd.to_datetime(texts[zoned].str.replace(",", ".", regex=False), format="ISO8601", utc=True,
                               errors="coerce")
        naive = pd.to_datetime(texts[~zoned].str.replace(",", ".", regex=False), format="ISO8601", errors="coerce")
        unmatched = ~texts.str.fullmatch(ISO.pattern, case=False)
        _unreadable(texts, pd.concat([aware.dt.tz_localize(None), naive]).sort_index().mask(unmatched), layout)
        return aware, naive
    parts = texts.str.extract(NUMERIC_DATE)
    day, month = (parts["a"], parts["b"]) if layout.kind == "day_first" else (parts["b"], parts["a"])
    time = parts["time"].fillna("00:00").str.replace(r"^(\d):", r"0\1:", regex=True)
    iso = parts["year"] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + " " + time
    naive = pd.to_datetime(iso.where(parts["sep"] == layout.separator), format="ISO8601", errors="coerce")
    _unreadable(texts, naive, layout)
    return pd.Series([], dtype="datetime64[us, UTC]"), naive


def epoch_times(numbers: pd.Series) -> pd.Series:
    """Epoch numbers (seconds, or milliseconds, microseconds, nanoseconds told apart by size) as UTC times."""
    values = numbers.to_numpy(dtype=float)
    scale = np.select([np.abs(values) >= 1e17, np.abs(values) >= 1e14, np.abs(values) >= 1e11], [1e9, 1e6, 1e3], 1.0)
    micros = np.round(values / scale * 1e6)
    return pd.Series(pd.to_datetime(micros.astype("int64"), unit="us", utc=True), index=numbers.index)


def is_daily(naive: pd.Series) -> bool:
    """Daily (or longer) bars: every time at midnight. Their date is the bar's UTC date, whatever the zone."""
    return len(naive) > 0 and bool((naive == naive.dt.normalize()).all())


def place_naive(naive: pd.Series, tz: str | None) -> tuple[pd.Series, str]:
    """Times written without a zone, in UTC: daily bars keep their date (midnight UTC); intraday ones are
    times in `tz` (UTC if None), across daylight-saving changes (a repeated hour in file order is read
    as first the summer, then the winter one). BadValue for a time that does not exist in the zone or
    repeats there without telling which."""
    if naive.empty:
        return naive.dt.tz_localize("UTC"), ""
    if is_daily(naive):
        return naive.dt.tz_localize("UTC"), "daily bars (all at midnight): their dates, as UTC" + (
            f" (--tz {tz} applies to intraday times only)" if tz else "")
    if tz is None:
        return naive.dt.tz_localize("UTC"), "times without a zone read as UTC (--tz to give theirs)"
    try:
        local = naive.dt.tz_localize(ZoneInfo(tz), ambiguous="infer", nonexistent="raise")
    except ValueError:
        marked = naive.dt.tz_localize(ZoneInfo(tz), ambiguous="NaT", nonexistent="NaT")
        label = marked.index[marked.isna().to_numpy()][0]
        raise BadValue(int(label), str(naive[label]),
                       f"not one time in {tz}: it is skipped or repeated at a daylight-saving change (a "
                       "repeated hour is read only when both come in order)") from None
    return local.dt.tz_convert("UTC"), f"times without a zone read in {tz} (--tz), converted to UTC"


def utc_seconds(values: pd.Series, date_format: str | None = None,
                tz: str | None = None) -> tuple[np.ndarray, str, str]:
    """(epoch seconds to the microsecond, the layout's name, how times without a zone were placed) of a
    time column without empty cells; BadValue (with its row label) for a time that cannot be read."""
    if pd.api.types.is_numeric_dtype(values) and date_format is None:
        aware, naive, name = epoch_times(values), pd.Series([], dtype="datetime64[us]"), "epoch numbers"
    elif pd.api.types.is_datetime64_any_dtype(values):
        tz_aware = isinstance(values.dtype, pd.DatetimeTZDtype)
        aware = values.dt.tz_convert("UTC") if tz_aware else pd.Series([], dtype="datetime64[us, UTC]")
        naive = pd.Series([], dtype="datetime64[us]") if tz_aware else values
        name = "timestamps" + (" with a zone" if tz_aware else "")
    else:
        texts = values.astype(str).str.strip()
        layout = date_layout(texts, date_format)
        aware, naive = parse_times(texts, layout)
        name = layout.name
    try:
        placed, zone = place_naive(naive, tz)
    except BadValue as bad:  # name the text as written
        raise BadValue(bad.position, str(values[bad.position]), bad.problem) from None
    if not aware.empty:
        zone = "; ".join(z for z in ("times with a zone as written", zone) if z)
    times = pd.concat([aware.dt.as_unit("us"), placed.dt.as_unit("us")]) if not aware.empty else placed.dt.as_unit("us")
    times = times.reindex(values.index)
    return times.astype("int64").to_numpy() / 1e6, name, zone


# ---- values -----------------------------------------------------------------------------------
