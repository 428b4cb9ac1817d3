"""k8s/monitoring beside each overlay: the kube-prometheus conventions hold together (offline).

PodMonitors select Tickflow's pods by a port that serves /metrics; the dashboards and the
datasource reach Grafana's sidecars as labelled ConfigMaps with the repository's files; the
chart values make the Operator and the sidecars look where these objects are; the NetworkPolicies
let Prometheus and Grafana in and nobody else. Strict schema validation is in test_k8s_manifests.py.
"""
from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
import yaml
from deploy_model import (
    ALL_OVERLAYS,
    ALPACA_OVERLAYS,
    K8S,
    NAMESPACE,
    OVERLAYS,
    PORT_SETTING,
    SIDE_PORT_SETTING,
    Pod,
    cluster,
    container_env,
    containers,
    deployed_services,
    pod_labels,
    pods_of,
    reachable_from,
    render_dir,
    selector_matches,
    serves,
    service_of_command,
    settings_from_env,
)
from grafana_dashboards import DASHBOARD_DIR, K8S_DATASOURCES, POSTGRES_TYPE, datasources

MONITORING = K8S / "monitoring"
VALUES = yaml.safe_load((MONITORING / "kube-prometheus-stack-values.yaml").read_text())
MONITORING_NAMESPACE = "monitoring"  # where kube-prometheus-stack runs (network-policy.yaml, docs)
NAMESPACES = {ns: {"kubernetes.io/metadata.name": ns} for ns in (NAMESPACE, MONITORING_NAMESPACE, "default")}
# Pods of kube-prometheus-stack as its charts label them.
PROMETHEUS = Pod("prometheus", MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"})
GRAFANA = Pod("grafana", MONITORING_NAMESPACE, {"app.kubernetes.io/name": "grafana"})
OTHER_MONITORING_POD = Pod("alertmanager", MONITORING_NAMESPACE, {"app.kubernetes.io/name": "alertmanager"})


def monitoring() -> list[dict[str, Any]]:
    return render_dir(MONITORING)


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [r for r in monitoring() if r["kind"] == kind]


def config_map(name: str) -> dict[str, Any]:
    (found,) = [r for r in of_kind("ConfigMap") if r["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_pod_monitors_scrape_each_service_on_the_port_that_serves_metrics(overlay: str) -> None:
    c = cluster(overlay)
    scraped = set()
    for monitor in of_kind("PodMonitor"):
        name = monitor["metadata"]["name"]
        selected = [w for w in c.workloads() if w["kind"] != "Job"
                    and selector_matches(monitor["spec"]["selector"], pod_labels(w))]
        if name == "alpaca-feed" and overlay not in ALPACA_OVERLAYS:
            assert not selected, "the feed runs in the -alpaca overlays only"
            continue
        assert len(selected) == 1, f"PodMonitor {name} selects {len(selected)} workloads"
        (ct,) = containers(selected[0])
        service = service_of_command(ct["command"])
        settings = settings_from_env(container_env(c, ct))
        ports = {p["name"]: p["containerPort"] for p in ct["ports"]}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            port = ports[endpoint["port"]]
            side = SIDE_PORT_SETTING.get(service)
            routes = "ingest-ops" if side and port == getattr(settings, side) else service
            if routes == service:
                assert port == getattr(settings, PORT_SETTING[service]), f"{name}: nothing listens on {port}"
            assert serves(routes, endpoint["path"]), f"{name}: {service} serves no {endpoint['path']} on {port}"
            scraped.add(service)
        assert not monitor["spec"].get("namespaceSelector"), "the PodMonitor's own namespace: tickflow"
    assert scraped == deployed_services(overlay) & set(PORT_SETTING), f"{overlay}: scraped {sorted(scraped)}"


def test_control_ingest_public_port_serves_no_metrics() -> None:
    """Why the ingest PodMonitor names the operations port."""
    assert not serves("ingest", "/metrics") and serves("ingest-ops", "/metrics")


def test_dashboards_and_datasource_reach_the_sidecars_as_labelled_config_maps() -> None:
    sidecar = VALUES["grafana"]["sidecar"]
    dash = config_map("tickflow-grafana-dashboards")
    assert dash["metadata"]["labels"][sidecar["dashboards"]["label"]] == sidecar["dashboards"]["labelValue"]
    assert dash["data"] == {p.name: p.read_text() for p in sorted(DASHBOARD_DIR.glob("*.json"))}
    assert dash["metadata"]["annotations"][sidecar["dashboards"]["folderAnnotation"]] == "Tickflow"
    ds = config_map("tickflow-grafana-datasource")
    assert ds["metadata"]["labels"][sidecar["datasources"]["label"]] == sidecar["datasources"]["labelValue"]
    assert ds["data"] == {K8S_DATASOURCES.name: K8S_DATASOURCES.read_text()}
    for kind in ("dashboards", "datasources"):
        assert sidecar[kind]["searchNamespace"] in ("ALL", NAMESPACE), f"the sidecar must read namespace {NAMESPACE}"
    spec = VALUES["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False, "PodMonitors without the chart's release label"


def test_the_datasource_reaches_postgres_as_the_analyst_with_the_password_grafana_gets() -> None:
    (pg,) = [d for d in datasources(K8S_DATASOURCES) if d["type"] == POSTGRES_TYPE]
    url = urllib.parse.urlsplit(f"postgresql://{pg['url']}")
    assert url.hostname == f"postgres.{NAMESPACE}.svc" and url.port == 5432
    for overlay in OVERLAYS:
        svc = cluster(overlay).get("Service", "postgres")
        assert 5432 in {p["port"] for p in svc["spec"]["ports"]}
    variable = pg["secureJsonData"]["password"].removeprefix("$")
    ref = VALUES["grafana"]["envValueFrom"][variable]["secretKeyRef"]
    assert ref == {"name": "tickflow-grafana", "key": "analyst-password"}, "the Secret docs/observability.md creates"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_network_policies_let_prometheus_and_grafana_in_and_change_nothing_else(overlay: str) -> None:
    c = cluster(overlay)
    base = c.of_kind("NetworkPolicy")
    combined = base + of_kind("NetworkPolicy")
    pods = {p.name: p for p in pods_of(c)}
    everyone = {**pods, **{p.name: p for p in (PROMETHEUS, GRAFANA, OTHER_MONITORING_POD)}}
    public = {("ingest", 8000)}  # the open door, for any pod anywhere
    metrics = {("ingest", 8010), ("processor", 8002), ("generator", 8001), ("dashboard", 8003)}
    if overlay in ALPACA_OVERLAYS:
        metrics.add(("alpaca-feed", 8004))
    assert reachable_from(combined, PROMETHEUS, everyone, NAMESPACES) == public | metrics
    assert reachable_from(combined, GRAFANA, everyone, NAMESPACES) == public | {("postgres", 5432)}
    assert reachable_from(combined, OTHER_MONITORING_POD, everyone, NAMESPACES) == public
    assert reachable_from(base, PROMETHEUS, everyone, NAMESPACES) == public, "control: the overlay alone keeps it out"
    for pod in pods.values():  # Tickflow's own pods reach what they reached before
        assert reachable_from(combined, pod, pods, NAMESPACES) == reachable_from(base, pod, pods, NAMESPACES), pod.name


def test_monitoring_renders_into_the_tickflow_namespace_apart_from_the_overlays() -> None:
    kinds = sorted(r["kind"] for r in monitoring())
    assert kinds == ["ConfigMap"] * 2 + ["NetworkPolicy"] * 2 + ["PodMonitor"] * 5
    assert {r["metadata"]["namespace"] for r in monitoring()} == {NAMESPACE}
    for overlay in ALL_OVERLAYS:  # the overlays deploy on clusters without the Operator's CRDs
        assert not [r for r in cluster(overlay).resources if r["apiVersion"].startswith("monitoring.coreos.com/")]
