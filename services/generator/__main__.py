"""Tickflow generator: simulate a market and push it to ingest over HTTP.

    python -m services.generator --help

This module is the command line only: it parses flags (defaults from TICKFLOW_* settings),
resolves them into a ``Plan``, builds the ``Runner`` and the optional HTTP server (GET /, /healthz,
/readyz, /metrics; see services/generator/app.py), turns SIGTERM/SIGINT into
``Runner.request_stop`` and returns the exit status.  How a run works -- workers, pacing,
batching, shutdown -- is in services/generator/runner.py; sending with retries is in
services/generator/pusher.py.
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from collections.abc import Sequence

from services.config import Settings, get_settings
from services.core.simulation import RecordMix
from services.generator.runner import Plan, Runner
from services.logs import event, setup_logging

log = logging.getLogger(__name__)


# -- command line ------------------------------------------------------------------------------


def _rate(value: str) -> float | None:
    if value.strip().lower() == "max":
        return None
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'max': {value!r}") from None
    if not (math.isfinite(rate) and rate > 0):
        raise argparse.ArgumentTypeError("rate must be > 0 (use 'max' for as fast as possible)")
    return rate


def _symbols(value: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in value.split(",") if s.strip()))
    if not symbols:
        raise argparse.ArgumentTypeError("at least one symbol is required")
    return symbols


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


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


def _probability(value: str) -> float:
    x = float(value)
    if not (0.0 <= x <= 1.0):
        raise argparse.ArgumentTypeError("must be within [0, 1]")
    return x


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    mix = RecordMix()
    p = argparse.ArgumentParser(
        prog="python -m services.generator",
        description=(
            "Simulate a stock market (per-symbol geometric Brownian motion plus order book, news "
            "sentiment, market data and economic indicators) and push it to ingest over HTTP. "
            "Defaults come from TICKFLOW_* settings; flags override them for this run."
        ),
        epilog=(
            "Timing: candle n of a symbol has timestamp START + n*INTERVAL. By default START is now "
            "and INTERVAL = len(symbols)/RATE, so timestamps track the wall clock. "
            "Reproducible runs: fix --seed, --start, --interval and --count; the same flags give "
            "the same records whatever --workers and --batch are. "
            "Exit status: 0 on success or after SIGTERM/SIGINT; 1 if a finite run (--count) had "
            "rejected or undelivered records; 2 on usage or startup errors. "
            "Set TICKFLOW_INGEST_TOKEN to send 'Authorization: Bearer <token>'."
        ),
    )
    p.add_argument("--rate", type=_rate, default=settings.generator_rate, metavar="R|max",
                   help="candles per second over all symbols (side records ride along); 'max' = "
                        "as fast as possible (default: %(default)s)")
    p.add_argument("--symbols", type=_symbols, default=tuple(settings.symbols), metavar="A,B,...",
                   help="comma-separated symbols (default: %s)" % ",".join(settings.symbols))
    p.add_argument("--workers", type=_positive_int, default=settings.generator_workers,
                   help="worker threads; symbols are partitioned over them (default: %(default)s)")
    p.add_argument("--seed", type=int, default=settings.generator_seed,
                   help="random seed (default: %(default)s)")
    p.add_argument("--start", type=float, default=None, metavar="EPOCH",
                   help="timestamp of the first candle of every symbol, epoch seconds (default: now; "
                        "with --rate max and --count: chosen so the last candle is at about now)")
    p.add_argument("--interval", type=_positive_float, default=None, metavar="SECONDS",
                   help="seconds between two candles of one symbol (default: len(symbols)/rate; "
                        "with --rate max: len(symbols)/TICKFLOW_GENERATOR_RATE)")
    p.add_argument("--batch", type=_positive_int, default=settings.generator_batch,
                   help="max records per POST (default: %(default)s)")
    p.add_argument("--flush-ms", type=_positive_float, default=200.0,
                   help="send a partial batch once its oldest record waited this long (default: %(default)s)")
    p.add_argument("--count", type=_non_negative_int, default=None,
                   help="total candles to send, then wait for acknowledgements and exit; the first "
                        "COUNT candles of the round robin over symbols (the first COUNT %% len(symbols) "
                        "symbols get one extra when not divisible) plus their side records "
                        "(default: run until stopped)")
    p.add_argument("--ingest-url", default=settings.ingest_url,
                   help="ingest base URL; records go to URL/ingest (default: %(default)s)")
    p.add_argument("--max-retries", type=_non_negative_int, default=None,
                   help="retries per batch before counting it undelivered (default: retry forever)")
    p.add_argument("--timeout", type=_positive_float, default=10.0,
                   help="HTTP request timeout in seconds (default: %(default)s)")
    p.add_argument("--shutdown-timeout", type=_positive_float, default=10.0,
                   help="on SIGTERM/SIGINT, seconds to keep retrying buffered batches (default: %(default)s)")
    p.add_argument("--host", default=settings.generator_host,
                   help="HTTP server host (default: %(default)s)")
    p.add_argument("--port", type=int, default=settings.generator_port,
                   help="HTTP server port (default: %(default)s)")
    p.add_argument("--no-server", action="store_true", help="do not start the HTTP server")
    p.add_argument("--log-interval", type=_positive_float, default=5.0,
                   help="seconds between progress log lines (default: %(default)s)")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="tqdm progress bar on stderr for finite runs (auto = when stderr is a TTY)")
    g = p.add_argument_group("record mix (probabilities per candle)")
    g.add_argument("--order-book", type=_probability, default=mix.order_book,
                   help="chance of an order-book quote, one buy + one sell entry (default: %(default)s)")
    g.add_argument("--news", type=_probability, default=mix.news,
                   help="chance of a news_sentiment record (default: %(default)s)")
    g.add_argument("--market-data", type=_probability, default=mix.market_data,
                   help="chance of a market_data record (default: %(default)s)")
    g.add_argument("--economic", type=_probability, default=mix.economic,
                   help="chance of an economic_indicator release per round over all symbols "
                        "(default: %(default)s)")
    return p


# -- building and running ---------------------------------------------------------------------


def make_plan(args: argparse.Namespace, settings: Settings, now: float) -> Plan:
    symbols = tuple(args.symbols)
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
        seed=args.seed,
        start=start,
        interval=interval,
        rate=rate,
        workers=min(args.workers, len(symbols)),
        batch=args.batch,
        count=args.count,
        mix=RecordMix(order_book=args.order_book, news=args.news, market_data=args.market_data,
                      economic=args.economic),
        flush_interval=args.flush_ms / 1000.0,
        max_ahead=settings.max_future_skew_seconds / 2,
    )


def ingest_token(settings: Settings) -> str | None:
    """The bearer token for ingest, or None; an empty TICKFLOW_INGEST_TOKEN also means none."""
    if settings.ingest_token is None:
        return None
    return settings.ingest_token.get_secret_value() or None


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    setup_logging(settings.log_level, settings.log_format)
    for noisy in ("httpx", "httpcore"):  # one INFO line per request otherwise
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        plan = make_plan(args, settings, time.time())
        runner = Runner(
            plan=plan,
            ingest_url=args.ingest_url,
            token=ingest_token(settings),
            max_retries=args.max_retries,
            timeout=args.timeout,
            shutdown_timeout=args.shutdown_timeout,
            log_interval=args.log_interval,
            progress=args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty()),
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.workers > len(plan.symbols):
        event(log, "more workers than symbols; using one per symbol", logging.WARNING,
              workers=len(plan.symbols))

    server = None
    if not args.no_server:
        from services.generator.app import BackgroundServer, create_app

        app = create_app(runner.sample, runner.stats, lambda: runner.ready, runner.extra_metrics)
        try:
            server = BackgroundServer(app, args.host, args.port).start()
        except (OSError, RuntimeError) as exc:
            event(log, "cannot start HTTP server", logging.ERROR, host=args.host, port=args.port,
                  error=str(exc))
            return 2
        event(log, "HTTP server listening", host=args.host, port=server.port)

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
