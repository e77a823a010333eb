#!/usr/bin/env bash
# Start a PostgreSQL server for the tests' MLflow tracking servers (issue 14: a real PostgreSQL backend store).
#
#   bash tests/cluster/postgres_up.sh      # idempotent; ~0.1 s when it already runs
#   bash tests/cluster/postgres_down.sh    # stops it (HF_PG_WIPE=1 also removes its data directory)
#
# Its own cluster (data dir, socket dir, port), not Debian's "main" cluster and not OpenPBS's datastore (which
# runs its own PostgreSQL on port 15007): 127.0.0.1:5433 by default. Runs as the `postgres` user, no systemd.
# Tuned for tests, not for safety: fsync and synchronous_commit are off (a crash may lose the last commits).
#
# What it creates: role `mlflow` (password `mlflow`, CREATEDB: the test fixtures make one database per server)
# and database `mlflow` owned by it:  postgresql://mlflow:mlflow@127.0.0.1:5433/mlflow
#
# Knobs (environment):
#   HF_PG_PORT=5433                port
#   HF_PG_LISTEN=127.0.0.1         listen_addresses (e.g. "127.0.0.1,10.204.0.1" to serve the multi-node bridge)
#   HF_PG_DATA=/var/lib/hydraflow-postgres   data directory (initdb'ed on first use)
#   HF_PG_MAX_CONNECTIONS=300      (32 concurrent jobs + MLflow servers' connection pools)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PORT=${HF_PG_PORT:-5433}
LISTEN=${HF_PG_LISTEN:-127.0.0.1}
DATA=${HF_PG_DATA:-/var/lib/hydraflow-postgres}
MAXCONN=${HF_PG_MAX_CONNECTIONS:-300}
SOCK=/run/hydraflow-postgres
LOGFILE=/var/log/hydraflow-postgres.log
T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); echo "[postgres_up +$(( ms / 1000 )).$(printf %03d $(( ms % 1000 )))s] $*"; }
die() { echo "postgres_up: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ "$PORT" != 15007 ] || die "port 15007 is OpenPBS's datastore"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN=$(pg_bin)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ] || ! command -v psql >/dev/null; then
  log "installing postgresql (Debian package)"
  # the package's postinst creates and may start Debian's own "main" cluster on 5432: not ours, left alone
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
  BIN=$(pg_bin)
  [ -x "$BIN/initdb" ] || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
fi
as_pg() { runuser -u postgres -- "$@"; }
psql_admin() { as_pg psql -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"; }

install -d -o postgres -g postgres -m 0775 "$SOCK"
if as_pg "$BIN/pg_isready" -q -h "$SOCK" -p "$PORT" 2>/dev/null &&
   [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" 2>/dev/null)" = 1 ]; then
  log "already up: postgresql://mlflow:mlflow@127.0.0.1:$PORT/mlflow"
  exit 0
fi

if [ ! -s "$DATA/PG_VERSION" ]; then
  install -d -o postgres -g postgres -m 0700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 \
    --locale=C.UTF-8 >/dev/null 2>&1 || as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
  log "initdb $DATA ($("$BIN/postgres" --version))"
fi
# settings live in the data dir (included from postgresql.conf) so that a plain `pg_ctl start` gets them too
cat >"$DATA/hydraflow.conf" <<CONF
# written by hydraflow tests/cluster/postgres_up.sh
port = $PORT
listen_addresses = '$LISTEN'
unix_socket_directories = '$SOCK'
max_connections = $MAXCONN
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
chown postgres:postgres "$DATA/hydraflow.conf"
grep -q "^include_if_exists = 'hydraflow.conf'" "$DATA/postgresql.conf" ||
  echo "include_if_exists = 'hydraflow.conf'" >>"$DATA/postgresql.conf"
# password logins from any address the server listens on (loopback, or a test bridge)
grep -q "hydraflow" "$DATA/pg_hba.conf" ||
  echo "host all all 0.0.0.0/0 scram-sha-256  # hydraflow: test clusters' addresses" >>"$DATA/pg_hba.conf"

if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  touch "$LOGFILE" && chown postgres:postgres "$LOGFILE"
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start >/dev/null || { tail -20 "$LOGFILE" >&2; die "start failed"; }
  log "server started on $LISTEN:$PORT (socket $SOCK, log $LOGFILE)"
else
  as_pg "$BIN/pg_ctl" -D "$DATA" reload >/dev/null
fi
psql_admin <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mlflow') THEN
    CREATE ROLE mlflow LOGIN CREATEDB PASSWORD 'mlflow';
  END IF;
END $$;
SQL
[ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'mlflow'")" = 1 ] || psql_admin -c "CREATE DATABASE mlflow OWNER mlflow"
PGPASSWORD=mlflow psql -h 127.0.0.1 -p "$PORT" -U mlflow -d mlflow -qAtX -c 'SELECT 1' >/dev/null ||
  die "cannot log in as mlflow over TCP"
log "ready: postgresql://mlflow:mlflow@127.0.0.1:$PORT/mlflow"
