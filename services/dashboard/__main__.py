"""`python -m services.dashboard`: serve the dashboard, or compute market summaries once."""
from __future__ import annotations

import argparse
import signal
import sys

import orjson

from services.config import get_settings
from services.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.dashboard",
        description=(
            "Tickflow dashboard: a live page at / (candles, indicators, signals, summaries), read-only REST "
            "under /api (docs at /docs), a WebSocket at /ws streaming every bar and signal the processor "
            "commits to PostgreSQL, and signed webhooks for new signals (TICKFLOW_WEBHOOK_URLS). "
            "Settings come from TICKFLOW_* environment variables; flags override them."
        ),
    )
    parser.add_argument("--host", default=settings.dashboard_host, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.dashboard_port, help="port (default %(default)s)")
    commands = parser.add_subparsers(dest="command", metavar="{serve,summarize}")
    commands.add_parser("serve", help="serve the dashboard (the default)")
    summarize = commands.add_parser(
        "summarize", help="compute the per-symbol summaries once (what the market_summary DAG does hourly)",
        description="Compute and store the 1h and 1d summaries ending at --end (default: now), as the "
                    "market_summary DAG does; print a JSON report.")
    summarize.add_argument("--end", default=None, help="window end: ISO 8601 (UTC if no offset) or epoch seconds")
    summarize.add_argument("--horizon-bars", type=int, default=settings.summary_horizon_bars,
                           help="bars after a signal for its hit (default %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "summarize":
        # The market_summary DAG's logic, run by hand (`make run` fills the summary cards at once).
        # Imported only for this command: serving the dashboard never loads services.orchestration
        # (tests/test_dependencies.py).
        from services.orchestration.market_summary import resolve_end, summarize as run_summary

        setup_logging(settings.log_level, settings.log_format)
        if args.horizon_bars < 1:
            parser.error("--horizon-bars must be >= 1")
        try:
            end = resolve_end(args.end, None)
        except ValueError as exc:
            parser.error(f"--end: {exc}")
        report = run_summary(settings.database_url, end, args.horizon_bars, run_id="manual")
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return 0

    import uvicorn

    from services.dashboard.app import create_app

    settings = settings.model_copy(update={"dashboard_host": args.host, "dashboard_port": args.port})
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler that
    # was there before it: make that a no-op, so a graceful stop exits 0 (as the other services do).
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
