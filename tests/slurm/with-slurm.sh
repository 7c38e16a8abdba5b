#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# with-slurm.sh CMD [ARGS...]: start a private single-node Slurm (munge,
# slurmctld, slurmd from the distribution's packages, all state under a
# scratch folder; nothing under /etc is touched), run CMD with SLURM_CONF
# pointing at it, stop the daemons by PID, and exit with CMD's status.
# Exit 77 (skip) when Slurm cannot be started here: not root, packages
# missing, or a real Slurm already running on this machine.
set -u
skip() { echo "SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "the Slurm test cluster needs root"
for b in slurmctld slurmd munged sbatch srun; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || skip "$b not installed (apt-get install slurmctld slurmd slurm-client munge)"
done
export PATH="$PATH:/usr/sbin"
if pgrep -x slurmctld >/dev/null 2>&1 || pgrep -x slurmd >/dev/null 2>&1; then
  # Another test's private cluster may still be shutting down: give it time.
  for i in $(seq 1 50); do
    pgrep -x slurmctld >/dev/null 2>&1 || pgrep -x slurmd >/dev/null 2>&1 || break
    sleep 0.2
  done
  if pgrep -x slurmctld >/dev/null 2>&1 || pgrep -x slurmd >/dev/null 2>&1; then
    skip "a Slurm daemon already runs on this machine; not starting another next to it"
  fi
fi
id munge >/dev/null 2>&1 || skip "no munge user"

D=$(mktemp -d /tmp/sluice-slurm-XXXXXX)
chmod 755 "$D"
mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log"
chown munge:munge "$D/munge"; chmod 711 "$D/munge"
dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 2>/dev/null
chown munge:munge "$D/munge/munge.key"; chmod 400 "$D/munge/munge.key"
SOCK="$D/munge/munge.sock"

HOST=$(hostname -s)
NCPU=$(nproc)
CPUS=${SLUICE_SLURM_CPUS:-4}
[ "$CPUS" -lt "$NCPU" ] && CPUS=$NCPU
MEM=$(awk '/MemTotal/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
PORT0=$(( 17000 + ($$ % 2000) * 2 ))
cat >"$D/slurm.conf" <<CONF
ClusterName=sluicetest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT0
SlurmdPort=$((PORT0 + 1))
AuthType=auth/munge
AuthInfo=socket=$SOCK,cred_expire=5
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SlurmdParameters=config_overrides
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
MinJobAge=5
SchedulerParameters=batch_sched_delay=0
MailProg=/bin/true
ReturnToService=2
KillWait=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

cleanup() {
  for p in slurmd slurmctld; do
    [ -f "$D/$p.pid" ] && kill "$(cat "$D/$p.pid")" 2>/dev/null
  done
  [ -f "$D/munge/munged.pid" ] && kill "$(cat "$D/munge/munged.pid")" 2>/dev/null
  # Wait until they are gone, so the next test does not see them.
  for i in $(seq 1 50); do
    alive=0
    for p in slurmd slurmctld munge/munged; do
      [ -f "$D/$p.pid" ] && kill -0 "$(cat "$D/$p.pid")" 2>/dev/null && alive=1
    done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in slurmd slurmctld munge/munged; do
    [ -f "$D/$p.pid" ] && kill -9 "$(cat "$D/$p.pid")" 2>/dev/null
  done
  if [ -n "${SLUICE_SLURM_KEEP:-}" ]; then echo "slurm state kept in $D" >&2; else rm -rf "$D"; fi
}
trap cleanup EXIT

runuser -u munge -- munged --socket="$SOCK" --key-file="$D/munge/munge.key" \
  --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" \
  --seed-file="$D/munge/munged.seed" || skip "munged did not start"
export SLURM_CONF="$D/slurm.conf"
slurmctld -f "$SLURM_CONF" || { cat "$D/log/slurmctld.log" >&2; skip "slurmctld did not start"; }
slurmd -f "$SLURM_CONF" || { cat "$D/log/slurmd.log" >&2; skip "slurmd did not start"; }
# Wait for the node to be idle.
for i in $(seq 1 50); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1)
  [ "$state" = "idle" ] && break
  sleep 0.2
done
[ "$state" = "idle" ] || { sinfo >&2; cat "$D/log/slurmctld.log" "$D/log/slurmd.log" >&2; echo "FAIL: Slurm node not idle ($state)" >&2; exit 1; }
export SLUICE_SLURM_DIR="$D"
"$@"
rc=$?
exit $rc
