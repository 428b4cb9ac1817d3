"""docker-compose.yaml: valid compose-spec, and the same policies as the Kubernetes manifests.

The file is read as `docker compose` reads it with `.env` copied from `.env.example`.
"""
from __future__ import annotations

import base64
import re
import shlex
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_model import (
    AIRFLOW_IMAGE,
    CHECK_URLS,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    INIT_DIR,
    NEEDS,
    PG_PASSWORD_VARS,
    PORT_SETTING,
    PROJECT_VERSION,
    ROLE_PASSWORD_ENV,
    ROOT,
    TICKFLOW_IMAGE,
    URL_ROLES,
    airflow_env_names,
    bound_ports,
    compose,
    compose_env,
    compose_raw,
    compose_variables,
    image_name,
    interpolate,
    kafka_is_broker,
    read_env_file,
    replication_problems,
    serves,
    service_of_command,
    settings_env_names,
    settings_from_env,
)

from services.kafka_io import Topics

# Services whose image listens on a fixed port (Airflow's API server, Prometheus, Grafana defaults).
FIXED_PORTS = {"airflow-apiserver": 8080, "prometheus": 9090, "grafana": 3000}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET")
ONE_SHOT = {"kafka-topics", "migrate", "airflow-init"}
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
# Alpaca's keys: passed through from the shell that runs docker compose (no value in the file, none in .env).
HOST_KEYS = {"APCA_API_KEY_ID", "APCA_API_SECRET_KEY"}


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120)


def test_compose_file_passes_the_compose_spec_schema() -> None:
    result = check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_check_rejects_a_misspelled_key(tmp_path: Path) -> None:
    """Control: the schema check above is strict about service keys."""
    bad = tmp_path / "docker-compose.yaml"
    bad.write_text(COMPOSE_FILE.read_text().replace("    healthcheck:\n", "    healthchek:\n", 1))
    assert bad.read_text() != COMPOSE_FILE.read_text()
    assert check_jsonschema(bad).returncode != 0


def tickflow_services(cfg: dict[str, Any]) -> dict[str, str]:
    """compose service -> Tickflow command ('ingest', 'admin topics', ...)."""
    out = {}
    for name, svc in cfg["services"].items():
        if image_name(svc["image"])[0] == TICKFLOW_IMAGE:
            command = service_of_command(svc["command"])
            assert command, f"{name}: command must be python -m services.<name>"
            out[name] = command
    return out


def container_ports(cfg: dict[str, Any], name: str) -> set[int]:
    """The ports a compose service listens on inside the network."""
    svc = cfg["services"][name]
    env = compose_env(svc)
    if name == "postgres":
        return {5432}
    if name == "kafka":
        return {int(p) for p in re.findall(r"PLAINTEXT://[^:,]*:(\d+)", env["KAFKA_LISTENERS"])}
    if name in FIXED_PORTS:
        return {FIXED_PORTS[name]}
    command = tickflow_services(cfg).get(name)
    if command in PORT_SETTING:
        return bound_ports(command, settings_from_env(env))
    return set()


def test_every_variable_comes_from_env_example_and_secrets_are_never_inline() -> None:
    text = COMPOSE_FILE.read_text()
    example = read_env_file(ENV_EXAMPLE)
    variables = compose_variables(text)
    for name, op in variables.items():
        assert name in example, f".env.example must define {name}"
        if SECRET_NAME.search(name):
            assert op in (":?", "?"), f"${{{name}}}: a secret must be required (:?), never defaulted"
    assert set(example) == set(variables), f".env.example defines unused {set(example) - set(variables)}"
    for name, value in example.items():
        if SECRET_NAME.search(name):
            shown = base64.urlsafe_b64decode(value).decode() if "FERNET" in name else value
            assert "local-dev-only" in shown, f".env.example {name}: not an obviously local value"
            assert re.fullmatch(r"[A-Za-z0-9_=-]+", value), f"{name}: keep it URL-safe"
    # No literal credentials: every password inside a URL and every secret-looking variable is
    # an interpolation of .env.
    raw = compose_raw()
    for name, svc in raw["services"].items():
        for key, value in compose_env(svc).items():
            for password in re.findall(r"://[^:/@\s]+:([^@\s]*)@", value):
                assert password.startswith("${"), f"{name}: {key} has a literal password"
            if key in HOST_KEYS:
                assert svc["environment"][key] is None, f"{name}: {key} comes from the shell, never from a file"
            elif SECRET_NAME.search(key):
                assert value.startswith("${"), f"{name}: {key} is hard-coded"
    with pytest.raises(KeyError):
        interpolate("${POSTGRES_PASSWORD:?required}", {})  # control: a missing .env fails loudly


def test_images_are_pinned_and_built_from_this_repository() -> None:
    cfg = compose()
    for name, svc in cfg["services"].items():
        repo, tag = image_name(svc["image"])
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: pin an exact version tag"
        if repo in (TICKFLOW_IMAGE, AIRFLOW_IMAGE):
            assert tag == PROJECT_VERSION, f"{name}: tag {tag}, project version {PROJECT_VERSION}"
            dockerfile = ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            assert dockerfile.name == ("Dockerfile" if repo == TICKFLOW_IMAGE else "Dockerfile.airflow")
        else:
            assert "build" not in svc


def test_start_order_uses_conditions() -> None:
    cfg = compose()
    services = cfg["services"]
    edges = {}
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec["condition"]
            edges[(name, dep)] = condition
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck for {name} to wait on"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOT
            else:
                pytest.fail(f"{name} -> {dep}: {condition} does not wait for readiness")
    expected = {
        ("kafka-topics", "kafka"): "service_healthy",
        ("migrate", "postgres"): "service_healthy",
        ("ingest", "kafka-topics"): "service_completed_successfully",
        ("processor", "kafka-topics"): "service_completed_successfully",
        ("processor", "migrate"): "service_completed_successfully",
        ("generator", "ingest"): "service_healthy",
        ("dashboard", "migrate"): "service_completed_successfully",
        ("airflow-init", "postgres"): "service_healthy",
        ("alpaca-feed", "ingest"): "service_healthy",
        ("alpaca-feed", "migrate"): "service_completed_successfully",
    }
    for edge, condition in expected.items():
        assert edges.get(edge) == condition, f"{edge[0]} must wait for {edge[1]} ({condition})"
    for name in AIRFLOW_SERVICES:
        assert edges.get((name, "airflow-init")) == "service_completed_successfully"
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc.get("restart", "no") == "no", f"{name} runs once"
        else:
            assert "healthcheck" in svc, f"{name}: long-running services need a healthcheck"
            assert svc.get("restart") == "unless-stopped", f"{name}: restart policy"


def test_healthchecks_hit_real_routes_on_the_ports_the_services_bind() -> None:
    cfg = compose()
    commands = tickflow_services(cfg)
    checked = 0
    for name, command in commands.items():
        if command not in PORT_SETTING:
            continue
        test = cfg["services"][name]["healthcheck"]["test"]
        (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(test))
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname in ("127.0.0.1", "localhost")
        assert parsed.port == getattr(settings_from_env(compose_env(cfg["services"][name])), PORT_SETTING[command]), (
            f"{name}: healthcheck on {parsed.port}")
        assert serves(command, parsed.path), f"{command} does not serve GET {parsed.path}"
        checked += 1
    assert checked == len(PORT_SETTING) == 5, "ingest, generator, processor, dashboard and the Alpaca feed"
    assert "/readyz" in " ".join(cfg["services"]["ingest"]["healthcheck"]["test"]), "ingest: healthy = Kafka reachable"
    assert "/readyz" in " ".join(cfg["services"]["dashboard"]["healthcheck"]["test"]), (
        "dashboard: healthy = its feed is connected to PostgreSQL")
    pg = cfg["services"]["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in pg and "--host=127.0.0.1" in pg, "TCP: not healthy while the init script runs"


def test_every_needed_setting_is_provided_and_points_at_a_service() -> None:
    cfg = compose()
    commands = tickflow_services(cfg)
    assert set(commands.values()) == set(NEEDS)
    for name, command in commands.items():
        env = compose_env(cfg["services"][name])
        unknown = {k for k in env if k.startswith("TICKFLOW_")} - settings_env_names()
        assert not unknown, f"{name}: not settings (typo?): {sorted(unknown)}"
        settings = settings_from_env(env)
        for field, kind in NEEDS[command].items():
            assert f"TICKFLOW_{field.upper()}" in env, f"{name} needs TICKFLOW_{field.upper()}"
            value = getattr(settings, field)
            if kind == "bind":
                assert value == "0.0.0.0", f"{name}: {field}={value}"
                continue
            targets = ([tuple(x.rsplit(":", 1)) for x in value.split(",")] if kind == "kafka"
                       else [(urllib.parse.urlsplit(value).hostname, urllib.parse.urlsplit(value).port)])
            for host, port in targets:
                assert host in cfg["services"], f"{name}: {field} names {host}, not a compose service"
                assert int(port) in container_ports(cfg, host), f"{name}: {host} does not listen on {port}"
            if field in URL_ROLES:
                url = urllib.parse.urlsplit(value)
                assert url.username == URL_ROLES[field] and url.path == "/tickflow"


def test_database_passwords_are_the_ones_postgres_is_provisioned_with() -> None:
    cfg = compose()
    pg = cfg["services"]["postgres"]
    pg_env = compose_env(pg)
    assert PG_PASSWORD_VARS <= set(pg_env)
    mount = f"./{INIT_DIR.relative_to(ROOT)}:/docker-entrypoint-initdb.d:ro"
    assert mount in pg["volumes"], "postgres must run the shared provisioning files"
    urls = []
    for name, svc in cfg["services"].items():
        for key, value in compose_env(svc).items():
            if re.match(r"postgres(ql)?(\+\w+)?://", value):
                url = urllib.parse.urlsplit(value)
                assert url.hostname == "postgres" and url.port == 5432, f"{name}: {key}"
                assert url.password == pg_env[ROLE_PASSWORD_ENV[url.username]], f"{name}: {key} password"
                urls.append((name, url.username, url.path))
    assert ("airflow-scheduler", "airflow", "/airflow") in urls, "Airflow's metadata database"
    assert ("processor", "tickflow_app", "/tickflow") in urls and ("migrate", "tickflow", "/tickflow") in urls
    dashboard = sorted((role, path) for name, role, path in urls if name == "dashboard")
    assert dashboard == [("tickflow_app", "/tickflow"), ("tickflow_dashboard", "/tickflow")], (
        "dashboard: its own reader login for the API and the feed, the writer for webhooks and pruning")


def test_replicas_and_kafka_in_kraft_mode() -> None:
    cfg = compose()
    services = cfg["services"]
    partitions = {t.name: t.partitions for t in Topics().specs}[Topics().prices]
    assert services["ingest"]["deploy"]["replicas"] >= 2, "several ingest replicas"
    assert 1 <= services["processor"]["deploy"]["replicas"] <= partitions
    assert services["generator"].get("deploy", {}).get("replicas", 1) == 1
    assert services["dashboard"].get("deploy", {}).get("replicas", 1) == 1, "one feed, one published port"
    env = compose_env(services["kafka"])
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and not any("ZOOKEEPER" in k for k in env)
    node, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == env["KAFKA_NODE_ID"] and voter == "kafka:9093" and "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_kafka_replication_fits_the_broker() -> None:
    """Replication factors <= brokers, min.insync.replicas <= factor (< factor when replicated)."""
    cfg = compose()
    brokers = {name: compose_env(svc) for name, svc in cfg["services"].items()
               if image_name(svc["image"])[0] == "apache/kafka" and kafka_is_broker(compose_env(svc))}
    count = sum(cfg["services"][name].get("deploy", {}).get("replicas", 1) for name in brokers)
    factors = {name: settings_from_env(compose_env(cfg["services"][name])).kafka_replication_factor
               for name, command in tickflow_services(cfg).items() if command == "admin topics"}
    assert brokers and factors, "a Kafka broker and a service creating the topics"
    for name, env in brokers.items():
        problems = replication_problems(count, env, factors)
        assert not problems, f"{name}, {count} broker(s):\n" + "\n".join(problems)


def test_containers_are_unprivileged_and_ports_stay_on_loopback() -> None:
    cfg = compose()
    for name, svc in cfg["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish on 127.0.0.1 only ({port})"
        assert "no-new-privileges:true" in svc.get("security_opt", []) or name in ("postgres", "kafka"), name
        assert not svc.get("privileged"), name
        if name in tickflow_services(cfg):
            assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
            uid = int(str(svc["user"]).split(":")[0])
            assert uid != 0, f"{name}: runs as root"


def published(svc: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(first host port, last host port, container port) of each `127.0.0.1:A[-B]:C` entry."""
    out = []
    for entry in svc.get("ports", []):
        m = re.fullmatch(r"127\.0\.0\.1:(\d+)(?:-(\d+))?:(\d+)", str(entry))
        assert m, f"{entry}: publish as 127.0.0.1:<host port(s)>:<container port>"
        out.append((int(m.group(1)), int(m.group(2) or m.group(1)), int(m.group(3))))
    return out


# How the header comment of docker-compose.yaml names a service, when not by its own name.
HEADER_NAMES = {"alpaca-feed": "Alpaca feed", "airflow-apiserver": "Airflow", "postgres": "PostgreSQL",
                "kafka": "Kafka", "grafana": "Grafana", "prometheus": "Prometheus"}


def test_published_ports_fit_the_replicas_never_collide_and_are_in_the_header() -> None:
    """One host port per replica, no host port used twice, each on a port the container listens
    on, and the header comment of docker-compose.yaml tells where each service is."""
    cfg = compose()
    header = " ".join(line.lstrip("# ").strip() for line in COMPOSE_FILE.read_text().split("\nname:")[0].splitlines())
    used: dict[int, str] = {}
    for name, svc in cfg["services"].items():
        for first, last, container in published(svc):
            replicas = svc.get("deploy", {}).get("replicas", 1)
            assert last - first + 1 == replicas, f"{name}: {last - first + 1} host port(s) for {replicas} replica(s)"
            listening = container_ports(cfg, name)
            if name == "kafka":  # published through its own listener for clients on the host
                listening = {int(p) for p in re.findall(r"HOST://[^:,]*:(\d+)", compose_env(svc)["KAFKA_LISTENERS"])}
            assert container in listening, f"{name}: publishes {container}, listens on {sorted(listening)}"
            for port in range(first, last + 1):
                assert port not in used, f"host port {port}: {used.get(port)} and {name}"
                used[port] = name
            shown = f"{first}-{last}" if last > first else str(first)
            assert f"{HEADER_NAMES.get(name, name)} {shown}" in header, f"header comment: {name} on {shown}?"
    assert used[8006] == "dashboard" and published(cfg["services"]["dashboard"]) == [(8006, 8006, 8003)]


def test_dashboard_webhooks_are_off_by_default_and_their_secret_comes_from_env() -> None:
    cfg = compose()
    env = compose_env(cfg["services"]["dashboard"])
    settings = settings_from_env(env)
    assert settings.webhook_urls == (), "no webhooks unless TICKFLOW_WEBHOOK_URLS is set in .env"
    example = read_env_file(ENV_EXAMPLE)
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == example["TICKFLOW_WEBHOOK_SECRET"]
    raw = compose_env(compose_raw()["services"]["dashboard"])
    assert raw["TICKFLOW_WEBHOOK_SECRET"].startswith("${TICKFLOW_WEBHOOK_SECRET:?"), "required, never defaulted"
    assert raw["TICKFLOW_WEBHOOK_URLS"] == "${TICKFLOW_WEBHOOK_URLS:-}", "optional: empty = off"
    # Set in .env, the URLs reach the dashboard as settings it accepts.
    urls = "https://hooks.example.com/tickflow,http://receiver:9000/signals"
    on = settings_from_env(compose_env(compose(example | {"TICKFLOW_WEBHOOK_URLS": urls})["services"]["dashboard"]))
    assert on.webhook_urls == tuple(urls.split(","))
    with pytest.raises(KeyError):
        compose({k: v for k, v in example.items() if k != "TICKFLOW_WEBHOOK_SECRET"})


def test_airflow_settings_reach_the_stack() -> None:
    """The DAGs (deployment_check above all) reach Kafka, PostgreSQL and the services' health."""
    cfg = compose()
    env = compose_env(cfg["services"]["airflow-scheduler"])
    names = {k for k in env if k.startswith("TICKFLOW_")}
    assert names <= airflow_env_names(), f"not settings (typo?): {sorted(names - airflow_env_names())}"
    host, port = env["TICKFLOW_KAFKA_BOOTSTRAP"].split(":")
    assert int(port) in container_ports(cfg, host)
    for name, service in {"TICKFLOW_INGEST_URL": "ingest", **CHECK_URLS}.items():
        url = urllib.parse.urlsplit(env[name])
        assert url.hostname == service and url.port in container_ports(cfg, service), name
        if url.path not in ("", "/"):
            assert serves(service, url.path), f"{service} does not serve {url.path}"
    for name in ("TICKFLOW_DATABASE_URL", "TICKFLOW_READER_DATABASE_URL"):
        assert urllib.parse.urlsplit(env[name]).username == URL_ROLES[name.removeprefix("TICKFLOW_").lower()]


def test_airflow_keys_are_usable() -> None:
    cfg = compose()
    env = compose_env(cfg["services"]["airflow-scheduler"])
    assert len(base64.urlsafe_b64decode(env["AIRFLOW__CORE__FERNET_KEY"])) == 32, "Fernet keys are 32 bytes"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        svc = cfg["services"][name]
        assert svc["image"] == f"{AIRFLOW_IMAGE}:{PROJECT_VERSION}"
        assert compose_env(svc) == env, f"{name}: all Airflow components share one configuration"
    dag_processor = cfg["services"]["airflow-dag-processor"]["healthcheck"]["test"][1]
    assert "$HOSTNAME" in dag_processor or "${HOSTNAME}" in dag_processor, "escaped with $$ for the container"
    assert shlex.split(dag_processor)[:2] == ["airflow", "jobs"]


def bind_mounts(svc: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository path of every read-only bind mount of a service."""
    out = {}
    for volume in svc.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith("./"):
            assert mode == ["ro"], f"{volume}: mount repository files read-only"
            out[target] = ROOT / source
    return out


def test_prometheus_scrapes_every_replica_of_every_service_on_its_metrics_port() -> None:
    cfg = compose()
    prom = cfg["services"]["prometheus"]
    mounts = bind_mounts(prom)
    config_path = next(a.split("=", 1)[1] for a in prom["command"] if a.startswith("--config.file="))
    scrape = yaml.safe_load(mounts[config_path].read_text())
    scraped: dict[str, int] = {}
    for job in scrape["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        (sd,) = job["dns_sd_configs"]  # every replica: Docker's DNS answers with all of them
        assert sd["type"] == "A"
        for host in sd["names"]:
            assert host in cfg["services"], f"{job['job_name']}: {host} is not a compose service"
            assert sd["port"] in container_ports(cfg, host), f"{host} does not listen on {sd['port']}"
            command = tickflow_services(cfg)[host]
            settings = settings_from_env(compose_env(cfg["services"][host]))
            route_owner = "ingest-ops" if command == "ingest" and sd["port"] == settings.ingest_ops_port else command
            assert serves(route_owner, "/metrics"), f"{host}:{sd['port']} serves no /metrics"
            scraped[host] = scraped.get(host, 0) + 1
    assert scraped == {"ingest": 1, "processor": 1, "generator": 1, "dashboard": 1, "alpaca-feed": 1}
    assert ("prometheus", "service_healthy") in [(d, s["condition"]) for d, s in
                                                 cfg["services"]["grafana"]["depends_on"].items()]


def test_grafana_is_provisioned_from_the_repository_with_the_read_only_role() -> None:
    from grafana_dashboards import DASHBOARD_DIR, datasources

    cfg = compose()
    grafana = cfg["services"]["grafana"]
    mounts = bind_mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "tickflow.yaml").read_text())["providers"]
    assert mounts[provider["options"]["path"]] == DASHBOARD_DIR, "the provider reads the mounted dashboards"
    env = compose_env(grafana)
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (mounts[str(Path(home).parent)] / Path(home).name).is_file()
    by_type = {d["type"]: d for d in datasources(provisioning / "datasources" / "tickflow.yaml")}
    prom = urllib.parse.urlsplit(by_type["prometheus"]["url"])
    assert prom.hostname == "prometheus" and prom.port in container_ports(cfg, "prometheus")
    pg = by_type["grafana-postgresql-datasource"]
    host, port = pg["url"].split(":")
    assert host == "postgres" and int(port) in container_ports(cfg, "postgres")
    password_var = pg["secureJsonData"]["password"].removeprefix("$")
    pg_env = compose_env(cfg["services"]["postgres"])
    assert pg["user"] == "tickflow_analyst" and env[password_var] == pg_env[ROLE_PASSWORD_ENV["tickflow_analyst"]]
    raw = compose_env(compose_raw()["services"]["grafana"])
    assert raw["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?"), "required, never defaulted"
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]


def test_the_alpaca_feed_is_opt_in_and_gets_its_keys_from_the_shell() -> None:
    """`docker compose up` runs no feed; `--profile alpaca` runs one, live, whose symbols ingest
    accepts, with Alpaca's keys from the shell's environment."""
    cfg = compose()
    profiled = {name: svc["profiles"] for name, svc in cfg["services"].items() if "profiles" in svc}
    assert profiled == {"alpaca-feed": ["alpaca"]}
    feed = cfg["services"]["alpaca-feed"]
    assert feed["command"] == ["python", "-m", "services.feed", "alpaca", "live"]
    assert feed.get("deploy", {}).get("replicas", 1) == 1, "one feed: no bar twice"
    env = compose_env(feed)
    assert HOST_KEYS <= set(env) and not {k for k in env if k.startswith("APCA_")} - HOST_KEYS
    assert not HOST_KEYS & set(read_env_file(ENV_EXAMPLE)), "the keys are never written to .env"
    shell = {"APCA_API_KEY_ID": "PKTEST", "APCA_API_SECRET_KEY": "s3cret"}  # what Compose passes through
    settings = settings_from_env({**env, **shell})
    assert settings.alpaca_api_key_id is not None and settings.alpaca_api_key_id.get_secret_value() == "PKTEST"
    assert settings.alpaca_api_secret_key is not None and settings.alpaca_api_secret_key.get_secret_value() == "s3cret"
    assert settings.ingest_token is not None
    ingest = settings_from_env(compose_env(cfg["services"]["ingest"]))
    assert settings.ingest_token.get_secret_value() in [t.get_secret_value() for t in ingest.ingest_tokens]
    symbols = settings.alpaca_symbols
    assert any("/" in s for s in symbols) and any("/" not in s for s in symbols), "crypto and stocks"
    for name in ("ingest", "dashboard", "airflow-scheduler"):
        policy = settings_from_env(compose_env(cfg["services"][name])).symbol_policy()
        assert [s for s in symbols if not policy.accepts(s)] == [], f"{name} would reject them"
    blank = compose(read_env_file(ENV_EXAMPLE) | {"TICKFLOW_SYMBOL_PATTERN": ""})
    assert not settings_from_env(compose_env(blank["services"]["ingest"])).symbol_policy().accepts("BTC/USD"), (
        "control: without the pattern, ingest accepts the simulated symbols only")
