"""`python -m services.orchestration`: run a DAG's logic once by hand, without Airflow."""
from __future__ import annotations

import argparse
import sys

import orjson

from services.cli import add_setting_flags, settings_with_flags
from services.config import get_settings
from services.logs import setup_logging

SUMMARIZE_FLAGS = {"--horizon-bars": "summary_horizon_bars"}


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.orchestration",
        description="The logic of Tickflow's Airflow DAGs, run once from the command line. "
                    "Settings come from TICKFLOW_* environment variables; flags override them.")
    commands = parser.add_subparsers(dest="command", metavar="{summarize}", required=True)
    summarize = commands.add_parser(
        "summarize", help="compute the per-symbol summaries once (what the market_summary DAG does hourly)",
        description="Compute and store the summaries (last hour, day, week) ending at --end (default: now) "
                    "of each timeframe's bars, as the market_summary DAG does; print a JSON report.")
    summarize.add_argument("--end", default=None, help="window end: ISO 8601 (UTC if no offset) or epoch seconds")
    summarize.add_argument("--timeframes", default=None, metavar="LIST",
                           help="comma-separated: raw (base bars) and/or configured timeframes (TICKFLOW_TIMEFRAMES, "
                                f"now {','.join(settings.timeframes)}); default: raw and all configured")
    add_setting_flags(summarize, settings, SUMMARIZE_FLAGS, metavars={"--horizon-bars": "N"})
    args = parser.parse_args(argv)
    settings = settings_with_flags(summarize, args, settings, SUMMARIZE_FLAGS)
    setup_logging(settings.log_level, settings.log_format)

    from services.orchestration.analytics.market_summary import summarize as run_summary
    from services.orchestration.run_params import resolve_end, validate_timeframes

    try:
        end = resolve_end(args.end, None)
    except ValueError as exc:
        summarize.error(f"--end: {exc}")
    try:
        timeframes = validate_timeframes(args.timeframes, settings.timeframes)
    except ValueError as exc:
        summarize.error(f"--{exc}")
    report = run_summary(settings.database_url, end, settings.summary_horizon_bars, run_id="manual",
                         timeframes=timeframes)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
