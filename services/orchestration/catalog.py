"""Names and defaults shared by the DAG files and the logic; import-light on purpose.

DAG files are parsed often (every `min_file_process_interval` seconds): they import only this
module and `tasks` (whose heavy imports — pandas, ta, kafka — happen inside the task bodies).
"""
from __future__ import annotations

from datetime import timedelta

SERVICES = ("ingest", "processor", "generator")
CHECKS = (*(f"{s}_health" for s in SERVICES), "kafka_topics", "consumer_lag", "data_freshness",
          "postgres_schema", "storage", "kubernetes_rollout")

DEFAULT_TOLERANCE = 1e-9  # README "Indicator tolerance": |stored - expected| <= 1e-9 * max(1, |expected|)
# The window of a manual run whose start and end are empty (and of any run without a data interval).
# Not the data interval: the trigger form fills the logical date with "now", and the interval Airflow
# infers from it is the last complete one (yesterday, for a daily DAG), where the live platform
# usually has nothing to do.
MANUAL_SPAN = timedelta(hours=1)
MANUAL_WINDOW = "the hour before the run was triggered"

# Owners, as the DAG list shows them: who answers for a red run.
OPS_OWNER = "tickflow-ops"  # deployment_check
DATA_OWNER = "tickflow-data"  # the indicator and summary DAGs
