"""The storage figures read from PostgreSQL (the arithmetic is services/core/storage.py).

`measure` reads, in one read-only transaction: the database's size and the default tablespace's
(every database on the volume), each partitioned table's size and the rows waiting in its DEFAULT
partition, how far ahead each slice's partitions reach, and the earlier size samples
(`storage_samples`). `record_sample` adds the size just measured as a sample (at most one per
15 minutes) and deletes samples older than 8 days, so the table never grows past ~770 rows.

Any login can read these: sizes and the pg_inherits catalog need no privilege on the tables (the
default tablespace's size is allowed to every role whose database lives in it), and the DEFAULT
partitions and storage_samples are readable by the writer and reader roles. Only recording needs
the writer. The deployment_check DAG (writer) and the dashboard (its reader login measures, its
writer records) both measure and record, so growth is known whichever of them runs.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from psycopg2 import sql

from services.core.retention import covered_until
from services.core.storage import KEEP, Sample, StorageFigures, growth_per_day, should_sample
from services.db.partitions import PARTITIONED, PartitionedTable, partitions, slice_name, slices, utc_session

# Rows in a DEFAULT partition are counted up to this (a replayed decade waiting there would make an
# exact count cost seconds every minute); more shows as this number.
DEFAULT_ROWS_CAP = 1_000_000


def measure(conn: Any, timeframes: Iterable[str], volume_bytes: int | None,
            tables: Iterable[PartitionedTable] = PARTITIONED) -> StorageFigures:
    """The storage figures now (the database's clock), on a psycopg2 connection of any Tickflow login."""
    tables = list(tables)
    with conn, conn.cursor() as cur:
        utc_session(cur)
        cur.execute("SELECT now(), pg_database_size(current_database()), pg_tablespace_size('pg_default')")
        now, database_bytes, used_bytes = cur.fetchone()
        cur.execute("SELECT sampled_at, database_bytes FROM storage_samples WHERE sampled_at > %s "
                    "ORDER BY sampled_at", (now - KEEP,))
        samples = [Sample(at, n) for at, n in cur.fetchall()]
        existing = {t.name: partitions(cur, t) for t in tables}
        table_bytes, default_rows = {}, {}
        for t in tables:
            cur.execute(sql.SQL("SELECT pg_total_relation_size(%s::regclass), "
                                "(SELECT count(*) FROM (SELECT FROM {} LIMIT %s) d)").format(
                sql.Identifier(t.default)), (t.default, DEFAULT_ROWS_CAP))
            default_bytes, default_rows[t.name] = cur.fetchone()
            table_bytes[t.name] = default_bytes + sum(p.bytes for p in existing[t.name])
    reach = {slice_name(t, tf): covered_until([p.range for p in existing[t.name] if p.timeframe == tf], now)
             for t, tf in slices(timeframes, tables)}
    current = Sample(now, database_bytes)
    return StorageFigures(now, database_bytes, used_bytes, volume_bytes, growth_per_day(samples, current),
                          table_bytes, default_rows, reach)


def record_sample(conn: Any, sample: Sample) -> bool:
    """Store `sample` unless one is newer than 15 minutes before it; delete those older than 8 days.
    True when it was stored. Needs the writer role."""
    with conn, conn.cursor() as cur:
        cur.execute("SELECT max(sampled_at) FROM storage_samples")
        newest: datetime | None = cur.fetchone()[0]
        stored = should_sample(newest, sample.at)
        if stored:
            cur.execute("INSERT INTO storage_samples (sampled_at, database_bytes) VALUES (%s, %s) "
                        "ON CONFLICT (sampled_at) DO NOTHING", (sample.at, sample.bytes))
        cur.execute("DELETE FROM storage_samples WHERE sampled_at < %s", (sample.at - KEEP,))
    return stored


def measure_and_record(read: Any, write: Any | None, timeframes: Iterable[str],
                       volume_bytes: int | None) -> tuple[StorageFigures, bool]:
    """`measure` on `read`, then record the size on `write` (None: do not record); True if recorded."""
    figures = measure(read, timeframes, volume_bytes)
    recorded = write is not None and record_sample(write, Sample(figures.measured_at, figures.database_bytes))
    return figures, recorded
