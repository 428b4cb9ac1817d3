"""Names and defaults shared by the DAG files and the logic; import-light on purpose.

DAG files are parsed often (every `min_file_process_interval` seconds): they import only this
module and `tasks` (whose heavy imports — pandas, ta, kafka — happen inside the task bodies).
"""
from __future__ import annotations

from datetime import timedelta

SERVICES = ("ingest", "processor", "generator")
CHECKS = (*(f"{s}_health" for s in SERVICES), "kafka_topics", "consumer_lag", "data_freshness",
          "postgres_schema", "kubernetes_rollout")

DEFAULT_TOLERANCE = 1e-9  # README "Indicator tolerance": |stored - expected| <= 1e-9 * max(1, |expected|)
BACKFILL_DEFAULT_SPAN = timedelta(days=1)  # manual run without dates or logical date: the last day
RECONCILIATION_DEFAULT_SPAN = timedelta(hours=1)  # ... the last hour

# Help text of the DAGs' `start` / `end` params.
WINDOW_HELP = "ISO 8601, UTC if no offset (e.g. 2024-05-01T00:00:00Z). Empty: the run's data interval."
# Help text of the DAGs' `timeframes` param.
TIMEFRAMES_HELP = ("raw (base bars) and/or configured timeframes such as 1m, 5m, 1h, 1d, as a list or "
                   "comma-separated; empty: raw and all configured (TICKFLOW_TIMEFRAMES).")
