#!/usr/bin/env bash
# Start/stop Tickflow's own services (ingest, processor, dashboard, generator) and Airflow standalone with the
# project's DAGs on loopback, for `make run`. PostgreSQL and Kafka are handled by
# scripts/local-services.sh. PIDs in .local/run, logs in .local/logs, Airflow's home in .local/airflow.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="${TICKFLOW_LOCAL_DIR:-$ROOT/.local}"
RUN="$LOCAL/run"; LOGS="$LOCAL/logs"
PY="$ROOT/.venv/bin/python"
INGEST_PORT="${TICKFLOW_INGEST_PORT:-8000}"
INGEST_OPS_PORT="${TICKFLOW_INGEST_OPS_PORT:-8010}"
GENERATOR_PORT="${TICKFLOW_GENERATOR_PORT:-8001}"
PROCESSOR_PORT="${TICKFLOW_PROCESSOR_METRICS_PORT:-8002}"
DASHBOARD_PORT="${TICKFLOW_DASHBOARD_PORT:-8003}"
PG_PORT="${TICKFLOW_PG_PORT:-15432}"
RATE="${TICKFLOW_GENERATOR_RATE:-50}"
HISTORY_S="${TICKFLOW_GENERATOR_HISTORY_S:-172800}"
APPS=(ingest processor dashboard generator)
# Real market data (README): the local platform accepts every well-formed symbol, so `make replay` and
# your own files (python -m services.replay) go in; TICKFLOW_SYMBOL_PATTERN='' restricts it to TICKFLOW_SYMBOLS.
export TICKFLOW_SYMBOL_PATTERN="${TICKFLOW_SYMBOL_PATTERN-.*}"
# Airflow standalone (docs/airflow.md): TICKFLOW_AIRFLOW=0 leaves it out.
AIRFLOW="${TICKFLOW_AIRFLOW:-1}"
AIRFLOW_PORT="${TICKFLOW_AIRFLOW_PORT:-8080}"
AIRFLOW_URL="http://127.0.0.1:$AIRFLOW_PORT"
AIRFLOW_HOME_DIR="$LOCAL/airflow"
AIRFLOW_TIMEOUT="${TICKFLOW_AIRFLOW_TIMEOUT:-240}"
AIRFLOW_DAGS=(deployment_check indicator_backfill indicator_reconciliation market_summary signal_evaluation market_forecast
              market_recommendations data_retention)

usage() {
  cat <<USAGE
usage: scripts/platform.sh {start|stop|status}
  start   start ingest (:$INGEST_PORT), processor (:$PROCESSOR_PORT), dashboard (:$DASHBOARD_PORT) and generator (:$GENERATOR_PORT, $RATE candles/s),
          then Airflow standalone (:$AIRFLOW_PORT) with the DAGs in dags/, unpaused (TICKFLOW_AIRFLOW=0: no Airflow)
  stop    stop them (only the processes this script started, by PID; Airflow by its process group)
  status  show what is running
USAGE
}

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_http() {  # name url seconds
  local deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null "$2" 2>/dev/null; do
    if ((SECONDS > deadline)) || ! alive "$1"; then
      echo "$1: did not become healthy at $2; last log lines:" >&2
      tail -n 20 "$LOGS/$1.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

# A service's log is its owner's only (0600), like PostgreSQL's: errors carry the statements and
# values the services send (local-services.sh does the same for the servers' logs).
private_log() {  # file
  (umask 077 && : >>"$1")
  chmod 600 "$1"
}

launch() {  # name health-url command...
  local name=$1 url=$2; shift 2
  if alive "$name"; then echo "$name: already running (pid $(cat "$RUN/$name.pid"))"; return 0; fi
  private_log "$LOGS/$name.log"
  # setsid: each service leads its own process group, so stop reaches its worker processes too.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  wait_http "$name" "$url" 60
  echo "$name: started (pid $(cat "$RUN/$name.pid"), log $LOGS/$name.log)"
}

# -- Airflow standalone ------------------------------------------------------------------------
# Metadata in the local PostgreSQL (database and role `airflow`, made by local-services.sh);
# connections and settings through the environment, so nothing needs clicking in the UI.
airflow_env() {
  local kafka_conn
  export AIRFLOW_HOME="$AIRFLOW_HOME_DIR"
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
  export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg2://airflow:${TICKFLOW_PG_AIRFLOW_PASSWORD:-airflow}@127.0.0.1:$PG_PORT/airflow}"
  export AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS=False
  export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT="$AIRFLOW_PORT" AIRFLOW__API__BASE_URL="$AIRFLOW_URL"
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$AIRFLOW_URL/execution/"
  # what the DAGs use: the writer role, Kafka, and where each service answers
  export AIRFLOW_CONN_TICKFLOW_DB="${AIRFLOW_CONN_TICKFLOW_DB:-postgresql://tickflow_app:${TICKFLOW_PG_APP_PASSWORD:-tickflow_app}@127.0.0.1:$PG_PORT/tickflow}"
  # data_retention's `airflow db clean`: Airflow 3 tasks have no other way to its metadata database
  export TICKFLOW_AIRFLOW_DATABASE_URL="${TICKFLOW_AIRFLOW_DATABASE_URL:-postgresql://airflow:${TICKFLOW_PG_AIRFLOW_PASSWORD:-airflow}@127.0.0.1:$PG_PORT/airflow}"
  # data_retention's partition DDL: the tables' owner
  export AIRFLOW_CONN_TICKFLOW_DB_OWNER="${AIRFLOW_CONN_TICKFLOW_DB_OWNER:-postgresql://tickflow:${TICKFLOW_PG_OWNER_PASSWORD:-tickflow}@127.0.0.1:$PG_PORT/tickflow}"
  kafka_conn='{"conn_type": "generic", "host": "127.0.0.1", "port": '"${TICKFLOW_KAFKA_PORT:-19092}"'}'
  export AIRFLOW_CONN_TICKFLOW_KAFKA="${AIRFLOW_CONN_TICKFLOW_KAFKA:-$kafka_conn}"
  export TICKFLOW_CHECK_INGEST_URL="${TICKFLOW_CHECK_INGEST_URL:-http://127.0.0.1:$INGEST_PORT/readyz}"
  export TICKFLOW_CHECK_PROCESSOR_URL="${TICKFLOW_CHECK_PROCESSOR_URL:-http://127.0.0.1:$PROCESSOR_PORT/healthz}"
  export TICKFLOW_CHECK_GENERATOR_URL="${TICKFLOW_CHECK_GENERATOR_URL:-http://127.0.0.1:$GENERATOR_PORT/healthz}"
  export PATH="$ROOT/.venv/bin:$PATH"  # standalone starts its parts as `airflow ...`
}

airflow_healthy() {  # scheduler, dag-processor, triggerer and metadata database all healthy
  "$PY" - "$AIRFLOW_URL" <<'PYEOF' 2>/dev/null
import json, sys, urllib.request
try:
    health = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v2/monitor/health", timeout=3))
except Exception:
    sys.exit(1)
parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
sys.exit(0 if all(health.get(p, {}).get("status") == "healthy" for p in parts) else 1)
PYEOF
}

airflow_password_file() { echo "$AIRFLOW_HOME_DIR/simple_auth_manager_passwords.json.generated"; }

airflow_unpause() {  # log in through the REST API and unpause our DAGs once the dag-processor has them
  "$PY" - "$AIRFLOW_URL" "$(airflow_password_file)" "${AIRFLOW_DAGS[@]}" <<'PYEOF'
import json, sys, time, urllib.error, urllib.request
url, password_file, dags = sys.argv[1], sys.argv[2], sys.argv[3:]
password = json.load(open(password_file))["admin"]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    return json.load(urllib.request.urlopen(req, timeout=10))
token = call("POST", "/auth/token", {"username": "admin", "password": password})["access_token"]
for dag in dags:
    deadline = time.monotonic() + 120
    while True:
        try:
            call("GET", f"/api/v2/dags/{dag}", token=token)
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                sys.exit(f"airflow: DAG {dag} is not available ({exc.code}); see .local/logs/airflow.log and /api/v2/importErrors")
            time.sleep(1)
    call("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False}, token=token)
print(f"airflow: DAGs unpaused: {', '.join(dags)}")
PYEOF
}

start_airflow() {
  [[ $AIRFLOW == 0 ]] && return 0
  if alive airflow; then
    echo "airflow: already running (pid $(cat "$RUN/airflow.pid"))"
  else
    mkdir -p "$AIRFLOW_HOME_DIR"
    echo "airflow: starting standalone (first start migrates its database; log $LOGS/airflow.log)..."
    # The admin password lands in its generated file and in standalone's log: both for our user only
    # (umask for what standalone creates; chmod for files an older start left readable).
    private_log "$LOGS/airflow.log"
    [[ ! -e $(airflow_password_file) ]] || chmod 600 "$(airflow_password_file)"
    # setsid: standalone leads its own process group, so stop reaches its ~40 processes.
    ( umask 077; airflow_env; exec setsid "$ROOT/.venv/bin/airflow" standalone >>"$LOGS/airflow.log" 2>&1 </dev/null ) &
    echo $! >"$RUN/airflow.pid"
  fi
  local deadline=$((SECONDS + AIRFLOW_TIMEOUT))
  until airflow_healthy; do
    if ((SECONDS > deadline)) || ! alive airflow; then
      echo "airflow: not healthy at $AIRFLOW_URL after ${AIRFLOW_TIMEOUT} s; last log lines:" >&2
      tail -n 30 "$LOGS/airflow.log" >&2 || true
      return 1
    fi
    sleep 1
  done
  airflow_unpause
  echo "airflow: started (pid $(cat "$RUN/airflow.pid"), $AIRFLOW_URL)"
}

stop_airflow() {
  local pid
  if alive airflow; then
    pid=$(cat "$RUN/airflow.pid")
    # SIGINT to standalone itself first: it stops its scheduler, dag-processor, api-server and triggerer,
    # which stop their own workers (waiting for running tasks). A SIGINT to the whole group at once
    # leaves LocalExecutor workers behind and standalone waiting for them (measured), so the group is
    # signalled only after that, for whatever is left: SIGINT, then SIGKILL.
    kill -INT "$pid" 2>/dev/null || true
    group_gone "$pid" 90 || { kill -INT -- "-$pid" 2>/dev/null; group_gone "$pid" 15; } ||
      { kill -KILL -- "-$pid" 2>/dev/null; group_gone "$pid" 5; } || true
    echo "airflow: stopped"
  fi
  rm -f "$RUN/airflow.pid"
}

group_gone() {  # pgid seconds -> 0 once no process of the group is left (zombies aside)
  local deadline=$((SECONDS + $2))
  while ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
}

# The dashboard reads as its own login, which local-services.sh creates with
# TICKFLOW_PG_DASHBOARD_PASSWORD (default: the one in the default TICKFLOW_DASHBOARD_DATABASE_URL).
dashboard_login() {
  if [[ -n ${TICKFLOW_PG_DASHBOARD_PASSWORD:-} && -z ${TICKFLOW_DASHBOARD_DATABASE_URL:-} ]]; then
    export TICKFLOW_DASHBOARD_DATABASE_URL="postgresql://tickflow_dashboard:$TICKFLOW_PG_DASHBOARD_PASSWORD@127.0.0.1:$PG_PORT/tickflow"
  fi
}

start() {
  mkdir -p "$RUN" "$LOGS"
  cd "$ROOT"
  dashboard_login
  launch ingest "http://127.0.0.1:$INGEST_PORT/readyz" "$PY" -m services.ingest --port "$INGEST_PORT" --ops-port "$INGEST_OPS_PORT"
  launch processor "http://127.0.0.1:$PROCESSOR_PORT/healthz" "$PY" -m services.processor --metrics-port "$PROCESSOR_PORT"
  launch dashboard "http://127.0.0.1:$DASHBOARD_PORT/readyz" "$PY" -m services.dashboard --port "$DASHBOARD_PORT"
  local reader="postgresql://tickflow_analyst:tickflow_analyst@127.0.0.1:$PG_PORT/tickflow" history=()
  # On an empty database the generator first sends two days of history (a candle per symbol every
  # 10 s, in about 15 s), so 1m/5m/1h candles and their indicators are warm at once; a later
  # `make run` goes on from the stored data instead (history again would only be late bars).
  if [[ $(psql "$reader" -Atc "SELECT NOT EXISTS (SELECT 1 FROM bars)" 2>/dev/null) == t ]]; then
    history=(--history "$HISTORY_S")
  fi
  launch generator "http://127.0.0.1:$GENERATOR_PORT/healthz" "$PY" -m services.generator --port "$GENERATOR_PORT" --rate "$RATE" \
    --ingest-url "http://127.0.0.1:$INGEST_PORT" "${history[@]}"
  echo "waiting for the first signal in PostgreSQL..."
  local t0=$SECONDS n=0 since
  since=$(psql "$reader" -Atc "SELECT now()")
  while ((SECONDS - t0 < 60)); do
    n=$(psql "$reader" -Atc "SELECT count(*) FROM signals WHERE created_at >= '$since'" 2>/dev/null || echo 0)
    ((n > 0)) && break
    sleep 1
  done
  # The market_summary DAG summarises completed hours; one summary now fills the page's cards at once.
  "$PY" -m services.orchestration summarize >>"$LOGS/dashboard.log" 2>&1 || echo "dashboard: first summary failed (see $LOGS/dashboard.log)"
  local waited=$((SECONDS - t0)) airflow_lines=""
  if [[ $AIRFLOW != 0 ]] && start_airflow; then
    airflow_lines="  Airflow UI         $AIRFLOW_URL  (login: admin / $("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$(airflow_password_file)"))
                     DAGs: ${AIRFLOW_DAGS[*]}"
  elif [[ $AIRFLOW != 0 ]]; then
    airflow_lines="  Airflow            did not start; see $LOGS/airflow.log"
  fi
  cat <<EOT

Tickflow is running: $n new signal(s) in PostgreSQL after $waited s.
  live dashboard     http://127.0.0.1:$DASHBOARD_PORT/  (REST + WebSocket docs: http://127.0.0.1:$DASHBOARD_PORT/docs)
  ingest API docs    http://127.0.0.1:$INGEST_OPS_PORT/docs  (metrics: http://127.0.0.1:$INGEST_OPS_PORT/metrics)
  generator sample   http://127.0.0.1:$GENERATOR_PORT/
  processor metrics  http://127.0.0.1:$PROCESSOR_PORT/metrics
  logs               $LOGS/
  SQL (read-only)    psql $reader
$airflow_lines
  latest signals     psql $reader -c "SELECT symbol, ts, rule, side, round(price::numeric, 2) AS price FROM signals ORDER BY ts DESC LIMIT 10"
Stop everything with: make stop
EOT
}

stop() {
  local name pid
  stop_airflow
  for name in generator dashboard processor ingest; do
    if alive "$name"; then
      pid=$(cat "$RUN/$name.pid")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
      echo "$name: stopped"
    fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  local name
  for name in "${APPS[@]}" airflow; do
    if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
