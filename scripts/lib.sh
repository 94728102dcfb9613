# shellcheck shell=bash
# Helpers sourced by scripts/test and scripts/run. Each ensure_* function is
# idempotent: it does nothing when the thing is already there, and installs or
# starts it otherwise (Debian/Ubuntu, apt). Progress goes to stderr as "==> ".
#
#   ensure_python_env [EXTRA...]
#                            .venv with python3 >= 3.11 and `pip install -e .[EXTRA,...]`
#                            (no EXTRA: `pip install -e .`, what running Parley needs)
#   ensure_redis             Redis on 127.0.0.1:${PARLEY_REDIS_PORT:-6379}; a redis-server
#                            it starts is recorded, for stop_redis
#   stop_redis               stop the redis-server that ensure_redis started in this
#                            shell, if it started one; a Redis that was running is left alone
#   ensure_postgres [DB]     PostgreSQL on 127.0.0.1:${PARLEY_POSTGRES_PORT:-5432}, user
#                            postgres without password, database DB (default: test)
#
# Knobs: PARLEY_PYTHON (interpreter for the venv, default python3).

PARLEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_parley_apt_updated=
_parley_redis_started= # the port of the redis-server ensure_redis started, if it did

log() { printf '==> %s\n' "$*" >&2; }
err() { printf '==> ERROR: %s\n' "$*" >&2; }

# Run a command as root: directly, or through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        err "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get install, with one apt-get update per script run.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { err "no apt-get: install $* yourself"; return 1; }
    if [ -z "$_parley_apt_updated" ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        _parley_apt_updated=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >&2 || return 1
}

# wait_for SECONDS COMMAND...: retry COMMAND every 0.5 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# ---------------------------------------------------------------- python

# The stamp .venv/.parley-installed holds what was installed: the hash of pyproject.toml,
# then the extras, e.g. "<sha256> test". Nothing is installed when the hash is the same
# and every EXTRA asked for is there already (so `.[test]` also serves `.`).
ensure_python_env() {
    local venv="$PARLEY_ROOT/.venv" py="${PARLEY_PYTHON:-python3}" stamp want
    local have_hash='' have_extras='' extras=() missing=() target=. extra started=$SECONDS
    if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null; }; then
        command -v "$py" >/dev/null 2>&1 || apt_install python3 python3-venv || return 1
        if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            err "$py is $("$py" -V 2>&1); Parley needs Python >= 3.11 (set PARLEY_PYTHON)"
            return 1
        fi
        log "creating .venv with $("$py" -V 2>&1)"
        rm -rf "$venv"
        if ! "$py" -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv" # a failed venv (no ensurepip) is left half-made
            apt_install python3-venv || return 1
            "$py" -m venv "$venv" || return 1
        fi
    fi
    stamp="$venv/.parley-installed"
    want="$(sha256sum "$PARLEY_ROOT/pyproject.toml" | cut -d' ' -f1)"
    [ ! -f "$stamp" ] || read -r have_hash have_extras <"$stamp" || true
    if [ "$have_hash" = "$want" ]; then
        read -ra extras <<<"$have_extras" # installed for this pyproject.toml: keep them
    fi
    for extra in "$@"; do
        [[ " ${extras[*]} " == *" $extra "* ]] || { extras+=("$extra"); missing+=("$extra"); }
    done
    if [ "$have_hash" = "$want" ] && [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "${#extras[@]}" -gt 0 ]; then
        target=".[$(IFS=,; printf '%s' "${extras[*]}")]"
    fi
    if [ -z "$have_hash" ]; then
        log "pip install -e $target (first run: pip downloads and installs every dependency)"
    elif [ "$have_hash" != "$want" ]; then
        log "pip install -e $target (pyproject.toml changed)"
    else
        log "pip install -e $target (adding the extras ${missing[*]})"
    fi
    # pip's own output says what it collects, downloads (with a progress bar on a
    # terminal), builds and installs.
    (cd "$PARLEY_ROOT" && "$venv/bin/pip" install --disable-pip-version-check \
        --progress-bar on -e "$target" >&2) || return 1
    printf '%s\n' "$want${extras[*]:+ ${extras[*]}}" >"$stamp"
    log "installed $target into .venv in $((SECONDS - started)) s"
}

# ---------------------------------------------------------------- redis

# _redis_up [PORT]: does a Redis answer PING on 127.0.0.1:PORT (default PARLEY_REDIS_PORT)?
_redis_up() {
    local port="${1:-${PARLEY_REDIS_PORT:-6379}}" reply
    if command -v redis-cli >/dev/null 2>&1; then
        reply="$(timeout 3 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" || return 1
    else
        # shellcheck disable=SC2016 # $1 is the inner bash's argument
        reply="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "PING\r\n" >&3 &&
            IFS= read -r line <&3 && printf "%s" "$line"' _ "$port" 2>/dev/null)" || return 1
    fi
    [[ "$reply" == *PONG* ]]
}

ensure_redis() {
    local port="${PARLEY_REDIS_PORT:-6379}"
    case "${PARLEY_REDIS_URL:-redis://127.0.0.1}" in
        redis://127.0.0.1* | redis://localhost* | redis://\[::1\]*) ;;
        *) log "Redis is at ${PARLEY_REDIS_URL}: using it as it is"; return 0 ;;
    esac
    _redis_up && return 0
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server || return 1
        _redis_up && return 0 # the package may have started its own service
    fi
    log "starting redis-server on 127.0.0.1:$port (log: var/redis.log)"
    mkdir -p "$PARLEY_ROOT/var"
    rm -f "$PARLEY_ROOT/var/redis-$port.pid"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$PARLEY_ROOT/var" --logfile "$PARLEY_ROOT/var/redis.log" \
        --pidfile "$PARLEY_ROOT/var/redis-$port.pid" >&2 || return 1
    _parley_redis_started="$port" # ours: stop_redis may stop it
    wait_for 20 _redis_up || { err "redis did not answer on port $port in 20 s (see var/redis.log)"; return 1; }
}

_redis_down() { ! _redis_up "$1"; }

# Stop the redis-server ensure_redis started in this shell (SHUTDOWN NOSAVE, then TERM to
# the pid in var/redis-PORT.pid if it still answers). Does nothing if ensure_redis found a
# Redis already running, or used one elsewhere: that one is never stopped.
stop_redis() {
    local port="$_parley_redis_started" pid
    [ -n "$port" ] || return 0
    _parley_redis_started=
    log "stopping the redis-server this script started on 127.0.0.1:$port"
    pid="$(cat "$PARLEY_ROOT/var/redis-$port.pid" 2>/dev/null || true)"
    timeout 10 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    if ! wait_for 10 _redis_down "$port" && [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_for 10 _redis_down "$port" || err "redis-server (pid $pid) on port $port did not stop"
    fi
}

# ---------------------------------------------------------------- postgres

_pg_up() {
    local port="${PARLEY_POSTGRES_PORT:-5432}"
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p "$port" -t 3
    else
        # shellcheck disable=SC2016 # $1 is the inner bash's argument
        timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null
    fi
}

_psql() {
    PGCONNECT_TIMEOUT=5 psql -w -X -q -h 127.0.0.1 -p "${PARLEY_POSTGRES_PORT:-5432}" \
        -U postgres -d postgres -v ON_ERROR_STOP=1 -tA "$@"
}

# Install, configure (local TCP trusted) and start the Debian cluster "main".
_pg_start() {
    local cluster=main ver hba
    if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
        apt_install postgresql || return 1
        _pg_up && _psql -c 'select 1' >/dev/null 2>&1 && return 0
    fi
    # shellcheck disable=SC2012 # the names are version numbers
    ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -z "$ver" ] || [ ! -d "/etc/postgresql/$ver/$cluster" ]; then
        # shellcheck disable=SC2012
        [ -n "$ver" ] || ver="$(ls /usr/lib/postgresql | sort -V | tail -n1 || true)"
        log "creating PostgreSQL $ver cluster $cluster"
        as_root pg_createcluster "$ver" "$cluster" >&2 || return 1
    fi
    hba="/etc/postgresql/$ver/$cluster/pg_hba.conf"
    if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        log "trusting local TCP connections in $hba"
        as_root sed -i -e '1i # added by parley scripts/lib.sh: local TCP without password' \
            -e '1i host all all 127.0.0.1/32 trust' -e '1i host all all ::1/128 trust' "$hba" \
            || return 1
    fi
    if as_root pg_ctlcluster "$ver" "$cluster" status >/dev/null 2>&1; then
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" reload >&2 || return 1
    else
        log "starting PostgreSQL $ver/$cluster"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start >&2 || return 1
    fi
}

ensure_postgres() {
    local db="${1:-test}" port="${PARLEY_POSTGRES_PORT:-5432}"
    case "${PARLEY_POSTGRES_HOST:-127.0.0.1}" in
        127.0.0.1 | localhost | ::1) ;;
        *) log "PostgreSQL is at ${PARLEY_POSTGRES_HOST}: using it as it is"; return 0 ;;
    esac
    if ! _pg_up; then
        _pg_start || return 1
        wait_for 30 _pg_up || { err "PostgreSQL did not answer on port $port in 30 s"; return 1; }
    fi
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client || return 1
    if ! _psql -c 'select 1' >/dev/null; then
        err "cannot connect as postgres without password to 127.0.0.1:$port" \
            "(add 'host all all 127.0.0.1/32 trust' at the top of pg_hba.conf)"
        return 1
    fi
    if [ "$(_psql -c "select 1 from pg_database where datname = '$db'")" != 1 ]; then
        log "creating database $db"
        # UTF8 whatever the cluster's default (a C-locale cluster defaults to SQL_ASCII,
        # where psycopg returns text as bytes).
        _psql -c "create database \"$db\" template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'" \
            || return 1
    fi
    if [ "$(_psql -c "select pg_encoding_to_char(encoding) from pg_database where datname = '$db'")" != UTF8 ]; then
        err "database $db is not UTF8: drop it, or point PARLEY_POSTGRES_DB at a UTF8 database"
        return 1
    fi
}
