"""The market_summary DAG's window end: the `end` param, else the run's data interval end, else now.

What the summaries hold is checked against pandas in tests/dags/test_market_summary_dag.py, and
from the command line in tests/dashboard/test_dashboard_cli.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.orchestration.run_params import resolve_end


def test_window_end_of_a_run() -> None:
    utc = timezone.utc
    interval_end = datetime(2024, 5, 1, 13, tzinfo=utc)
    assert resolve_end("2024-05-01T12:30:00Z", interval_end) == datetime(2024, 5, 1, 12, 30, tzinfo=utc)
    assert resolve_end(None, interval_end) == interval_end
    now = datetime(2024, 5, 2, tzinfo=utc)
    assert resolve_end(None, None, now=now) == now and resolve_end("", None, now=now) == now
    assert resolve_end(None, interval_end - timedelta(hours=1)) == datetime(2024, 5, 1, 12, tzinfo=utc)
