"""
### deployment_check

Is Tickflow up? Every 5 minutes, one task per check (logic: `services/orchestration/checks/deployment.py`):

- `ingest_health`, `processor_health`, `generator_health`: each service's health endpoint
- `kafka_topics`: Kafka reachable, every topic present with its partition count
- `consumer_lag`: the processor group's lag (end offsets - committed) under `TICKFLOW_CHECK_MAX_LAG`
- `data_freshness`: each symbol's latest bar younger than `TICKFLOW_CHECK_MAX_BAR_AGE_S`
- `postgres_schema`: PostgreSQL reachable with every migration applied
- `storage`: database size, growth per day, days until the volume (`TICKFLOW_STORAGE_VOLUME_BYTES`) is
  full — at least `TICKFLOW_CHECK_STORAGE_MIN_DAYS` (7) — and every table's partitions at least 6 days ahead
- `kubernetes_rollout`: every Deployment fully rolled out (skipped, with the reason, without a cluster)

A failing check is tried again, backing off, for up to `TICKFLOW_CHECK_PATIENCE_S` (30 s)
before it counts: a service still starting is no red check. Each check writes one row to
`deployment_checks` (run_id = this run) and fails its task with a message that says what is
wrong and where. A check task that could not start at all (e.g. Airflow's own API server still
starting) is retried twice, 20 s apart. `summary` fails the run listing every failed check, and
names a check whose task never started as such.

Where the checks run: `TICKFLOW_CHECK_EXECUTOR` names the executor of its tasks (empty: the
default one). On Kubernetes it is `LocalExecutor`, beside the default KubernetesExecutor
(k8s/airflow/values.yaml): checks that take milliseconds run in the scheduler instead of starting
ten task pods every five minutes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task

from services.orchestration import tasks
from services.orchestration.catalog import CHECKS, OPS_OWNER
from services.orchestration.dag_defaults import task_defaults
from services.orchestration.settings import OrchestrationSettings


@dag(
    dag_id="deployment_check",
    description="Is Tickflow up? Health, Kafka, consumer lag, data freshness, schema, storage, rollout; "
                "every 5 minutes",
    schedule="*/5 * * * *",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    # The retries are for a task that never started; a check's own failure is final (AirflowFailException).
    default_args=task_defaults(OPS_OWNER, retries=2, retry_delay=timedelta(seconds=20),
                               execution_timeout=timedelta(minutes=2),
                               executor=OrchestrationSettings().check_executor or None),
    tags=["tickflow", "operations"],
    doc_md=__doc__,
)
def deployment_check() -> None:
    @task
    def check(name: str, run_id: str | None = None) -> dict:
        return tasks.deployment_check(name, run_id)

    @task(trigger_rule="all_done")
    def summary(run_id: str | None = None, ti=None) -> str:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(CHECKS), run_ids=[run_id])
        return tasks.deployment_summary(run_id, states.get(run_id, {}))

    [check.override(task_id=name)(name) for name in CHECKS] >> summary()


deployment_check()
