"""
### data_retention

Daily: keeps the database's size bounded by the retention tiers (README "Data lifecycle"; logic:
`services/db/partitions.py`, rules: `services/core/retention.py`).

- `partitions`: creates the time partitions a week ahead (so an insert never waits in a DEFAULT
  partition) and moves rows that did wait there into partitions of their own;
- `drop_expired`: drops every partition whose whole time range is older than its tier, whole,
  never with DELETE, and never one that holds a row younger than its tier;
- `history`: deletes the platform's own history older than its tier: deployment check results and
  reconciliation runs (`TICKFLOW_RETENTION_HISTORY_DAYS`, 30), finished webhook deliveries with their
  attempts (`TICKFLOW_RETENTION_WEBHOOK_DAYS`, 7; a pending one is kept); 0 keeps a tier;
- `airflow_metadata`: `airflow db clean` for Airflow's own run history older than
  `TICKFLOW_RETENTION_AIRFLOW_DAYS` (30; 0 keeps it). Airflow 3 gives tasks no access to its
  metadata database, so the URL comes from `TICKFLOW_AIRFLOW_DATABASE_URL` (unset: skipped);
- `summary`: what was dropped (partitions, rows, MB), created and deleted.

Param `dry_run` (default false): change nothing; each task lists what it would create, move and
drop, with rows and sizes, in its log and result. Ages count from the clock when the task runs.
Partition DDL needs the tables' owner: the Airflow connection `tickflow_db_owner` if defined, else
`TICKFLOW_ADMIN_DATABASE_URL`.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task

from services.orchestration import tasks
from services.orchestration.catalog import OPS_OWNER
from services.orchestration.dag_defaults import task_defaults


@dag(
    dag_id="data_retention",
    description="Daily: partitions a week ahead, expired partitions dropped, old history deleted, Airflow's cleaned",
    schedule="30 3 * * *",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=task_defaults(OPS_OWNER, retries=1, retry_delay=timedelta(minutes=5)),
    params={
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Change nothing: list what would be created, moved and dropped, with sizes."),
    },
    tags=["tickflow", "operations"],
    doc_md=__doc__,
)
def data_retention() -> None:
    @task
    def partitions(params: dict | None = None) -> dict:
        return tasks.retention_partitions(params or {})

    @task
    def drop_expired(params: dict | None = None) -> dict:
        return tasks.retention_drop(params or {})

    @task
    def history(params: dict | None = None) -> dict:
        return tasks.retention_history(params or {})

    @task
    def airflow_metadata(params: dict | None = None) -> dict:
        return tasks.airflow_clean(params or {})

    @task
    def summary(created: dict, dropped: dict, pruned: dict) -> str:
        return tasks.retention_summary(created, dropped, pruned)

    created = partitions()
    dropped = drop_expired()
    pruned = history()
    created >> dropped >> pruned >> airflow_metadata()
    summary(created, dropped, pruned)


data_retention()
