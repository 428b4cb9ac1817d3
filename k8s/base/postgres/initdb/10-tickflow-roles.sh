#!/bin/bash
# First-start provisioning for the official postgres image (/docker-entrypoint-initdb.d), shared by
# docker-compose.yaml and the Kubernetes StatefulSet. The roles, databases and privileges are defined
# once, in tickflow-roles.psql and tickflow-database.psql beside this file (scripts/local-services.sh
# runs the same two files); this script only checks the environment and runs them.
# Passwords come from the environment (compose: .env; Kubernetes: Secret tickflow-db) and reach
# psql through \getenv, never SQL text. Runs once, on an empty data directory; to change a password
# later use ALTER ROLE (see docs/deploy.md). The .psql files are not run by the entrypoint itself
# (it runs only *.sh and *.sql). Works executed and sourced: no `exit`, no options beyond -e.
set -e
: "${TICKFLOW_PG_OWNER_PASSWORD:?is required (owner role tickflow)}"
: "${TICKFLOW_PG_APP_PASSWORD:?is required (writer login tickflow_app)}"
: "${TICKFLOW_PG_ANALYST_PASSWORD:?is required (reader login tickflow_analyst)}"
: "${TICKFLOW_PG_DASHBOARD_PASSWORD:?is required (reader login tickflow_dashboard)}"
export TICKFLOW_PG_AIRFLOW_PASSWORD="${TICKFLOW_PG_AIRFLOW_PASSWORD:-}"
tickflow_initdb_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -f "$tickflow_initdb_dir/tickflow-roles.psql"
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname tickflow \
    -f "$tickflow_initdb_dir/tickflow-database.psql"
