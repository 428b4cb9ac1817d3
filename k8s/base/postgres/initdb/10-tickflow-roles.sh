#!/bin/bash
# First-start provisioning for the official postgres image (/docker-entrypoint-initdb.d), shared by
# docker-compose.yaml and the Kubernetes StatefulSet: the LOGIN roles and databases Tickflow needs.
# The same roles scripts/local-services.sh creates locally:
#   tickflow          owner of database tickflow; runs the migrations (CREATEROLE)
#   tickflow_app      services, member of tickflow_writer
#   tickflow_analyst  people, member of tickflow_reader
#   airflow           owner of database airflow (Airflow's metadata), when its password is set
# The NOLOGIN groups tickflow_writer/tickflow_reader and their grants come from the migrations.
# Passwords come from the environment (compose: .env; Kubernetes: Secret tickflow-db) and are
# passed to psql with \getenv, never interpolated into SQL text. Runs once, on an empty data
# directory; to change a password later use ALTER ROLE (see docs/deploy.md).
# Works both executed and sourced by the entrypoint: no `exit`, no shell options beyond -e.
set -e
: "${TICKFLOW_PG_OWNER_PASSWORD:?is required (owner role tickflow)}"
: "${TICKFLOW_PG_APP_PASSWORD:?is required (writer login tickflow_app)}"
: "${TICKFLOW_PG_ANALYST_PASSWORD:?is required (reader login tickflow_analyst)}"
export TICKFLOW_PG_AIRFLOW_PASSWORD="${TICKFLOW_PG_AIRFLOW_PASSWORD:-}"

psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
SET client_min_messages = warning;
\getenv owner_pw TICKFLOW_PG_OWNER_PASSWORD
\getenv app_pw TICKFLOW_PG_APP_PASSWORD
\getenv analyst_pw TICKFLOW_PG_ANALYST_PASSWORD
\getenv airflow_pw TICKFLOW_PG_AIRFLOW_PASSWORD
SELECT format('CREATE ROLE %I', r)
  FROM unnest(ARRAY['tickflow', 'tickflow_writer', 'tickflow_reader',
                    'tickflow_app', 'tickflow_analyst']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE tickflow WITH LOGIN CREATEROLE PASSWORD :'owner_pw';
ALTER ROLE tickflow_writer WITH NOLOGIN;
ALTER ROLE tickflow_reader WITH NOLOGIN;
ALTER ROLE tickflow_app WITH LOGIN PASSWORD :'app_pw';
ALTER ROLE tickflow_analyst WITH LOGIN PASSWORD :'analyst_pw';
GRANT tickflow_writer TO tickflow_app;
GRANT tickflow_reader TO tickflow_analyst;
SELECT 'CREATE DATABASE tickflow OWNER tickflow'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'tickflow') \gexec
GRANT CONNECT ON DATABASE tickflow TO tickflow_writer, tickflow_reader;
REVOKE CONNECT ON DATABASE tickflow FROM PUBLIC;

SELECT :'airflow_pw' <> '' AS with_airflow \gset
\if :with_airflow
SELECT 'CREATE ROLE airflow' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'airflow') \gexec
ALTER ROLE airflow WITH LOGIN PASSWORD :'airflow_pw';
SELECT 'CREATE DATABASE airflow OWNER airflow'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'airflow') \gexec
REVOKE CONNECT ON DATABASE airflow FROM PUBLIC;
\endif

\connect tickflow
SET client_min_messages = warning;
-- PostgreSQL 15 no longer lets everyone create in public: hand the schema to the owner.
ALTER SCHEMA public OWNER TO tickflow;
SQL
