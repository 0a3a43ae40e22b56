# Throwaway Redis and PostgreSQL on 127.0.0.1, for scripts/test and scripts/bench-queue
# (sourced, not run). Debian packages are installed when missing (as root); every service
# runs on a free loopback port under a fresh temp dir, and stop_services ends them.
# The caller defines log() and runs from the repository root (free_port uses .venv).

# --- System packages (only what is missing) ----------------------------------------------
APT_UPDATED=0
apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        log "need to install $* but not root: install them, or run as root"
        exit 1
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_packages() {
    command -v redis-server >/dev/null || apt_install redis-server
    [[ -n $(pg_bindir) && -x $(pg_bindir)/initdb ]] || apt_install postgresql
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user; a
# developer who is not root runs it as themselves.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for WHAT SECONDS CMD...: poll CMD until it succeeds
    local what=$1 secs=$2
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    log "$what did not become ready within ${secs}s"
    return 1
}

# --- Services ------------------------------------------------------------------------------
RUN_DIR=""
PG_DATA=""
CTL=""
SERVICES_UP=0

# Stop Redis and PostgreSQL and remove their folder; with the services not all up (a start
# failed), show the tail of each log first. Extra arguments: more logs to show.
stop_services() {
    if [[ -n $CTL && -x $CTL ]]; then
        "$CTL" redis stop
        "$CTL" postgres kill
    fi
    if [[ -n $RUN_DIR ]]; then
        if [[ $SERVICES_UP -eq 0 ]]; then  # a service failed to start: show why
            for f in "$RUN_DIR"/redis.log "$PG_DATA"/server.log "$@"; do
                [[ -f $f ]] && { log "--- tail of $f"; tail -n 20 "$f" >&2; }
            done
        fi
        rm -rf "$RUN_DIR"
    fi
}

# The fault tests (tests/integration/test_faults.py) stop and start these services mid-test,
# so their commands live in one control script, written here with this run's ports and
# paths and used by these functions too: $CTL redis start|stop|restart, $CTL postgres
# start|stop|kill. A Redis restart loses every queued task (no persistence), as a
# production Redis without AOF would.
write_ctl() {
    local redis_port=$1 pg_port=$2 bindir pg=""
    bindir=$(pg_bindir)
    [[ $(id -u) -eq 0 ]] && pg="runuser -u postgres --"
    CTL=$RUN_DIR/services-ctl
    cat >"$CTL" <<EOF
#!/usr/bin/env bash
# Written by write_ctl (scripts/services.sh) for the run in $RUN_DIR.
set -uo pipefail
ready() { for _ in \$(seq 200); do "\$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
case "\${1:-} \${2:-}" in
"redis start")
    redis-server --bind 127.0.0.1 --port $redis_port --save '' --appendonly no \\
        --daemonize yes --pidfile $RUN_DIR/redis.pid --dir $RUN_DIR \\
        --logfile $RUN_DIR/redis.log && ready redis-cli -h 127.0.0.1 -p $redis_port ping ;;
"redis stop")
    redis-cli -h 127.0.0.1 -p $redis_port shutdown nosave >/dev/null 2>&1
    for _ in \$(seq 100); do
        redis-cli -h 127.0.0.1 -p $redis_port ping >/dev/null 2>&1 || exit 0
        sleep 0.1
    done
    exit 1 ;;
"redis restart")
    "\$0" redis stop && "\$0" redis start ;;
"postgres start")
    $pg $bindir/pg_ctl -D $PG_DATA -l $PG_DATA/server.log -w -t 60 \\
        -o "-p $pg_port -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" \\
        start >/dev/null ;;
"postgres stop")
    $pg $bindir/pg_ctl -D $PG_DATA -m fast -w stop >/dev/null ;;
"postgres kill")
    [[ ! -f $PG_DATA/postmaster.pid ]] ||
        $pg $bindir/pg_ctl -D $PG_DATA -m immediate -w stop >/dev/null 2>&1 ;;
*)
    echo "usage: \$0 redis start|stop|restart | postgres start|stop|kill" >&2
    exit 2 ;;
esac
EOF
    chmod 755 "$CTL"
}

init_postgres() {
    local bindir
    bindir=$(pg_bindir)
    PG_DATA=$RUN_DIR/pg
    if [[ $(id -u) -eq 0 ]]; then
        install -d -o postgres -g postgres -m 700 "$PG_DATA"
    else
        install -d -m 700 "$PG_DATA"
    fi
    as_pg "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust \
        -E UTF8 --locale=C >"$RUN_DIR/initdb.log" 2>&1
}

# Redis and a PostgreSQL cluster holding database $1 on free loopback ports, under a fresh
# $RUN_DIR; sets REDIS_URL and POSTGRES_URL.
start_redis_and_postgres() {
    local db=$1 redis_port pg_port
    RUN_DIR=$(mktemp -d /tmp/dfscan-services.XXXXXX)
    chmod 755 "$RUN_DIR"  # the postgres user must reach its data dir inside
    redis_port=$(free_port)
    pg_port=$(free_port)
    init_postgres
    write_ctl "$redis_port" "$pg_port"
    "$CTL" redis start || { log "redis-server did not become ready"; return 1; }
    REDIS_URL="redis://127.0.0.1:$redis_port/0"
    # fsync off (in the control script): a cluster that dies with the run needs no
    # durability.
    "$CTL" postgres start
    as_pg "$(pg_bindir)/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$db"
    POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/$db"
}
