"""k8s/airflow/values.yaml (official Airflow Helm chart) fits the kustomize manifests.

The chart itself is not rendered here (no Helm offline): these checks hold the values to the
names the chart reads (chart 1.22 layout) and to the objects the local overlay creates.
"""
from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

import yaml
from deploy_model import (
    AIRFLOW_IMAGE,
    CHECK_URLS,
    K8S,
    NAMESPACE,
    PROJECT_VERSION,
    ROOT,
    airflow_env_names,
    cluster,
    compose,
    lock_pins,
    serves,
    settings_env_names,
    walk,
)

VALUES = yaml.safe_load((K8S / "airflow" / "values.yaml").read_text())
# Secret keys the chart reads from the Secrets named in the values.
CHART_SECRET_KEYS = {"data.metadataSecretName": "connection", "fernetKeySecretName": "fernet-key",
                     "apiSecretKeySecretName": "api-secret-key", "jwtSecretName": "jwt-secret"}


def value(path: str) -> Any:
    node: Any = VALUES
    for part in path.split("."):
        node = node[part]
    return node


def test_values_run_the_projects_airflow_image() -> None:
    assert value("airflowVersion") == lock_pins()["apache-airflow"]
    image = f"{value('images.airflow.repository')}:{value('images.airflow.tag')}"
    assert image == f"{AIRFLOW_IMAGE}:{PROJECT_VERSION}"
    assert f"{value('defaultAirflowRepository')}:{value('defaultAirflowTag')}" == image, (
        "migration and helper containers use the same image")
    assert compose()["services"]["airflow-scheduler"]["image"] == image, "compose and Helm run one image"
    assert "-t tickflow-airflow:" in (ROOT / "Dockerfile.airflow").read_text()


def test_values_use_the_secrets_the_local_overlay_creates() -> None:
    c = cluster("local")
    for path, key in CHART_SECRET_KEYS.items():
        data = c.secret(value(path))
        assert data is not None and key in data, f"{path}: Secret {value(path)} with key {key}"
    fernet = c.secret(value("fernetKeySecretName"))["fernet-key"]
    assert len(base64.urlsafe_b64decode(fernet)) == 32, "a Fernet key is 32 url-safe base64 bytes"
    (env_from,) = yaml.safe_load(value("extraEnvFrom"))
    tickflow_env = c.secret(env_from["secretRef"]["name"])
    assert tickflow_env is not None
    assert set(tickflow_env) <= settings_env_names()
    db = c.secret("tickflow-db")
    expected = {"TICKFLOW_DATABASE_URL": ("tickflow_app", "app-password"),
                "TICKFLOW_READER_DATABASE_URL": ("tickflow_analyst", "analyst-password"),
                # data_retention's partition DDL needs the tables' owner
                "TICKFLOW_ADMIN_DATABASE_URL": ("tickflow", "owner-password"),
                # data_retention's `airflow db clean`: Airflow's own metadata database
                "TICKFLOW_AIRFLOW_DATABASE_URL": ("airflow", "airflow-password")}
    assert set(tickflow_env) == set(expected)
    urls = {name: urllib.parse.urlsplit(url) for name, url in tickflow_env.items()}
    urls["metadata"] = urllib.parse.urlsplit(c.secret(value("data.metadataSecretName"))["connection"])
    expected["metadata"] = ("airflow", "airflow-password")
    for name, url in urls.items():
        user, key = expected[name]
        assert (url.hostname, url.port) == ("postgres", 5432) and c.find("Service", "postgres"), name
        assert url.username == user and url.password == db[key], f"{name}: {user} with tickflow-db/{key}"
        assert url.path == ("/airflow" if name in ("metadata", "TICKFLOW_AIRFLOW_DATABASE_URL") else "/tickflow")


def test_values_point_tickflow_settings_at_existing_services() -> None:
    """deployment_check calls Kafka, ingest, the processor and the generator by these values."""
    c = cluster("local")
    env = {e["name"]: e["value"] for e in value("env")}
    assert set(env) <= airflow_env_names(), "only real TICKFLOW_* settings (services or DAGs)"

    def service_ports(host: str) -> set[int]:
        return {p["port"] for p in c.get("Service", host)["spec"]["ports"]}

    host, port = env["TICKFLOW_KAFKA_BOOTSTRAP"].split(":")
    assert int(port) in service_ports(host)
    ingest = urllib.parse.urlsplit(env["TICKFLOW_INGEST_URL"])
    assert ingest.port in service_ports(ingest.hostname)
    for name, service in CHECK_URLS.items():
        url = urllib.parse.urlsplit(env[name])
        assert url.hostname == service and url.port in service_ports(service), name
        assert serves(service, url.path), f"{service} does not serve {url.path}"
    assert env["TICKFLOW_CHECK_K8S_NAMESPACE"] == NAMESPACE
    selector = env["TICKFLOW_CHECK_K8S_LABEL_SELECTOR"]
    m = re.fullmatch(r"app\.kubernetes\.io/name in \(([a-z,-]+)\)", selector)
    assert m, selector
    deployments = {d["metadata"]["name"]: d for d in c.of_kind("Deployment") + c.of_kind("StatefulSet")}
    assert set(m.group(1).split(",")) == set(deployments), (
        "deployment_check watches every Tickflow Deployment and StatefulSet")
    for name, d in deployments.items():
        assert d["metadata"]["labels"]["app.kubernetes.io/name"] == name


def test_task_pods_run_as_the_account_that_may_read_rollouts() -> None:
    account = value("workers.serviceAccount")
    assert account["create"] is False, "the ServiceAccount comes from k8s/base/rbac"
    for overlay in ("local", "production"):
        c = cluster(overlay)
        assert c.get("ServiceAccount", account["name"])
        bound = [b for b in c.of_kind("RoleBinding")
                 if {"kind": "ServiceAccount", "name": account["name"], "namespace": NAMESPACE} in b["subjects"]]
        assert [b["roleRef"]["name"] for b in bound] == ["rollout-reader"]


def test_values_run_without_celery_redis_or_bundled_database() -> None:
    assert value("executor").split(",")[0] == "KubernetesExecutor", "the default executor"
    assert value("redis.enabled") is False and value("postgresql.enabled") is False
    assert value("createUserJob.enabled") is False, "the chart's user job would need a password in values"
    assert value("dags.gitSync.enabled") is False and value("dags.persistence.enabled") is False, \
        "DAGs are in the image"
    for path, node in walk(VALUES):
        if re.search(r"(password|pass|secret|fernetKey|jwtSecret|apiSecretKey)$", path.split(".")[-1], re.I) and \
                not path.endswith("SecretName"):
            assert not node, f"{path}: no secrets in values.yaml"


def test_airflow_pods_are_hardened_and_bounded() -> None:
    pod, container = value("securityContexts.pod"), value("securityContexts.containers")
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"]["drop"] == ["ALL"]
    for component in ("apiServer", "scheduler", "dagProcessor", "triggerer", "workers"):
        res = value(f"{component}.resources")
        assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), component
    assert value("networkPolicies.enabled") is False, "k8s/base/network-policies/airflow.yaml covers Airflow"
    assert (K8S / "base" / "network-policies" / "airflow.yaml").is_file()


def test_task_logs_outlive_the_task_pods() -> None:
    # KubernetesExecutor deletes each task pod: without a shared volume (or remote logging) the
    # UI has no log for a finished task.
    assert value("executor").split(",")[0] == "KubernetesExecutor"
    persistence = value("logs.persistence")
    assert persistence["enabled"] is True and re.fullmatch(r"[1-9][0-9]*Gi", persistence["size"])
    assert "ReadWriteMany" in (K8S / "airflow" / "values.yaml").read_text(), "say what storage it needs"
    groomer = value("scheduler.logGroomerSidecar")
    assert groomer["enabled"] is True and 1 <= groomer["retentionDays"] <= 90, "bounded disk use"
    assert "Airflow logs and alerts" in (ROOT / "docs" / "deploy.md").read_text()


def test_deployment_check_runs_in_the_scheduler_not_in_nine_pods() -> None:
    executors = value("executor").split(",")
    env = {e["name"]: e.get("value") for e in value("env")}
    assert env["TICKFLOW_CHECK_EXECUTOR"] in executors and env["TICKFLOW_CHECK_EXECUTOR"] == "LocalExecutor"
    # the scheduler's account may read the rollouts its kubernetes_rollout check looks at
    for overlay in ("local", "production"):
        bound = [s["name"] for b in cluster(overlay).of_kind("RoleBinding") for s in b["subjects"]
                 if b["roleRef"]["name"] == "rollout-reader"]
        assert "airflow-scheduler" in bound  # the chart's scheduler account under release "airflow" (docs/deploy.md)
