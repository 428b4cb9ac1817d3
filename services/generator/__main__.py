"""Tickflow generator: simulate a market and push it to ingest over HTTP.

    python -m services.generator --help

This module is the command line only: it parses flags (defaults from TICKFLOW_* settings),
resolves them into a ``Plan``, builds the ``Runner`` and the optional HTTP server (GET /, /healthz,
/readyz, /metrics; see services/generator/app.py), turns SIGTERM/SIGINT into
``Runner.request_stop`` and returns the exit status.  How a run works -- workers, pacing,
batching, shutdown -- is in services/generator/runner.py; sending with retries is in
services/ingest_client.py.
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from collections.abc import Sequence

from services.cli import add_setting_flags, number_or_max, settings_with_flags
from services.config import Settings, get_settings
from services.core.simulation import RecordMix
from services.generator.runner import Plan, Runner
from services.ingest_client import ingest_token
from services.logs import event, setup_logging

log = logging.getLogger(__name__)


# -- command line ------------------------------------------------------------------------------


def _non_negative_int(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return n


def _positive_float(value: str) -> float:
    x = float(value)
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError("must be a finite number > 0")
    return x


# Flags that set a knob of the settings (help, default and validation come from services/config.py).
FLAGS = {"--symbols": "symbols", "--workers": "generator_workers", "--seed": "generator_seed",
         "--batch": "generator_batch", "--flush-ms": "generator_flush_ms", "--ingest-url": "ingest_url",
         "--max-retries": "generator_max_retries", "--timeout": "generator_timeout_s",
         "--shutdown-timeout": "generator_shutdown_timeout_s", "--host": "generator_host",
         "--port": "generator_port", "--log-interval": "generator_log_interval_s",
         "--history": "generator_history_s", "--history-interval": "generator_history_interval_s"}
MIX_FLAGS = {"--order-book": "generator_order_book", "--news": "generator_news",
             "--market-data": "generator_market_data", "--economic": "generator_economic"}
METAVARS = {"--history": "SECONDS", "--history-interval": "SECONDS", "--symbols": "A,B,...", "--ingest-url": "URL",
            "--max-retries": "N", "--flush-ms": "MS",
            "--timeout": "SECONDS", "--shutdown-timeout": "SECONDS", "--log-interval": "SECONDS",
            **{flag: "P" for flag in MIX_FLAGS}}


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.generator",
        description=(
            "Simulate a stock market (per-symbol geometric Brownian motion plus order book, news "
            "sentiment, market data and economic indicators) and push it to ingest over HTTP. "
            "Defaults come from TICKFLOW_* settings; flags override them for this run."
        ),
        epilog=(
            "Timing: candle n of a symbol has timestamp START + n*INTERVAL. By default START is now "
            "and INTERVAL = len(symbols)/RATE, so timestamps track the wall clock. With --history H, "
            "H/HISTORY_INTERVAL candles per symbol HISTORY_INTERVAL apart and ending before START come "
            "first, as fast as ingest takes them (so 1m...1d candles and their indicators are warm at "
            "once); the same price path then goes on from START (from the moment the history is sent "
            "when --start is not given), and --count counts only those later candles. "
            "Prices move by the time between timestamps (a second of timestamps is a second of trading), so the "
            "history and the live candles move alike per unit of time, in every timeframe. "
            "Reproducible runs: fix --seed, --start, --interval and --count; the same flags give "
            "the same records whatever --workers and --batch are. "
            "Exit status: 0 on success or after SIGTERM/SIGINT; 1 if a finite run (--count) had "
            "rejected or undelivered records; 2 on usage or startup errors. "
            "Set TICKFLOW_INGEST_TOKEN to send 'Authorization: Bearer <token>'."
        ),
    )
    rate = Settings.model_fields["generator_rate"]
    p.add_argument("--rate", type=number_or_max, default=settings.generator_rate, metavar="R|max",
                   help=f"{rate.description}; side records ride along; 'max' = as fast as possible "
                        "(env TICKFLOW_GENERATOR_RATE; default: %(default)s)")
    add_setting_flags(p, settings, FLAGS, METAVARS)
    p.add_argument("--start", type=float, default=None, metavar="EPOCH",
                   help="timestamp of the first candle of every symbol, epoch seconds (default: now; "
                        "with --rate max and --count: chosen so the last candle is at about now)")
    p.add_argument("--interval", type=_positive_float, default=None, metavar="SECONDS",
                   help="seconds between two candles of one symbol (default: len(symbols)/rate; "
                        "with --rate max: len(symbols)/TICKFLOW_GENERATOR_RATE)")
    p.add_argument("--count", type=_non_negative_int, default=None,
                   help="total candles to send, then wait for acknowledgements and exit; the first "
                        "COUNT candles of the round robin over symbols (the first COUNT %% len(symbols) "
                        "symbols get one extra when not divisible) plus their side records "
                        "(default: run until stopped)")
    p.add_argument("--no-server", action="store_true", help="do not start the HTTP server")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="tqdm progress bar on stderr for finite runs (auto = when stderr is a TTY)")
    add_setting_flags(p.add_argument_group("record mix (probabilities per candle)"), settings, MIX_FLAGS, METAVARS)
    return p


# -- building and running ---------------------------------------------------------------------


def make_plan(args: argparse.Namespace, settings: Settings, now: float) -> Plan:
    """The run's plan: per-run flags from `args`, knobs from `settings` (flags already applied)."""
    symbols = settings.symbols
    rate = args.rate
    interval = args.interval
    if interval is None:
        interval = len(symbols) / (rate if rate is not None else settings.generator_rate)
    start = args.start
    if start is None:
        start = now
        if rate is None and args.count:
            per_symbol = math.ceil(args.count / len(symbols))
            start = now - per_symbol * interval
        start = round(start, 3)
    return Plan(
        symbols=symbols,
        seed=settings.generator_seed,
        start=start,
        interval=interval,
        rate=rate,
        workers=min(settings.generator_workers, len(symbols)),
        batch=settings.generator_batch,
        count=args.count,
        mix=RecordMix(order_book=settings.generator_order_book, news=settings.generator_news,
                      market_data=settings.generator_market_data, economic=settings.generator_economic),
        flush_interval=settings.generator_flush_ms / 1000.0,
        max_ahead=settings.max_future_skew_seconds / 2,
        history=int(settings.generator_history_s // settings.generator_history_interval_s),
        history_interval=settings.generator_history_interval_s,
        start_fixed=args.start is not None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    settings = settings_with_flags(parser, args, settings, {**FLAGS, **MIX_FLAGS})
    setup_logging(settings.log_level, settings.log_format)
    for noisy in ("httpx", "httpcore"):  # one INFO line per request otherwise
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        plan = make_plan(args, settings, time.time())
        runner = Runner(
            plan=plan,
            ingest_url=settings.ingest_url,
            token=ingest_token(settings),
            max_retries=settings.generator_max_retries,
            timeout=settings.generator_timeout_s,
            shutdown_timeout=settings.generator_shutdown_timeout_s,
            log_interval=settings.generator_log_interval_s,
            progress=args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty()),
        )
    except ValueError as exc:
        parser.error(str(exc))
    if settings.generator_workers > len(plan.symbols):
        event(log, "more workers than symbols; using one per symbol", logging.WARNING,
              workers=len(plan.symbols))

    server = None
    if not args.no_server:
        from services.generator.app import create_app
        from services.ops import BackgroundServer

        app = create_app(runner.sample, runner.stats, lambda: runner.ready, runner.extra_metrics)
        try:
            server = BackgroundServer(app, settings.generator_host, settings.generator_port).start()
        except (OSError, RuntimeError) as exc:
            event(log, "cannot start HTTP server", logging.ERROR, host=settings.generator_host,
                  port=settings.generator_port,
                  error=str(exc))
            return 2
        event(log, "HTTP server listening", host=settings.generator_host, port=server.port)

    def on_signal(signum: int, frame: object) -> None:
        event(log, "signal received", signal=signal.Signals(signum).name)
        runner.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
