"""`python -m services.feed alpaca {backfill,live}`: Alpaca's bars through ingest (README "Real market data").

This module is the command line only: flags (knobs from settings via services/cli.py), the
health side door (services/ops.py), then the work (services/feed/runner.py).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.cli import add_setting_flags, settings_with_flags
from services.config import Settings, get_settings
from services.core.times import as_utc
from services.feed.alpaca import Alpaca, APIError, MissingKeys, quiet_sdk_loggers
from services.feed.bars import LIVE_TIMEFRAME, Cursor, closed_until, step_of
from services.feed.runner import Feed, newest_stored, utcnow
from services.ingest_client import Pusher, ingest_token
from services.logs import event, setup_logging
from services.ops import BackgroundServer, StateCollector, ops_router

log = logging.getLogger(__name__)

REFUSAL_HINTS = {401: "check APCA_API_KEY_ID and APCA_API_SECRET_KEY", 403: "the keys may not use this feed or "
                 "asset class (e.g. --stock-feed sip needs a paid plan)", 422: "check the symbols and the dates"}

FLAGS = {"--symbols": "alpaca_symbols", "--stock-feed": "alpaca_stock_feed", "--ingest-url": "ingest_url",
         "--batch": "alpaca_batch", "--fetch-limit": "alpaca_fetch_limit", "--data-url": "alpaca_data_url",
         "--ops-port": "alpaca_ops_port", "--timeout": "alpaca_timeout_s"}
MODE_FLAGS = {"backfill": {"--timeframe": "alpaca_timeframe"},
              "live": {"--history": "alpaca_history_s", "--stream-url": "alpaca_stream_url"}}
METAVARS = {"--symbols": "SYM,...", "--timeframe": "TF", "--stock-feed": "iex|sip", "--ingest-url": "URL",
            "--batch": "N", "--fetch-limit": "N", "--data-url": "URL", "--stream-url": "URL", "--ops-port": "PORT",
            "--timeout": "SECONDS", "--history": "SECONDS"}


def when(value: str) -> datetime:
    """An ISO 8601 date or time; UTC when it has no zone."""
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from None
    return as_utc(ts)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.feed",
        description="Real market bars through ingest, the platform's one front door (validated, published to "
                    "Kafka, stored by the processor with indicators and signals).")
    sources = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    alpaca = sources.add_parser(
        "alpaca", help="Alpaca's market data (alpaca-py): historical and live bars, stocks and crypto",
        description="Alpaca's bars through ingest, with the official alpaca-py SDK. Keys from APCA_API_KEY_ID and "
                    "APCA_API_SECRET_KEY (never logged). Symbols with '/' are crypto (BTC/USD), the others "
                    "stocks; ingest must accept them (TICKFLOW_SYMBOLS or TICKFLOW_SYMBOL_PATTERN on its side).",
        epilog="Each symbol resumes just after its newest stored bar (read with the read-only role, "
               "TICKFLOW_READER_DATABASE_URL), so a restart fetches only what is missing; bars older than "
               "it are not sent (the processor would record them as late).")
    modes = alpaca.add_subparsers(dest="mode", required=True, metavar="MODE")
    backfill = modes.add_parser(
        "backfill", help="historical bars of a date range, then exit",
        description="Fetch each symbol's historical bars from START (or just after its newest stored bar, if "
                    "later) to END and send them through ingest. Exit status: 0 when every bar was accepted, "
                    "1 when some were rejected or undelivered, 2 on usage errors, missing keys or a request "
                    "Alpaca refused (wrong keys, say).")
    backfill.add_argument("--start", type=when, required=True, help="first bar time (ISO 8601; UTC without zone)")
    backfill.add_argument("--end", type=when, default=None,
                          help="last bar time, included (default: the last closed bar before now)")
    live = modes.add_parser(
        "live", help="catch up from the store, then stream minute bars over Alpaca's WebSocket until stopped",
        description="Fetch what is missing since each symbol's newest stored bar (a symbol with none: since "
                    "--start, else --history seconds ago), then stream minute bars. A dropped socket is "
                    "reconnected by alpaca-py with backoff; the bars it missed are fetched from the historical "
                    "API before the next live bar is sent. /healthz, /readyz, /metrics on --ops-port.")
    live.add_argument("--start", type=when, default=None,
                      help="first bar time for a symbol with no stored bar (default: --history seconds ago)")
    for name, mode in (("backfill", backfill), ("live", live)):
        add_setting_flags(mode, settings, {**MODE_FLAGS[name], **FLAGS}, METAVARS)
    return p


def ops_app(feed: Feed, live: bool) -> FastAPI:
    """/healthz, /readyz and /metrics of a feed (served on --ops-port)."""
    registry = CollectorRegistry()
    registry.register(StateCollector(feed.samples))
    app = FastAPI(title="Tickflow Alpaca feed", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(ops_router(
        registry,
        ready=lambda: (feed.ready(live), {"status": "ready" if feed.ready(live) else "catching up or connecting"}),
        alive=lambda: (feed.alive(), {"status": "ok" if feed.alive() else "a stream ended"})))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    settings = settings_with_flags(parser, args, settings, {**FLAGS, **MODE_FLAGS[args.mode]})
    setup_logging(settings.log_level, settings.log_format)
    quiet_sdk_loggers()
    symbols = settings.alpaca_symbols
    if not symbols:
        parser.error("no symbols: give --symbols or set TICKFLOW_ALPACA_SYMBOLS")
    try:
        source = Alpaca(settings)
    except MissingKeys as exc:
        print(exc, file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    newest = newest_stored(settings.reader_database_url, symbols, stop)
    if newest is None:
        return 0
    event(log, "newest stored bars", **{s: ts.isoformat() for s, ts in newest.items()})
    with Pusher(settings.ingest_url, token=ingest_token(settings), timeout=settings.alpaca_timeout_s, give_up=stop,
                name="feed") as pusher:
        timeframe = LIVE_TIMEFRAME if args.mode == "live" else settings.alpaca_timeframe
        feed = Feed(source, pusher, Cursor(dict(newest)), timeframe=timeframe,
                    fetch_limit=settings.alpaca_fetch_limit, batch=settings.alpaca_batch, stop=stop)
        server = (BackgroundServer(ops_app(feed, args.mode == "live"), settings.alpaca_ops_host,
                                   settings.alpaca_ops_port, "feed-ops").start()
                  if settings.alpaca_ops_port else None)
        try:
            if args.mode == "live":
                feed.live(symbols, args.start or utcnow() - timedelta(seconds=settings.alpaca_history_s))
            else:
                end = args.end or closed_until(utcnow(), step_of(timeframe))
                feed.backfill(symbols, args.start, end)
        except APIError as exc:  # not transient (feed/alpaca.py): wrong keys, a symbol or feed not allowed, ...
            event(log, "Alpaca refused a request; stopping", logging.ERROR, status=exc.status_code,
                  error=str(exc)[:300], hint=REFUSAL_HINTS.get(exc.status_code or 0, "see the error"))
            return 2
        finally:
            if server is not None:
                server.stop()
    summary = {"mode": args.mode, **feed.counts, **pusher.stats.snapshot(),
               "reasons": dict(pusher.stats.rejection_reasons.most_common(5)), "stopped": stop.is_set()}
    event(log, "feed finished", **summary)
    print(orjson.dumps(summary).decode())
    stats = pusher.stats
    return 0 if stats.rejected == 0 and stats.undelivered == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
