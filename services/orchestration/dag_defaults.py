"""The `default_args` every Tickflow DAG starts from: owner, retries, failure alerts, and the rule
that a person's mistake in the params (`tasks.Refused`) fails the task at once, retries or not."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

from services.orchestration.checks.alerts import failure_notifiers
from services.orchestration.tasks import Refused

# Retrying a refusal would only repeat the same one-line reason (and alert twice).
REFUSALS_ARE_FINAL = ExceptionRetryPolicy(rules=[
    RetryRule(exception=Refused, action=RetryAction.FAIL, reason="a mistake in the params stays a mistake")])


def task_defaults(owner: str, *, retries: int, retry_delay: timedelta, **extra: Any) -> dict[str, Any]:
    return {"owner": owner, "retries": retries, "retry_delay": retry_delay, "retry_policy": REFUSALS_ARE_FINAL,
            "on_failure_callback": failure_notifiers(), **extra}
