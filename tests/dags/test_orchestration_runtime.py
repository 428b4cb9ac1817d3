"""Airflow connections (AIRFLOW_CONN_*) override the TICKFLOW_* settings; Kubernetes is skipped or checked."""
from __future__ import annotations

import json

import pytest
from support import free_port

from services.orchestration import runtime


def test_connections_override_settings(airflow_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # URLs of a deployment, on ports of their own: the local port variables of `make test` (when set) would refuse them
    monkeypatch.delenv("TICKFLOW_PG_PORT", raising=False)
    monkeypatch.delenv("TICKFLOW_KAFKA_PORT", raising=False)
    monkeypatch.setenv("TICKFLOW_DATABASE_URL", "postgresql://nobody:x@db.invalid:5432/elsewhere")
    monkeypatch.setenv("TICKFLOW_KAFKA_BOOTSTRAP", "kafka.invalid:9092")
    monkeypatch.delenv("AIRFLOW_CONN_TICKFLOW_DB", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_TICKFLOW_KAFKA", raising=False)
    plain = runtime.load_settings()
    assert (plain.database_url, plain.kafka_bootstrap) == ("postgresql://nobody:x@db.invalid:5432/elsewhere",
                                                           "kafka.invalid:9092")

    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_DB", "postgresql://tickflow_app:p%40ss%2Fword@10.0.0.5:6432/tickflow")
    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_KAFKA", json.dumps({"conn_type": "generic", "host": "10.0.0.6",
                                                                  "port": 9094}))
    settings = runtime.load_settings()
    assert settings.database_url == "postgresql://tickflow_app:p%40ss%2Fword@10.0.0.5:6432/tickflow"
    assert settings.kafka_bootstrap == "10.0.0.6:9094"

    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_KAFKA", json.dumps({
        "conn_type": "generic", "extra": {"bootstrap.servers": "k1:9092,k2:9092"}}))
    assert runtime.load_settings().kafka_bootstrap == "k1:9092,k2:9092"


def test_kubernetes_rollout_is_skipped_without_a_cluster(airflow_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    result = runtime.kubernetes_rollout(runtime.load_settings())
    assert result.status == "skipped"
    assert result.message == ("no Kubernetes cluster configured: not running inside a cluster "
                              "(KUBERNETES_SERVICE_HOST is unset) and no Airflow connection 'kubernetes_default' "
                              "(set AIRFLOW_CONN_KUBERNETES_DEFAULT)")


def test_kubernetes_rollout_goes_through_the_cncf_provider(airflow_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured cluster that does not answer: the check fails and names the namespace."""
    server = f"https://127.0.0.1:{free_port()}"
    kube_config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "users": [{"name": "test", "user": {"token": "not-a-real-token"}}],
    }
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps({
        "conn_type": "kubernetes", "extra": {"kube_config": json.dumps(kube_config), "namespace": "tickflow"}}))
    result = runtime.kubernetes_rollout(
        runtime.load_settings().model_copy(update={"check_k8s_label_selector": "app=x"}))
    assert result.status == "failed"
    assert result.message.startswith("cannot list Deployments in namespace tickflow (selector app=x): ")
    assert "127.0.0.1" in result.message
