"""The time partitions in PostgreSQL: list them, create them ahead, home the DEFAULT partition's rows,
drop the expired ones. The rules are services/core/retention.py; this only reads the catalog and runs DDL.

Runs as the owner role (partition DDL needs the table's owner): `services.admin migrate`,
`services.admin partitions` and the data_retention DAG. Each table is maintained in its own short
transaction under an advisory lock, so two maintainers never race, and with a lock timeout, so
maintenance waits behind a long query for seconds, not for as long as the query runs.

A partition is created as a plain table and then attached: ATTACH takes a lighter lock on the
parent than CREATE ... PARTITION OF, so the processor's inserts go on meanwhile.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import psycopg2
from psycopg2 import sql

from services.core.retention import (
    Period,
    Range,
    RetentionPolicy,
    Tier,
    covered_ahead,
    expired,
    plan,
)
from services.core.timeframes import RAW
from services.db.connect import pg_connection

_MAINTENANCE_LOCK = 0x7469636B7061  # 'tickpa': one maintainer at a time
_LOCK_TIMEOUT = "5s"
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class PartitionedTable:
    name: str
    column: str  # the time column it is partitioned on
    kind: str  # "bars" (a tier per timeframe), "market", "rejects" or "checkpoints" (as long as raw bars)

    @property
    def by_timeframe(self) -> bool:
        return self.kind == "bars"

    @property
    def default(self) -> str:
        return f"{self.name}_default"

    def tier(self, policy: RetentionPolicy, timeframe: str | None) -> Tier:
        if self.kind == "bars":
            return policy.for_timeframe(timeframe or RAW)
        if self.kind == "checkpoints":
            return replace(policy.for_timeframe(RAW), name="checkpoints")
        return policy.market if self.kind == "market" else policy.rejects


# Every time-partitioned table (sql/0030_time_partitions.sql, 0031_stream_checkpoints.sql).
PARTITIONED: tuple[PartitionedTable, ...] = (
    PartitionedTable("bars", "ts", "bars"),
    PartitionedTable("signals", "ts", "bars"),
    PartitionedTable("order_book", "ts", "market"),
    PartitionedTable("news_sentiment", "ts", "market"),
    PartitionedTable("market_data", "ts", "market"),
    PartitionedTable("economic_indicators", "ts", "market"),
    PartitionedTable("late_bars", "recorded_at", "rejects"),
    PartitionedTable("dead_letters", "recorded_at", "rejects"),
    PartitionedTable("stream_checkpoints", "taken_at", "checkpoints"),
)


@dataclass(frozen=True, slots=True)
class Partition:
    table: str
    name: str
    timeframe: str | None  # bars and signals: the timeframe it holds
    range: Range
    bytes: int = 0
    rows: int | None = None


@dataclass
class MaintenanceReport:
    created: list[Partition] = field(default_factory=list)
    homed_rows: int = 0  # rows moved out of DEFAULT partitions into time partitions


# -- reading the catalog ----------------------------------------------------------------------------

_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _bound(expr: str) -> tuple[str | None, Range] | None:
    """("raw", [lo, hi)) from "FOR VALUES FROM ('raw', '2026-12-07 00:00:00+00') TO (...)"; None: DEFAULT."""
    if expr.strip() == "DEFAULT":
        return None
    values = [v.replace("''", "'") for v in _QUOTED.findall(expr)]
    if len(values) == 4:
        timeframe, lo, _, hi = values
        return timeframe, Range(_time(lo), _time(hi))
    lo, hi = values
    return None, Range(_time(lo), _time(hi))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text + ":00" if re.search(r"[+-]\d\d$", text) else text)


def partitions(cur: Any, table: PartitionedTable) -> list[Partition]:
    """The table's time partitions (not its DEFAULT), oldest first, with their size on disk.
    The cursor's session must be in UTC (`utc_session`), as the bounds are read as text."""
    cur.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), pg_total_relation_size(c.oid) "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (table.name,))
    found = []
    for name, expr, size in cur.fetchall():
        bound = _bound(expr)
        if bound is not None:
            found.append(Partition(table.name, name, bound[0], bound[1], size))
    return sorted(found, key=lambda p: (p.timeframe or "", p.range.lo))


def waiting(cur: Any, table: PartitionedTable) -> dict[str | None, list[datetime]]:
    """The UTC days that rows in the table's DEFAULT partition fall on, per timeframe."""
    slice_ = "timeframe" if table.by_timeframe else "NULL::text"
    cur.execute(sql.SQL("SELECT DISTINCT {slice}, date_trunc('day', {col}, 'UTC') FROM {default}").format(
        slice=sql.SQL(slice_), col=sql.Identifier(table.column), default=sql.Identifier(table.default)))
    days: dict[str | None, list[datetime]] = {}
    for timeframe, day in cur.fetchall():
        days.setdefault(timeframe, []).append(day)
    return days


def default_rows(cur: Any, table: PartitionedTable) -> int:
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.default)))
    count: int = cur.fetchone()[0]
    return count


def utc_session(cur: Any) -> None:
    cur.execute("SET TIME ZONE 'UTC'")


# -- changing them ------------------------------------------------------------------------------------

def partition_name(table: PartitionedTable, timeframe: str | None, r: Range) -> str:
    """bars_raw_20261207, bars_1m_202612, bars_1d_2026, order_book_20261207; a cut-back range by its days."""
    label = next((p.label(r.lo) for p in Period if p.floor(r.lo) == r.lo and p.next(r.lo) == r.hi),
                 f"{r.lo:%Y%m%d}_{r.hi:%Y%m%d}")
    return "_".join(part for part in (table.name, timeframe, label) if part)


def _bounds_sql(timeframe: str | None, r: Range) -> sql.Composable:
    lo, hi = (sql.Literal(t.isoformat()) for t in (r.lo, r.hi))
    if timeframe is None:
        return sql.SQL("FROM ({}) TO ({})").format(lo, hi)
    tf = sql.Literal(timeframe)
    return sql.SQL("FROM ({}, {}) TO ({}, {})").format(tf, lo, tf, hi)


def _create(cur: Any, table: PartitionedTable, timeframe: str | None, r: Range) -> Partition:
    name = partition_name(table, timeframe, r)
    cur.execute(sql.SQL("CREATE TABLE {p} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
                .format(p=sql.Identifier(name), t=sql.Identifier(table.name)))
    cur.execute(sql.SQL("ALTER TABLE {t} ATTACH PARTITION {p} FOR VALUES {bounds}").format(
        t=sql.Identifier(table.name), p=sql.Identifier(name), bounds=_bounds_sql(timeframe, r)))
    return Partition(table.name, name, timeframe, r)


def _home_default_rows(cur: Any, table: PartitionedTable, homes: list[tuple[str | None, Range]]) -> tuple[
        list[Partition], int]:
    """Create `homes` and move the DEFAULT partition's rows into them, in one pass.

    The DEFAULT partition is detached and put aside, the new partitions and a new, empty DEFAULT
    attached, and its rows inserted through the parent, which routes each to its partition. The
    dashboard feed's triggers are off meanwhile: these rows were announced when they first arrived."""
    parked = f"{table.name}_homing"
    t, d, p = (sql.Identifier(n) for n in (table.name, table.default, parked))
    cur.execute(sql.SQL("ALTER TABLE {t} DETACH PARTITION {d}").format(t=t, d=d))
    cur.execute(sql.SQL("ALTER TABLE {d} RENAME TO {p}").format(d=d, p=p))
    cur.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass", (parked,))
    for (index,) in cur.fetchall():  # index names are per schema: free the DEFAULT's for the new one
        cur.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
            sql.Identifier(index), sql.Identifier(f"{parked}_{index}"[:63])))
    created = [_create(cur, table, timeframe, r) for timeframe, r in homes]
    cur.execute(sql.SQL("CREATE TABLE {d} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
                .format(d=d, t=t))
    cur.execute(sql.SQL("ALTER TABLE {t} ATTACH PARTITION {d} DEFAULT").format(t=t, d=d))
    cur.execute("SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (table.name,))
    columns = sql.SQL(cur.fetchone()[0])
    cur.execute(sql.SQL("ALTER TABLE {t} DISABLE TRIGGER USER").format(t=t))
    cur.execute(sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {p}").format(t=t, c=columns, p=p))
    moved: int = cur.rowcount
    cur.execute(sql.SQL("ALTER TABLE {t} ENABLE TRIGGER USER").format(t=t))
    cur.execute(sql.SQL("DROP TABLE {p}").format(p=p))
    for partition in created:  # statistics now: a query planned on none may take a nested loop over them all
        cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(partition.name)))
    return created, moved


def _drop(cur: Any, partition: Partition) -> None:
    t, p = sql.Identifier(partition.table), sql.Identifier(partition.name)
    if partition.table == "bars":  # a recomputation must know that these symbols' history is cut here
        cur.execute(sql.SQL(
            "INSERT INTO dropped_history (symbol, timeframe, dropped_before) SELECT DISTINCT symbol, timeframe, %s "
            "FROM {p} ON CONFLICT (symbol, timeframe) DO UPDATE "
            "SET dropped_before = greatest(dropped_history.dropped_before, EXCLUDED.dropped_before)").format(p=p),
            (partition.range.hi,))
    cur.execute(sql.SQL("ALTER TABLE {t} DETACH PARTITION {p}").format(t=t, p=p))
    cur.execute(sql.SQL("DROP TABLE {p}").format(p=p))


def _locked(conn: Any, work: Callable[[Any], Any]) -> Any:
    """Run `work(cursor)` in one transaction under the maintenance lock, retrying a lock timeout."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MAINTENANCE_LOCK,))
                cur.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                utc_session(cur)
                return work(cur)
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.CheckViolation):
            # a long query held the table (it ends, then the DDL goes through), or a row landed in the
            # DEFAULT partition between looking and attaching (the next attempt homes it)
            if attempt == _ATTEMPTS:
                raise
            time.sleep(attempt)
    raise AssertionError("unreachable")


def slices(timeframes: Iterable[str], tables: Iterable[PartitionedTable] = PARTITIONED) -> list[tuple[
        PartitionedTable, str | None]]:
    """Every (table, timeframe) slice with partitions of its own: bars and signals per timeframe."""
    frames = [RAW, *(tf for tf in timeframes if tf != RAW)]
    return [(t, tf) for t in tables for tf in (frames if t.by_timeframe else [None])]


def slice_name(table: PartitionedTable, timeframe: str | None) -> str:
    return f"{table.name}/{timeframe}" if timeframe else table.name


def maintain(conn: Any, policy: RetentionPolicy, timeframes: Iterable[str], now: datetime,
             tables: Iterable[PartitionedTable] = PARTITIONED, dry_run: bool = False) -> MaintenanceReport:
    """Create every partition from now to AHEAD (bars and signals: for raw and each of `timeframes`)
    and a home for every row in a DEFAULT partition. Drops nothing. A dry run only reports what it
    would create, and how many rows wait for a home."""
    report = MaintenanceReport()
    for table in tables:
        def work(cur: Any, table: PartitionedTable = table) -> tuple[list[Partition], int]:
            existing = partitions(cur, table)
            rows_waiting = waiting(cur, table)
            homes: list[tuple[str | None, Range]] = []
            for timeframe in dict.fromkeys([*(tf for _, tf in slices(timeframes, [table])), *rows_waiting]):
                ranges = [p.range for p in existing if p.timeframe == timeframe]
                homes += [(timeframe, r) for r in plan(table.tier(policy, timeframe), ranges,
                                                         rows_waiting.get(timeframe, ()), now)]
            if dry_run:
                return ([Partition(table.name, partition_name(table, tf, r), tf, r) for tf, r in homes],
                        default_rows(cur, table) if rows_waiting else 0)
            if rows_waiting:
                return _home_default_rows(cur, table, homes)
            return [_create(cur, table, timeframe, r) for timeframe, r in homes], 0
        created, moved = _locked(conn, work)
        report.created += created
        report.homed_rows += moved
    return report


def maintain_database(admin_url: str, policy: RetentionPolicy, timeframes: Iterable[str],
                      now: datetime | None = None) -> MaintenanceReport:
    """`maintain` on a connection of its own, as the owner `admin_url` names."""
    with pg_connection(admin_url, "tickflow-partitions") as conn:
        return maintain(conn, policy, timeframes, now or datetime.now(timezone.utc))


def expired_partitions(conn: Any, policy: RetentionPolicy, now: datetime,
                       tables: Iterable[PartitionedTable] = PARTITIONED) -> list[Partition]:
    """Every partition whose whole range is older than its tier, with its size and rows."""
    found = []
    with conn, conn.cursor() as cur:
        utc_session(cur)
        for table in tables:
            existing = partitions(cur, table)
            for timeframe in dict.fromkeys(p.timeframe for p in existing):
                mine = [p for p in existing if p.timeframe == timeframe]
                old = set(expired(table.tier(policy, timeframe), [p.range for p in mine], now))
                for p in mine:
                    if p.range in old:
                        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(p.name)))
                        found.append(replace(p, rows=cur.fetchone()[0]))
    return found


@dataclass(frozen=True, slots=True)
class Dropped:
    partitions: list[Partition]  # with their rows and size before they went
    checkpoints: int  # symbols' states checkpointed first (none in a dry run)


def take_checkpoints(conn: Any) -> int:
    """Copy every symbol's streaming state into stream_checkpoints, in one statement: a snapshot
    consistent with the stored bars (the processor commits both in one transaction)."""
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO stream_checkpoints (symbol, last_ts, params, state) "
                    "SELECT symbol, last_ts, params, state FROM symbol_state")
        count: int = cur.rowcount
    return count


def drop_expired(conn: Any, policy: RetentionPolicy, now: datetime, dry_run: bool = False,
                 tables: Iterable[PartitionedTable] = PARTITIONED) -> Dropped:
    """Checkpoint every symbol's state, then drop every expired partition (a dry run: only list them).

    The checkpoint comes first, so a state rebuilt later never needs a base bar that is gone."""
    doomed = expired_partitions(conn, policy, now, tables)
    if dry_run:
        return Dropped(doomed, 0)
    checkpoints = take_checkpoints(conn)
    for partition in doomed:
        _locked(conn, lambda cur, p=partition: _drop(cur, p))
    return Dropped(doomed, checkpoints)


def missing_ahead(conn: Any, policy: RetentionPolicy, timeframes: Iterable[str], now: datetime,
                  tables: Iterable[PartitionedTable] = PARTITIONED) -> list[str]:
    """The slices ("bars/raw", "order_book") whose partitions do not cover now to AHEAD."""
    with conn, conn.cursor() as cur:
        utc_session(cur)
        existing = {t.name: partitions(cur, t) for t in tables}
    return [slice_name(t, tf) for t, tf in slices(timeframes, tables)
            if not covered_ahead([p.range for p in existing[t.name] if p.timeframe == tf], now)]
