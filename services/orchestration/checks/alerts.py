"""Failure alerts for every DAG: Airflow notifiers on each task's `on_failure_callback`.

A task that fails for good (after its retries) calls, in its own process:

- `WebhookNotifier`: POSTs a JSON alert to the Airflow connection `tickflow_alerts`
  (`AIRFLOW_CONN_TICKFLOW_ALERTS`, conn type `http`; `host` is the URL, or `schema`://`host`:`port`
  plus the path in `extra.path`; a `password` is sent as a bearer token). The body has a one-line
  `text` (what Slack and Mattermost incoming webhooks show) and the fields a receiver routes on.
  Without that connection it logs one line and does nothing, so it is always wired.
- Airflow's own `SmtpNotifier` (SMTP provider), through the connection `smtp_default`, to
  `TICKFLOW_ALERT_EMAIL_TO` (comma-separated) when that is set.

An alert that cannot be delivered is logged and never fails anything else (docs/deploy.md,
"Airflow logs and alerts").
"""
from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

WEBHOOK_CONN_ID = "tickflow_alerts"
TIMEOUT_S = 10.0


def alert_fields(context: Any) -> dict[str, Any]:
    """What happened, from a task callback's context: ids, try, the error and where its log is."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    error = context.get("exception")
    fields = {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": getattr(ti, "map_index", -1),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "state": "failed",
        "error": None if error is None else f"{type(error).__name__}: {error}".splitlines()[0][:500],
        "log_url": getattr(ti, "log_url", None),
    }
    task = fields["task_id"] if fields["map_index"] in (-1, None) else f"{fields['task_id']}[{fields['map_index']}]"
    fields["text"] = (f"Airflow: {fields['dag_id']}.{task} failed (run {fields['run_id']}, try "
                      f"{fields['try_number']}): {fields['error'] or 'no error message'}")
    return fields


def webhook_url(conn: Any) -> str:
    """The URL of an http connection: `host` if it is a URL, else schema://host[:port] + extra.path."""
    host = conn.host or ""
    if "://" in host:
        return host
    port = f":{conn.port}" if conn.port else ""
    path = (conn.extra_dejson or {}).get("path", "")
    return f"{conn.schema or 'https'}://{host}{port}{path}"


class WebhookNotifier(BaseNotifier):
    """POST the alert as JSON to the http connection `conn_id` (skipped when it is not defined)."""

    def __init__(self, conn_id: str = WEBHOOK_CONN_ID) -> None:
        super().__init__()
        self.conn_id = conn_id

    def notify(self, context: Any) -> None:
        import httpx
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(self.conn_id)
        except Exception:  # noqa: BLE001 - not configured: alerts by webhook are off
            log.info("no Airflow connection %r: failure alert not sent by webhook", self.conn_id)
            return
        fields = alert_fields(context)
        headers = {"Authorization": f"Bearer {conn.password}"} if conn.password else {}
        url = webhook_url(conn)
        try:
            response = httpx.post(url, json=fields, headers=headers, timeout=TIMEOUT_S)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.error("failure alert to connection %r not delivered: %s", self.conn_id, exc)
            return
        log.info("failure alert sent to connection %r (HTTP %s)", self.conn_id, response.status_code)


def failure_notifiers() -> list[BaseNotifier]:
    """The `on_failure_callback` of every Tickflow task (put in each DAG's default_args)."""
    notifiers: list[BaseNotifier] = [WebhookNotifier()]
    from services.orchestration.settings import OrchestrationSettings

    recipients = [a.strip() for a in OrchestrationSettings().alert_email_to.split(",") if a.strip()]
    if recipients:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append(SmtpNotifier(
            to=recipients, subject="[Tickflow] {{ ti.dag_id }}.{{ ti.task_id }} failed",
            html_content="<p>{{ ti.dag_id }}.{{ ti.task_id }} failed in run {{ run_id }} (try {{ ti.try_number }}).</p>"
                         "<p>{{ exception }}</p><p><a href=\"{{ ti.log_url }}\">Log</a></p>"))
    return notifiers
