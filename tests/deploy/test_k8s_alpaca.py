"""The opt-in Alpaca feed on Kubernetes (k8s/optional/alpaca-feed, overlays local-alpaca and
production-alpaca): the default overlays stay exactly as they were, the feed gets its keys from a
Secret that is never in git, ingest accepts what it sends, and it reaches only what it needs.

The generic policies (probes, settings, non-root, resources, images, strict schemas) run over
these overlays in test_k8s_policies.py, test_k8s_manifests.py and test_k8s_monitoring.py.
"""
from __future__ import annotations

import copy
import re

import pytest
import yaml
from deploy_model import (
    ALPACA_OVERLAYS,
    NAMESPACE,
    OVERLAYS,
    ROOT,
    Cluster,
    Pod,
    allowed,
    cluster,
    container_env,
    containers,
    egress_allowed,
    pods_of,
    reachable_from,
    secret_placeholder,
    service_of_command,
    settings_from_env,
)

FEED = "alpaca-feed"
# What the optional kustomization adds to an overlay, besides TICKFLOW_SYMBOL_PATTERN in tickflow-config.
ADDED = {("Deployment", FEED), ("NetworkPolicy", "alpaca-feed-ops-in-namespace"),
         ("NetworkPolicy", "postgres-from-alpaca-feed"), ("NetworkPolicy", "alpaca-feed-egress")}
NAMESPACES = {ns: {"kubernetes.io/metadata.name": ns} for ns in (NAMESPACE, "kube-system", "default")}
ALPACA = Pod("alpaca", "", {}, {"https": 443}, external=True)  # data.alpaca.markets, stream.data.alpaca.markets
DNS = Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns-tcp": 53})


def config_name(c: Cluster) -> str:
    """The generated (hashed) name of the ConfigMap tickflow-config."""
    (name,) = [r["metadata"]["name"] for r in c.of_kind("ConfigMap")
               if r["metadata"]["name"].startswith("tickflow-config")]
    return name


def without_the_feed(c: Cluster) -> list[str]:
    """The rendered resources (as YAML, sorted) minus the feed's, with the symbol pattern and the
    config map's hashed name taken out: the only change the opt-in makes to what was there."""
    name = config_name(c)
    out = []
    for r in c.resources:
        if (r["kind"], r["metadata"]["name"]) in ADDED:
            continue
        r = copy.deepcopy(r)
        if r["kind"] == "ConfigMap" and r["metadata"]["name"] == name:
            r["data"].pop("TICKFLOW_SYMBOL_PATTERN")
        out.append(yaml.safe_dump(r).replace(name, "tickflow-config-HASH"))
    return sorted(out)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_overlays_have_no_feed(overlay: str) -> None:
    c = cluster(overlay)
    assert not [r for r in c.resources if re.search("alpaca", str(r), re.IGNORECASE)], f"{overlay}: opt-in only"
    assert "TICKFLOW_SYMBOL_PATTERN" not in c.config_map(config_name(c))


@pytest.mark.parametrize("overlay", ALPACA_OVERLAYS)
def test_opting_in_adds_the_feed_and_changes_nothing_else(overlay: str) -> None:
    c, base = cluster(overlay), cluster(ALPACA_OVERLAYS[overlay])
    def ids(x: Cluster) -> set[tuple[str, str]]:
        return {(r["kind"], r["metadata"]["name"].replace(config_name(x), "tickflow-config")) for r in x.resources}

    assert ids(c) - ids(base) == ADDED
    assert without_the_feed(c) == sorted(yaml.safe_dump(r).replace(config_name(base), "tickflow-config-HASH")
                                         for r in base.resources)
    for r in c.resources:
        if (r["kind"], r["metadata"]["name"]) in ADDED:
            assert r["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("overlay", ALPACA_OVERLAYS)
def test_one_live_feed_with_keys_from_a_secret_outside_git(overlay: str) -> None:
    c = cluster(overlay)
    feed = c.get("Deployment", FEED)
    assert feed["spec"]["replicas"] == 1 and feed["spec"]["strategy"]["type"] == "Recreate", "one feed: no bar twice"
    (ct,) = containers(feed)
    assert ct["command"] == ["python", "-m", "services.feed", "alpaca", "live"]
    assert service_of_command(ct["command"]) == "feed"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ct["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs["APCA_API_KEY_ID"] == {"name": "tickflow-alpaca", "key": "api-key-id"}
    assert refs["APCA_API_SECRET_KEY"] == {"name": "tickflow-alpaca", "key": "api-secret-key"}
    assert not [e for e in ct["env"] if e["name"].startswith("APCA_") and "value" in e], "never inline"
    assert c.secret("tickflow-alpaca") is None, "Alpaca's keys are created in the cluster, never kept in git"
    settings = settings_from_env(container_env(c, ct))
    assert settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
    assert settings.alpaca_api_key_id.get_secret_value() == secret_placeholder("tickflow-alpaca", "api-key-id")
    assert settings.alpaca_api_secret_key.get_secret_value() == secret_placeholder("tickflow-alpaca", "api-secret-key")
    assert settings.alpaca_symbols and settings.alpaca_stock_feed == "iex"
    # The token it sends is the generator's, which ingest accepts (test_k8s_policies.py checks that).
    (generator,) = containers(c.get("Deployment", "generator"))
    assert refs["TICKFLOW_INGEST_TOKEN"] == next(
        e["valueFrom"]["secretKeyRef"] for e in generator["env"] if e["name"] == "TICKFLOW_INGEST_TOKEN")


@pytest.mark.parametrize("overlay", ALPACA_OVERLAYS)
def test_ingest_accepts_every_symbol_the_feed_sends(overlay: str) -> None:
    c = cluster(overlay)
    (feed,) = containers(c.get("Deployment", FEED))
    symbols = settings_from_env(container_env(c, feed)).alpaca_symbols
    assert any("/" in s for s in symbols) and any("/" not in s for s in symbols), "crypto and stocks"
    for name in ("ingest", "dashboard"):
        (ct,) = containers(c.get("Deployment", name))
        policy = settings_from_env(container_env(c, ct)).symbol_policy()
        assert [s for s in symbols if not policy.accepts(s)] == [], f"{overlay}: {name} would reject them"
    (ct,) = containers(cluster(ALPACA_OVERLAYS[overlay]).get("Deployment", "ingest"))
    assert not settings_from_env(container_env(cluster(ALPACA_OVERLAYS[overlay]), ct)).symbol_policy().accepts(
        "BTC/USD"), "control: the default overlay accepts the simulated symbols only"


@pytest.mark.parametrize("overlay", ALPACA_OVERLAYS)
def test_the_feed_reaches_ingest_postgres_dns_and_alpaca_only(overlay: str) -> None:
    c, base = cluster(overlay), cluster(ALPACA_OVERLAYS[overlay])
    policies, base_policies = c.of_kind("NetworkPolicy"), base.of_kind("NetworkPolicy")
    pods = {p.name: p for p in pods_of(c)}
    everyone = {**pods, "alpaca": ALPACA, "kube-dns": DNS}
    feed = pods[FEED]
    assert reachable_from(policies, feed, everyone, NAMESPACES) == {
        ("ingest", 8000), ("postgres", 5432), ("kube-dns", 53), ("alpaca", 443)}
    assert not allowed(policies, feed, ALPACA, 80, NAMESPACES), "HTTPS only"
    assert not egress_allowed(policies, feed, pods["generator"], 8001, NAMESPACES), "control: egress is confined"
    outsider = Pod("outsider", "default", {"app": "anything"})
    in_namespace = {name for name, p in pods.items() if name != FEED and allowed(policies, p, feed, 8004, NAMESPACES)}
    assert in_namespace == set(pods) - {FEED}, "the feed's health and metrics: from the namespace"
    assert not allowed(policies, outsider, feed, 8004, NAMESPACES)
    # Every other pod reaches exactly what it reached without the feed, plus the feed's ops port.
    for name, pod in pods.items():
        if name == FEED:
            continue
        before = reachable_from(base_policies, pod, {n: p for n, p in pods.items() if n != FEED}, NAMESPACES)
        assert reachable_from(policies, pod, pods, NAMESPACES) == before | {(FEED, 8004)}, name


def test_the_secret_and_how_to_opt_in_are_documented() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for text in ("`tickflow-alpaca`", "`api-key-id`", "`api-secret-key`", "k8s/overlays/local-alpaca",
                 "k8s/overlays/production-alpaca", "--profile alpaca"):
        assert text in doc, f"docs/deploy.md must mention {text}"
    readme = (ROOT / "README.md").read_text()
    assert "not there yet" not in readme and "k8s/overlays/production-alpaca" in readme
