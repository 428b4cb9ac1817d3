"""
### deployment_check

Is Tickflow up? Every 5 minutes, one task per check (logic: `services/orchestration/checks.py`):

- `ingest_health`, `processor_health`, `generator_health`: each service's health endpoint
- `kafka_topics`: Kafka reachable, every topic present with its partition count
- `consumer_lag`: the processor group's lag (end offsets - committed) under `TICKFLOW_CHECK_MAX_LAG`
- `data_freshness`: each symbol's latest bar younger than `TICKFLOW_CHECK_MAX_BAR_AGE_S`
- `postgres_schema`: PostgreSQL reachable with every migration applied
- `kubernetes_rollout`: every Deployment fully rolled out (skipped, with the reason, without a cluster)

Each check writes one row to `deployment_checks` (run_id = this run) and fails its task with a
message that says what is wrong and where; `summary` fails the run listing every failed check.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task

from services.orchestration import tasks
from services.orchestration.alerts import failure_notifiers
from services.orchestration.catalog import CHECKS


@dag(
    dag_id="deployment_check",
    schedule="*/5 * * * *",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    default_args={"retries": 0, "execution_timeout": timedelta(minutes=2),
                  "on_failure_callback": failure_notifiers()},
    tags=["tickflow", "operations"],
    doc_md=__doc__,
)
def deployment_check() -> None:
    @task
    def check(name: str, run_id: str | None = None) -> dict:
        return tasks.deployment_check(name, run_id)

    @task(trigger_rule="all_done")
    def summary(run_id: str | None = None) -> str:
        return tasks.deployment_summary(run_id)

    [check.override(task_id=name)(name) for name in CHECKS] >> summary()


deployment_check()
