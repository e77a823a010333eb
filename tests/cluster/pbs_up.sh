#!/usr/bin/env bash
# Bring up a single-node OpenPBS complex (PBS Pro's open-source edition) for hydraflow's PBS tests.
#
#   bash tests/cluster/pbs_up.sh                  # idempotent: builds once per machine, starts what is not running
#   bash tests/cluster/pbs_down.sh [--purge|--uninstall]
#
# Needs root on Debian/Ubuntu (apt-get, no systemd). Builds OpenPBS from its source tarball into $HF_PBS_PREFIX
# (default /opt/pbs) unless a build is already installed there (~4.5 min on 2 cores, once per machine), then
# starts pbs_comm, pbs_mom, pbs_sched, pbs_server and PBS's own PostgreSQL datastore (port 15007).
#
# Source tarball: $HF_OPENPBS_TARBALL, else ../shared/reference/openpbs/openpbs-src.tar.gz next to the repository
# (tested: OpenPBS 23.06.06 plus the two upstream commits that make it build against Python 3.11).
#
# Network: PBS will not use a loopback address as its host address, and on the test machines only loopback or
# addresses inside a network namespace we create ourselves may be used. So every PBS daemon runs in the network
# namespace $HF_PBS_NETNS (no default route: nothing leaves it), joined to the root namespace by a veth pair:
# 10.203.0.2 = "pbshost" (the server/mom host), 10.203.0.1 = "pbsclient" (qsub/qstat/qdel from the root
# namespace), both written to /etc/hosts with a "# hydraflow-pbs" tag. Jobs run inside the namespace on the same
# file system, as the submitting user (root may run jobs: acl_roots). Nothing here listens in the root namespace,
# so SLURM (6817-6819), MariaDB (3306) and a PostgreSQL on 127.0.0.1:5432 do not clash with it; PBS's datastore
# socket is /var/run/postgresql/.s.PGSQL.15007.
#
# Client commands are in $HF_PBS_PREFIX/bin, which is deliberately NOT put on the global PATH: Debian's
# slurm-wlm-torque ships other qsub/qstat/qdel in /usr/bin (the Torque dialect's tests use those). The PBS tests
# put $HF_PBS_PREFIX/bin first on their own PATH.
#
# Tunables (environment):
#   HF_OPENPBS_TARBALL  source tarball (see above)
#   HF_PBS_PREFIX       install prefix (default /opt/pbs)
#   HF_PBS_WORK         build tree and logs (default /var/tmp/hydraflow-openpbs)
#   HF_PBS_NETNS        network namespace of the daemons (default hfpbs)
#   HF_PBS_NCPUS        CPUs the node advertises (default: nproc; more than nproc oversubscribes no-op jobs)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s)
log() { echo "[pbs_up +$(( $(date +%s) - t0 ))s] $*"; }
die() { echo "pbs_up: $*" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARBALL=${HF_OPENPBS_TARBALL:-$REPO/../shared/reference/openpbs/openpbs-src.tar.gz}
PREFIX=${HF_PBS_PREFIX:-/opt/pbs}
WORK=${HF_PBS_WORK:-/var/tmp/hydraflow-openpbs}
NETNS=${HF_PBS_NETNS:-hfpbs}
NCPUS=${HF_PBS_NCPUS:-$(nproc)}
HOST=pbshost HOST_IP=10.203.0.2
CLIENT=pbsclient CLIENT_IP=10.203.0.1
VETH_ROOT=${NETNS}0 VETH_NS=${NETNS}1
PBS_HOME=/var/spool/pbs
TAG="# hydraflow-pbs"
# The build must embed the system Python, and the daemons must not inherit a virtualenv or pyenv.
CLEAN_PATH=$PREFIX/bin:$PREFIX/sbin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$CLEAN_PATH
unset PYTHONHOME PYTHONPATH VIRTUAL_ENV

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$WORK/logs"
# one bring-up at a time (nox may start one in the background while a developer runs another); the daemons
# started below must not inherit the lock (fd 9 is closed for them), or the next bring-up waits for ever
exec 9>"$WORK/lock"
flock -w 1800 9 || die "another bring-up has held $WORK/lock for 30 min"

in_ns() { ip netns exec "$NETNS" "$@"; }
# run a command inside the namespace with a minimal environment (daemons started from a test run or a nox
# session would otherwise hand its variables to every job)
in_ns_clean() { env -i PATH="$CLEAN_PATH" LANG=C.UTF-8 HOME=/root ip netns exec "$NETNS" "$@" 9>&-; }

# 1. build and install (once per machine) -------------------------------------------------------------------
installed() { [ -x "$PREFIX/sbin/pbs_server.bin" ] && [ -x "$PREFIX/libexec/pbs_postinstall" ] && [ -x "$PREFIX/bin/qsub" ]; }
BUILD_DEPS=(gcc g++ make libtool autoconf automake pkg-config perl swig python3-dev tcl-dev tk-dev
  libhwloc-dev libx11-dev libxt-dev libxext-dev libxft-dev libedit-dev libical-dev libncurses-dev
  libexpat1-dev expat libssl-dev libcjson-dev zlib1g-dev postgresql-server-dev-all)
RUN_DEPS=(postgresql postgresql-contrib iproute2 procps util-linux)
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  log "apt-get install ${missing[*]}"
  # wait for a package manager another bring-up may be running (nox starts this one in the background)
  apt-get -o DPkg::Lock::Timeout=600 update -qq >"$WORK/logs/apt.log" 2>&1
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >>"$WORK/logs/apt.log" 2>&1 ||
    { tail -20 "$WORK/logs/apt.log" >&2; die "apt-get install failed (log: $WORK/logs/apt.log)"; }
}
apt_install "${RUN_DEPS[@]}"
if installed; then
  log "OpenPBS already installed in $PREFIX"
else
  [ -f "$TARBALL" ] || die "OpenPBS is not installed in $PREFIX and the source tarball is missing: $TARBALL (set HF_OPENPBS_TARBALL)"
  apt_install "${BUILD_DEPS[@]}"
  src=$WORK/src
  if [ ! -f "$src/.unpacked" ] || [ "$TARBALL" -nt "$src/.unpacked" ]; then
    rm -rf "$src" && mkdir -p "$src"
    tar -xzf "$TARBALL" -C "$src" --strip-components=1
    touch "$src/.unpacked"
  fi
  # Python >= 3.11 has no eval.h (upstream 1d17427c0); a pristine 23.06.06 tree needs this one-line fix.
  f=$src/src/lib/Libpython/pbs_python_external.c
  if grep -q '^#include <eval.h>' "$f"; then
    log "applying the Python 3.11 eval.h fix to $f"
    sed -i 's|^#include <eval.h>.*|#include <Python.h>|' "$f"
  fi
  cd "$src"
  if [ ! -f config.status ]; then
    log "configure (log: $WORK/logs/configure.log)"
    { [ -x configure ] || ./autogen.sh; } >"$WORK/logs/configure.log" 2>&1
    nice -n 19 ./configure --prefix="$PREFIX" --with-python=/usr >>"$WORK/logs/configure.log" 2>&1 ||
      { tail -30 "$WORK/logs/configure.log" >&2; die "configure failed"; }
  fi
  log "make -j$(nproc) (log: $WORK/logs/build.log)"
  # niced: the build may run in the background while other tests use the CPUs
  nice -n 19 make -j"$(nproc)" >"$WORK/logs/build.log" 2>&1 || { tail -40 "$WORK/logs/build.log" >&2; die "build failed"; }
  make install >"$WORK/logs/install.log" 2>&1 || { tail -30 "$WORK/logs/install.log" >&2; die "make install failed"; }
  cd /
  installed || die "make install did not produce $PREFIX/sbin/pbs_server.bin"
  log "OpenPBS built and installed in $PREFIX"
fi

# 2. network namespace, veth pair, host names --------------------------------------------------------------
ip netns list | grep -qE "^$NETNS( |\$)" || ip netns add "$NETNS"
if ! ip link show "$VETH_ROOT" >/dev/null 2>&1; then
  ip -n "$NETNS" link del "$VETH_NS" >/dev/null 2>&1 || true
  ip link add "$VETH_ROOT" type veth peer name "$VETH_NS" netns "$NETNS"
fi
ip -4 addr show dev "$VETH_ROOT" | grep -q "inet $CLIENT_IP/" || ip addr add "$CLIENT_IP/30" dev "$VETH_ROOT"
ip -n "$NETNS" -4 addr show dev "$VETH_NS" | grep -q "inet $HOST_IP/" || ip -n "$NETNS" addr add "$HOST_IP/30" dev "$VETH_NS"
ip link set "$VETH_ROOT" up
ip -n "$NETNS" link set lo up
ip -n "$NETNS" link set "$VETH_NS" up
[ -z "$(ip -n "$NETNS" route show default)" ] || die "namespace $NETNS has a default route; PBS traffic must stay on the veth"
hosts_lines=$(printf '%s %s %s\n%s %s %s' "$HOST_IP" "$HOST" "$TAG" "$CLIENT_IP" "$CLIENT" "$TAG")
if [ "$(grep -F "$TAG" /etc/hosts || true)" != "$hosts_lines" ]; then
  # /etc/hosts may be a bind mount: rewrite its content in place, never replace the file; older lines for
  # these names (another tag, a stale address) go
  new=$(grep -vE "$TAG|[[:space:]]($HOST|$CLIENT)([[:space:]]|\$)" /etc/hosts || true)
  printf '%s\n%s\n' "$new" "$hosts_lines" >/etc/hosts
fi
log "network namespace $NETNS: $HOST=$HOST_IP, $CLIENT=$CLIENT_IP"

# 3. PBS configuration ---------------------------------------------------------------------------------------
if [ ! -f /etc/pbs.conf ] || [ ! -d "$PBS_HOME/mom_priv" ]; then
  PBS_SERVER=$HOST in_ns_clean "$PREFIX/libexec/pbs_postinstall" >"$WORK/logs/postinstall.log" 2>&1 ||
    { tail -20 "$WORK/logs/postinstall.log" >&2; die "pbs_postinstall failed"; }
fi
conf=$(cat <<CONF
PBS_EXEC=$PREFIX
PBS_HOME=$PBS_HOME
PBS_SERVER=$HOST
PBS_START_SERVER=1
PBS_START_SCHED=1
PBS_START_COMM=1
PBS_START_MOM=1
PBS_CORE_LIMIT=unlimited
PBS_SCP=/usr/bin/scp
PBS_LEAF_NAME=$HOST
PBS_MOM_NODE_NAME=$HOST
CONF
)
[ "$(cat /etc/pbs.conf 2>/dev/null)" = "$conf" ] || { printf '%s\n' "$conf" >/etc/pbs.conf; chmod 644 /etc/pbs.conf; }
chmod 4755 "$PREFIX/sbin/pbs_iff" "$PREFIX/sbin/pbs_rcp"
# output files are copied with cp on the shared file system, never scp
grep -q '^\$usecp' "$PBS_HOME/mom_priv/config" 2>/dev/null || echo '$usecp *:/ /' >>"$PBS_HOME/mom_priv/config"

# 4. daemons -------------------------------------------------------------------------------------------------
daemon_pids() {
  pgrep -x pbs_server.bin; pgrep -x pbs_mom; pgrep -x pbs_sched; pgrep -x pbs_comm
  pgrep -f "postgres -D $PBS_HOME/datastore" | head -1
} 2>/dev/null
all_in_ns() {
  local p n=0
  for p in $(daemon_pids); do
    [ "$(ip netns identify "$p" 2>/dev/null)" = "$NETNS" ] || return 1
    n=$((n + 1))
  done
  [ "$n" -ge 5 ]
}
if all_in_ns && qstat -B >/dev/null 2>&1; then
  log "daemons already running in $NETNS"
else
  if [ -n "$(daemon_pids)" ]; then  # a partial start, or daemons outside the namespace: restart cleanly
    log "restarting a partial PBS ($(daemon_pids | tr '\n' ' '))"
    in_ns_clean "$PREFIX/libexec/pbs_init.d" stop >>"$WORK/logs/start.log" 2>&1 || true
    env -i PATH="$CLEAN_PATH" "$PREFIX/libexec/pbs_init.d" stop >>"$WORK/logs/start.log" 2>&1 9>&- || true
    for _ in $(seq 1 60); do [ -z "$(daemon_pids)" ] && break; sleep 0.5; done
  fi
  log "starting pbs_comm, pbs_mom, pbs_sched, pbs_server and the datastore in $NETNS"
  in_ns_clean "$PREFIX/libexec/pbs_init.d" start >>"$WORK/logs/start.log" 2>&1 </dev/null ||
    { tail -20 "$WORK/logs/start.log" >&2; die "pbs start failed (logs: $WORK/logs/start.log, $PBS_HOME/server_logs)"; }
fi
for _ in $(seq 1 240); do qstat -B >/dev/null 2>&1 && break; sleep 0.25; done
qstat -B >/dev/null || die "pbs_server does not answer from the root namespace (see $PBS_HOME/server_logs)"
all_in_ns || die "some PBS daemon is not running inside $NETNS: $(daemon_pids | tr '\n' ' ')"

# 5. server settings (idempotent; made inside the namespace, where root is root@pbshost) ---------------------
qmgr_ns() { in_ns_clean "$PREFIX/bin/qmgr" -c "$1"; }
qmgr_ns "set server flatuid = True"               # clients connect from pbsclient: no ruserok check
in_ns_clean "$PREFIX/bin/qmgr" -c "list server managers" | grep -q "root@$CLIENT" ||
  qmgr_ns "set server managers += root@$CLIENT"   # root may manage the server from the root namespace
qmgr_ns "set server acl_roots = root"             # root may run jobs (the tests run as root)
qmgr_ns "set server job_history_enable = True"    # qstat -x: finished jobs stay visible
qmgr_ns "set server scheduler_iteration = 10"
qmgr_ns "set node $HOST resources_available.ncpus = $NCPUS"
for _ in $(seq 1 240); do pbsnodes "$HOST" 2>/dev/null | grep -q 'state = free' && break; sleep 0.25; done
pbsnodes "$HOST" | grep -q 'state = free' || { pbsnodes -a >&2; die "node $HOST is not free"; }
log "server up: $(qstat -Bf | awk '/pbs_version/ {print "OpenPBS " $3}'), node $HOST with $NCPUS CPUs"

# 6. smoke test: a job runs and its history is kept ---------------------------------------------------------
smoke=$(mktemp -d /tmp/hydraflow-pbs-smoke.XXXXXX)
jid=$(cd "$smoke" && echo 'exit 0' | qsub -N hf_smoke -o "$smoke/out" -j oe 9>&-)
for _ in $(seq 1 240); do
  qstat -x -f "$jid" 2>/dev/null | grep -q 'job_state = F' && break
  sleep 0.25
done
qstat -x -f "$jid" | grep -q 'Exit_status = 0' || { qstat -x -f "$jid" >&2; die "smoke job $jid did not finish with exit 0"; }
rm -rf "$smoke"
log "cluster ready (client commands: $PREFIX/bin; smoke job $jid ran)"
