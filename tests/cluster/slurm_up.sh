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
# The node "localhost" can hold packed tasks (issue 11): it advertises HF_SLURM_CPUS CPUs (config_overrides lets
# it claim more than the machine has) and HF_SLURM_GPUS GPUs as GRES, backed by fake character devices
# /run/hydraflow-fake-gpu/nvidia0..N-1 (major 195, nothing behind them): a job asking --gres=gpu:K gets
# CUDA_VISIBLE_DEVICES / SLURM_JOB_GPUS from SLURM itself. task/affinity binds each job's CPUs (only CPUs that
# exist can be bound: see tests/cluster/README.md for what an oversubscribed job gets).
#
# Tunables (environment):
#   HF_SLURM_MAX_ARRAY_SIZE  MaxArraySize of the cluster (default 101: a 100-task array fits, more must be split)
#   HF_SLURM_CPUS            CPUs the node advertises (default 8; more than nproc oversubscribes no-op jobs)
#   HF_SLURM_GPUS            fake GPUs (GRES gpu) of the node (default 4; 0: no GRES)
#   HF_SLURM_TASK_PLUGIN     affinity (default: task/affinity, works anywhere sched_setaffinity does),
#                            cgroup (task/cgroup,task/affinity with ConstrainCores and ConstrainDevices: needs the
#                            cgroup v1 cpuset and devices controllers; CUDA_VISIBLE_DEVICES is then 0..K-1 and the
#                            other fake GPUs are EPERM to the job), or none
# A changed configuration restarts slurmctld and slurmd (running jobs survive; slurmdbd and MariaDB are left
# alone, state is kept). When everything already runs unchanged the script takes well under a second.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
MAX_ARRAY_SIZE=${HF_SLURM_MAX_ARRAY_SIZE:-101}
NCPU=${HF_SLURM_CPUS:-8}
NGPU=${HF_SLURM_GPUS:-4}
TASK=${HF_SLURM_TASK_PLUGIN:-affinity}
GPU_DIR=/run/hydraflow-fake-gpu
t0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - t0) / 1000000 )); echo "[slurm_up +$(( ms / 1000 )).$(printf %03d $(( ms % 1000 )))s] $*"; }

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
stop() {  # stop PIDFILE: SIGTERM, up to 30 s, then SIGKILL
  running "$1" || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$1"
}
install_if_changed() {  # install_if_changed TMPFILE DEST MODE: sets changed=1 when DEST differs
  if ! cmp -s "$1" "$2"; then install -m "$3" "$1" "$2"; changed=1; fi
  rm -f "$1"
}
case $TASK in
  affinity) task_plugin=task/affinity ;;
  cgroup)   task_plugin=task/cgroup,task/affinity
            [ -d /sys/fs/cgroup/cpuset ] && [ -d /sys/fs/cgroup/devices ] || {
              echo "slurm_up: HF_SLURM_TASK_PLUGIN=cgroup needs the cgroup v1 cpuset and devices controllers" >&2; exit 1; } ;;
  none)     task_plugin=task/none ;;
  *) echo "slurm_up: HF_SLURM_TASK_PLUGIN must be affinity, cgroup or none, not $TASK" >&2; exit 1 ;;
esac

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

# 3. slurm.conf, gres.conf, cgroup.conf (before slurmdbd: sacctmgr reads slurm.conf) ------------------------
changed=0
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
gres_line="" gres_types="" node_gres=""
if [ "$NGPU" -gt 0 ]; then
  install -d -m 0755 "$GPU_DIR"
  for (( i = 0; i < NGPU; i++ )); do
    dev=$GPU_DIR/nvidia$i
    # a character device is required: slurmd 22.05 ignores plain files ("not a valid character or block device")
    [ "$(stat -c '%F %t:%T' "$dev" 2>/dev/null)" = "character special file c3:$(printf %x "$i")" ] && continue
    rm -f "$dev"
    if ! mknod -m 0666 "$dev" c 195 "$i"; then
      log "WARNING: cannot create character devices (no CAP_MKNOD?): the node gets no GPUs"
      NGPU=0
      break
    fi
  done
fi
if [ "$NGPU" -gt 0 ]; then
  gres_types="GresTypes=gpu
AccountingStorageTRES=gres/gpu"
  node_gres=" Gres=gpu:$NGPU"
  gres_line="NodeName=localhost Name=gpu File=$GPU_DIR/nvidia[0-$(( NGPU - 1 ))]"
fi
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
TaskPlugin=${task_plugin}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
${gres_types}
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
NodeName=localhost CPUs=${NCPU} RealMemory=${MEM}${node_gres} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
install_if_changed "$conf" /etc/slurm/slurm.conf 0644
conf=$(mktemp)
echo "$gres_line" >"$conf"
install_if_changed "$conf" /etc/slurm/gres.conf 0644
conf=$(mktemp)
printf 'CgroupPlugin=cgroup/v1\nConstrainCores=yes\nConstrainDevices=yes\n' >"$conf"
if [ "$TASK" = cgroup ]; then install_if_changed "$conf" /etc/slurm/cgroup.conf 0644
else rm -f "$conf"; [ ! -e /etc/slurm/cgroup.conf ] || { rm -f /etc/slurm/cgroup.conf; changed=1; }; fi
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
# GresTypes, TaskPlugin and the node's CPUs/GRES only take with a restart (scontrol reconfigure is not enough):
# restart both daemons (running jobs survive: their slurmstepd does not depend on them; state is kept)
started=0
if [ "$changed" = 1 ] && { running /run/slurmctld.pid || running /run/slurmd.pid; }; then
  log "configuration changed: restarting slurmctld and slurmd"
  stop /run/slurmctld.pid & p1=$!
  stop /run/slurmd.pid & p2=$!
  wait "$p1" "$p2"
fi
running /run/slurmctld.pid || { /usr/sbin/slurmctld; started=1; }
running /run/slurmd.pid || { /usr/sbin/slurmd -N localhost; started=1; }
wait_for 60 bash -c 'sinfo -h -o %T | grep -qE "^(idle|mixed|allocated)"'
log "slurmctld + slurmd up"

# 6. smoke test, after a (re)start: a job runs and accounting sees it ------------------------------
if [ "$started" = 1 ]; then
  jid=$(cd /tmp && sbatch --parsable --wait -o /dev/null --wrap true)
  wait_for 30 bash -c "sacct -n -X -j $jid -o State | grep -q COMPLETED"
fi
log "cluster ready (MaxArraySize=$(scontrol show config | awk '/^MaxArraySize/ {print $3}'), CPUs=$NCPU, GPUs=$NGPU, $task_plugin)"
