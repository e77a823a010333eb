#!/usr/bin/env bash
# Stop the daemons started by slurm_up.sh, by the PID in each pid file.
set -u
for f in /run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stopped $f ($pid)"
  fi
  rm -f "$f"  # daemons running as slurm cannot remove their pid files in /run
done
