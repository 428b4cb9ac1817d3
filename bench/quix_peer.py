"""`python -m bench.quix_peer`: the processor's job as a Quix Streams application, for `make bench`.

It reads the processor's prices topic and does what the processor does with a candle, through the
same core code: validate_record and the event-time rule (too_far_ahead against the time Kafka stamped
on the message), then the symbol's SymbolStream (services/core/stream.py: duplicates and late bars
skipped, IndicatorEngine, signal rules), with the processor's default settings and no roll-ups. It
writes with quixstreams' own PostgreSQLSink, one row per applied bar into the bars table and one
per signal into the signals table, each with the processor's columns (BarRow, SignalRow).

What differs, and why:
- Symbol state lives in this process's memory, a dict keyed by symbol. Quix's stateful API would
  keep it in RocksDB (with a changelog topic) and serialise the engine on every message; keeping it
  in memory favours the peer, so the comparison is conservative. The price: a restart starts every
  symbol afresh, where the processor restores the state committed with its last batch.
- Processing guarantee: Quix's default, at-least-once. The sink writes a checkpoint's rows in one
  transaction and the offsets are committed to Kafka after it; a replay after a crash inserts
  with ON CONFLICT DO NOTHING, so each row is stored once (as the processor's sinks do). Quix's
  exactly-once covers only what it produces to Kafka, and this job produces nothing.
- Rejected, duplicate and late records are only counted: the processor stores them (dead_letters,
  late_bars), and the benchmark's candles have none.
- It logs in as the database owner: the sink runs CREATE SCHEMA IF NOT EXISTS on start, which the
  processor's login (no CREATE on the database) may not.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, get_type_hints

import orjson
import psycopg2
from psycopg2.extensions import parse_dsn
from quixstreams import Application
from quixstreams.sinks.community.postgresql import PostgreSQLSink

from services.config import Settings
from services.core.records import PRICE_TYPE, Rejection, StockPrice, ValidationContext, too_far_ahead, validate_record
from services.core.stream import AppliedBar, SymbolStream
from services.processor.sinks import BarRow, SignalRow, staging_type
from services.processor.transaction import MAX_MESSAGE_BYTES

log = logging.getLogger("bench.quix_peer")

BARS_TABLE, SIGNALS_TABLE = "peer_bars", "peer_signals"


def create_tables(dsn: str, bars: str = BARS_TABLE, signals: str = SIGNALS_TABLE) -> None:
    """The peer's tables, with the processor's columns and primary keys (idempotent). Created here
    rather than by the sink: its own would have no primary key to make a replayed insert a no-op."""
    def columns(row: type) -> str:
        types = {"ts": "timestamptz"}  # staged as epoch seconds by the processor; stored as timestamptz
        return ", ".join(f"{name} {types.get(name) or staging_type(hint)}"
                         for name, hint in get_type_hints(row).items())

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {bars} ({columns(BarRow)}, PRIMARY KEY (symbol, timeframe, ts))")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {signals} ({columns(SignalRow)}, "
                    "PRIMARY KEY (symbol, timeframe, ts, rule))")
    conn.close()


class NullSafePostgreSQLSink(PostgreSQLSink):
    """PostgreSQLSink, but a batch's INSERT names every column any of its rows has.

    quixstreams 3.28.1 leaves None values out of a row and takes the INSERT's columns from the
    batch's first row: when that row's indicators are still undefined (a symbol's first bars), the
    indicator values of every later row of the batch are dropped (stored as NULL)."""

    def _insert_rows(self, table_name: str, rows: list[dict], pks: dict | None = None) -> None:
        if rows:
            columns = dict.fromkeys(name for row in rows for name in row)
            rows[0] = {name: rows[0].get(name) for name in columns}  # the parent reads the columns off the first row
        super()._insert_rows(table_name, rows, pks)


class PeerJob:
    """One candle in, the rows it makes out: the processor's build_batch, per message, for prices only."""

    def __init__(self, settings: Settings) -> None:
        self.params = settings.indicator_params()
        self.rules = settings.signal_rules()
        self.ctx = ValidationContext(now=None, max_future_skew=settings.max_future_skew_seconds)
        self.streams: dict[str, SymbolStream] = {}  # in memory, not Quix state: see the module's docstring
        self.skipped: Counter[str] = Counter()

    def __call__(self, value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> list[dict]:
        raw_bytes = value or b""
        if len(raw_bytes) > MAX_MESSAGE_BYTES:
            return self._skip("too large")
        try:
            raw = orjson.loads(raw_bytes)
        except orjson.JSONDecodeError:
            return self._skip("not JSON")
        record = validate_record(raw, self.ctx)
        if isinstance(record, Rejection):
            return self._skip("invalid")
        if record.record_type != PRICE_TYPE or not isinstance(record, StockPrice):
            return self._skip("not a price")
        if key != record.key.encode():
            return self._skip("wrong key")
        clock = time.time()
        stamped = min(timestamp / 1000.0, clock) if timestamp >= 0 else clock
        if too_far_ahead(record.timestamp, stamped, self.ctx.max_future_skew, "the time it reached Kafka"):
            return self._skip("ahead")
        symbol = record.stock_symbol
        stream = self.streams.get(symbol)
        if stream is None:
            stream = self.streams[symbol] = SymbolStream(symbol, self.params, self.rules)  # no roll-ups
        result = stream.apply(record)
        if not isinstance(result, AppliedBar):
            return self._skip(result.reason)
        rows = [_as_dict(BarRow.of(record, result.values))]
        rows.extend(_as_dict(SignalRow.of(record, sig)) for sig in result.signals)
        return rows

    def _skip(self, why: str) -> list[dict]:
        self.skipped[why] += 1
        return []


def _as_dict(row: tuple) -> dict:
    out = row._asdict()  # type: ignore[attr-defined]
    out["ts"] = datetime.fromtimestamp(row.ts, timezone.utc)  # type: ignore[attr-defined]
    return out


def parse_args(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.quix_peer", description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap)
    parser.add_argument("--topic", default=settings.topics.prices)
    parser.add_argument("--group", default=f"{settings.processor_group}-quix")
    parser.add_argument("--dsn", default=settings.admin_database_url, help="PostgreSQL URL, as a table owner")
    parser.add_argument("--bars-table", default=BARS_TABLE)
    parser.add_argument("--signals-table", default=SIGNALS_TABLE)
    parser.add_argument("--guarantee", default="at-least-once", choices=["at-least-once", "exactly-once"])
    parser.add_argument("--commit-interval", type=float, default=5.0, help="seconds between checkpoints "
                        "(Quix's default 5); each checkpoint is one sink transaction")
    parser.add_argument("--commit-every", type=int, default=0, help="also a checkpoint after this many "
                        "messages (0, Quix's default: by time only)")
    parser.add_argument("--state-dir", default=os.path.join(tempfile.gettempdir(), "tickflow-quix-peer"),
                        help="Quix makes its (here unused) state directory on start; not in the repository")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    settings = Settings()  # TICKFLOW_* environment: Kafka, topics, indicator settings, database
    args = parse_args(argv, settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    create_tables(args.dsn, args.bars_table, args.signals_table)
    db = parse_dsn(args.dsn)
    bars, signals = args.bars_table, args.signals_table
    sink = NullSafePostgreSQLSink(
        host=db["host"], port=int(db.get("port", 5432)), dbname=db["dbname"], user=db["user"],
        password=db["password"], table_name=lambda item: signals if "rule" in item.value else bars,
        schema_auto_update=False, on_conflict_do_nothing=True, include_metadata=False)
    app = Application(broker_address=args.bootstrap, consumer_group=args.group, auto_offset_reset="earliest",
                      processing_guarantee=args.guarantee, commit_interval=args.commit_interval,
                      commit_every=args.commit_every,
                      auto_create_topics=False, use_changelog_topics=False, state_dir=args.state_dir, loglevel="INFO")
    job = PeerJob(settings)
    sdf = app.dataframe(app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes"))
    sdf = sdf.apply(job, metadata=True, expand=True)  # a bar row, then its signal rows; nothing for a skip
    sdf.sink(sink)
    log.info("quix peer started: topic %s, group %s, %s, tables %s/%s", args.topic, args.group, args.guarantee,
             bars, signals)
    app.run()  # until SIGTERM/SIGINT, which Quix turns into a clean stop
    log.info("quix peer stopped; %d symbols, skipped: %s", len(job.streams), dict(job.skipped) or "none")


if __name__ == "__main__":
    main()
