"""deployment_check with dag.test() against live local services: passes, then fails precisely."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from dags_support import task_states, wait_for_topic_metadata, xcom
from namespaces import namespaced, own_topics
from running_services import ingest_and_processor
from sqlalchemy import Engine, text
from support import ServiceProcess, free_port, wait_until

from services.config import Settings
from services.orchestration.catalog import CHECKS

LIVE = ("AAPL", "GOOGL", "AMZN", "MSFT")  # the generator's symbols; TSLA's feed is "stuck" 10 minutes ago


class Live:
    def __init__(self, stack: Settings, ports: dict[str, int], processes: dict[str, ServiceProcess]) -> None:
        self.stack, self.ports, self.processes = stack, ports, processes


def every_live_symbol_is_fresh(db: Engine) -> bool:
    with db.connect() as conn:
        fresh = conn.execute(text("SELECT count(DISTINCT symbol) FROM bars "
                                  "WHERE timeframe = 'raw' AND ts > now() - interval '2 s'"))
        return fresh.scalar_one() == len(LIVE)


@pytest.fixture
def live(base_settings: Settings, owner_db: Engine, tmp_path: Path) -> Iterator[Live]:
    with own_topics(namespaced(base_settings, "test-live")) as stack:
        wait_for_topic_metadata(stack)
        with owner_db.begin() as conn:
            conn.execute(text("TRUNCATE bars, signals, processor_offsets, symbol_state, deployment_checks"))
            conn.execute(text("INSERT INTO bars (symbol, ts, open, high, low, close, volume) "
                              "VALUES ('TSLA', now() - interval '10 minutes', 1, 1, 1, 1, 1)"))
        with ingest_and_processor(stack, tmp_path) as pipeline:
            generator_port = free_port()
            generator = ServiceProcess("generator", [
                "--rate", "100", "--symbols", ",".join(LIVE), "--port", str(generator_port),
                "--ingest-url", pipeline.ingest_url], pipeline.env, tmp_path)
            try:
                generator.wait_http(f"http://127.0.0.1:{generator_port}/healthz")
                wait_until(lambda: every_live_symbol_is_fresh(owner_db), timeout=60, interval=0.3,
                           what="fresh bars of every live symbol")
                ports = {"ingest": pipeline.ingest_port, "processor": pipeline.metrics_port,
                         "generator": generator_port}
                processes = {"ingest": pipeline.ingest, "processor": pipeline.processor, "generator": generator}
                yield Live(stack, ports, processes)
            finally:
                assert generator.stop() == 0, generator.log_tail()


def check_rows(engine: Engine, run_id: str) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        return {n: (s, m) for n, s, m in conn.execute(text(
            "SELECT check_name, status, message FROM deployment_checks WHERE run_id = :r"), {"r": run_id})}


def test_deployment_check_passes_then_names_what_is_wrong_and_where(
    live: Live, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from services.orchestration.tasks import deployment_summary

    stack, ports = live.stack, live.ports
    for name, value in {
        "KAFKA_TOPIC_PREFIX": stack.kafka_topic_prefix, "PROCESSOR_GROUP": stack.processor_group,
        "INGEST_URL": f"http://127.0.0.1:{ports['ingest']}", "PROCESSOR_METRICS_PORT": ports["processor"],
        "GENERATOR_PORT": ports["generator"], "CHECK_MAX_BAR_AGE_S": 60, "CHECK_MAX_LAG": 5000,
        "SYMBOLS": ",".join(LIVE), "CHECK_PATIENCE_S": 2,  # a failing check is tried again for 2 s (default 30)
    }.items():
        monkeypatch.setenv(f"TICKFLOW_{name}", str(value))
    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_KAFKA", f'{{"conn_type": "generic", "host": "127.0.0.1", '
                                                      f'"port": {stack.kafka_bootstrap.rsplit(":", 1)[1]}}}')
    where = f"{owner_db.url.host}:{owner_db.url.port}/{owner_db.url.database}"

    # 1. everything up: every check passes, Kubernetes is skipped with its reason
    ok = dag_bag["deployment_check"].test()
    assert ok.state == "success", task_states(ok)
    rows = check_rows(owner_db, ok.run_id)
    assert set(rows) == set(CHECKS)
    assert {n: s for n, (s, _) in rows.items()} == {**{n: "ok" for n in CHECKS}, "kubernetes_rollout": "skipped"}
    assert task_states(ok)["kubernetes_rollout"] == "skipped"
    assert rows["kubernetes_rollout"][1].startswith("no Kubernetes cluster configured: not running inside a cluster")
    assert rows["processor_health"][1] == f"processor: GET http://127.0.0.1:{ports['processor']}/healthz answered 200"
    assert rows["postgres_schema"][1].startswith(f"PostgreSQL at {where}: all ")
    assert rows["storage"][1].startswith(f"PostgreSQL at {where}: ") and "partitions at least" in rows["storage"][1]
    assert xcom(ok, "summary") == "8 of 9 deployment checks passed (1 skipped: kubernetes_rollout)"

    # 2. TSLA's data stopped 10 minutes ago: only data_freshness fails, and says which symbol and how old
    monkeypatch.setenv("TICKFLOW_SYMBOLS", ",".join((*LIVE, "TSLA")))
    stale = dag_bag["deployment_check"].test()
    assert stale.state == "failed"
    rows = check_rows(owner_db, stale.run_id)
    assert [n for n, (s, _) in rows.items() if s == "failed"] == ["data_freshness"]
    message = rows["data_freshness"][1]
    assert message.startswith(f"stale data in bars at {where} (limit 60 s): TSLA latest bar ")
    assert " s old — are the generator, ingest and processor running?" in message
    assert all(symbol not in message for symbol in LIVE)
    with pytest.raises(AirflowFailException) as failed:
        deployment_summary(stale.run_id)
    assert str(failed.value) == f"1 of 9 deployment checks failed — data_freshness: {message}"

    # 3. the processor is stopped: its health check fails with the URL it tried
    monkeypatch.setenv("TICKFLOW_SYMBOLS", ",".join(LIVE))
    assert live.processes["processor"].stop() == 0
    down = dag_bag["deployment_check"].test()
    assert down.state == "failed"
    states = task_states(down)
    assert states["processor_health"] == "failed" and states["summary"] == "failed"
    rows = check_rows(owner_db, down.run_id)
    assert [n for n, (s, _) in rows.items() if s == "failed"] == ["processor_health"]
    url = f"http://127.0.0.1:{ports['processor']}/healthz"
    assert rows["processor_health"][1].startswith(f"processor: GET {url} failed: cannot connect (")
    assert re.search(r"; is the processor running\? \(still failing after \d+ tries over 2 s\)$",
                     rows["processor_health"][1])
    with pytest.raises(AirflowFailException, match=r"^1 of 9 deployment checks failed — processor_health: processor: "
                                                   rf"GET {url} failed"):
        deployment_summary(down.run_id)
