#!/usr/bin/env bash
# Stop the single-node OpenPBS started by pbs_up.sh.
#
#   bash tests/cluster/pbs_down.sh              # stop the daemons (state, namespace and build stay: a restart is ~20 s)
#   bash tests/cluster/pbs_down.sh --purge      # also delete PBS_HOME (jobs, history, datastore), /etc/pbs.conf,
#                                               # the /etc/hosts lines, the veth pair and the network namespace
#   bash tests/cluster/pbs_down.sh --uninstall  # --purge, and remove the build in $HF_PBS_PREFIX (a rebuild is ~4.5 min)
#
# Only PBS's own processes are stopped (its daemons, and the PostgreSQL serving $PBS_HOME/datastore): another
# PostgreSQL on this machine is not touched.
set -uo pipefail
MODE=${1:-stop}
case "$MODE" in stop | --purge | --uninstall) ;; *) echo "usage: $0 [--purge|--uninstall]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "pbs_down: must run as root" >&2; exit 1; }
PREFIX=${HF_PBS_PREFIX:-/opt/pbs}
WORK=${HF_PBS_WORK:-/var/tmp/hydraflow-openpbs}
NETNS=${HF_PBS_NETNS:-hfpbs}
PBS_HOME=/var/spool/pbs
TAG="# hydraflow-pbs"
CLEAN_PATH=$PREFIX/bin:$PREFIX/sbin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$CLEAN_PATH
t0=$(date +%s)

daemon_pids() {
  pgrep -x pbs_server.bin; pgrep -x pbs_mom; pgrep -x pbs_sched; pgrep -x pbs_comm; pgrep -x pbs_ds_monitor
  pgrep -f "postgres -D $PBS_HOME/datastore" | head -1
} 2>/dev/null
has_ns() { ip netns list 2>/dev/null | grep -qE "^$NETNS( |\$)"; }

if [ -n "$(daemon_pids)" ] && [ -x "$PREFIX/libexec/pbs_init.d" ]; then
  # PBS's own stop (qterm, then the datastore), from inside the namespace where the daemons run
  if has_ns; then
    env -i PATH="$CLEAN_PATH" LANG=C.UTF-8 ip netns exec "$NETNS" "$PREFIX/libexec/pbs_init.d" stop >/dev/null 2>&1
  else
    env -i PATH="$CLEAN_PATH" LANG=C.UTF-8 "$PREFIX/libexec/pbs_init.d" stop >/dev/null 2>&1
  fi
  for _ in $(seq 1 120); do [ -z "$(daemon_pids)" ] && break; sleep 0.25; done
fi
left=$(daemon_pids | tr '\n' ' ')
if [ -n "${left// /}" ]; then
  echo "pbs_down: still running after stop: $left- sending TERM to these PIDs" >&2
  # shellcheck disable=SC2086
  kill $left 2>/dev/null
  for _ in $(seq 1 40); do [ -z "$(daemon_pids)" ] && break; sleep 0.25; done
  left=$(daemon_pids | tr '\n' ' ')
  # shellcheck disable=SC2086
  [ -n "${left// /}" ] && kill -9 $left 2>/dev/null
fi

if [ "$MODE" != stop ]; then
  rm -rf "$PBS_HOME" /etc/pbs.conf /etc/pbs.conf.pre.* /etc/init.d/pbs
  if grep -qF "$TAG" /etc/hosts; then
    new=$(grep -vF "$TAG" /etc/hosts)
    printf '%s\n' "$new" >/etc/hosts  # in place: /etc/hosts may be a bind mount
  fi
  ip link del "${NETNS}0" 2>/dev/null
  if has_ns; then
    pids=$(ip netns pids "$NETNS" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] && echo "pbs_down: processes still in namespace $NETNS: $pids(deleting it anyway)" >&2
    ip netns del "$NETNS"
  fi
fi
if [ "$MODE" = --uninstall ]; then
  rm -rf "$PREFIX" "$WORK" /etc/profile.d/pbs.sh /etc/profile.d/pbs.csh /lib/systemd/system/pbs.service
fi
echo "[pbs_down +$(( $(date +%s) - t0 ))s] OpenPBS stopped (${MODE#--})"
