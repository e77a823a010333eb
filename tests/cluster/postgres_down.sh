#!/usr/bin/env bash
# Stop the PostgreSQL server of postgres_up.sh (only that one: by its data directory). HF_PG_WIPE=1 also removes
# the data directory (every database of every test is gone; the next up runs initdb again). Idempotent.
set -uo pipefail
DATA=${HF_PG_DATA:-/var/lib/hydraflow-postgres}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -n "$BIN" ] && [ -s "$DATA/postmaster.pid" ]; then
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -m fast -w stop && echo "postgres_down: stopped ($DATA)"
fi
if [ "${HF_PG_WIPE:-0}" = 1 ]; then rm -rf "$DATA" && echo "postgres_down: removed $DATA"; fi
