"""Operations CLI: `python -m services.admin {topics,migrate,status,partitions}`."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

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
    sub.add_parser("migrate", help="apply pending SQL migrations from sql/ as the owner role, then create the "
                                   "time partitions ahead and home rows waiting in DEFAULT partitions")
    sub.add_parser("status", help="list applied and pending migrations")
    parts = sub.add_parser(
        "partitions", help="list the time partitions; create the missing ones; with --drop-expired, drop those "
                           "older than their retention tier (README \"Data lifecycle\")")
    parts.add_argument("--drop-expired", action="store_true", help="drop every partition older than its tier")
    parts.add_argument("--dry-run", action="store_true", help="only list what --drop-expired would drop")
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
    from services.db.partitions import maintain_database

    if args.command == "partitions":
        return partitions_command(settings, args.drop_expired, args.dry_run)
    engine = make_engine(settings.admin_database_url)
    if args.command == "migrate":
        done = migrate(engine)
        print(f"applied {len(done)} migration(s): {', '.join(done)}" if done else "schema is up to date")
        engine.dispose()
        report = maintain_database(settings.admin_database_url, settings.retention_policy(), settings.timeframes)
        print(f"partitions: {len(report.created)} created, {report.homed_rows} row(s) moved out of DEFAULT partitions")
    else:
        for version in sorted(applied(engine)):
            print(f"applied  {version}")
        for version in pending(engine):
            print(f"pending  {version}")
    return 0


def partitions_command(settings: Settings, drop: bool, dry_run: bool) -> int:
    from services.db.connect import pg_connection
    from services.db.partitions import PARTITIONED, drop_expired, maintain, partitions, utc_session

    now, policy = datetime.now(timezone.utc), settings.retention_policy()
    with pg_connection(settings.admin_database_url, "tickflow-admin") as conn:
        created = maintain(conn, policy, settings.timeframes, now, dry_run=dry_run).created
        if drop or dry_run:
            gone = drop_expired(conn, policy, now, dry_run=dry_run).partitions
            verb = "would drop" if dry_run else "dropped"
            for p in gone:
                print(f"{verb} {p.name}: {p.rows} rows, {p.bytes / 1e6:.1f} MB, "
                      f"[{p.range.lo:%Y-%m-%d}, {p.range.hi:%Y-%m-%d})")
            print(f"{verb} {len(gone)} partition(s), {sum(p.bytes for p in gone) / 1e6:.1f} MB; "
                  f"{'would create' if dry_run else 'created'} {len(created)}")
            return 0
        with conn, conn.cursor() as cur:
            utc_session(cur)
            for table in PARTITIONED:
                for p in partitions(cur, table):
                    print(f"{p.name:40} {p.range.lo:%Y-%m-%d} .. {p.range.hi:%Y-%m-%d} {p.bytes / 1e6:9.1f} MB")
    print(f"({len(created)} created now)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
