#!/usr/bin/env bash
# Control one node of the multi-node test cluster (slurm_mn_up.sh), for node-loss and partition tests.
#
#   slurm_mn_node.sh kill-slurmd NODE   SIGKILL the node's slurmd only: its jobs' processes keep running, unseen
#                                       by slurmctld, until a slurmd comes back (slurmctld then has them killed)
#   slurm_mn_node.sh crash NODE         SIGKILL every process in the node's network namespace (slurmd,
#                                       slurmstepd, job processes): a node that lost power
#   slurm_mn_node.sh start NODE [WAIT]  start the node's slurmd if it is not running; with WAIT (seconds), wait
#                                       until slurmctld has it back in service
#   slurm_mn_node.sh link-down NODE     take the node's link to the bridge down: a network partition (slurmd and
#   slurm_mn_node.sh link-up NODE       jobs keep running, unreachable); link-up heals it
#   slurm_mn_node.sh pids NODE          the pids in the node's network namespace, one a line
#   slurm_mn_node.sh state NODE         slurmctld's state of the node (IDLE, MIXED+NOT_RESPONDING, DOWN+...)
#   slurm_mn_node.sh restore [WAIT]     every node: link up, slurmd started, back in service (default WAIT 60 s)
#
# NODE is node1..nodeN. Prints what it did; exits non-zero on a bad node name or a timeout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_mn_env.sh"
usage() { sed -n '2,16p' "$0" >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1
[ "$action" = restore ] || [ $# -ge 2 ] || usage

ns_pids() { ip netns pids "$MN_NS$1" 2>/dev/null || true; }
back_in_service() {  # back_in_service NODE WAIT: resume a node left DOWN, wait until it takes jobs
  local node=$1 wait=$2
  local end=$(( $(date +%s) + wait ))
  until mn_node_ready "$node"; do
    # a node DOWN for "Not responding" returns by itself when slurmd registers (ReturnToService=2); one set
    # DOWN or DRAIN for another reason (e.g. "Kill task failed") needs an explicit resume
    local s; s=$(mn_node_state "$node")
    if [[ ( "$s" == DOWN* || "$s" == *DRAIN* ) && "$s" != *NOT_RESPONDING* ]]; then
      scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
    fi
    [ "$(date +%s)" -lt "$end" ] || { echo "$node not back in service after ${wait}s (state $s)" >&2; return 1; }
    sleep 0.2
  done
}

case $action in
  kill-slurmd)
    i=$(mn_index "$2")
    pidfile=$(mn_slurmd_pidfile "$2")
    mn_alive "$pidfile" slurmd || { echo "$2: slurmd not running" >&2; exit 1; }
    pid=$(cat "$pidfile")
    kill -9 "$pid"
    echo "$2: SIGKILLed slurmd $pid"
    ;;
  crash)
    i=$(mn_index "$2")
    pids=$(ns_pids "$i")
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    for _ in $(seq 1 50); do [ -z "$(ns_pids "$i")" ] && break; sleep 0.1; done
    echo "$2: SIGKILLed every process in netns $MN_NS$i:" $pids
    ;;
  start)
    i=$(mn_index "$2")
    mn_start_slurmd "$i"
    echo "$2: slurmd running ($(cat "$(mn_slurmd_pidfile "$2")"))"
    if [ $# -ge 3 ]; then back_in_service "$2" "$3"; echo "$2: $(mn_node_state "$2")"; fi
    ;;
  link-down|link-up)
    i=$(mn_index "$2")
    ip link set "$MN_NS${i}h" "${action#link-}"
    echo "$2: link $MN_NS${i}h ${action#link-}"
    ;;
  pids)
    i=$(mn_index "$2")
    ns_pids "$i"
    ;;
  state)
    mn_index "$2" >/dev/null
    mn_node_state "$2"
    ;;
  restore)
    wait=${2:-60}
    for i in $(seq 1 "$MN_NODES"); do
      ip link set "$MN_NS${i}h" up
      mn_start_slurmd "$i"
    done
    for i in $(seq 1 "$MN_NODES"); do back_in_service "node$i" "$wait"; done
    echo "restored: $(sinfo -h -N -o '%N=%T' | tr '\n' ' ')"
    ;;
  *) usage ;;
esac
