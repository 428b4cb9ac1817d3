"""Policies over the rendered Kubernetes manifests of both overlays.

Probes hit routes the services really serve, on the ports their settings make them bind;
settings come out right from each container's environment; connection strings name Services
that exist; containers are bounded and unprivileged; NetworkPolicies let exactly the intended
traffic through; Secrets are generated locally and external in production.
"""
from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any
from unittest import mock

import pytest
from deploy_model import (
    ALL_OVERLAYS,
    ALPACA_OVERLAYS,
    INIT_DIR,
    INIT_SCRIPT,
    NAMESPACE,
    NEEDS,
    OVERLAYS,
    PG_PASSWORD_VARS,
    PORT_SETTING,
    PROJECT_VERSION,
    ROLE_PASSWORD_ENV,
    ROOT,
    URL_ROLES,
    Cluster,
    Pod,
    bound_ports,
    cluster,
    container_env,
    containers,
    deployed_services,
    image_name,
    ingress_allowed,
    is_tickflow_image,
    kafka_is_broker,
    kafka_replication,
    pod_labels,
    pod_spec,
    pods_of,
    quantity,
    reachable_from,
    replication_problems,
    selector_matches,
    serves,
    service_of_command,
    service_selects,
    settings_env_names,
    settings_from_env,
    unexpanded_references,
)

from services.kafka_io import Topics

# The one container allowed a writable root filesystem, and why.
WRITABLE_ROOT = {("kafka", "kafka"): "the apache/kafka start script renders its config into the image"}
SECRETS_DOC = ROOT / "docs" / "deploy.md"


def tickflow_containers(c: Cluster) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """(workload, container, service) for every container running the Tickflow image."""
    out = []
    for w in c.workloads():
        for ct in containers(w):
            if is_tickflow_image(ct["image"]):
                service = service_of_command(ct.get("command", []))
                assert service, f"{w['metadata']['name']}/{ct['name']}: command must be python -m services.<name>"
                out.append((w, ct, service))
    return out


def by_service(c: Cluster, service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    found = [(w, ct) for w, ct, s in tickflow_containers(c) if s == service]
    assert len(found) == 1, f"{c.name}: expected one container running {service}, found {len(found)}"
    return found[0]


def service_port(c: Cluster, host: str, port: int) -> dict[str, Any]:
    """The Service a host:port in a connection string reaches (short or cluster-local name)."""
    name = host.split(".")[0]
    suffix = host[len(name):]
    assert suffix in ("", f".{NAMESPACE}", f".{NAMESPACE}.svc", f".{NAMESPACE}.svc.cluster.local"), (
        f"{host}: not a Service of namespace {NAMESPACE}")
    svc = c.find("Service", name)
    assert svc is not None, f"{c.name}: no Service named {name!r} (from {host}:{port})"
    ports = {p["port"] for p in svc["spec"]["ports"]}
    assert port in ports, f"Service {name} has ports {sorted(ports)}, not {port}"
    assert any(service_selects(svc, pod_labels(w)) for w in c.workloads()), (
        f"Service {name} selects no pods")
    return svc


def workload_of_service(c: Cluster, svc: dict[str, Any]) -> list[str]:
    return [w["metadata"]["name"] for w in c.workloads()
            if service_selects(svc, pod_labels(w)) and w["kind"] != "Job"]


# -- probes and ports ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_probes_hit_real_routes_on_the_ports_the_services_bind(overlay: str) -> None:
    c = cluster(overlay)
    checked = 0
    probed = set()
    for w, ct, service in tickflow_containers(c):
        if w["kind"] == "Job":
            assert not any(k in ct for k in ("readinessProbe", "livenessProbe")), "Jobs need no probes"
            continue
        settings = settings_from_env(container_env(c, ct))
        bound = getattr(settings, PORT_SETTING[service])  # the probes' port
        ports = {p.get("name"): p["containerPort"] for p in ct["ports"]}
        assert set(ports.values()) == bound_ports(service, settings), (
            f"{service}: containerPorts {ports} but it binds {bound_ports(service, settings)}")
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            if kind == "startupProbe" and kind not in ct:
                continue
            assert kind in ct, f"{service}: no {kind}"
            probe = ct[kind]["httpGet"]
            port = ports[probe["port"]] if isinstance(probe["port"], str) else probe["port"]
            assert port == bound, f"{service} {kind}: port {port}, but the service binds {bound}"
            assert serves(service, probe["path"]), f"{service} does not serve GET {probe['path']} ({kind})"
            checked += 1
        # Liveness must not depend on Kafka or PostgreSQL: an outage would restart every pod.
        assert ct["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{service}: liveness on /healthz"
        assert ct["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{service}: readiness on /readyz"
        probed.add(service)
    assert probed == deployed_services(overlay) & set(PORT_SETTING), f"{overlay}: probed {sorted(probed)}"
    assert checked == 3 * len(probed) >= 12, "ingest, generator, processor, dashboard (, feed): three HTTP probes each"


def test_route_discovery_can_say_no() -> None:
    """Control for the test above: the apps are really asked."""
    assert serves("ingest", "/readyz") and serves("ingest-ops", "/docs") and serves("ingest-ops", "/metrics")
    assert not serves("ingest", "/ready") and not serves("ingest-ops", "/ingest")
    assert serves("generator", "/") and not serves("generator", "/docs")
    assert serves("processor", "/metrics") and not serves("processor", "/livez")
    assert serves("dashboard", "/readyz") and serves("dashboard", "/api/bars") and serves("dashboard", "/docs")
    assert not serves("dashboard", "/ready") and not serves("dashboard", "/ws"), "/ws is a WebSocket, not GET"
    assert serves("feed", "/readyz") and serves("feed", "/metrics") and not serves("feed", "/docs")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_infrastructure_probes_use_declared_ports(overlay: str) -> None:
    c = cluster(overlay)
    for name in ("kafka", "postgres"):
        sts = c.get("StatefulSet", name)
        (ct,) = containers(sts)
        names = {p["name"] for p in ct["ports"]}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = ct[kind]
            if "tcpSocket" in probe:
                assert probe["tcpSocket"]["port"] in names, f"{name} {kind}: unknown port"
            elif name == "postgres":
                assert probe["exec"]["command"][0] == "pg_isready"
                assert "--host=127.0.0.1" in probe["exec"]["command"], "TCP: not ready during first-start init"
            else:  # the broker must answer Kafka requests (tests/deploy/test_kafka_probe.py runs it)
                assert "kafka-broker-api-versions.sh --bootstrap-server localhost:9092" in probe["exec"]["command"][-1]
        if name == "kafka":
            assert {"exec"} == set(ct["readinessProbe"]) & {"exec", "tcpSocket"}, "ready = serves, not = port open"


# -- settings from the environment ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_needed_setting_is_provided_and_points_at_the_stack(overlay: str) -> None:
    c = cluster(overlay)
    seen = set()
    for w, ct, service in tickflow_containers(c):
        seen.add(service)
        env = container_env(c, ct)
        settings = settings_from_env(env)
        for field, kind in NEEDS[service].items():
            name = f"TICKFLOW_{field.upper()}"
            assert name in env, f"{overlay}: {service} needs {name}"
            value = getattr(settings, field)
            if kind == "bind":
                assert value == "0.0.0.0", f"{service}: {name}={value} is unreachable from outside the pod"
            elif kind == "kafka":
                for hostport in value.split(","):
                    host, port = hostport.rsplit(":", 1)
                    svc = service_port(c, host, int(port))
                    assert "kafka" in workload_of_service(c, svc)
            else:
                url = urllib.parse.urlsplit(value)
                svc = service_port(c, url.hostname, url.port)
                if field in URL_ROLES:
                    assert url.username == URL_ROLES[field], f"{service}: {name} must log in as {URL_ROLES[field]}"
                    assert url.path == "/tickflow"
                    assert workload_of_service(c, svc) == ["postgres"]
    assert seen == deployed_services(overlay), f"{overlay}: Tickflow commands {sorted(seen)}"


def test_every_loopback_default_is_covered_by_the_needs_table() -> None:
    """A new setting that defaults to 127.0.0.1 must be decided on for containers."""
    from services.config import Settings

    loopback = {name for name, f in Settings.model_fields.items() if "127.0.0.1" in str(f.default)}
    covered = {field for needs in NEEDS.values() for field in needs}
    assert {"dashboard_host", "reader_database_url", "alpaca_ops_host"} <= loopback & covered
    assert loopback <= covered, f"settings defaulting to loopback without a deploy decision: {loopback - covered}"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_tickflow_variables_are_settings_and_references_expand(overlay: str) -> None:
    c = cluster(overlay)
    known = settings_env_names() | PG_PASSWORD_VARS
    for w in c.workloads():
        for ct in containers(w):
            names = {e["name"] for e in ct.get("env", [])}
            if is_tickflow_image(ct["image"]):
                names |= set(container_env(c, ct))
            unknown = {n for n in names if n.startswith("TICKFLOW_")} - known
            assert not unknown, f"{w['metadata']['name']}: not settings (typo?): {sorted(unknown)}"
            missing = unexpanded_references(ct)
            assert not missing, f"{w['metadata']['name']}/{ct['name']}: would stay literal: {missing}"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_database_passwords_are_the_ones_postgres_is_provisioned_with(overlay: str) -> None:
    """Each URL's password comes from the same Secret key the init script gives that role."""
    c = cluster(overlay)
    script = (INIT_DIR / "tickflow-roles.psql").read_text()
    variables = dict(re.findall(r"\\getenv (\w+) (\w+)", script))
    local_only = {"tickflow_test_analyst", "tickflow_test_dashboard"}  # side databases: not in compose or Kubernetes
    for role, var in re.findall(r"ALTER ROLE (\w+) WITH [A-Z ]*PASSWORD :'(\w+)'", script):
        if role not in local_only:
            assert variables[var] == ROLE_PASSWORD_ENV[role], f"init script: {role} gets ${variables[var]}"
    assert set(re.findall(r"ALTER ROLE (\w+) WITH [A-Z ]*PASSWORD", script)) - local_only == set(ROLE_PASSWORD_ENV)
    (pg,) = containers(c.get("StatefulSet", "postgres"))
    pg_env = container_env(c, pg)
    urls = set()
    for _, ct, service in tickflow_containers(c):
        for name, value in container_env(c, ct).items():
            if value.startswith("postgresql://"):
                url = urllib.parse.urlsplit(value)
                assert url.password == pg_env[ROLE_PASSWORD_ENV[url.username]], f"{name}: wrong password"
                assert re.fullmatch(r"[A-Za-z0-9_-]+", url.password), f"{name}: password is not URL-safe"
                urls.add((service, name, url.username))
    feed = {("feed", "TICKFLOW_READER_DATABASE_URL", "tickflow_analyst")} if overlay in ALPACA_OVERLAYS else set()
    assert urls == {
        ("processor", "TICKFLOW_DATABASE_URL", "tickflow_app"),
        ("admin migrate", "TICKFLOW_ADMIN_DATABASE_URL", "tickflow"),
        ("dashboard", "TICKFLOW_DATABASE_URL", "tickflow_app"),
        ("dashboard", "TICKFLOW_DASHBOARD_DATABASE_URL", "tickflow_dashboard"),
    } | feed, f"{overlay}: who connects to PostgreSQL as whom"


# -- shape of the workloads ----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_container_is_bounded_and_unprivileged(overlay: str) -> None:
    c = cluster(overlay)
    for w in c.workloads():
        spec = pod_spec(w)
        pod_sc = spec.get("securityContext", {})
        name = w["metadata"]["name"]
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], f"{name}: hostPath volume"
        assert spec.get("automountServiceAccountToken") is False, f"{name}: needs no Kubernetes API token"
        assert spec.get("enableServiceLinks") is False, f"{name}: service links inject stray variables"
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for ct in containers(w):
            where = f"{overlay}: {name}/{ct['name']}"
            sc = ct.get("securityContext", {})
            res = ct.get("resources", {})
            for k in ("cpu", "memory"):
                assert k in res.get("requests", {}), f"{where}: no {k} request"
                assert k in res.get("limits", {}), f"{where}: no {k} limit"
                assert quantity(res["requests"][k]) <= quantity(res["limits"][k]), f"{where}: {k} request > limit"
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot"
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 0)) > 0, f"{where}: numeric non-root runAsUser"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
            assert sc.get("privileged", False) is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drop ALL capabilities"
            assert not sc.get("capabilities", {}).get("add"), where
            writable = (name, ct["name"]) in WRITABLE_ROOT
            assert sc.get("readOnlyRootFilesystem") is (not writable), f"{where}: readOnlyRootFilesystem"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_images_are_pinned_and_tickflow_runs_this_version(overlay: str) -> None:
    c = cluster(overlay)
    images = [ct["image"] for w in c.workloads() for ct in containers(w)]
    assert images
    for image in images:
        _, tag = image_name(image)
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image}: pin an exact version tag"
        if is_tickflow_image(image):
            assert tag == PROJECT_VERSION, f"{image}: the Tickflow image is tagged {PROJECT_VERSION}"
            assert image_name(image)[0] == ("tickflow" if ALPACA_OVERLAYS.get(overlay, overlay) == "local" else
                                            "registry.example.com/tickflow/tickflow")


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_scaling_rules(overlay: str) -> None:
    c = cluster(overlay)
    partitions = {t.name: t.partitions for t in Topics().specs}[Topics().prices]
    processor = c.get("Deployment", "processor")
    assert 1 <= processor["spec"]["replicas"] <= partitions, "more processors than price partitions idle"
    hpas = c.of_kind("HorizontalPodAutoscaler")
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == ["ingest"], "only ingest autoscales"
    (hpa,) = hpas
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["spec"]["minReplicas"] >= 3 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    ingest = c.get("Deployment", "ingest")
    assert "replicas" not in ingest["spec"], "the HPA owns ingest's replica count"
    (ct,) = containers(ingest)
    assert "cpu" in ct["resources"]["requests"], "CPU utilisation needs a CPU request"
    generator = c.get("Deployment", "generator")
    assert generator["spec"]["replicas"] == 1 and generator["spec"]["strategy"]["type"] == "Recreate", (
        "one seeded stream: two generators would send the same candles twice")
    dashboard = c.get("Deployment", "dashboard")
    assert dashboard["spec"]["replicas"] == 1, "one feed per process; more replicas would also need a PDB"
    assert dashboard["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}, (
        "the new dashboard is ready before the old one stops")


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_disruption_budgets_cover_replicated_workloads(overlay: str) -> None:
    c = cluster(overlay)
    pdbs = c.of_kind("PodDisruptionBudget")
    autoscaled = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["minReplicas"]
                  for h in c.of_kind("HorizontalPodAutoscaler")}
    for w in c.workloads():
        if w["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name = w["metadata"]["name"]
        replicas = autoscaled.get(name, w["spec"].get("replicas", 1))
        covering = [p for p in pdbs if selector_matches(p["spec"]["selector"], pod_labels(w))]
        assert len(covering) <= 1, f"{name}: overlapping PodDisruptionBudgets"
        if replicas > 1 or name == "kafka":
            assert covering, f"{overlay}: {name} ({replicas} replicas) needs a PodDisruptionBudget"
        for pdb in covering:
            spec = pdb["spec"]
            allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec["minAvailable"]
            assert 1 <= allowed < max(replicas, 2), f"{name}: budget allows {allowed} of {replicas} down"
    for p in pdbs:
        assert [w for w in c.workloads() if selector_matches(p["spec"]["selector"], pod_labels(w))], (
            f"PodDisruptionBudget {p['metadata']['name']} selects nothing")


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_services_select_pods_and_target_declared_ports(overlay: str) -> None:
    c = cluster(overlay)
    for svc in c.of_kind("Service"):
        name = svc["metadata"]["name"]
        targets = [w for w in c.workloads() if w["kind"] != "Job"
                   and service_selects(svc, pod_labels(w))]
        assert len(targets) == 1, f"Service {name} selects {len(targets)} workloads"
        declared = {p.get("name"): p["containerPort"] for ct in containers(targets[0]) for p in ct.get("ports", [])}
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert (target in declared) if isinstance(target, str) else (target in declared.values()), (
                f"Service {name}: targetPort {target} is not a port of {targets[0]['metadata']['name']}")
    balancers = [s for s in c.of_kind("Service") if s["spec"].get("type") == "LoadBalancer"]
    assert [s["metadata"]["name"] for s in balancers] == ["ingest"], "only ingest is exposed"
    (lb,) = balancers
    assert workload_of_service(c, lb) == ["ingest"], "the LoadBalancer must select the ingest pods"
    _, ct = by_service(c, "ingest")
    port = lb["spec"]["ports"][0]
    assert len(lb["spec"]["ports"]) == 1, "the LoadBalancer routes the public port alone"
    target = {p["name"]: p["containerPort"] for p in ct["ports"]}[port["targetPort"]]
    assert target == settings_from_env(container_env(c, ct)).ingest_port
    for path in ("/metrics", "/docs", "/openapi.json"):  # not on the public port, but on the operations port
        assert not serves("ingest", path) and serves("ingest-ops", path), path
    ops = c.get("Service", "ingest-ops")
    assert ops["spec"].get("type", "ClusterIP") == "ClusterIP" and workload_of_service(c, ops) == ["ingest"]
    (ops_port,) = ops["spec"]["ports"]
    target = {p["name"]: p["containerPort"] for p in ct["ports"]}[ops_port["targetPort"]]
    assert ops_port["port"] == target == settings_from_env(container_env(c, ct)).ingest_ops_port == 8010
    assert not [r for r in c.resources if r["kind"] in ("Ingress", "Gateway", "HTTPRoute")], "only ingest is exposed"
    dash = c.get("Service", "dashboard")
    assert dash["spec"].get("type", "ClusterIP") == "ClusterIP", "the dashboard is reached by port-forward only"
    assert workload_of_service(c, dash) == ["dashboard"]
    _, ct = by_service(c, "dashboard")
    (port,) = dash["spec"]["ports"]
    target = {p["name"]: p["containerPort"] for p in ct["ports"]}[port["targetPort"]]
    assert port["port"] == target == settings_from_env(container_env(c, ct)).dashboard_port == 8003, (
        "port-forward svc/dashboard 8003:8003 (docs/deploy.md) reaches the port it binds")
    for sts in c.of_kind("StatefulSet"):
        governing = c.get("Service", sts["spec"]["serviceName"])
        assert governing["spec"].get("clusterIP") == "None", f"{sts['metadata']['name']}: headless Service"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_a_consistent_kraft_quorum(overlay: str) -> None:
    c = cluster(overlay)
    sts = c.get("StatefulSet", "kafka")
    (ct,) = containers(sts)
    env = {e["name"]: e for e in ct["env"]}
    value = {k: e.get("value") for k, e in env.items()}
    replicas = sts["spec"]["replicas"]
    assert "controller" in value["KAFKA_PROCESS_ROLES"].split(",") and not any("ZOOKEEPER" in k for k in env)
    assert (env["KAFKA_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
            == "metadata.labels['apps.kubernetes.io/pod-index']")
    voters = value["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    headless = sts["spec"]["serviceName"]
    assert voters == [f"{i}@kafka-{i}.{headless}:9093" for i in range(replicas)], "one voter per pod, by ordinal"
    assert "CONTROLLER://:9093" in value["KAFKA_LISTENERS"]
    assert value["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://$(POD_NAME).{headless}:9092"
    assert sts["spec"]["podManagementPolicy"] == "Parallel", "controllers must start together"
    assert c.get("Service", headless)["spec"].get("publishNotReadyAddresses") is True
    assert len(base64.urlsafe_b64decode(value["CLUSTER_ID"] + "==")) == 16 and len(value["CLUSTER_ID"]) == 22
    assert value["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "partition counts come from the topics Job"
    assert value["KAFKA_LOG_DIRS"].startswith(ct["volumeMounts"][0]["mountPath"] + "/")
    claims = [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]]
    assert [m["name"] for m in ct["volumeMounts"]] == claims == ["data"]


def topic_factors(c: Cluster) -> dict[str, int]:
    """Replication factor of Tickflow's topics, by the container that creates them."""
    return {f"{w['metadata']['name']}/{ct['name']}": settings_from_env(container_env(c, ct)).kafka_replication_factor
            for w, ct, service in tickflow_containers(c) if service == "admin topics"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_replication_fits_the_brokers(overlay: str) -> None:
    """Replication factors <= brokers, min.insync.replicas <= factor (< factor when replicated)."""
    c = cluster(overlay)
    sts = c.get("StatefulSet", "kafka")
    (ct,) = containers(sts)
    env = container_env(c, ct)
    brokers = sts["spec"]["replicas"] if kafka_is_broker(env) else 0
    factors = topic_factors(c)
    problems = replication_problems(brokers, env, factors)
    assert not problems, f"{overlay}, {brokers} broker(s):\n" + "\n".join(problems)
    # The disruption budget lets no more brokers go than every replicated topic can spare.
    (pdb,) = [p for p in c.of_kind("PodDisruptionBudget") if selector_matches(p["spec"]["selector"], pod_labels(sts))]
    spare = [factor - min_isr for factor, min_isr in kafka_replication(env, factors).values() if factor > 1]
    if spare:
        assert pdb["spec"]["maxUnavailable"] <= min(spare), (
            f"{overlay}: the Kafka PDB lets {pdb['spec']['maxUnavailable']} brokers go, acks=all survives {min(spare)}")


def test_replication_rule_can_say_no() -> None:
    """Controls for replication_problems: each inconsistency is reported, and for the right topic."""
    one = {"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
           "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
           "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1"}
    three = {k: "3" if "FACTOR" in k else "2" for k in one} | {"KAFKA_DEFAULT_REPLICATION_FACTOR": "3",
                                                               "KAFKA_MIN_INSYNC_REPLICAS": "2"}

    def said(problems: list[str], *expected: str) -> bool:
        return all(any(e in p for p in problems) for e in expected)

    assert replication_problems(1, one, {"job": 1}) == []
    assert replication_problems(3, three, {"job": 3}) == []
    assert said(replication_problems(1, one, {}), "no container runs")
    assert said(replication_problems(1, {}, {"job": 1}), "__consumer_offsets: replication factor 3 with 1",
                "__transaction_state: replication factor 3 with 1", "__share_group_state: replication factor 3 with 1")
    assert said(replication_problems(1, one, {"job": 3}), "(job): replication factor 3 with 1 broker")
    assert said(replication_problems(3, three | {"KAFKA_MIN_INSYNC_REPLICAS": "3"}, {"job": 2}),
                "(job): min in-sync replicas 3 with replication factor 2: acks=all writes fail")
    assert said(replication_problems(3, three | {"KAFKA_MIN_INSYNC_REPLICAS": "3"}, {"job": 3}),
                "(job): min in-sync replicas 3 = replication factor 3", "__consumer_offsets: min in-sync replicas 3 =")
    assert said(replication_problems(3, three | {"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "3"}, {"job": 3}),
                "__transaction_state: min in-sync replicas 3 =")
    assert said(replication_problems(3, three | {"KAFKA_MIN_INSYNC_REPLICAS": "1"}, {"job": 1}),
                "(job): one replica with 3 brokers")
    assert said(replication_problems(3, three | {"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "4"}, {"job": 3}),
                "__consumer_offsets: replication factor 4 with 3")


def test_admin_topics_creates_topics_with_the_replication_setting() -> None:
    """The tests above read TICKFLOW_KAFKA_REPLICATION_FACTOR; `admin topics` must use it."""
    from services import admin

    settings = settings_from_env({"TICKFLOW_KAFKA_BOOTSTRAP": "kafka:9092", "TICKFLOW_KAFKA_REPLICATION_FACTOR": "3"})
    with mock.patch.object(admin, "get_settings", return_value=settings), \
            mock.patch.object(admin, "setup_logging"), \
            mock.patch("services.kafka_io.ensure_topics", return_value={}) as ensure:
        assert admin.main(["topics"]) == 0
    ensure.assert_called_once()
    assert ensure.call_args.args[0] == "kafka:9092"
    assert 3 in ensure.call_args.args[2:] or ensure.call_args.kwargs.get("replication_factor") == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_setup_jobs_run_the_admin_commands(overlay: str) -> None:
    c = cluster(overlay)
    commands = {w["metadata"]["name"]: service_of_command(containers(w)[0]["command"]) for w in c.of_kind("Job")}
    assert commands == {"kafka-topics": "admin topics", "tickflow-migrate": "admin migrate"}
    for job in c.of_kind("Job"):
        assert job["spec"]["backoffLimit"] >= 5, "setup retries until Kafka/PostgreSQL answer"
        assert job["spec"].get("ttlSecondsAfterFinished") is not None
    (pg,) = containers(c.get("StatefulSet", "postgres"))
    mounts = {m["mountPath"]: m["name"] for m in pg["volumeMounts"]}
    volume = next(v for v in pod_spec(c.get("StatefulSet", "postgres"))["volumes"]
                  if v["name"] == mounts["/docker-entrypoint-initdb.d"])
    init = c.config_map(volume["configMap"]["name"])
    assert init == {f.name: f.read_text() for f in INIT_DIR.iterdir()}
    assert INIT_SCRIPT.name in init and {"tickflow-roles.psql", "tickflow-database.psql"} <= set(init)
    assert volume["configMap"]["defaultMode"] & 0o111, "executable, so the entrypoint runs it"


# -- network policies -------------------------------------------------------------------------


def network_pods(c: Cluster) -> dict[str, Pod]:
    pods = {p.name: p for p in pods_of(c)}
    # Airflow's pods come from the Helm chart (k8s/airflow/values.yaml); the chart labels them so.
    pods["airflow"] = Pod("airflow", NAMESPACE, {"tier": "airflow", "component": "worker", "release": "airflow"},
                          {"api-server": 8080})
    pods["other-namespace"] = Pod("other-namespace", "default", {"app": "anything"})
    pods["internet"] = Pod("internet", "", {}, external=True)
    return pods


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_intended_traffic(overlay: str) -> None:
    c = cluster(overlay)
    policies = c.of_kind("NetworkPolicy")
    pods = network_pods(c)
    namespaces = {NAMESPACE: {"kubernetes.io/metadata.name": NAMESPACE},
                  "default": {"kubernetes.io/metadata.name": "default"}}

    def sources(dst: str, port: int) -> set[str]:
        return {name for name, p in pods.items() if name != dst
                and ingress_allowed(policies, p, pods[dst], port, namespaces)}

    everyone = set(pods)
    assert sources("ingest", 8000) == everyone - {"ingest"}, "ingest is the open door"
    assert sources("ingest", 8010) == everyone - {"ingest", "other-namespace", "internet"}, "ingest ops: namespace only"
    # Airflow: deployment_check reads the topics and the processor group's lag.
    assert sources("kafka", 9092) == {"ingest", "processor", "kafka-topics", "airflow"}
    assert sources("kafka", 9093) == set(), "only brokers talk to controllers"
    assert ingress_allowed(policies, pods["kafka"], pods["kafka"], 9093)
    assert sources("postgres", 5432) == {"processor", "tickflow-migrate", "dashboard", "airflow"}
    for dst, port in (("generator", 8001), ("processor", 8002), ("dashboard", 8003)):
        assert sources(dst, port) == everyone - {dst, "other-namespace", "internet"}, f"{dst}: namespace only"
    # What the dashboard itself may reach: PostgreSQL, plus what every pod of the namespace may
    # (ingest, the generator's and processor's health/metrics); not Kafka, not Airflow.
    assert reachable_from(policies, pods["dashboard"], pods, namespaces) == {
        ("postgres", 5432), ("ingest", 8000), ("ingest", 8010), ("generator", 8001), ("processor", 8002)}
    assert ("postgres", 5432) not in reachable_from(policies, pods["generator"], pods, namespaces), "control"
    assert sources("airflow", 8080) == set(), "Airflow's UI only through kubectl port-forward"
    for name, pod in pods.items():
        if pod.namespace == NAMESPACE:
            assert sources(name, 65000) == set(), f"{name}: not covered by the default deny"


def test_network_policy_evaluation_can_allow_and_deny() -> None:
    """Controls for the evaluator: no policy allows all; a rule for another port denies."""
    a = Pod("a", NAMESPACE, {"x": "1"}, {"web": 80})
    b = Pod("b", NAMESPACE, {"y": "2"})
    assert ingress_allowed([], b, a, 80)
    only_web = [{"metadata": {"name": "p", "namespace": NAMESPACE},
                 "spec": {"podSelector": {"matchLabels": {"x": "1"}}, "policyTypes": ["Ingress"],
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"y": "2"}}}],
                                       "ports": [{"port": "web"}]}]}}]
    assert ingress_allowed(only_web, b, a, 80)
    assert not ingress_allowed(only_web, b, a, 81)
    assert not ingress_allowed(only_web, a, a, 80)


# -- RBAC and Secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_airflow_may_read_rollouts_and_nothing_more(overlay: str) -> None:
    c = cluster(overlay)
    assert not c.of_kind("ClusterRole") and not c.of_kind("ClusterRoleBinding")
    (binding,) = c.of_kind("RoleBinding")
    role = c.get("Role", binding["roleRef"]["name"])
    assert binding["roleRef"]["kind"] == "Role"
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"],
                              "verbs": ["get", "list", "watch"]}]
    # the task pods' account (ours) and the chart's scheduler account (deployment_check's LocalExecutor tasks)
    assert [s["name"] for s in binding["subjects"]] == ["tickflow-airflow", "airflow-scheduler"]
    for subject in binding["subjects"]:
        assert subject["kind"] == "ServiceAccount" and subject["namespace"] == NAMESPACE
    assert c.get("ServiceAccount", "tickflow-airflow")


def referenced_secrets(c: Cluster) -> dict[str, dict[str, bool]]:
    """Secret name -> {key: optional?} of every Secret a workload reads."""
    refs: dict[str, dict[str, bool]] = {}
    for w in c.workloads():
        for ct in containers(w):
            for e in ct.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    keys = refs.setdefault(ref["name"], {})
                    keys[ref["key"]] = keys.get(ref["key"], True) and ref.get("optional", False)
            for src in ct.get("envFrom", []):
                if "secretRef" in src:
                    refs.setdefault(src["secretRef"]["name"], {})
        for v in pod_spec(w).get("volumes", []):
            if "secret" in v:
                refs.setdefault(v["secret"]["secretName"], {})
    return refs


# The only optional Secret keys, and why: the dashboard runs without webhooks until they are set.
OPTIONAL_SECRET_KEYS = {("tickflow-webhooks", "urls"), ("tickflow-webhooks", "secret")}


def test_local_secrets_are_generated_with_throwaway_values() -> None:
    c = cluster("local")
    refs = referenced_secrets(c)
    optional = {(name, key) for name, keys in refs.items() for key, opt in keys.items() if opt}
    assert optional == OPTIONAL_SECRET_KEYS, "everything else must exist for the pods to start"
    for name, keys in refs.items():
        data = c.secret(name)
        assert data is not None, f"local overlay must generate Secret {name}"
        required = {k for k, opt in keys.items() if not opt}
        assert required <= set(data), f"Secret {name} lacks {required - set(data)}"
    # Webhooks: the signing secret is there, the URLs are not (no webhooks until someone adds them).
    assert set(c.secret("tickflow-webhooks")) == {"secret"}
    for secret in c.of_kind("Secret"):
        for key, value in c.secret(secret["metadata"]["name"]).items():
            shown = base64.urlsafe_b64decode(value).decode() if key == "fernet-key" else value
            assert "local-dev-only" in shown, f"{secret['metadata']['name']}/{key}: not an obviously local value"
    tokens = c.secret("tickflow-ingest")
    assert tokens["generator-token"] in tokens["tokens"].split(","), "ingest must accept the generator's token"


def test_production_references_external_secrets_that_are_documented() -> None:
    c = cluster("production")
    assert not c.of_kind("Secret"), "production Secrets are created outside git"
    doc = SECRETS_DOC.read_text()
    refs = referenced_secrets(c)
    assert {(n, k) for n, keys in refs.items() for k, opt in keys.items() if opt} == OPTIONAL_SECRET_KEYS
    for name, keys in refs.items():
        assert f"`{name}`" in doc, f"docs/deploy.md must list Secret {name}"
        for key in keys:
            assert f"`{key}`" in doc, f"docs/deploy.md must list key {key} of Secret {name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboard_gets_both_roles_and_webhooks_stay_off_until_configured(overlay: str) -> None:
    """Each database URL is built from the tickflow-db key of its role (as the processor's is);
    the webhook signing secret comes from a Secret, optional, and no URLs are set by default."""
    c = cluster(overlay)
    _, ct = by_service(c, "dashboard")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ct["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs["TICKFLOW_PG_APP_PASSWORD"] == {"name": "tickflow-db", "key": "app-password"}
    assert refs["TICKFLOW_PG_DASHBOARD_PASSWORD"] == {"name": "tickflow-db", "key": "dashboard-password"}
    assert "TICKFLOW_PG_ANALYST_PASSWORD" not in refs, "the analysts' login is for people"
    assert refs["TICKFLOW_WEBHOOK_SECRET"] == {"name": "tickflow-webhooks", "key": "secret", "optional": True}
    assert refs["TICKFLOW_WEBHOOK_URLS"] == {"name": "tickflow-webhooks", "key": "urls", "optional": True}
    literal = {e["name"] for e in ct["env"] if "value" in e}
    assert not {"TICKFLOW_WEBHOOK_SECRET", "TICKFLOW_WEBHOOK_URLS"} & literal, "never inline"
    env = container_env(c, ct)
    settings = settings_from_env(env)
    assert settings.webhook_urls == (), f"{overlay}: webhooks are off by default"
    secret = c.secret("tickflow-webhooks")
    if secret is None:  # production: created by hand when wanted (docs/deploy.md)
        assert "TICKFLOW_WEBHOOK_SECRET" not in env and settings.webhook_secret is None
    else:
        assert settings.webhook_secret is not None
        assert settings.webhook_secret.get_secret_value() == secret["secret"]
    # Once the Secret has URLs, the dashboard gets them as settings it accepts.
    with mock.patch.object(c, "secret", lambda name: {"urls": "https://hooks.example.com/a,http://receiver:9000/b",
                                                      "secret": "s3cret"} if name == "tickflow-webhooks"
                           else Cluster.secret(c, name)):
        on = settings_from_env(container_env(c, ct))
    assert on.webhook_urls == ("https://hooks.example.com/a", "http://receiver:9000/b")
    assert on.webhook_secret is not None and on.webhook_secret.get_secret_value() == "s3cret"
