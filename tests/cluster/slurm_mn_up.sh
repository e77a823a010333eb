#!/usr/bin/env bash
# Bring up the MULTI-NODE SLURM test cluster (ClusterName hfmn) beside the single-node one of slurm_up.sh:
#
#   controller  slurmctld in the root network namespace, on the bridge hfmn0 = 10.204.0.1 (hostname "ctl" in its
#               own UTS namespace), port 7817; slurmdbd on 7819 with its own database hfmn_acct_db in the
#               single-node cluster's MariaDB
#   nodes       node1..node3: one slurmd each (port 7818) in its own network namespace hfmnI (veth onto the
#               bridge, 10.204.0.1I) and UTS namespace (hostname nodeI); the filesystem is shared by all, as
#               on a cluster with a shared home
#   clients     SLURM_CONF=/etc/slurm-mn/slurm.conf sinfo|sbatch|sacct ...
#
#   bash tests/cluster/slurm_mn_up.sh     # idempotent: what runs is left alone, what is missing is started
#                                         # (a re-run after a node was killed restarts just that slurmd)
#   bash tests/cluster/slurm_mn_node.sh   # kill / crash / start a node, take its link down / up
#   bash tests/cluster/slurm_mn_down.sh   # stops it all and removes its namespaces, bridge and state
#
# Needs root. Knobs: see _mn_env.sh. MariaDB, munged and the SLURM packages come from slurm_up.sh, which this
# script runs first when they are missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_mn_env.sh"
T0=$(date +%s%N)
elapsed() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%03d' $(( ms / 1000 )) $(( ms % 1000 )); }
log() { echo "[slurm_mn_up +$(elapsed)s] $*"; }
die() { echo "slurm_mn_up: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
[ "$MN_NODES" -ge 1 ] && [ "$MN_NODES" -le 99 ] || die "HF_MN_NODES must be 1..99, not $MN_NODES"

# 0. what the single-node cluster provides: packages, munged, MariaDB ---------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v slurmdbd >/dev/null ||
   ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1 ||
   { [ "$MN_ACCOUNTING" = 1 ] && ! mariadb-admin ping >/dev/null 2>&1; }; then
  log "SLURM packages, munged or MariaDB missing: running slurm_up.sh first"
  bash "$HERE/slurm_up.sh"
fi
if ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
  log "installing iproute2 util-linux"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 util-linux >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 util-linux >/dev/null; }
fi
mn_save_knobs

# 1. network: the bridge (controller side) and one namespace per node ---------------------------------------
ip link show "$MN_BRIDGE" >/dev/null 2>&1 || ip link add "$MN_BRIDGE" type bridge
ip addr replace "$MN_CTL_IP/24" dev "$MN_BRIDGE"
ip link set "$MN_BRIDGE" up
for i in $(seq 1 "$MN_NODES"); do
  ns=$MN_NS$i
  [ -e "/run/netns/$ns" ] || ip netns add "$ns"
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip link del "${ns}h" 2>/dev/null || true
    ip link add "${ns}h" type veth peer name "${ns}n"
    ip link set "${ns}n" netns "$ns"
    ip -n "$ns" link set "${ns}n" name eth0
  fi
  ip link set "${ns}h" master "$MN_BRIDGE"
  ip link set "${ns}h" up
  ip -n "$ns" addr replace "$(mn_node_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
# names for slurm.conf, in /etc/hosts, marked with a tag (rewritten in place: /etc/hosts may be a bind mount)
want=$(grep -vF "$MN_HOSTS_TAG" /etc/hosts || true)
want+=$'\n'"$MN_CTL_IP ctl $MN_HOSTS_TAG"
for i in $(seq 1 "$MN_NODES"); do want+=$'\n'"$(mn_node_ip "$i") node$i $MN_HOSTS_TAG"; done
[ "$want" = "$(cat /etc/hosts)" ] || printf '%s\n' "$want" >/etc/hosts
log "network: bridge $MN_BRIDGE $MN_CTL_IP/24, namespaces $MN_NS[1-$MN_NODES]"

# 2. configuration ------------------------------------------------------------------------------------------
install -d -m 0755 "$MN_CONF_DIR" "$MN_STATE"
install -d -o slurm -g slurm "$MN_STATE/ctld" "$MN_LOG"
chown slurm:slurm "$MN_RUN"   # slurmctld/slurmdbd (SlurmUser) write their pid files there
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
if [ "$MN_ACCOUNTING" = 1 ]; then
  acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=ctl
AccountingStoragePort=$(( MN_PORT + 2 ))
JobAcctGatherType=jobacct_gather/linux"
else
  acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
conf=$(mktemp)
{ cat <<CONF
# Written by hydraflow tests/cluster/slurm_mn_up.sh: multi-node test cluster, one slurmd per network namespace
ClusterName=$MN_CLUSTER
SlurmctldHost=ctl($MN_CTL_IP)
AuthType=auth/munge
AuthInfo=cred_expire=10
SlurmUser=slurm
SlurmctldPort=$MN_PORT
SlurmdPort=$(( MN_PORT + 1 ))
StateSaveLocation=$MN_STATE/ctld
SlurmdSpoolDir=$MN_STATE/%n
SlurmctldPidFile=$MN_RUN/slurmctld.pid
SlurmdPidFile=$MN_RUN/slurmd-%n.pid
SlurmctldLogFile=$MN_LOG/slurmctld.log
SlurmdLogFile=$MN_LOG/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
FirstJobId=500000
MpiDefault=none
MailProg=/bin/true
MaxArraySize=101
$acct
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=$MN_SLURMD_TIMEOUT
MessageTimeout=$MN_MSG_TIMEOUT
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=DEFAULT CPUs=$MN_CPUS RealMemory=$MEM State=UNKNOWN
CONF
  for i in $(seq 1 "$MN_NODES"); do echo "NodeName=node$i NodeAddr=$(mn_node_ip "$i")"; done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
} >"$conf"
changed=0
cmp -s "$conf" "$SLURM_CONF" || { install -m 0644 "$conf" "$SLURM_CONF"; changed=1; }
rm -f "$conf"

# 3. accounting: own slurmdbd and database ------------------------------------------------------------------
if [ "$MN_ACCOUNTING" = 1 ]; then
  if ! mn_alive "$MN_RUN/slurmdbd.pid" slurmdbd; then
    mariadb -e "CREATE DATABASE IF NOT EXISTS $MN_DB;
      CREATE USER IF NOT EXISTS 'hfmn'@'localhost' IDENTIFIED BY 'hfmn-test';
      GRANT ALL ON $MN_DB.* TO 'hfmn'@'localhost';"
    dbd=$(mktemp)
    cat >"$dbd" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$(( MN_PORT + 2 ))
SlurmUser=slurm
LogFile=$MN_LOG/slurmdbd.log
PidFile=$MN_RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=$MN_DB
StorageUser=hfmn
StoragePass=hfmn-test
CONF
    cmp -s "$dbd" "$MN_CONF_DIR/slurmdbd.conf" || install -o slurm -g slurm -m 0600 "$dbd" "$MN_CONF_DIR/slurmdbd.conf"
    rm -f "$dbd"
    /usr/sbin/slurmdbd   # finds slurmdbd.conf beside $SLURM_CONF
    mn_wait 30 sacctmgr -n list cluster || die "slurmdbd did not come up (see $MN_LOG/slurmdbd.log)"
    log "slurmdbd up (port $(( MN_PORT + 2 )), database $MN_DB)"
  fi
  sacctmgr -n -P list cluster format=cluster | grep -qx "$MN_CLUSTER" || sacctmgr -i add cluster "$MN_CLUSTER" >/dev/null
fi

# 4. controller (own UTS namespace: its hostname must be "ctl", as SlurmctldHost says) -----------------------
if [ "$changed" = 1 ] && mn_alive "$MN_RUN/slurmctld.pid" slurmctld; then
  # some settings (plugins, ports, nodes, timeouts) only take with a restart: restart them all (jobs survive:
  # their slurmstepd processes do not depend on the daemons, and the controller's state is saved)
  log "slurm.conf changed: restarting slurmctld and the slurmds"
  mn_stop "$MN_RUN/slurmctld.pid" slurmctld &
  for i in $(seq 1 "$MN_NODES"); do mn_stop "$(mn_slurmd_pidfile "node$i")" slurmd & done
  wait
fi
if ! mn_alive "$MN_RUN/slurmctld.pid" slurmctld; then
  unshare --uts -- sh -c "hostname ctl && exec /usr/sbin/slurmctld"
  mn_wait 30 scontrol ping || die "slurmctld did not come up (see $MN_LOG/slurmctld.log)"
  log "slurmctld up ($MN_CTL_IP:$MN_PORT)"
fi

# 5. nodes --------------------------------------------------------------------------------------------------
started=""
for i in $(seq 1 "$MN_NODES"); do
  mn_alive "$(mn_slurmd_pidfile "node$i")" slurmd && continue
  mn_start_slurmd "$i"
  started+=" node$i"
done
[ -z "$started" ] || log "slurmd started:$started"
all_ready() { local i; for i in $(seq 1 "$MN_NODES"); do mn_node_ready "node$i" || return 1; done; }
mn_wait "$MN_WAIT" all_ready || { sinfo -N; die "nodes not ready after ${MN_WAIT}s"; }
log "ready: $(sinfo -h -N -o '%N=%T' | tr '\n' ' ')(export SLURM_CONF=$SLURM_CONF)"
