# Sourced by slurm_mn_up.sh, slurm_mn_down.sh and slurm_mn_node.sh: the multi-node cluster's names and knobs.
#
# Knobs (environment; the values a running cluster was started with are kept in $MN_RUN/knobs.env and are the
# defaults of every later call, so that a plain re-run, e.g. to restart a killed slurmd, changes nothing):
#   HF_MN_NODES=3            compute nodes node1..nodeN
#   HF_MN_NET=10.204.0       /24 prefix of the bridge: controller .1, nodeI .(10+I)
#   HF_MN_PORT=7817          slurmctld port; slurmd uses +1, slurmdbd +2
#   HF_MN_CPUS=$(nproc)      CPUs each node advertises (more than the machine has = oversubscription)
#   HF_MN_SLURMD_TIMEOUT=5   SlurmdTimeout  } together they set how fast a lost node is noticed; slurmctld reads
#   HF_MN_MSG_TIMEOUT=5      MessageTimeout } them at start only: change them with slurm_mn_down.sh + up
#   HF_MN_ACCOUNTING=1       own slurmdbd + database hfmn_acct_db in the local MariaDB (sacct, and so submitit's
#                            state polling, works); 0: none (sacct fails, submitit cannot see NODE_FAIL)
#   HF_MN_WAIT=60            seconds to wait for the nodes to come up
# shellcheck shell=bash
MN_RUN=/run/slurm-mn
if [ -s "$MN_RUN/knobs.env" ]; then . "$MN_RUN/knobs.env"; fi
MN_NODES=${HF_MN_NODES:-3}
MN_NET=${HF_MN_NET:-10.204.0}
MN_PORT=${HF_MN_PORT:-7817}
MN_CPUS=${HF_MN_CPUS:-$(nproc)}
MN_SLURMD_TIMEOUT=${HF_MN_SLURMD_TIMEOUT:-5}
MN_MSG_TIMEOUT=${HF_MN_MSG_TIMEOUT:-5}
MN_ACCOUNTING=${HF_MN_ACCOUNTING:-1}
MN_WAIT=${HF_MN_WAIT:-60}

MN_CLUSTER=hfmn
MN_CONF_DIR=/etc/slurm-mn
MN_STATE=/var/spool/slurm-mn
MN_LOG=/var/log/slurm-mn
MN_BRIDGE=hfmn0             # bridge in the root namespace, address $MN_NET.1 (hostname ctl)
MN_NS=hfmn                  # network namespaces hfmn1..N; veth hfmnIh (bridge side) <-> eth0 (in the namespace)
MN_CTL_IP=$MN_NET.1
MN_DB=hfmn_acct_db
MN_HOSTS_TAG="# hydraflow-slurm-mn"
export SLURM_CONF=$MN_CONF_DIR/slurm.conf

mn_save_knobs() {
  install -d -m 0755 "$MN_RUN"
  cat >"$MN_RUN/knobs.env" <<KNOBS
HF_MN_NODES=\${HF_MN_NODES:-$MN_NODES}
HF_MN_NET=\${HF_MN_NET:-$MN_NET}
HF_MN_PORT=\${HF_MN_PORT:-$MN_PORT}
HF_MN_CPUS=\${HF_MN_CPUS:-$MN_CPUS}
HF_MN_SLURMD_TIMEOUT=\${HF_MN_SLURMD_TIMEOUT:-$MN_SLURMD_TIMEOUT}
HF_MN_MSG_TIMEOUT=\${HF_MN_MSG_TIMEOUT:-$MN_MSG_TIMEOUT}
HF_MN_ACCOUNTING=\${HF_MN_ACCOUNTING:-$MN_ACCOUNTING}
KNOBS
}

mn_node_ip() { echo "$MN_NET.$(( 10 + $1 ))"; }        # mn_node_ip I
mn_index() {                                              # mn_index nodeI -> I (exits 2 on a bad name)
  local i=${1#node}
  if [[ "$1" == node* && "$i" =~ ^[0-9]+$ && "$i" -ge 1 && "$i" -le "$MN_NODES" ]]; then echo "$i"; return; fi
  echo "no such node: $1 (node1..node$MN_NODES)" >&2
  exit 2
}
# mn_alive PIDFILE COMM: the pid file names a live process whose comm is COMM (guards against pid reuse)
mn_alive() { local p; [ -s "$1" ] && p=$(cat "$1") && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ]; }
mn_stop() {  # mn_stop PIDFILE COMM: SIGTERM the daemon named by the pid file, wait up to 10 s, then SIGKILL
  mn_alive "$1" "$2" || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  if [ -d "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null; fi
  rm -f "$1"
}
mn_slurmd_pidfile() { echo "$MN_RUN/slurmd-$1.pid"; }

mn_start_slurmd() {  # mn_start_slurmd I: slurmd of nodeI in its netns and its own UTS namespace (hostname nodeI)
  local node=node$1
  mn_alive "$(mn_slurmd_pidfile "$node")" slurmd && return 0
  install -d -m 0755 "$MN_STATE/$node"
  # nsenter, not `ip netns exec`: that also makes a mount namespace with a fresh /sys, which hides the cgroup
  # mounts, and slurmd 22.05 then refuses to start ("Unable to initialize cgroup plugin").
  nsenter --net="/run/netns/$MN_NS$1" -- unshare --uts -- sh -c "hostname $node && exec /usr/sbin/slurmd -N $node"
}

# mn_node_state nodeI: scontrol's State= of the node (e.g. IDLE, MIXED+NOT_RESPONDING, DOWN+NOT_RESPONDING)
mn_node_state() { scontrol -o show node "$1" 2>/dev/null | grep -oE 'State=[^ ]+' | head -1 | cut -d= -f2; }
mn_node_ready() {  # the node answers and takes jobs
  local s; s=$(mn_node_state "$1")
  [[ "$s" =~ ^(IDLE|MIXED|ALLOCATED|COMPLETING) && "$s" != *NOT_RESPONDING* && "$s" != *DRAIN* ]]
}
mn_wait() {  # mn_wait SECONDS CMD...: retry CMD every 0.2 s
  local secs=$1 end=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { echo "timed out after ${secs}s waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}
