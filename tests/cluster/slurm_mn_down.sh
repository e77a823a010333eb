#!/usr/bin/env bash
# Tear down the multi-node test cluster of slurm_mn_up.sh: its daemons (by the PIDs in ITS pid files, never the
# single-node cluster's), every process left in its network namespaces, the namespaces, the bridge, its
# /etc/hosts lines and its state (controller state, spool dirs, the accounting database; HF_MN_KEEP_STATE=1
# keeps them: job ids then go on from where they were). Logs in /var/log/slurm-mn are kept. Idempotent.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_mn_env.sh"
T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); echo "[slurm_mn_down +$(( ms / 1000 )).$(printf %03d $(( ms % 1000 )))s] $*"; }

# all daemons get SIGTERM together, then up to 10 s of grace, then SIGKILL
victims=()
take() {  # take PIDFILE COMM
  if mn_alive "$1" "$2"; then victims+=("$(cat "$1"):$2"); fi
  rm -f "$1"   # daemons running as SlurmUser may not remove their own pid files
}
for f in "$MN_RUN"/slurmd-*.pid; do [ -e "$f" ] && take "$f" slurmd; done
take "$MN_RUN/slurmctld.pid" slurmctld
take "$MN_RUN/slurmdbd.pid" slurmdbd
for v in "${victims[@]}"; do kill "${v%%:*}" 2>/dev/null; done
end=$(( $(date +%s) + 10 ))
for v in "${victims[@]}"; do
  pid=${v%%:*}
  while [ -d "/proc/$pid" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
  if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${v#*:}" ]; then
    kill -9 "$pid"; log "SIGKILLed ${v#*:} $pid"
  else
    log "stopped ${v#*:} $pid"
  fi
done

# every namespace of ours (also those of an earlier, bigger cluster): leftover slurmstepd and job processes
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${MN_NS}[0-9]+$"); do
  pids=$(ip netns pids "$ns" 2>/dev/null)
  if [ -n "$pids" ]; then
    kill -9 $pids 2>/dev/null
    log "killed leftover processes in $ns:" $pids
    for _ in $(seq 1 30); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  ip netns del "$ns" && log "removed netns $ns"   # takes its veth pair along
done
ip link show "$MN_BRIDGE" >/dev/null 2>&1 && ip link del "$MN_BRIDGE" && log "removed bridge $MN_BRIDGE"
if grep -qF "$MN_HOSTS_TAG" /etc/hosts; then
  kept=$(grep -vF "$MN_HOSTS_TAG" /etc/hosts)
  printf '%s\n' "$kept" >/etc/hosts
  log "removed our /etc/hosts lines"
fi

rm -f "$MN_RUN/knobs.env"
if [ "${HF_MN_KEEP_STATE:-0}" != 1 ]; then
  rm -rf "$MN_STATE"
  if mariadb-admin ping >/dev/null 2>&1 && [ -n "$(mariadb -N -e "SHOW DATABASES LIKE '$MN_DB'")" ]; then
    mariadb -e "DROP DATABASE $MN_DB; DROP USER IF EXISTS 'hfmn'@'localhost';" && log "dropped database $MN_DB"
  fi
fi
rmdir "$MN_RUN" 2>/dev/null
log "down"
