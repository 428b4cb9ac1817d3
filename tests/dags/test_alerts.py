"""Failure alerts: a task that fails for good POSTs one alert to the webhook connection.

A project DAG whose task fails runs with dag.test() (Airflow's real task runner and callbacks);
the receiver is a plain local HTTP server.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from services.orchestration.checks.alerts import WebhookNotifier, failure_notifiers, webhook_url


class Receiver:
    """Records the body and headers of every POST; answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[tuple[dict[str, Any], dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((json.loads(body), dict(self.headers)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/tickflow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_every_task_of_every_dag_alerts_on_failure(dag_bag: dict[str, Any]) -> None:
    for dag_id, dag in dag_bag.items():
        for t in dag.tasks:
            kinds = [type(c).__name__ for c in (t.on_failure_callback or [])]
            assert kinds == ["WebhookNotifier"], (dag_id, t.task_id, kinds)


def test_a_failed_task_sends_one_alert(receiver: Receiver, dag_bag: dict[str, Any], dag_env: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_ALERTS",
                       json.dumps({"conn_type": "http", "host": receiver.url, "password": "s3cret"}))
    # An inverted window: `plan` fails at once (no retries), with the one line it logs.
    run = dag_bag["indicator_backfill"].test(run_conf={"start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"})
    assert run.state == "failed"
    assert len(receiver.posts) == 1, receiver.posts
    body, headers = receiver.posts[0]
    assert (body["dag_id"], body["task_id"], body["run_id"], body["state"]) == ("indicator_backfill", "plan",
                                                                                 run.run_id, "failed")
    assert body["error"].startswith("Refused: invalid params: start (2024-05-02T00:00:00+00:00) must be before end")
    assert body["text"] == f"Airflow: indicator_backfill.plan failed (run {run.run_id}, try 1): {body['error']}"
    assert "indicator_backfill" in body["log_url"]
    assert headers["Authorization"] == "Bearer s3cret"



def test_a_refusal_fails_at_once_even_where_the_task_has_retries(
        receiver: Receiver, dag_bag: dict[str, Any], dag_env: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """market_forecast's `plan` has the DAG's retry; a settings mistake is still final after one try."""
    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_ALERTS", json.dumps({"conn_type": "http", "host": receiver.url}))
    monkeypatch.setenv("TICKFLOW_TIMEFRAMES", "1m,5m")
    dag = dag_bag["market_forecast"]
    assert dag.get_task("plan").retries == 1
    run = dag.test()
    assert run.state == "failed"
    plan = run.get_task_instance("plan")
    assert (plan.state, plan.try_number) == ("failed", 1)
    assert [body["task_id"] for body, _ in receiver.posts] == ["plan"]
    assert receiver.posts[0][0]["error"] == ("Refused: no daily candles to forecast from: TICKFLOW_TIMEFRAMES (1m,5m) "
                                             "does not roll up 1d")
    assert "Traceback" not in caplog.text


def test_every_dag_makes_refusals_final(dag_bag: dict[str, Any]) -> None:
    from services.orchestration.tasks import Refused

    for dag_id, dag in dag_bag.items():
        for t in dag.tasks:
            decision = t.retry_policy.evaluate(Refused("x"), try_number=1, max_tries=3)
            assert decision.action.value == "fail", (dag_id, t.task_id)

def test_without_the_connection_or_with_a_dead_receiver_nothing_else_breaks(
        airflow_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TICKFLOW_ALERTS", raising=False)
    context = {"exception": RuntimeError("x")}
    WebhookNotifier().notify(context)
    assert "no Airflow connection 'tickflow_alerts'" in caplog.text
    refusing = Receiver(status=503)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_ALERTS", json.dumps({"conn_type": "http", "host": refusing.url}))
        WebhookNotifier().notify(context)
    finally:
        refusing.close()
    assert len(refusing.posts) == 1 and "not delivered" in caplog.text and "503" in caplog.text


def test_webhook_url_from_the_connection_fields() -> None:
    from types import SimpleNamespace

    full = SimpleNamespace(host="https://hooks.example.com/services/T/B", schema=None, port=None, extra_dejson={})
    assert webhook_url(full) == "https://hooks.example.com/services/T/B"
    parts = SimpleNamespace(host="alerts.internal", schema="http", port=9093, extra_dejson={"path": "/api/v2/alerts"})
    assert webhook_url(parts) == "http://alerts.internal:9093/api/v2/alerts"


def test_email_alerts_only_when_recipients_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKFLOW_ALERT_EMAIL_TO", raising=False)
    assert [type(n).__name__ for n in failure_notifiers()] == ["WebhookNotifier"]
    monkeypatch.setenv("TICKFLOW_ALERT_EMAIL_TO", "ops@example.com, oncall@example.com")
    notifiers = failure_notifiers()
    assert [type(n).__name__ for n in notifiers] == ["WebhookNotifier", "SmtpNotifier"]
    assert notifiers[1].to == ["ops@example.com", "oncall@example.com"]
