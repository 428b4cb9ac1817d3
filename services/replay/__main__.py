"""`python -m services.replay FILE ...`: replay OHLCV history from CSV or Parquet files through ingest.

This module is the command line only: flags (knobs from TICKFLOW_* settings via services/cli.py),
reading the files (services/replay/files.py), then sending (services/replay/runner.py).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from services.cli import add_setting_flags, number_or_max, settings_with_flags
from services.config import Settings, get_settings
from services.core.symbols import FORMAT_HELP, is_well_formed
from services.ingest_client import Pusher, ingest_token
from services.logs import event, setup_logging
from services.replay.files import LayoutError, ReadOptions, Source, parse_columns, read_candles
from services.replay.runner import Pace, in_time_order, replay

log = logging.getLogger(__name__)

FLAGS = {"--ingest-url": "ingest_url", "--batch": "replay_batch", "--max-retries": "replay_max_retries",
         "--timeout": "replay_timeout_s"}
METAVARS = {"--ingest-url": "URL", "--batch": "N", "--max-retries": "N", "--timeout": "SECONDS"}


def _symbol(value: str) -> str:
    symbol = value.strip().upper()
    if not is_well_formed(symbol):
        raise argparse.ArgumentTypeError(f"{value!r} is not a symbol ({FORMAT_HELP})")
    return symbol


def _columns(value: str) -> dict[str, str]:
    try:
        return parse_columns(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a time zone (an IANA name: America/New_York, "
                                         "Europe/London, Asia/Tokyo, UTC)") from None
    return value


def _date_format(value: str) -> str:
    if "%" not in value:
        raise argparse.ArgumentTypeError(f"{value!r} is not a strftime format (e.g. '%d-%b-%Y' for 04-Jan-1999)")
    return value


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.replay",
        description=(
            "Replay OHLCV history (CSV or Parquet) through ingest, the platform's one front door: every "
            "row becomes a stock-price record, validated, published to Kafka and stored by the processor "
            "with its indicators and signals. Layouts: Yahoo-style Date,Open,High,Low,Close[,Adj Close],Volume "
            "(also a pandas index as first column), Alpaca bars t,o,h,l,c,v[,n,vw], or any other named with "
            "--columns. Defaults come from TICKFLOW_* settings; flags override them."),
        epilog=(
            "One file per symbol (the symbol is --symbol, else the file name: GOOG.csv -> GOOG) or files "
            "with a symbol column (symbol, ticker, S, or --columns symbol=NAME); a file name's leading '^' "
            "and trailing '=X' or '=F' (Yahoo's index, currency and future marks) are dropped: ^GSPC.csv -> "
            "GSPC, EURUSD=X.csv -> EURUSD. Times: ISO 8601 (with or without a zone or a time), M/D/YYYY, "
            "D/M/YYYY or D.M.YYYY (which one is read from the data: a number above 12), YYYYMMDD, epoch "
            "numbers, or --date-format. Daily bars (every time at midnight) keep their date as a UTC date; "
            "intraday times without a zone are UTC unless --tz. A value the replay cannot read stops it before "
            "anything is sent, naming the file, row (the header is row 1), column and text; rows with no "
            "values at all (Yahoo's null rows) are skipped and listed in the summary. "
            "Ingest must accept the symbols (TICKFLOW_SYMBOLS or TICKFLOW_SYMBOL_PATTERN on its side). "
            "Re-running is harmless: bars are stored once. Exit status: 0 when every row was accepted, "
            "1 when some were rejected, undelivered or not sent, 2 on usage errors or unreadable files."),
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV or Parquet files of OHLCV rows")
    p.add_argument("--symbol", type=_symbol, default=None,
                   help="the symbol of every row (one file, or files of one symbol), e.g. --symbol BTC/USD; "
                        "default: a symbol column, else the file name (^GSPC.csv -> GSPC)")
    p.add_argument("--columns", type=_columns, default={}, metavar="FIELD=COLUMN,...",
                   help="which column holds ts, open, high, low, close, volume (and symbol, adj_close), e.g. "
                        "ts=Date,volume=Vol; for layouts not recognised, or to override one")
    p.add_argument("--date-format", type=_date_format, default=None, metavar="FORMAT",
                   help="strftime layout of the time column, for dates in no layout the replay detects or "
                        "ambiguous ones, e.g. --date-format '%%d/%%m/%%Y' or '%%d-%%b-%%Y %%H:%%M'")
    p.add_argument("--tz", type=_zone, default=None, metavar="ZONE",
                   help="time zone of intraday times written without one (exchange time), converted to UTC "
                        "across daylight-saving changes, e.g. --tz America/New_York; daily bars keep their "
                        "date and times with a zone are read as written")
    p.add_argument("--adjust", action="store_true",
                   help="scale open, high, low and close by Adj Close / Close (splits and dividends), so "
                        "indicators do not jump at a split; volume as written. Default: prices as quoted. "
                        "e.g. python -m services.replay AAPL.csv --adjust")
    p.add_argument("--sort", action="store_true",
                   help="send rows that are out of time order (e.g. a newest-first export) in time order, and a "
                        "repeated time once (its first row); without it such a file is refused, e.g. "
                        "python -m services.replay newest-first.csv --sort")
    p.add_argument("--speed", type=number_or_max, default=None, metavar="N|max",
                   help="N times as fast as the history ran (86400: a day a second); default max, "
                        "as fast as ingest takes it")
    p.add_argument("--retime", action="store_true",
                   help="timestamps start now and each bar is sent when due (at --speed, default 1): "
                        "a historical day plays as a live one")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="tqdm progress bar on stderr (auto = when stderr is a TTY)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_setting_flags(p, settings, FLAGS, METAVARS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    settings = settings_with_flags(parser, args, settings, FLAGS)
    setup_logging(settings.log_level, settings.log_format)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))

    options = ReadOptions(args.date_format, args.tz, args.adjust, args.sort)
    reads = []
    for path in args.files:  # every file is read before anything is sent
        try:
            reads.append(read_candles(Source(path, args.symbol), args.columns, options))
        except (OSError, LayoutError, ValueError) as exc:
            print(f"{path}: {exc}; nothing was sent", file=sys.stderr)
            return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    with Pusher(settings.ingest_url, token=ingest_token(settings), max_retries=settings.replay_max_retries,
                timeout=settings.replay_timeout_s, give_up=stop, name="replay") as pusher:
        summary = replay(in_time_order([r.frame for r in reads]), pusher, Pace(args.speed, args.retime),
                         settings.replay_batch, stop, progress=progress)
    summary.files = [r.describe() for r in reads]
    summary.skipped = sum(len(r.empty_rows) + len(r.repeated_rows) for r in reads)
    event(log, "replay finished", **summary.as_dict())
    print(orjson.dumps({"files": [r.as_dict() for r in reads], **summary.as_dict()}).decode() if args.json
          else summary.text())
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
