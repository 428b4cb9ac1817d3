"""Is Tickflow up, and who hears when a DAG task fails.

- `deployment`: the deployment_check DAG's checks and their `deployment_checks` rows (no Airflow)
- `alerts`:     failure notifiers every DAG's tasks get (Airflow's BaseNotifier; webhook and email)
"""
