#!/usr/bin/env bash
# Start/stop Tickflow's own services (ingest, processor, generator) on loopback, for `make run`.
# PostgreSQL and Kafka are handled by scripts/local-services.sh. PIDs in .local/run, logs in .local/logs.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="${TICKFLOW_LOCAL_DIR:-$ROOT/.local}"
RUN="$LOCAL/run"; LOGS="$LOCAL/logs"
PY="$ROOT/.venv/bin/python"
INGEST_PORT="${TICKFLOW_INGEST_PORT:-8000}"
GENERATOR_PORT="${TICKFLOW_GENERATOR_PORT:-8001}"
PROCESSOR_PORT="${TICKFLOW_PROCESSOR_METRICS_PORT:-8002}"
PG_PORT="${TICKFLOW_PG_PORT:-15432}"
RATE="${TICKFLOW_GENERATOR_RATE:-50}"
APPS=(ingest processor generator)

usage() {
  cat <<USAGE
usage: scripts/platform.sh {start|stop|status}
  start   start ingest (:$INGEST_PORT), processor (:$PROCESSOR_PORT) and generator (:$GENERATOR_PORT, $RATE candles/s)
  stop    stop them (only the processes this script started, by PID)
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

launch() {  # name health-url command...
  local name=$1 url=$2; shift 2
  if alive "$name"; then echo "$name: already running (pid $(cat "$RUN/$name.pid"))"; return 0; fi
  # setsid: each service leads its own process group, so stop reaches its worker processes too.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  wait_http "$name" "$url" 60
  echo "$name: started (pid $(cat "$RUN/$name.pid"), log $LOGS/$name.log)"
}

start() {
  mkdir -p "$RUN" "$LOGS"
  cd "$ROOT"
  launch ingest "http://127.0.0.1:$INGEST_PORT/readyz" "$PY" -m services.ingest --port "$INGEST_PORT"
  launch processor "http://127.0.0.1:$PROCESSOR_PORT/healthz" "$PY" -m services.processor --metrics-port "$PROCESSOR_PORT"
  launch generator "http://127.0.0.1:$GENERATOR_PORT/healthz" "$PY" -m services.generator --port "$GENERATOR_PORT" --rate "$RATE"
  local reader="postgresql://tickflow_analyst:tickflow_analyst@127.0.0.1:$PG_PORT/tickflow"
  echo "waiting for the first signal in PostgreSQL..."
  local t0=$SECONDS n=0 since
  since=$(psql "$reader" -Atc "SELECT now()")
  while ((SECONDS - t0 < 60)); do
    n=$(psql "$reader" -Atc "SELECT count(*) FROM signals WHERE created_at >= '$since'" 2>/dev/null || echo 0)
    ((n > 0)) && break
    sleep 1
  done
  cat <<EOT

Tickflow is running: $n new signal(s) in PostgreSQL after $((SECONDS - t0)) s.
  ingest API docs    http://127.0.0.1:$INGEST_PORT/docs
  generator sample   http://127.0.0.1:$GENERATOR_PORT/
  processor metrics  http://127.0.0.1:$PROCESSOR_PORT/metrics
  logs               $LOGS/
  SQL (read-only)    psql $reader
  latest signals     psql $reader -c "SELECT symbol, ts, rule, side, round(price::numeric, 2) AS price FROM signals ORDER BY ts DESC LIMIT 10"
Stop everything with: make stop
EOT
}

stop() {
  local name pid
  for name in generator processor ingest; do
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
  for name in "${APPS[@]}"; do
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
