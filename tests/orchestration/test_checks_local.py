"""Deployment checks against the real local Kafka and PostgreSQL, and small local HTTP servers."""
from __future__ import annotations

import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import psycopg2
import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Engine, make_url, text
from support import free_port

from services.config import Settings
from services.db.connect import make_engine
from services.db.migrations import SQL_DIR
from services.kafka_io import Topics, delete_topics, make_admin, make_consumer, make_producer
from services.orchestration.catalog import CHECKS
from services.orchestration.checks import deployment as checks
from services.orchestration.settings import OrchestrationSettings


def orchestration_settings(stack: Settings, **overrides: object) -> OrchestrationSettings:
    return OrchestrationSettings.model_validate({**stack.model_dump(), **overrides})


@pytest.fixture
def http_status() -> Iterator[tuple[str, dict[str, int]]]:
    """A local server answering GET /health with the status in state['status']."""
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status":"ok"}' if state["status"] == 200 else b'{"status":"waiting","detail":"no partitions"}'
            self.send_response(state["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health", state
    finally:
        server.shutdown()
        server.server_close()


def test_health_check_reports_the_url_and_what_it_got(http_status: tuple[str, dict[str, int]]) -> None:
    url, state = http_status
    ok = checks.check_http("processor_health", url)
    assert (ok.status, ok.message) == ("ok", f"processor: GET {url} answered 200")
    state["status"] = 503
    bad = checks.check_http("processor_health", url)
    assert bad.status == "failed"
    assert bad.message == f'processor: GET {url} answered 503: {{"status":"waiting","detail":"no partitions"}}'
    nowhere = f"http://127.0.0.1:{free_port()}/healthz"
    down = checks.check_http("ingest_health", nowhere, timeout=2)
    assert down.status == "failed"
    assert down.message.startswith(f"ingest: GET {nowhere} failed: cannot connect (")
    assert down.message.endswith("is the ingest running?")


def test_a_service_that_starts_listening_while_checked_is_not_red(base_settings: Settings) -> None:
    """The start-up race: connection refused for the first second, then the service answers."""
    port = free_port()
    settings = orchestration_settings(base_settings, check_generator_url=f"http://127.0.0.1:{port}/healthz",
                                      check_patience_s=15, check_http_timeout_s=2)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    servers: list[ThreadingHTTPServer] = []

    def start() -> None:
        servers.append(ThreadingHTTPServer(("127.0.0.1", port), Handler))
        threading.Thread(target=servers[0].serve_forever, daemon=True).start()

    starting = threading.Timer(1.0, start)
    starting.start()
    try:
        began = time.monotonic()
        result = checks.run_check_patiently("generator_health", settings)
        assert (result.status, result.message) == ("ok", f"generator: GET http://127.0.0.1:{port}/healthz answered 200")
        assert 1.0 <= time.monotonic() - began < 15
    finally:
        starting.join()
        servers[0].shutdown()
        servers[0].server_close()
    # A service that stays down is red once the patience is used up, and says how long it was tried.
    down = checks.run_check_patiently("generator_health", settings.model_copy(update={"check_patience_s": 2.0}))
    assert down.status == "failed" and down.message.startswith(f"generator: GET http://127.0.0.1:{port}/healthz failed")
    assert re.search(r"\(still failing after [2-9] tries over 2 s\)$", down.message), down.message


def test_health_urls_default_to_the_services_settings(base_settings: Settings) -> None:
    s = OrchestrationSettings.model_validate({**base_settings.model_dump(), "processor_metrics_host": "0.0.0.0",
                                              "processor_metrics_port": 9102, "ingest_url": "http://ingest:8000/"})
    assert s.health_urls() == {"ingest": "http://ingest:8000/readyz", "processor": "http://127.0.0.1:9102/healthz",
                               "generator": "http://127.0.0.1:8001/healthz"}
    s = s.model_copy(update={"check_processor_url": "http://processor.tickflow:8002/healthz"})
    assert s.health_urls()["processor"] == "http://processor.tickflow:8002/healthz"


def test_kafka_topics_present_missing_and_short(stack: Settings) -> None:
    ok = checks.check_kafka_topics(stack.kafka_bootstrap, stack.topics)
    assert ok.status == "ok" and ok.details["partitions"][stack.topics.prices] == 6

    prefix = stack.kafka_topic_prefix.replace("test-", "test-short-")
    short = Topics(prefix)
    admin = make_admin(stack.kafka_bootstrap)
    try:
        admin.create_topics({short.prices: {"num_partitions": 2, "replication_factor": 1}}, timeout_ms=10_000)
    finally:
        admin.close()
    try:
        bad = checks.check_kafka_topics(stack.kafka_bootstrap, short)
    finally:
        delete_topics(stack.kafka_bootstrap, short)
    assert bad.status == "failed"
    missing = [t.name for t in short.specs if t.name != short.prices]
    assert bad.message == (f"Kafka at {stack.kafka_bootstrap}: topic(s) missing: {', '.join(missing)} "
                           f"(create them: python -m services.admin topics); "
                           f"{short.prices} has 2 partition(s), 6 expected")

    nowhere = f"127.0.0.1:{free_port()}"
    down = checks.check_kafka_topics(nowhere, stack.topics, timeout_s=1.5)
    assert down.status == "failed" and down.message.startswith(f"Kafka at {nowhere} is unreachable: ")


def test_consumer_lag_counts_uncommitted_messages(stack: Settings) -> None:
    producer = make_producer(stack.kafka_bootstrap)
    for i in range(30):
        producer.send(stack.topics.prices, key=b"AAPL", value=b'{"n": %d}' % i)
    producer.flush(10)
    producer.close()

    behind = checks.check_consumer_lag(stack.kafka_bootstrap, stack.processor_group, stack.topics, max_lag=10)
    assert behind.status == "failed" and behind.details["total_lag"] == 30
    assert behind.message.startswith(f"consumer group {stack.processor_group!r} is 30 message(s) behind on Kafka at "
                                     f"{stack.kafka_bootstrap} (limit 10); most behind: {stack.topics.prices}[")
    assert "no committed offset at all for" in behind.message and "(is the processor running?)" in behind.message
    assert checks.check_consumer_lag(stack.kafka_bootstrap, stack.processor_group, stack.topics, 30).status == "ok"

    # the processor commits to Kafka after each batch: commit the end offsets as it would
    consumer = make_consumer(stack.kafka_bootstrap, stack.processor_group)
    try:
        tps = [TopicPartition(stack.topics.prices, p) for p in range(6)]
        consumer.assign(tps)
        consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in consumer.end_offsets(tps).items()})
    finally:
        consumer.close(autocommit=False)
    caught_up = checks.check_consumer_lag(stack.kafka_bootstrap, stack.processor_group, stack.topics, max_lag=0)
    assert (caught_up.status, caught_up.details["total_lag"]) == ("ok", 0)
    assert caught_up.message == f"consumer group {stack.processor_group!r} is 0 message(s) behind (limit 0)"


def test_data_freshness_names_stale_and_missing_symbols(stack: Settings, owner_db: Engine) -> None:
    with owner_db.begin() as conn:
        for symbol, age in (("AAPL", 5), ("GOOGL", 5), ("AMZN", 400), ("MSFT", 5)):
            conn.execute(text("INSERT INTO bars (symbol, ts, open, high, low, close, volume) "
                              "VALUES (:s, now() - make_interval(secs => :age), 1, 1, 1, 1, 1)"),
                         {"s": symbol, "age": age})
    where = checks.db_location(stack.database_url)
    bad = checks.check_data_freshness(owner_db, stack.symbols, 120, where)
    assert bad.status == "failed"
    assert bad.message.startswith(f"stale data in bars at {where} (limit 120 s): AMZN latest bar ")
    assert " is 400." in bad.message and bad.message.endswith(
        "; no bars at all for TSLA — are the generator, ingest and processor running?")
    assert 399 < bad.details["age_s"]["AMZN"] < 460 and bad.details["age_s"]["TSLA"] is None
    ok = checks.check_data_freshness(owner_db, ("AAPL", "GOOGL", "MSFT"), 120, where)
    assert ok.status == "ok" and ok.message.startswith("latest bar of each of 3 symbols is at most ")


def test_postgres_schema_applied_pending_and_unreachable(stack: Settings, owner_db: Engine, tmp_path: Path) -> None:
    writer = make_engine(stack.database_url)
    where = checks.db_location(stack.database_url)
    try:
        ok = checks.check_postgres_schema(writer, where)
        assert ok.status == "ok" and ok.message.startswith(f"PostgreSQL at {where}: all ")
        for f in SQL_DIR.glob("*.sql"):
            shutil.copy(f, tmp_path / f.name)
        (tmp_path / "9999_future_change.sql").write_text("SELECT 1;\n")
        pending = checks.check_postgres_schema(writer, where, tmp_path)
        assert pending.status == "failed"
        assert pending.message == (f"PostgreSQL at {where}: migration(s) not applied: 9999_future_change "
                                   "(run: python -m services.admin migrate)")
    finally:
        writer.dispose()
    port = free_port()
    gone_url = make_url(stack.database_url).set(port=port).render_as_string(hide_password=False)
    gone = make_engine(gone_url, connect_args={"connect_timeout": 3})
    try:
        down = checks.check_postgres_schema(gone, checks.db_location(gone_url))
    finally:
        gone.dispose()
    assert down.status == "failed"
    assert down.message.startswith(f"PostgreSQL at 127.0.0.1:{port}/{make_url(stack.database_url).database} "
                                   "is unreachable: ")


def deployment(name: str, desired: int, updated: int, available: int, total: int | None = None,
               generation: int = 2, observed: int = 2) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, generation=generation), spec=SimpleNamespace(replicas=desired),
        status=SimpleNamespace(updated_replicas=updated, available_replicas=available,
                               replicas=desired if total is None else total, observed_generation=observed))


def statefulset(name: str, desired: int, updated: int, ready: int, current: str = "r2", update: str = "r2",
                generation: int = 3, observed: int = 3) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, generation=generation), spec=SimpleNamespace(replicas=desired),
        status=SimpleNamespace(updated_replicas=updated, ready_replicas=ready, observed_generation=observed,
                               current_revision=current, update_revision=update))


class FakeApps:
    """Stands in for kubernetes.client.AppsV1Api (no Kubernetes API server runs here)."""

    def __init__(self, deployments: list[SimpleNamespace] | Exception,
                 statefulsets: list[SimpleNamespace] | Exception | None = None) -> None:
        self.deployments, self.statefulsets = deployments, [] if statefulsets is None else statefulsets
        self.calls: list[tuple[str, str, str | None]] = []

    def _list(self, kind: str, items: list[SimpleNamespace] | Exception, namespace: str,
              label_selector: str | None) -> SimpleNamespace:
        self.calls.append((kind, namespace, label_selector))
        if isinstance(items, Exception):
            raise items
        return SimpleNamespace(items=items)

    def list_namespaced_deployment(self, namespace: str, label_selector: str | None = None) -> SimpleNamespace:
        return self._list("Deployment", self.deployments, namespace, label_selector)

    def list_namespaced_stateful_set(self, namespace: str, label_selector: str | None = None) -> SimpleNamespace:
        return self._list("StatefulSet", self.statefulsets, namespace, label_selector)


def test_kubernetes_rollout_is_judged_like_kubectl_rollout_status() -> None:
    apps = FakeApps([deployment("ingest", 2, 2, 2), deployment("processor", 3, 3, 3)], [statefulset("kafka", 1, 1, 1)])
    ok = checks.check_kubernetes_rollout(apps, "tickflow", "app.kubernetes.io/part-of=tickflow")
    assert ok.status == "ok"
    assert apps.calls == [(kind, "tickflow", "app.kubernetes.io/part-of=tickflow")
                          for kind in ("Deployment", "StatefulSet")]
    assert ok.message == ("3 workload(s) rolled out in namespace tickflow "
                          "(selector app.kubernetes.io/part-of=tickflow): "
                          "Deployment ingest, Deployment processor, StatefulSet kafka")
    apps = FakeApps([deployment("ingest", 2, 2, 2), deployment("processor", 3, 1, 2, total=4),
                     deployment("generator", 1, 1, 1, generation=5, observed=4)],
                    [statefulset("postgres", 1, 1, 1), statefulset("kafka", 3, 1, 2, current="r1", update="r2")])
    bad = checks.check_kubernetes_rollout(apps, "tickflow")
    assert bad.status == "failed"
    assert bad.message == ("not rolled out in namespace tickflow: Deployment processor: 1/3 updated, 2/3 available, "
                           "1 old replica(s) still running; Deployment generator: controller has not seen the latest "
                           "spec; StatefulSet kafka: 1/3 on the update revision, 2/3 ready")
    assert bad.details["statefulsets"]["postgres"]["ready"] == 1
    # all pods updated and ready, but the controller has not yet recorded the new revision as current
    rolling = checks.check_kubernetes_rollout(FakeApps([], [statefulset("kafka", 1, 1, 1, current="r1")]), "tickflow")
    assert rolling.message == "not rolled out in namespace tickflow: StatefulSet kafka: 1/1 on the update revision"
    empty = checks.check_kubernetes_rollout(FakeApps([]), "tickflow")
    assert empty.message == "no Deployments or StatefulSets found in namespace tickflow"
    denied = checks.check_kubernetes_rollout(FakeApps([], PermissionError("403 Forbidden")), "tickflow")
    assert denied.message == "cannot list StatefulSets in namespace tickflow: PermissionError: 403 Forbidden"


def test_checks_are_recorded_and_summarized(orch_db: Engine, stack: Settings) -> None:
    writer = make_engine(stack.database_url)  # the DAG's role: tickflow_writer
    try:
        for name in CHECKS:
            status = {"processor_health": "failed", "kubernetes_rollout": "skipped"}.get(name, "ok")
            checks.record_check(writer, "run-1",
                                checks.CheckResult(name, status, f"{name} says {status}", {"n": 1}, 3.5))
        checks.record_check(writer, "run-1", checks.CheckResult("data_freshness", "failed", "stale", {}, 1.0))  # retry
        ok, message = checks.summarize_run(writer, "run-1")
        assert not ok
        assert message == ("2 of 9 deployment checks failed — processor_health: processor_health says failed | "
                           "data_freshness: stale")
        checks.record_check(writer, "run-2", checks.CheckResult("kafka_topics", "ok", "fine"))
        ok, message = checks.summarize_run(writer, "run-2", ["kafka_topics", "consumer_lag"])
        assert (ok, message) == (False, "1 of 2 deployment checks failed — consumer_lag: task never started")
        ok, message = checks.summarize_run(writer, "run-2", ["kafka_topics", "consumer_lag"],
                                           task_states={"kafka_topics": "success", "consumer_lag": "failed"})
        assert message == "1 of 2 deployment checks failed — consumer_lag: task never started (Airflow state: failed)"
        assert checks.summarize_run(writer, "run-2", ["kafka_topics"]) == (True, "1 of 1 deployment checks passed")
    finally:
        writer.dispose()
    with orch_db.connect() as conn:
        rows = conn.execute(text("SELECT check_name, status, details, duration_ms FROM deployment_checks "
                                 "WHERE run_id = 'run-1' AND check_name IN ('data_freshness', 'ingest_health') "
                                 "ORDER BY 1")).all()
    assert [tuple(r) for r in rows] == [("data_freshness", "failed", {}, 1.0), ("ingest_health", "ok", {"n": 1}, 3.5)]


def test_run_check_turns_surprises_into_failed_results(stack: Settings) -> None:
    settings = orchestration_settings(stack)
    result = checks.run_check("data_freshness", settings, engine=None)
    assert result.status == "failed" and result.message == ("data_freshness: ValueError: "
                                                            "data_freshness needs a database engine")
    assert checks.run_check("nonsense", settings).message.startswith("nonsense: ValueError: unknown check 'nonsense'")
    started = time.perf_counter()
    assert checks.run_check("kafka_topics", settings).status == "ok"
    assert time.perf_counter() - started < 10


def test_orchestration_tables_follow_the_role_model(orch_db: Engine, base_settings: Settings) -> None:
    """Writer: what the DAGs do (sql/0023_least_privilege.sql); reader only reads."""
    with orch_db.connect() as conn:
        grants = set(conn.execute(text(
            "SELECT grantee || ':' || table_name || ':' || privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name IN ('deployment_checks', 'reconciliation_runs', 'reconciliation_mismatches')")).scalars())
    writer = {"deployment_checks": {"SELECT", "INSERT", "UPDATE"},
              "reconciliation_runs": {"SELECT", "INSERT", "UPDATE"},
              "reconciliation_mismatches": {"SELECT", "INSERT", "DELETE"}}
    for table, privileges in writer.items():
        assert {g.rsplit(":", 1)[1] for g in grants if g.startswith(f"tickflow_writer:{table}:")} == privileges
        assert f"tickflow_reader:{table}:SELECT" in grants and f"tickflow_reader:{table}:INSERT" not in grants
    conn = psycopg2.connect(base_settings.reader_database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM reconciliation_runs")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO deployment_checks (run_id, check_name, status, message, duration_ms) "
                            "VALUES ('x', 'y', 'ok', 'z', 0)")
    finally:
        conn.close()

