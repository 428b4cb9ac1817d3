"""Tickflow's batch side, run by Airflow (dags/): deployment checks, indicator backfill and
reconciliation, market summaries, signal evaluation, forecasts and recommendations.

The logic is plain, importable Python (tested without Airflow); the DAG files in dags/ only wire
it into tasks. Airflow is imported at the top of the modules only the DAG files load (`forms`,
`dag_defaults` and `checks.alerts`), and inside functions in `tasks` and `runtime`; `indicators`,
`analytics`, `checks.deployment`, `run_params`, `settings` and `catalog` never import it.

- `indicators/`: the indicator DAGs: recompute stored bars with pandas + ta, backfill, reconcile,
                 rebuild a symbol's streaming state
- `analytics/`:  the market DAGs: summaries, signal evaluation, forecasts, recommendations
- `checks/`:     the deployment checks, and the failure alerts of every DAG's tasks
- `batch`:       what the batch jobs share: rows read through COPY into frames, exact row times
- `tasks`:       the task bodies the DAG files call (params -> work -> task state)
- `run_params`:  validation of run params (a DAG run's: symbols, time windows, tolerances) with clear errors
- `settings`:    `OrchestrationSettings` (the services' TICKFLOW_* settings plus check thresholds)
- `runtime`:     glue for DAG tasks (Airflow connections, engines)
- `catalog`:     names and defaults shared with the DAG files (import-light)
- `forms`, `dag_defaults`: the trigger forms' params and every DAG's default_args (DAG files only)
- `__main__`:    `python -m services.orchestration summarize`: the market_summary DAG's logic, once
"""
