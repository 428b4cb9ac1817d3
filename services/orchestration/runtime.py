"""What the DAG tasks need from their surroundings: settings, connections, engines.

Settings come from the TICKFLOW_* environment (`OrchestrationSettings`); Airflow connections,
when defined (typically as `AIRFLOW_CONN_<ID>` environment variables), override them:

| connection id | overrides |
|---|---|
| `tickflow_db` | `database_url` (writer role) |
| `tickflow_db_owner` | `admin_database_url` (owner role: data_retention's partition DDL) |
| `tickflow_kafka` | `kafka_bootstrap` (host:port, or extra `bootstrap.servers`) |
| `kubernetes_default` | cluster for `kubernetes_rollout` (cncf.kubernetes provider) |

Examples, in the same order:

```
AIRFLOW_CONN_TICKFLOW_DB=postgresql://tickflow_app:…@127.0.0.1:15432/tickflow
AIRFLOW_CONN_TICKFLOW_KAFKA='{"conn_type": "generic", "host": "127.0.0.1", "port": 19092}'
AIRFLOW_CONN_KUBERNETES_DEFAULT='{"conn_type": "kubernetes", "extra": {"in_cluster": true, "namespace": "tickflow"}}'
```

Airflow is imported inside the functions only, so the rest of the package works without it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from services.db.connect import make_engine
from services.orchestration.checks.deployment import SKIPPED, CheckResult, check_kubernetes_rollout
from services.orchestration.settings import OrchestrationSettings

DB_CONN_ID = "tickflow_db"
OWNER_DB_CONN_ID = "tickflow_db_owner"
KAFKA_CONN_ID = "tickflow_kafka"
K8S_CONN_ID = "kubernetes_default"
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

__all__ = ["DB_CONN_ID", "K8S_CONN_ID", "KAFKA_CONN_ID", "OWNER_DB_CONN_ID", "database_url_of", "engine_for",
           "kafka_bootstrap_of", "kubernetes_rollout", "load_settings", "optional_connection", "task_engine"]


def optional_connection(conn_id: str) -> Any | None:
    """The Airflow connection `conn_id`, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def database_url_of(conn: Any) -> str:
    """A libpq URL from an Airflow postgres connection (schema = database name)."""
    auth = quote(conn.login or "", safe="")
    if conn.password:
        auth += ":" + quote(conn.password, safe="")
    url = f"postgresql://{auth}@{conn.host or '127.0.0.1'}:{conn.port or 5432}/{conn.schema or 'tickflow'}"
    sslmode = (conn.extra_dejson or {}).get("sslmode")
    return f"{url}?sslmode={sslmode}" if sslmode else url


def kafka_bootstrap_of(conn: Any) -> str:
    extra = conn.extra_dejson or {}
    servers = extra.get("bootstrap.servers") or extra.get("bootstrap_servers")
    if servers:
        return str(servers)
    if not conn.host:
        raise ValueError(f"connection {conn.conn_id!r} has neither a host nor extra 'bootstrap.servers'")
    return f"{conn.host}:{conn.port or 9092}"


def load_settings(use_connections: bool = True) -> OrchestrationSettings:
    """TICKFLOW_* settings, overridden by the Airflow connections that are defined."""
    settings = OrchestrationSettings()
    if not use_connections:
        return settings
    updates: dict[str, Any] = {}
    if (db := optional_connection(DB_CONN_ID)) is not None:
        updates["database_url"] = database_url_of(db)
    if (owner := optional_connection(OWNER_DB_CONN_ID)) is not None:
        updates["admin_database_url"] = database_url_of(owner)
    if (kafka := optional_connection(KAFKA_CONN_ID)) is not None:
        updates["kafka_bootstrap"] = kafka_bootstrap_of(kafka)
    return settings.model_copy(update=updates) if updates else settings


def engine_for(settings: OrchestrationSettings) -> Engine:
    """An engine for one task (no pool kept between tasks)."""
    return make_engine(settings.database_url, poolclass=NullPool, connect_args={"connect_timeout": 10})


@contextmanager
def task_engine(settings: OrchestrationSettings) -> Iterator[Engine]:
    """`engine_for(settings)`, disposed of when the block ends."""
    engine = engine_for(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def kubernetes_rollout(settings: OrchestrationSettings) -> CheckResult:
    """The `kubernetes_rollout` check through the cncf.kubernetes provider; skipped without a cluster."""
    name = "kubernetes_rollout"
    conn = optional_connection(K8S_CONN_ID)
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if conn is None and not in_cluster:
        return CheckResult(name, SKIPPED, (
            "no Kubernetes cluster configured: not running inside a cluster (KUBERNETES_SERVICE_HOST is unset) "
            f"and no Airflow connection {K8S_CONN_ID!r} (set AIRFLOW_CONN_{K8S_CONN_ID.upper()})"))
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=K8S_CONN_ID, in_cluster=None if conn is not None else True)
    namespace = settings.check_k8s_namespace
    if not namespace:
        from_conn = hook.get_namespace  # a cached property in provider 10.x, a method before
        namespace = (from_conn() if callable(from_conn) else from_conn) or ""
    if not namespace and POD_NAMESPACE_FILE.exists():
        namespace = POD_NAMESPACE_FILE.read_text().strip()
    return check_kubernetes_rollout(hook.apps_v1_client, namespace or "default", settings.check_k8s_label_selector)
