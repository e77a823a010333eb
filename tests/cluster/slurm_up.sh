#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine, with slurmdbd accounting, for hydraflow's tests.
#
#   bash tests/cluster/slurm_up.sh          # idempotent: a daemon already running is left alone
#   bash tests/cluster/slurm_down.sh        # stops what this script started
#
# Needs root on Debian/Ubuntu (apt-get, no systemd). Daemons: munged, mariadbd + slurmdbd (submitit polls job
# state with `sacct`, which needs accounting), slurmctld, slurmd. Also installs slurm-wlm-torque, whose
# qsub/qstat/qdel wrappers over the SLURM queue let the PBS backend's Torque dialect be tested end to end.
#
# Tunables (environment):
#   HF_SLURM_MAX_ARRAY_SIZE  MaxArraySize of the cluster (default 101: a 100-task array fits, more must be split)
#   HF_SLURM_CPUS            CPUs the node advertises (default: nproc; more than nproc oversubscribes no-op jobs)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
MAX_ARRAY_SIZE=${HF_SLURM_MAX_ARRAY_SIZE:-101}
NCPU=${HF_SLURM_CPUS:-$(nproc)}
t0=$(date +%s)
log() { echo "[slurm_up +$(( $(date +%s) - t0 ))s] $*"; }

wait_for() {  # wait_for SECONDS CMD...: retry CMD every 0.25 s
  local tries=$(( $1 * 4 )); shift
  local i
  for (( i = 0; i < tries; i++ )); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "slurm_up: timed out waiting for: $*" >&2
  return 1
}
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "$(id -u)" != 0 ]; then echo "slurm_up: must run as root" >&2; exit 1; fi

# 1. packages --------------------------------------------------------------------------------------
pkgs=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server slurm-wlm-torque)
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  log "installing ${pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
log "packages present"

# 2. munge -----------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
wait_for 10 bash -c 'munge -n | unmunge'
log "munged up"

# 3. slurm.conf (before slurmdbd: sacctmgr reads it) -----------------------------------------------
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
conf=$(mktemp)
cat >"$conf" <<CONF
# Written by hydraflow tests/cluster/slurm_up.sh
ClusterName=hydraflow
SlurmctldHost=localhost
AuthType=auth/munge
AuthInfo=cred_expire=10
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
MaxArraySize=${MAX_ARRAY_SIZE}
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=localhost CPUs=${NCPU} RealMemory=${MEM} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
reconfigure=0
if ! cmp -s "$conf" /etc/slurm/slurm.conf; then
  install -m 0644 "$conf" /etc/slurm/slurm.conf
  reconfigure=1
fi
rm -f "$conf"
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
install -d /var/spool/slurmd

# 4. accounting: mariadb + slurmdbd ----------------------------------------------------------------
install -d -o mysql -g root -m 0755 /run/mysqld
if ! mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
  nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --skip-networking=0 \
    --pid-file=/run/mysqld/mysqld.pid --socket=/run/mysqld/mysqld.sock \
    --innodb-buffer-pool-size=64M >/var/log/mariadbd.log 2>&1 &
  wait_for 60 mariadb-admin --socket=/run/mysqld/mysqld.sock ping
fi
mariadb --socket=/run/mysqld/mysqld.sock -e "
  CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'hydraflow-test';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
log "mariadb up"
cat >/etc/slurm/slurmdbd.conf <<'CONF'
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=hydraflow-test
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf
running /run/slurmdbd.pid || /usr/sbin/slurmdbd
wait_for 30 sacctmgr -n list cluster
log "slurmdbd up"

# 5. controller and node ---------------------------------------------------------------------------
if running /run/slurmctld.pid && [ "$reconfigure" = 1 ]; then
  scontrol reconfigure || true
fi
running /run/slurmctld.pid || /usr/sbin/slurmctld
running /run/slurmd.pid || /usr/sbin/slurmd -N localhost
wait_for 60 bash -c 'sinfo -h -o %T | grep -qE "^(idle|mixed|allocated)"'
log "slurmctld + slurmd up"

# 6. smoke test: a job runs and accounting sees it ------------------------------------------------
jid=$(cd /tmp && sbatch --parsable --wait -o /dev/null --wrap true)
wait_for 30 bash -c "sacct -n -X -j $jid -o State | grep -q COMPLETED"
log "cluster ready (MaxArraySize=$(scontrol show config | awk '/^MaxArraySize/ {print $3}'), CPUs=$NCPU)"
