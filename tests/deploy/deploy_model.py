"""Offline models of the deploy files, shared by the tests in tests/deploy.

Renders the kustomize overlays with `kubectl kustomize`, reads docker-compose.yaml with
`.env.example`, resolves what each container's environment will be, knows which HTTP routes each
Tickflow service really serves (from the apps themselves), and evaluates NetworkPolicies.
Everything here is pure reading: no cluster, no Docker, no network.
"""
from __future__ import annotations

import base64
import functools
import ipaddress
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("local", "production")
# Opt-in overlays: a default overlay plus the Alpaca feed (k8s/optional/alpaca-feed).
ALPACA_OVERLAYS = {"local-alpaca": "local", "production-alpaca": "production"}
ALL_OVERLAYS = OVERLAYS + tuple(ALPACA_OVERLAYS)
OPTIONAL_SERVICES = {"feed"}  # deployed by the opt-in overlays (and compose profiles) only
NAMESPACE = "tickflow"
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TICKFLOW_IMAGE = "tickflow"
AIRFLOW_IMAGE = "tickflow-airflow"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet")

# Which settings each Tickflow command needs from its environment, and what kind of value.
# "bind": a listen address, must be all interfaces in a container; "kafka": host:port list of
# brokers; "url": a URL whose host must be a Service / compose service of the stack.
NEEDS: dict[str, dict[str, str]] = {
    "ingest": {"kafka_bootstrap": "kafka", "ingest_host": "bind", "ingest_ops_host": "bind"},
    "generator": {"ingest_url": "url", "generator_host": "bind"},
    "processor": {"kafka_bootstrap": "kafka", "database_url": "url", "processor_metrics_host": "bind"},
    # Writer for webhook deliveries and pruning the feed; its own reader login for the REST API and the
    # LISTEN feed (not the analysts': they could read its queries and end its sessions).
    "dashboard": {"database_url": "url", "dashboard_database_url": "url", "dashboard_host": "bind"},
    "admin topics": {"kafka_bootstrap": "kafka"},
    "admin migrate": {"admin_database_url": "url"},
    # Resumes from each symbol's newest stored bar, read with the read-only role.
    "feed": {"ingest_url": "url", "reader_database_url": "url", "alpaca_ops_host": "bind"},
}
# The database role each URL setting must log in as (README: Configuration / SQL).
URL_ROLES = {"database_url": "tickflow_app", "admin_database_url": "tickflow",
             "reader_database_url": "tickflow_analyst", "dashboard_database_url": "tickflow_dashboard"}
# The port setting each long-running service binds its HTTP server to.
PORT_SETTING = {"ingest": "ingest_port", "generator": "generator_port", "processor": "processor_metrics_port",
                "dashboard": "dashboard_port", "feed": "alpaca_ops_port"}
# Ports a service binds besides that one: ingest's operations port (metrics, docs; never public).
SIDE_PORT_SETTING = {"ingest": "ingest_ops_port"}


def deployed_services(overlay: str) -> set[str]:
    """The Tickflow commands an overlay runs: all but the optional ones, unless it opts in."""
    return set(NEEDS) - (set() if overlay in ALPACA_OVERLAYS else OPTIONAL_SERVICES)


def bound_ports(service: str, settings: Any) -> set[int]:
    """Every port `python -m services.<service>` binds with these settings."""
    names = [PORT_SETTING[service]] + ([SIDE_PORT_SETTING[service]] if service in SIDE_PORT_SETTING else [])
    return {getattr(settings, name) for name in names} - {0}
# Variables that are not settings but PostgreSQL provisioning inputs (init script, URLs).
# Each login role's password, as the postgres container's environment (and the init script) names it.
ROLE_PASSWORD_ENV = {"tickflow": "TICKFLOW_PG_OWNER_PASSWORD", "tickflow_app": "TICKFLOW_PG_APP_PASSWORD",
                     "tickflow_analyst": "TICKFLOW_PG_ANALYST_PASSWORD",
                     "tickflow_dashboard": "TICKFLOW_PG_DASHBOARD_PASSWORD", "airflow": "TICKFLOW_PG_AIRFLOW_PASSWORD"}
PG_PASSWORD_VARS = set(ROLE_PASSWORD_ENV.values())
INIT_DIR = K8S / "base" / "postgres" / "initdb"  # the one provisioning of roles: compose, k8s, local
INIT_SCRIPT = INIT_DIR / "10-tickflow-roles.sh"


# -- rendering ---------------------------------------------------------------------------------


def kubectl() -> str:
    found = shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is not installed: the deploy tests render k8s/ with `kubectl kustomize`. "
                    "Run scripts/ensure-kubectl.sh (installs Debian's kubernetes-client).", pytrace=False)
    return found


@functools.cache
def _render_text(path: str) -> str:
    proc = subprocess.run([kubectl(), "kustomize", path], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{proc.stderr}", pytrace=False)
    return proc.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    """The resources `kubectl kustomize k8s/overlays/<overlay>` renders (fresh copies)."""
    return [doc for doc in yaml.safe_load_all(_render_text(str(K8S / "overlays" / overlay))) if doc]


def render_dir(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(_render_text(str(path))) if doc]


@dataclass
class Cluster:
    """One rendered overlay, indexed."""

    name: str
    resources: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [r for r in self.of_kind(kind) if r["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind}/{name}, found {len(found)}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [r for r in self.of_kind(kind) if r["metadata"]["name"] == name]
        return found[0] if found else None

    def workloads(self) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["kind"] in WORKLOAD_KINDS]

    def config_map(self, name: str) -> dict[str, str]:
        return self.get("ConfigMap", name).get("data", {})

    def secret(self, name: str) -> dict[str, str] | None:
        """Decoded data of a rendered Secret, or None when the overlay expects it to exist already."""
        found = self.find("Secret", name)
        if found is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in found.get("data", {}).items()}
        data.update(found.get("stringData", {}))
        return data


@functools.cache
def _cluster(overlay: str) -> Cluster:
    return Cluster(overlay, render(overlay))


def cluster(overlay: str) -> Cluster:
    return _cluster(overlay)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["metadata"].get("labels", {})


def containers(workload: dict[str, Any], init: bool = True) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def image_name(image: str) -> tuple[str, str | None]:
    """('registry/repo', 'tag') from an image reference (tag None when absent)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
        return repo, tag
    return ref, None


def is_tickflow_image(image: str) -> bool:
    return image_name(image)[0].rsplit("/", 1)[-1] == TICKFLOW_IMAGE


def service_of_command(command: list[str]) -> str | None:
    """'ingest' for python -m services.ingest, 'admin topics' for ... services.admin topics."""
    if len(command) >= 3 and command[0] == "python" and command[1] == "-m" and command[2].startswith("services."):
        name = command[2].removeprefix("services.")
        return f"{name} {command[3]}" if name == "admin" and len(command) > 3 else name
    return None


# -- environment -------------------------------------------------------------------------------

_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def secret_placeholder(name: str, key: str) -> str:
    """What a value from a Secret that is not rendered (production) stands for: URL-safe."""
    return f"SECRET-{name}-{key}"


def container_env(c: Cluster, container: dict[str, Any]) -> dict[str, str]:
    """The environment Kubernetes gives the container: envFrom first, then env in order, with
    $(VAR) expanded only from variables defined before (unknown references stay literal).

    An `optional` secretKeyRef whose key the rendered Secret lacks is left unset, as Kubernetes
    does; one into a Secret that is not rendered (production) is left unset too: that is how the
    pod runs until someone creates the Secret."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = c.config_map(source["configMapRef"]["name"])
        else:
            name = source["secretRef"]["name"]
            data = c.secret(name)
            assert data is not None, f"{c.name}: envFrom Secret {name} is external; cannot list its keys"
        env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = _REF.sub(lambda m: env.get(m.group(1), m.group(0)), item["value"])
            continue
        ref = item.get("valueFrom", {})
        if "secretKeyRef" in ref:
            name, key = ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]
            data = c.secret(name)
            if ref["secretKeyRef"].get("optional", False) and (data is None or key not in data):
                continue
            env[item["name"]] = secret_placeholder(name, key) if data is None else data[key]
        elif "configMapKeyRef" in ref:
            env[item["name"]] = c.config_map(ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
        elif "fieldRef" in ref:
            env[item["name"]] = f"FIELD-{ref['fieldRef']['fieldPath']}"
        else:
            env[item["name"]] = f"RESOURCE-{item['name']}"
    return env


def unexpanded_references(container: dict[str, Any]) -> list[str]:
    """$(VAR) references Kubernetes would leave as literal text (VAR not defined before use)."""
    defined: set[str] = set()
    missing = []
    for item in container.get("env", []):
        for ref in _REF.findall(item.get("value", "")):
            if ref not in defined:
                missing.append(f"{item['name']} uses $({ref})")
        defined.add(item["name"])
    return missing


def settings_from_env(env: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """services.config.Settings as a process with exactly this environment would build it."""
    from services.config import Settings

    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKFLOW_")}
    clean.update(env)
    with mock.patch.dict(os.environ, clean, clear=True):
        return Settings()


def settings_env_names() -> set[str]:
    """TICKFLOW_* variables the services read (services/config.py)."""
    from services.config import Settings

    return {f"TICKFLOW_{name.upper()}" for name in Settings.model_fields}


def airflow_env_names() -> set[str]:
    """TICKFLOW_* variables the DAGs read: the services' plus deployment_check's."""
    from services.orchestration.settings import OrchestrationSettings

    return {f"TICKFLOW_{name.upper()}" for name in OrchestrationSettings.model_fields}


# The HTTP health URLs deployment_check calls, by the service that must answer them.
CHECK_URLS = {"TICKFLOW_CHECK_PROCESSOR_URL": "processor", "TICKFLOW_CHECK_GENERATOR_URL": "generator"}


# -- Kafka replication -------------------------------------------------------------------------

# The broker properties (apache/kafka's KAFKA_* variables) that decide how topics are replicated,
# with Kafka's own defaults: given any KAFKA_* variable the image writes only those into its
# configuration, so an unset one means Kafka's default (3 replicas for the internal topics).
KAFKA_REPLICATION_DEFAULTS = {
    "KAFKA_MIN_INSYNC_REPLICAS": 1,
    "KAFKA_DEFAULT_REPLICATION_FACTOR": 1,
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": 3,
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": 3,
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": 2,
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": 3,
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": 2,
}


def kafka_is_broker(broker_env: Mapping[str, str]) -> bool:
    return "broker" in broker_env.get("KAFKA_PROCESS_ROLES", "").split(",")


def kafka_replication(broker_env: Mapping[str, str], topic_factors: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """(replication factor, min.insync.replicas) of each kind of topic the cluster will hold.

    `topic_factors`: the replication factor each topic-creating container (`services.admin
    topics`) uses for Tickflow's topics. The broker-wide min.insync.replicas governs those, topics
    created with the default factor and __consumer_offsets; the transaction and share-group state
    topics have their own minimum.
    """
    value = {k: int(broker_env.get(k, default)) for k, default in KAFKA_REPLICATION_DEFAULTS.items()}
    min_isr = value["KAFKA_MIN_INSYNC_REPLICAS"]
    out = {f"Tickflow's topics ({creator})": (factor, min_isr) for creator, factor in topic_factors.items()}
    out["topics with default.replication.factor"] = (value["KAFKA_DEFAULT_REPLICATION_FACTOR"], min_isr)
    out["__consumer_offsets"] = (value["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"], min_isr)
    out["__transaction_state"] = (value["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"],
                                  value["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"])
    out["__share_group_state"] = (value["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR"],
                                  value["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR"])
    return out


def replication_problems(brokers: int, broker_env: Mapping[str, str], topic_factors: Mapping[str, int]) -> list[str]:
    """What is inconsistent between the number of brokers, the replication factors and the
    min.insync.replicas (empty: consistent).

    Every replication factor fits the brokers (else creating the topic fails); min.insync.replicas
    is at most the factor (else every acks=all write, ingest's, fails) and below it once there are
    replicas to spare (else one broker down stops those writes); with several brokers nothing
    lives on one broker only.
    """
    problems = [] if topic_factors else ["no container runs `services.admin topics`"]
    for what, (factor, min_isr) in kafka_replication(broker_env, topic_factors).items():
        if not 1 <= factor <= brokers:
            problems.append(f"{what}: replication factor {factor} with {brokers} broker(s)")
        if not 1 <= min_isr <= factor:
            problems.append(f"{what}: min in-sync replicas {min_isr} with replication factor {factor}: "
                            "acks=all writes fail")
        elif factor > 1 and min_isr == factor:
            problems.append(f"{what}: min in-sync replicas {min_isr} = replication factor {factor}: "
                            "one broker down stops acks=all writes")
        if brokers > 1 and factor == 1:
            problems.append(f"{what}: one replica with {brokers} brokers: losing its broker loses the data")
    return problems


# -- compose -----------------------------------------------------------------------------------

COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
_INTERP = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=value: {line!r}"
        values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:?e}, ${VAR?e}, $VAR."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is None:
            if op and op.endswith("-"):
                return arg
            raise KeyError(f"${{{name}}} is not set ({arg or 'no default'})")
        return value

    return _INTERP.sub(one, text)


def compose_variables(text: str) -> dict[str, str | None]:
    """Every variable the compose file interpolates, with its operator (None for plain ${VAR})."""
    found: dict[str, str | None] = {}
    for m in _INTERP.finditer(text):
        name = m.group(1) or m.group(4)
        if name:
            found.setdefault(name, m.group(2))
    return found


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(x, env) for x in node]
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env) for k, v in node.items()}
    return node


def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yaml as `docker compose config` would see it with .env = .env.example."""
    return _interpolate_tree(compose_raw(), read_env_file(ENV_EXAMPLE) if env is None else env)


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# -- HTTP routes the services really serve -------------------------------------------------------


@functools.cache
def _fastapi_get_routes(service: str) -> frozenset[str]:
    from services.config import Settings

    if service == "ingest":
        from services.ingest.app import create_app

        app = create_app(Settings(), publisher=object())  # type: ignore[arg-type]  # never called
    elif service == "generator":
        from services.generator.app import create_app as create_generator_app
        from services.ingest_client import PushStats

        app = create_generator_app(dict, PushStats(), lambda: True)
    elif service == "ingest-ops":
        from services.ingest.app import create_app
        from services.ingest.ops import ops_app

        app = ops_app(create_app(Settings(), publisher=object()))  # type: ignore[arg-type]
    elif service == "dashboard":
        from services.dashboard.app import create_app as create_dashboard_app

        app = create_dashboard_app(Settings())  # connects to nothing until its lifespan starts
    elif service == "processor":
        from prometheus_client import CollectorRegistry

        from services.processor.health import health_app
        from services.processor.metrics import ProcessorStats

        app = health_app(ProcessorStats(), CollectorRegistry(), liveness_timeout_s=60.0)
    elif service == "feed":
        import threading

        from services.feed.__main__ import ops_app as feed_ops_app
        from services.feed.bars import Cursor
        from services.feed.runner import Feed

        feed = Feed(None, None, Cursor({}), timeframe="1Min", fetch_limit=1, batch=1,  # type: ignore[arg-type]
                    stop=threading.Event())  # never asked: only its routes are listed
        app = feed_ops_app(feed, live=True)
    else:
        raise ValueError(service)
    return frozenset(r.path for r in app.routes if "GET" in getattr(r, "methods", set()))


def serves(service: str, path: str) -> bool:
    """Does `python -m services.<service>` answer GET <path>? ("ingest-ops": ingest's operations port;
    "feed": the Alpaca feed's)"""
    return path.split("?", 1)[0] in _fastapi_get_routes(service)


# -- label selectors and NetworkPolicies -------------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (an empty selector matches everything)."""
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_selects(service: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Service's selector is a plain label map (not a LabelSelector); none selects nothing."""
    selector = service["spec"].get("selector")
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class Pod:
    """A pod as NetworkPolicies see it."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)  # container port names -> numbers
    external: bool = False  # outside the cluster (reaches us through the LoadBalancer)


def pods_of(c: Cluster) -> list[Pod]:
    out = []
    for w in c.workloads():
        ports = {p["name"]: p["containerPort"] for ct in containers(w) for p in ct.get("ports", []) if "name" in p}
        out.append(Pod(w["metadata"]["name"], w["metadata"].get("namespace", NAMESPACE), pod_labels(w), ports))
    return out


def _port_matches(rule_port: Mapping[str, Any], dst: Pod, port: int) -> bool:
    if rule_port.get("protocol", "TCP") != "TCP":
        return False
    wanted = rule_port.get("port")
    if wanted is None:
        return True
    number = dst.ports.get(wanted) if isinstance(wanted, str) else wanted
    if number is None:
        return False
    end = rule_port.get("endPort", number)
    return number <= port <= end


def _peer_matches(peer: Mapping[str, Any], src: Pod, policy_namespace: str,
                  namespaces: Mapping[str, Mapping[str, str]]) -> bool:
    if "ipBlock" in peer:
        return src.external  # in-cluster pod addresses are not meant by our ipBlocks
    if src.external:
        return False
    if "namespaceSelector" in peer:
        ns_ok = selector_matches(peer["namespaceSelector"], namespaces.get(src.namespace, {}))
    else:
        ns_ok = src.namespace == policy_namespace
    if not ns_ok:
        return False
    return "podSelector" not in peer or selector_matches(peer["podSelector"], src.labels)


def reachable_from(policies: list[dict[str, Any]], src: Pod, pods: Mapping[str, Pod],
                   namespaces: Mapping[str, Mapping[str, str]] | None = None) -> set[tuple[str, int]]:
    """Every (pod, named container port) that `src` may open a TCP connection to."""
    return {(name, port) for name, dst in pods.items() if dst is not src
            for port in dst.ports.values() if allowed(policies, src, dst, port, namespaces)}


def allowed(policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int,
            namespaces: Mapping[str, Mapping[str, str]] | None = None) -> bool:
    """May `src` open a TCP connection to `dst`:`port`: its egress and dst's ingress both allow it."""
    return (egress_allowed(policies, src, dst, port, namespaces)
            and (dst.external or ingress_allowed(policies, src, dst, port, namespaces)))


def egress_allowed(policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int,
                   namespaces: Mapping[str, Mapping[str, str]] | None = None) -> bool:
    """May `src` send to `dst`:`port` under the Egress policies selecting `src`?"""
    if src.external:
        return True
    namespaces = namespaces or {}
    selecting = [
        p for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == src.namespace
        and "Egress" in p["spec"].get("policyTypes", [])
        and selector_matches(p["spec"].get("podSelector", {}), src.labels)
    ]
    if not selecting:
        return True  # not isolated for egress
    return any((not rule.get("to") or any(_peer_matches(peer, dst, src.namespace, namespaces) for peer in rule["to"]))
               and (not rule.get("ports") or any(_port_matches(rp, dst, port) for rp in rule["ports"]))
               for policy in selecting for rule in policy["spec"].get("egress", []))


def ingress_allowed(policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int,
                    namespaces: Mapping[str, Mapping[str, str]] | None = None) -> bool:
    """May `src` open a TCP connection to `dst`:`port` under these NetworkPolicies?"""
    namespaces = namespaces or {}
    selecting = [
        p for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == dst.namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"].get("podSelector", {}), dst.labels)
    ]
    if not selecting:
        return True  # not isolated
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            ports = rule.get("ports")
            from_ok = not peers or any(_peer_matches(peer, src, dst.namespace, namespaces) for peer in peers)
            port_ok = not ports or any(_port_matches(rp, dst, port) for rp in ports)
            if from_ok and port_ok:
                return True
    return False


# -- small parsers -----------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: str | int | float) -> float:
    m = _QUANTITY.match(str(value))
    assert m, f"not a Kubernetes quantity: {value!r}"
    return float(m.group(1)) * _FACTORS[m.group(2)]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[canonical(m.group(1))] = m.group(2)
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def address_range(entry: str) -> tuple[ipaddress._BaseAddress, ipaddress._BaseAddress]:
    """First and last address of a MetalLB pool entry: a CIDR or 'first-last'."""
    if "-" in entry:
        first, last = (ipaddress.ip_address(x.strip()) for x in entry.split("-", 1))
        return first, last
    net = ipaddress.ip_network(entry.strip(), strict=True)
    return net[0], net[-1]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted.path, value) in a nested structure."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")

