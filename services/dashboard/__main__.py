"""`python -m services.dashboard`: serve the dashboard."""
from __future__ import annotations

import argparse
import signal
import sys

from services.cli import add_setting_flags, settings_with_flags
from services.config import get_settings

FLAGS = {"--host": "dashboard_host", "--port": "dashboard_port"}


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.dashboard",
        description=(
            "Tickflow dashboard: a live page at / (candles, indicators, signals, summaries), read-only REST "
            "under /api (docs at /docs), a WebSocket at /ws streaming every bar and signal the processor "
            "commits to PostgreSQL, and signed webhooks for new signals (TICKFLOW_WEBHOOK_URLS). "
            "Summaries come from the market_summary DAG (once by hand: python -m services.orchestration "
            "summarize). Settings come from TICKFLOW_* environment variables; flags override them."
        ),
    )
    add_setting_flags(parser, settings, FLAGS)
    commands = parser.add_subparsers(dest="command", metavar="{serve}")
    commands.add_parser("serve", help="serve the dashboard (the default)")
    settings = settings_with_flags(parser, parser.parse_args(argv), settings, FLAGS)

    import uvicorn

    from services.dashboard.app import create_app
    from services.http_guard import server_options

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler that
    # was there before it: make that a no-op, so a graceful stop exits 0 (as the other services do).
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(create_app(settings), host=settings.dashboard_host, port=settings.dashboard_port,
                log_level="warning", access_log=False, **server_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
