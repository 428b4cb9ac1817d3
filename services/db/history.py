"""Pruning the platform's own history: deployment check results, indicator reconciliation runs and
finished webhook deliveries (README "Data lifecycle", tiers `history` and `webhooks`).

These tables grow with runs and deliveries, not along the feed's time, and other rows point into
them, so they are not time-partitioned: expired rows leave by DELETE, a batch per transaction
(short locks, no long-running transaction holding back vacuum), and their dependants go with them
(ON DELETE CASCADE: a reconciliation run's mismatches, a delivery's attempts). A webhook delivery
still pending is never pruned, however old: it has not been delivered or given up yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from psycopg2 import sql

from services.core.retention import RetentionPolicy, Tier

BATCH = 5_000


@dataclass(frozen=True)
class HistoryTable:
    name: str
    tier: Callable[[RetentionPolicy], Tier]
    age: str  # the column that dates a row
    keep: str = "false"  # rows kept whatever their age
    cascades_to: str = ""  # a table whose rows go with these, for the log


HISTORY = (
    HistoryTable("deployment_checks", lambda p: p.history, "checked_at"),
    # A run older than its tier is not running any more, whatever its status says (a killed worker leaves 'running').
    HistoryTable("reconciliation_runs", lambda p: p.history, "started_at", cascades_to="reconciliation_mismatches"),
    HistoryTable("webhook_deliveries", lambda p: p.webhooks, "created_at", keep="status = 'pending'",
                 cascades_to="webhook_attempts"),
)


@dataclass(frozen=True)
class Pruned:
    table: str
    cutoff: datetime
    rows: int  # deleted (a dry run: that would be)
    cascades_to: str


def _expired(table: HistoryTable) -> sql.Composed:
    return sql.SQL("{age} < %(cutoff)s AND NOT ({keep})").format(age=sql.Identifier(table.age),
                                                                  keep=sql.SQL(table.keep))


def _delete_batch(conn: Any, table: HistoryTable, cutoff: datetime, batch: int) -> int:
    query = sql.SQL("DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {expired} LIMIT %(n)s))")
    with conn, conn.cursor() as cur:
        cur.execute(query.format(t=sql.Identifier(table.name), expired=_expired(table)), {"cutoff": cutoff, "n": batch})
        return int(cur.rowcount)


def _count(conn: Any, table: HistoryTable, cutoff: datetime) -> int:
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {t} WHERE {expired}").format(
            t=sql.Identifier(table.name), expired=_expired(table)), {"cutoff": cutoff})
        return int(cur.fetchone()[0])


def prune_history(conn: Any, policy: RetentionPolicy, now: datetime, dry_run: bool = False,
                  batch: int = BATCH, tables: tuple[HistoryTable, ...] = HISTORY) -> list[Pruned]:
    """Delete each table's rows older than its tier (a tier of 0 days keeps them), a batch per
    transaction; a dry run only counts them."""
    pruned = []
    for table in tables:
        cutoff = table.tier(policy).cutoff(now)
        if cutoff is None:
            continue
        if dry_run:
            rows = _count(conn, table, cutoff)
        else:
            rows = 0
            while (deleted := _delete_batch(conn, table, cutoff, batch)) > 0:
                rows += deleted
        pruned.append(Pruned(table.name, cutoff, rows, table.cascades_to))
    return pruned
