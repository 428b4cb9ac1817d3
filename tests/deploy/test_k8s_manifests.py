"""k8s/ renders with `kubectl kustomize` and every resource is valid Kubernetes (offline).

Kubernetes kinds: kubernetes-validate --strict (unknown fields are errors), against the oldest
Kubernetes these manifests support (1.28: the StatefulSet pod-index label gives Kafka its node
id) and the newest schemas kubernetes-validate bundles. MetalLB kinds: our own strict schemas
(tests/deploy/metallb_schemas.py) plus semantic checks.
"""
from __future__ import annotations

import copy
import functools
import ipaddress
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import pytest
from deploy_model import ALL_OVERLAYS, K8S, NAMESPACE, Cluster, address_range, cluster, render_dir
from metallb_schemas import SCHEMAS as METALLB_SCHEMAS
from prometheus_operator_schemas import SCHEMAS as OPERATOR_SCHEMAS

K8S_VERSIONS = ("1.28", "1.37")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PriorityClass", "StorageClass", "IngressClass"}


@pytest.fixture(scope="module", autouse=True)
def _cached_schemas() -> Iterator[None]:
    """kubernetes-validate re-reads its 1.8 MB definitions file per resource: read each once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kv_utils, "schema_contents", functools.lru_cache(maxsize=None)(kv_utils.schema_contents))
        yield


def validate(resource: dict[str, Any], version: str) -> None:
    """Strict schema validation; a kind without a schema is an error, never a silent pass."""
    key = (resource.get("apiVersion"), resource.get("kind"))
    schemas = METALLB_SCHEMAS | OPERATOR_SCHEMAS
    if key in schemas:
        jsonschema.Draft202012Validator(schemas[key]).validate(resource)
        return
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise AssertionError(exc.message) from None


def ident(r: dict[str, Any]) -> str:
    return f"{r['kind']}/{r['metadata']['name']}"


def rendered(what: str) -> list[dict[str, Any]]:
    """An overlay, or "monitoring" (k8s/monitoring, applied beside one)."""
    return render_dir(K8S / "monitoring") if what == "monitoring" else cluster(what).resources


@pytest.mark.parametrize("overlay", ALL_OVERLAYS + ("monitoring",))
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_resource_passes_strict_validation(overlay: str, version: str) -> None:
    resources = rendered(overlay)
    assert len(resources) >= (8 if overlay == "monitoring" else 25), \
        f"{overlay}: only {len(resources)} resources rendered"
    errors = []
    for r in resources:
        try:
            validate(r, version)
        except (AssertionError, jsonschema.ValidationError) as exc:
            errors.append(f"{ident(r)}: {getattr(exc, 'message', exc)} at {list(getattr(exc, 'path', []))}")
    assert not errors, f"{overlay} against Kubernetes {version}:\n" + "\n".join(errors)


def test_validation_really_rejects_bad_resources() -> None:
    """Controls: the validator above fails on a misspelled field, a wrong type, an unknown kind
    and a misspelled MetalLB field (kubernetes-validate without --strict passes the first)."""
    ingest = cluster("local").get("Deployment", "ingest")
    typo = copy.deepcopy(ingest)
    typo["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    wrong_type = copy.deepcopy(ingest)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    pool = copy.deepcopy(cluster("local").get("IPAddressPool", "tickflow-local"))
    pool["spec"]["adresses"] = pool["spec"].pop("addresses")
    monitor = copy.deepcopy(next(r for r in rendered("monitoring") if r["kind"] == "PodMonitor"))
    monitor["spec"]["podMetricsEndpoints"][0]["prot"] = monitor["spec"]["podMetricsEndpoints"][0].pop("port")
    for bad in (typo, wrong_type, unknown, pool, monitor):
        with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError, AssertionError)):
            validate(bad, K8S_VERSIONS[-1])
    kubernetes_validate.validate(typo, K8S_VERSIONS[-1], strict=False)  # why --strict matters


def test_base_renders_and_holds_no_secrets() -> None:
    base = render_dir(K8S / "base")
    kinds = {r["kind"] for r in base}
    assert {"Deployment", "StatefulSet", "Job", "Service", "NetworkPolicy"} <= kinds
    assert "Secret" not in kinds, "Secrets belong to the overlays (generated locally, external in production)"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS + ("monitoring",))
def test_resources_are_unique_and_in_the_tickflow_namespace(overlay: str) -> None:
    c = (cluster(overlay) if overlay != "monitoring"
         else Cluster("monitoring", rendered("monitoring") + cluster("local").resources))
    seen = [(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]) for r in c.resources]
    assert len(seen) == len(set(seen)), f"{overlay}: duplicate resources"
    for r in c.resources:
        ns = r["metadata"].get("namespace")
        if r["kind"] in CLUSTER_SCOPED:
            assert ns is None, f"{ident(r)} is cluster-scoped"
        elif r["apiVersion"].startswith("metallb.io/"):
            assert ns == "metallb-system", f"{ident(r)}: MetalLB only reads its own namespace"
        else:
            assert ns == NAMESPACE, f"{overlay}: {ident(r)} is in namespace {ns!r}"
    assert c.get("Namespace", NAMESPACE)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] in (
        "baseline", "restricted")


def test_local_overlay_gives_ingest_an_address_with_metallb() -> None:
    c = cluster("local")
    pools = c.of_kind("IPAddressPool")
    adverts = c.of_kind("L2Advertisement")
    assert pools and adverts, "the local overlay needs an IPAddressPool and an L2Advertisement"
    assert not [cm for cm in c.of_kind("ConfigMap") if cm["metadata"].get("namespace") == "metallb-system"], (
        "MetalLB >= 0.13 ignores the old `config` ConfigMap")
    names = {p["metadata"]["name"] for p in pools}
    for pool in pools:
        ranges = [address_range(a) for a in pool["spec"]["addresses"]]
        for first, last in ranges:
            assert first.version == last.version and first <= last, f"bad range {first}-{last}"
            assert first.is_private, f"{first}: a local pool should use private addresses"
        size = sum(int(last) - int(first) + 1 for first, last in ranges)
        assert size >= 1
        # Disjoint ranges: MetalLB rejects overlapping addresses.
        spans = sorted((int(a), int(b)) for a, b in ranges)
        assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))
        assert pool["spec"].get("autoAssign", True), "ingest does not ask for a pool by name"
    for advert in adverts:
        selected = set(advert.get("spec", {}).get("ipAddressPools", []))
        # Without a list it would advertise every pool of the cluster, not only ours.
        assert selected, "the L2Advertisement should name the pools it advertises"
        assert selected <= names, f"L2Advertisement names unknown pools {selected - names}"
    # Kubernetes' default Service range on kind/minikube; a pool there would clash with ClusterIPs.
    service_cidr = ipaddress.ip_network("10.96.0.0/12")
    for pool in pools:
        for a in pool["spec"]["addresses"]:
            first, last = address_range(a)
            assert first not in service_cidr and last not in service_cidr


def test_production_overlay_brings_no_load_balancer_pool_of_its_own() -> None:
    c = cluster("production")
    assert not [r for r in c.resources if r["apiVersion"].startswith("metallb.io/")], (
        "address pools in production belong to the platform team, not to this overlay")
    assert c.get("Service", "ingest")["spec"]["type"] == "LoadBalancer"
