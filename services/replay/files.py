"""OHLCV files as candles: CSV or Parquet, in the layouts people have, read into one frame.

Layouts (README, "Real market data"), told apart by their column names (case and spaces ignored):

* `ohlcv` — Yahoo Finance and most exports: `Date,Open,High,Low,Close,Adj Close,Volume`; the time
  column may be called Date, Datetime, Timestamp or Time, or be the unnamed first column a pandas
  index leaves (the `backtesting` package's files). `Adj Close` is ignored: prices go in as quoted.
* `alpaca` — Alpaca bars: `t,o,h,l,c,v` (`n`, `vw` ignored); a symbol column `S` or `symbol`. An
  alpaca-py frame saved to Parquet (index symbol, timestamp; columns open, high, ...) is `ohlcv`.
* a mapping (`--columns ts=Date,open=O,high=H,low=L,close=C,volume=V[,symbol=Ticker]`) names the
  columns of any other layout, or overrides some of a detected one.

Times: ISO 8601 text (no zone means UTC) or epoch numbers (seconds, or milliseconds, microseconds,
nanoseconds told apart by size). Nothing is judged here: a row with a missing or odd value becomes a
record that ingest refuses with its reason, so the one contract (services/core/records.py) decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FIELDS = ("ts", "open", "high", "low", "close", "volume")  # what a candle needs; `symbol` may come too
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {  # field -> column names it may have, in that layout
    "alpaca": {"ts": ("t",), "open": ("o",), "high": ("h",), "low": ("l",), "close": ("c",), "volume": ("v",),
               "symbol": ("s", "symbol")},
    "ohlcv": {"ts": ("date", "datetime", "timestamp", "time", "", "unnamed:0", "index"), "open": ("open",),
              "high": ("high",), "low": ("low",), "close": ("close",), "volume": ("volume",),
              "symbol": ("symbol", "ticker")},
}


class LayoutError(ValueError):
    """The file's columns do not say where a candle's fields are."""


@dataclass(frozen=True)
class Source:
    """One file to replay, and whose candles they are: `symbol` if given, else the file's symbol column,
    else `fallback` (the file name's)."""

    path: Path
    symbol: str | None = None
    fallback: str | None = None


def parse_columns(text: str) -> dict[str, str]:
    """`"ts=Date,volume=Vol"` -> {"ts": "Date", "volume": "Vol"} (fields: ts, open, high, low, close, volume,
    symbol)."""
    mapping = {}
    for part in (p for p in text.split(",") if p.strip()):
        name, sep, column = part.partition("=")
        name = name.strip().lower()
        if not sep or not column.strip() or name not in (*FIELDS, "symbol"):
            raise ValueError(f"column mapping {part.strip()!r}: expected FIELD=COLUMN with FIELD one of "
                             f"{', '.join((*FIELDS, 'symbol'))}")
        mapping[name] = column.strip()
    return mapping


def _key(column: object) -> str:
    return str(column).strip().lower().replace(" ", "")


def locate(columns: list[str], mapping: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(layout name, field -> column) for a file's columns; `mapping` comes first."""
    missing = sorted(set(mapping.values()) - set(columns))
    if missing:
        raise LayoutError(f"--columns names column(s) the file does not have: {', '.join(missing)} "
                          f"(it has: {', '.join(map(str, columns))})")
    by_key = {_key(c): c for c in columns}
    lacking: list[str] = list(FIELDS)
    for layout, names in LAYOUTS.items():
        detected = {}
        for field, candidates in names.items():
            column = next((by_key[n] for n in candidates if n in by_key), None)
            if field not in mapping and column is not None:
                detected[field] = column
        found = {**detected, **mapping}
        if all(f in found for f in FIELDS):
            if not set(detected) - {"symbol"}:
                return "generic", found
            return (f"{layout} + --columns" if mapping else layout), found
        lacking = min(lacking, [f for f in FIELDS if f not in found], key=len)
    raise LayoutError(f"cannot tell which column holds {', '.join(lacking)} "
                      f"(columns: {', '.join(map(str, columns))}); name them with --columns, e.g. "
                      "--columns ts=Date,open=Open,high=High,low=Low,close=Close,volume=Volume")


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; an index (alpaca-py's symbol, timestamp) becomes columns."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        return frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
    if suffix in (".csv", ".txt", ".gz"):
        return pd.read_csv(path)
    raise LayoutError(f"{path.name}: not a .csv or .parquet file")


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Times as float epoch seconds (NaN where unreadable), to the microsecond."""
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=float)
        scale = np.select([np.abs(numbers) >= 1e17, np.abs(numbers) >= 1e14, np.abs(numbers) >= 1e11],
                          [1e9, 1e6, 1e3], 1.0)
        return numbers / scale
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        times = values
    else:
        times = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    micros = times.dt.as_unit("us").astype("int64").to_numpy()
    return np.where(times.isna().to_numpy(), np.nan, micros / 1e6)


def read_candles(source: Source, mapping: dict[str, str]) -> tuple[pd.DataFrame, str]:
    """The file's rows as a frame with columns symbol, ts, open, high, low, close, volume (file order),
    and the layout it was read as."""
    table = read_table(source.path)
    layout, columns = locate([str(c) for c in table.columns], mapping)
    table.columns = [str(c) for c in table.columns]
    if source.symbol is None and "symbol" in columns:
        symbols = table[columns["symbol"]].astype(str).str.strip().str.upper()
    elif source.symbol or source.fallback:
        symbols = pd.Series(source.symbol or source.fallback, index=table.index)
    else:
        raise LayoutError(f"{source.path.name}: no symbol column, and the file name is not a symbol; "
                          "give the symbol with --symbol")
    frame = pd.DataFrame({"symbol": symbols.to_numpy(), "ts": epoch_seconds(table[columns["ts"]])})
    for field in FIELDS[1:]:
        frame[field] = pd.to_numeric(table[columns[field]], errors="coerce")
    return frame, layout
