"""Operations CLI: `python -m services.admin {topics,migrate,status}`."""
from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from services.config import Settings, get_settings
from services.logs import setup_logging


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with pydantic's reasons (e.g. a URL contradicting TICKFLOW_PG_PORT)."""
    try:
        return get_settings()
    except ValidationError as exc:
        reasons = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        sys.exit(f"error: invalid settings: {reasons}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.admin",
        description="Prepare Tickflow's Kafka topics and PostgreSQL schema (both idempotent).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("topics", help="create missing Kafka topics with their partition counts")
    sub.add_parser("migrate", help="apply pending SQL migrations from sql/ as the owner role")
    sub.add_parser("status", help="list applied and pending migrations")
    args = parser.parse_args(argv)
    settings = settings_or_exit()
    setup_logging("WARNING", "text")  # the command prints its own summary

    if args.command == "topics":
        from services.kafka_io import ensure_topics

        for topic, state in ensure_topics(settings.kafka_bootstrap, settings.topics,
                                          settings.kafka_replication_factor).items():
            print(f"{topic}: {state}")
        return 0

    from services.db.connect import make_engine
    from services.db.migrations import applied, migrate, pending

    engine = make_engine(settings.admin_database_url)
    if args.command == "migrate":
        done = migrate(engine)
        print(f"applied {len(done)} migration(s): {', '.join(done)}" if done else "schema is up to date")
    else:
        for version in sorted(applied(engine)):
            print(f"applied  {version}")
        for version in pending(engine):
            print(f"pending  {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
