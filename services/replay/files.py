"""OHLCV files as candles: CSV or Parquet, in the layouts people have, read into one frame.

Layouts (README, "Real market data"), told apart by their column names (case and spaces ignored):

* `ohlcv` — Yahoo Finance and most exports: `Date,Open,High,Low,Close,Adj Close,Volume`; the time
  column may be called Date, Datetime, Timestamp or Time, or be the unnamed first column a pandas
  index leaves (the `backtesting` package's files). `Adj Close` scales the prices with `--adjust`.
* `alpaca` — Alpaca bars: `t,o,h,l,c,v` (`n`, `vw` ignored); a symbol column `S` or `symbol`. An
  alpaca-py frame saved to Parquet (index symbol, timestamp; columns open, high, ...) is `ohlcv`.
* a mapping (`--columns ts=Date,open=O,high=H,low=L,close=C,volume=V[,symbol=Ticker][,adj_close=A]`)
  names the columns of any other layout, or overrides some of a detected one.

Reading is strict, judging is not: a value the replay cannot read (a date in no known layout, a price
that is not a number, a cell left empty in a row that has prices) stops the whole replay before
anything is sent, naming the file, row, column and text (`InputError`). A row with no values at all
(Yahoo writes `null` for every field on some days) is skipped and reported. Whether a readable value
makes a valid candle (high below low, a negative volume) is left to ingest, which refuses the record
by name: the one contract (services/core/records.py) decides.

Rows are numbered as a spreadsheet shows a CSV file: the header is row 1, the first data row is row 2
(blank lines count). In a Parquet file the first row is row 1.

The pure rules (no I/O) are separate functions the unit tests cover: the times in `times.py`
(`date_layout`, `utc_seconds`), and here `blank` (empty cells), `adjust_prices`, `order_problems`,
`file_symbol`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from services.core.symbols import FORMAT_HELP, MAX_SYMBOL_LENGTH, is_well_formed
from services.replay.times import BadValue, utc_seconds

FIELDS = ("ts", "open", "high", "low", "close", "volume")  # what a candle needs; `symbol` may come too
PRICES = ("open", "high", "low", "close")
OPTIONAL = ("symbol", "adj_close")
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {  # field -> column names it may have, in that layout
    "alpaca": {"ts": ("t",), "open": ("o",), "high": ("h",), "low": ("l",), "close": ("c",), "volume": ("v",),
               "symbol": ("s", "symbol")},
    "ohlcv": {"ts": ("date", "datetime", "timestamp", "time", "", "unnamed:0", "index"), "open": ("open",),
              "high": ("high",), "low": ("low",), "close": ("close",), "volume": ("volume",),
              "symbol": ("symbol", "ticker"), "adj_close": ("adjclose", "adj_close", "adjustedclose")},
}
NULLS = frozenset({"", "null", "nan", "none", "na", "n/a", "#n/a", "-"})  # an empty cell, as exports write it
DATA_SUFFIXES = (".csv", ".txt", ".gz", ".parquet", ".pq")
YAHOO_MARKS = (("^", ""), ("", "=X"), ("", "=F"))  # index ^GSPC, currency EURUSD=X, future GC=F
SHOWN_ROWS = 10  # row numbers listed in a message or summary line before "... and N more"


class LayoutError(ValueError):
    """The file's columns do not say where a candle's fields are (or an option does not fit the file)."""


class InputError(LayoutError):
    """A value in the file the replay cannot read: nothing is sent."""


@dataclass(frozen=True)
class Source:
    """One file to replay, and whose candles they are: `symbol` if given, else the file's symbol column,
    else `fallback` (by default the file name's symbol, `file_symbol`)."""

    path: Path
    symbol: str | None = None
    fallback: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """How to read what the file does not say: its date layout, its time zone, whether to adjust the
    prices by the adjusted close, whether rows out of time order may be sorted."""

    date_format: str | None = None  # strftime, for dates in no layout the replay detects
    tz: str | None = None  # IANA zone of times written without one (intraday; daily bars keep their date)
    adjust: bool = False
    sort: bool = False


@dataclass
class FileRead:
    """A file's candles (columns symbol, ts, open, high, low, close, volume, row; in the order to send)
    and what reading it found."""

    name: str
    frame: pd.DataFrame
    layout: str
    rows: int  # data rows in the file
    dates: str = ""  # the time layout read, e.g. "M/D/YYYY"
    zone: str = ""  # how times without a zone were placed, e.g. "daily: UTC dates"
    adjusted: bool = False
    empty_rows: list[int] = field(default_factory=list)  # skipped: no values at all
    repeated_rows: list[int] = field(default_factory=list)  # skipped (--sort): a time already in the file
    reordered: int = 0  # rows out of time order, sent in time order (--sort)

    @property
    def symbols(self) -> list[str]:
        return sorted(self.frame["symbol"].unique())

    def describe(self) -> str:
        """Lines for the summary: the file, how it was read, what was skipped."""
        symbols = self.symbols
        lines = [f"{self.name}: {self.rows:,} rows, {self.layout} layout, symbol{'s' if len(symbols) > 1 else ''} "
                 f"{', '.join(symbols[:5])}{' ...' if len(symbols) > 5 else ''}",
                 f"times {self.dates}, {self.zone}"
                 + ("; prices adjusted by the adjusted close" if self.adjusted else "")]
        if self.empty_rows:
            lines.append(f"skipped {len(self.empty_rows):,} empty row(s): {rows_text(self.empty_rows)}")
        if self.reordered:
            lines.append(f"{self.reordered:,} row(s) out of time order, sent in time order (--sort)")
        if self.repeated_rows:
            lines.append(f"skipped {len(self.repeated_rows):,} repeated time(s), the first row of each sent: "
                         f"{rows_text(self.repeated_rows)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {"file": self.name, "rows": self.rows, "candles": len(self.frame), "layout": self.layout,
                "symbols": self.symbols, "times": self.dates, "zone": self.zone, "adjusted": self.adjusted,
                "empty_rows": self.empty_rows, "repeated_rows": self.repeated_rows, "reordered": self.reordered}


def rows_text(rows: list[int]) -> str:
    """"rows 5, 9, 12" (the first SHOWN_ROWS, then how many more)."""
    shown = ", ".join(str(r) for r in rows[:SHOWN_ROWS])
    more = f" ... and {len(rows) - SHOWN_ROWS:,} more" if len(rows) > SHOWN_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def parse_columns(text: str) -> dict[str, str]:
    """`"ts=Date,volume=Vol"` -> {"ts": "Date", "volume": "Vol"} (fields: ts, open, high, low, close, volume,
    symbol, adj_close)."""
    mapping = {}
    for part in (p for p in text.split(",") if p.strip()):
        name, sep, column = part.partition("=")
        name = name.strip().lower()
        if not sep or not column.strip() or name not in (*FIELDS, *OPTIONAL):
            raise ValueError(f"column mapping {part.strip()!r}: expected FIELD=COLUMN with FIELD one of "
                             f"{', '.join((*FIELDS, *OPTIONAL))}")
        mapping[name] = column.strip()
    return mapping


def file_symbol(name: str) -> tuple[str | None, str]:
    """(the symbol a file name gives, or None; the name without its data suffixes, upper-cased).

    The one rule: drop the data suffixes (`.csv`, `.csv.gz`, `.parquet`, ...), upper-case, drop a
    leading `^` and a trailing `=X` or `=F` (Yahoo's marks of an index, a currency, a future); what is
    left is the symbol if the symbol contract accepts it. `^GSPC.csv` -> GSPC, `EURUSD=X.csv` -> EURUSD,
    `BRK-B.csv` -> BRK-B, `BRK.B.csv` -> BRK.B, `goog.csv.gz` -> GOOG; `BTC-USD.csv` stays BTC-USD.
    """
    stem = name
    while Path(stem).suffix.lower() in DATA_SUFFIXES and Path(stem).stem:
        stem = Path(stem).stem
    stem = stem.strip().upper()
    symbol = stem
    for prefix, suffix in YAHOO_MARKS:
        if prefix and symbol.startswith(prefix):
            symbol = symbol[len(prefix):]
        if suffix and symbol.endswith(suffix):
            symbol = symbol[: -len(suffix)]
    return (symbol if is_well_formed(symbol) else None), stem


def symbol_help(stem: str) -> str:
    """Why a file name gives no symbol, and a --symbol to try."""
    suggestion = re.sub(r"[^A-Z0-9.\-/]", "", stem.upper()).lstrip(".-/")[:MAX_SYMBOL_LENGTH] or "SYMBOL"
    return (f"the file name gives no symbol: {stem!r} is not one (a symbol is {FORMAT_HELP} characters; "
            f"a leading '^' and a trailing '=X' or '=F' are dropped), and the file has no symbol column; "
            f"give it with --symbol, e.g. --symbol {suggestion}")


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
        for name, candidates in names.items():
            column = next((by_key[n] for n in candidates if n in by_key), None)
            if name not in mapping and column is not None:
                detected[name] = column
        found = {**detected, **mapping}
        if all(f in found for f in FIELDS):
            if not set(detected) - set(OPTIONAL):
                return "generic", found
            return (f"{layout} + --columns" if mapping else layout), found
        lacking = min(lacking, [f for f in FIELDS if f not in found], key=len)
    raise LayoutError(f"cannot tell which column holds {', '.join(lacking)} "
                      f"(columns: {', '.join(map(str, columns))}); name them with --columns, e.g. "
                      "--columns ts=Date,open=Open,high=High,low=Low,close=Close,volume=Volume")


def read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """A CSV or Parquet file as a frame (a CSV's cells as text, as written), and the row number of its
    first data row; an index (alpaca-py's symbol, timestamp) becomes columns."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        return (frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()).reset_index(drop=True), 1
    if suffixes and suffixes[-1] in (".csv", ".txt", ".gz"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False)
        return frame, 2
    raise LayoutError(f"{path.name}: not a .csv or .parquet file")


# ---- times ------------------------------------------------------------------------------------

def blank(values: pd.Series) -> np.ndarray:
    """Where a column's cells are empty: missing, or written as nothing, null, NaN, N/A, -."""
    return (values.isna() | values.astype(str).str.strip().str.lower().isin(NULLS)).to_numpy()


def adjust_prices(frame: pd.DataFrame, adj_close: np.ndarray) -> pd.DataFrame:
    """Open, high, low and close scaled by adjusted close / close (splits and dividends), so a split is not a
    jump; the volume as written. Scaling every price of a bar by one positive factor keeps its order."""
    factor = np.asarray(adj_close, dtype=float) / frame["close"].to_numpy(dtype=float)
    out = frame.copy()
    for name in PRICES:
        out[name] = out[name].to_numpy(dtype=float) * factor
    return out


def order_problems(symbols: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows repeating an earlier row's time of their symbol, rows earlier than a row above them of their
    symbol that are not repeats), as boolean masks in file order. The processor applies a symbol's bars
    in arrival order: it would record the first as duplicates, the second as late."""
    frame = pd.DataFrame({"s": symbols, "t": ts})
    repeated = frame.duplicated(["s", "t"], keep="first").to_numpy()
    latest_above = frame.groupby("s", sort=False)["t"].cummax().groupby(frame["s"], sort=False).shift()
    late = (frame["t"] < latest_above).to_numpy() & ~repeated
    return repeated, late


def order_error(rows: np.ndarray, ts: np.ndarray, repeated: np.ndarray, late: np.ndarray, symbols: int) -> str:
    """What is out of order in a file, and what to do."""
    def when(i: int) -> str:
        return pd.Timestamp(ts[i], unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")

    parts = []
    if late.any():
        i = int(np.flatnonzero(late)[0])
        newest_first = int(late.sum()) > int((~repeated).sum() - symbols) / 2  # most rows go back in time
        parts.append(f"{int(late.sum()):,} row(s) earlier than a row above them"
                     + (" (the file looks newest first)" if newest_first else "")
                     + f", first row {rows[i]} ({when(i)})")
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        parts.append(f"{int(repeated.sum()):,} row(s) repeating a time above them, first row {rows[i]} ({when(i)})")
    return ("rows out of time order: " + "; ".join(parts) + ". The processor applies a symbol's bars in the order "
            "they come and would record these as late or duplicate, not store them; --sort sends the rows in "
            "time order, each time once (the first row of a repeated time)")


# ---- a file -----------------------------------------------------------------------------------

def read_candles(source: Source, mapping: dict[str, str], options: ReadOptions = ReadOptions()) -> FileRead:
    """The file's candles and what reading it found; InputError (naming row, column and text) for a value
    it cannot read, LayoutError for columns it cannot place. Nothing is sent by this."""
    name = source.path.name
    table, first_row = read_table(source.path)
    layout, columns = locate([str(c) for c in table.columns], mapping)
    table.columns = [str(c) for c in table.columns]
    rows = np.arange(len(table)) + first_row

    def error(label: int, column: str, text: object, problem: str) -> InputError:
        return InputError(f"row {rows[label]}, column {column!r}: {str(text)!r}: {problem}")

    if options.adjust and "adj_close" not in columns:
        raise LayoutError("--adjust needs the adjusted close (a column Adj Close, or --columns adj_close=NAME); "
                          f"the file has: {', '.join(table.columns)}")
    if source.symbol is not None:
        symbols = pd.Series(source.symbol, index=table.index)
    elif "symbol" in columns:
        symbols = table[columns["symbol"]].astype(str).str.strip().str.upper()
    else:
        symbol, stem = (source.fallback, "") if source.fallback else file_symbol(name)
        if symbol is None:
            raise LayoutError(symbol_help(stem))
        symbols = pd.Series(symbol, index=table.index)

    values = [*FIELDS[1:], *(("adj_close",) if options.adjust else ())]
    empty = {f: blank(table[columns[f]]) for f in values}
    skip = np.logical_and.reduce(list(empty.values()))
    keep = ~skip
    numbers = {}
    for f in values:
        column = table[columns[f]]
        partial = empty[f] & keep
        if partial.any():
            i = int(np.flatnonzero(partial)[0])
            raise error(i, columns[f], column.iloc[i], "empty in a row that has other values (a row with no values "
                                                       "at all is skipped); fill it or remove the row")
        parsed = pd.to_numeric(column, errors="coerce") if not pd.api.types.is_numeric_dtype(column) else column
        unread = parsed.isna().to_numpy() & keep
        if unread.any():
            i = int(np.flatnonzero(unread)[0])
            raise error(i, columns[f], column.iloc[i], "not a number")
        numbers[f] = parsed.to_numpy(dtype=float)[keep]
    ts_column = table[columns["ts"]]
    no_time = blank(ts_column) & keep
    if no_time.any():
        i = int(np.flatnonzero(no_time)[0])
        raise error(i, columns["ts"], ts_column.iloc[i], "no time in a row that has values")
    try:
        ts, dates, zone = utc_seconds(ts_column[keep], options.date_format, options.tz)
    except BadValue as bad:
        raise error(bad.position, columns["ts"], bad.text, bad.problem) from None
    frame = pd.DataFrame({"symbol": symbols.to_numpy()[keep], "ts": ts, **{f: numbers[f] for f in FIELDS[1:]},
                          "row": rows[keep]})
    if options.adjust:
        frame = adjust_prices(frame, numbers["adj_close"])
    repeated, late = order_problems(frame["symbol"].to_numpy(), frame["ts"].to_numpy())
    if (repeated.any() or late.any()) and not options.sort:
        raise InputError(order_error(frame["row"].to_numpy(), frame["ts"].to_numpy(), repeated, late,
                                     frame["symbol"].nunique()))
    read = FileRead(name, frame.loc[~repeated].reset_index(drop=True), layout, len(table), dates, zone,
                    options.adjust, rows[skip].tolist(), frame["row"][repeated].tolist(), int(late.sum()))
    return read
