"""Tickflow's batch side, run by Airflow (dags/): deployment checks, indicator backfill,
indicator reconciliation and market summaries.

Everything here is plain, importable Python (tested without Airflow); the DAG files in dags/
only wire these functions into tasks. Only `runtime` touches Airflow, and only inside functions.

- `params`:   validation of DAG params (symbols, time windows, tolerances) with clear errors
- `settings`: `OrchestrationSettings` (the services' TICKFLOW_* settings plus check thresholds)
- `recompute`: pandas + ta recomputation of a symbol's stored bars, with enough warm-up history
- `backfill`: rewrite indicators and signals of a time range, idempotently
- `reconcile`: compare stored indicators with the recomputation, record mismatches, repair
- `checks`:   the deployment checks and their `deployment_checks` rows
- `market_summary`: per-symbol summaries of the last hour and day for the dashboard
- `runtime`:  glue for DAG tasks (Airflow connections, context, skip/fail exceptions)
"""
