#!/usr/bin/env bash
# Starts (or stops) a one-node Slurm cluster on this machine from Debian's
# packages, for tests and for trying the cluster recipes: munge with a fresh
# key, slurmctld and slurmd, all state under $SLURM_STATE (default
# /tmp/segdiscover-slurm). Needs root. Prints the SLURM_CONF to export.
#   deploy/slurm/local-cluster.sh start|stop|status
set -euo pipefail
state=${SLURM_STATE:-/tmp/segdiscover-slurm}
conf=$state/slurm.conf
cmd=${1:-start}

install_packages() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

stop() {
  for p in slurmd slurmctld; do
    [ -f "$state/$p.pid" ] && kill "$(cat "$state/$p.pid")" 2>/dev/null || true
  done
  [ -f "$state/munged.pid" ] && kill "$(cat "$state/munged.pid")" 2>/dev/null || true
  sleep 1
}

case $cmd in
stop) stop; exit 0 ;;
status) SLURM_CONF=$conf sinfo; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

install_packages
stop
mkdir -p "$state"/{spool,ctld,log,munge}
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2/1024*0.9)}' /proc/meminfo)

# munge: its own key, socket and pid under $state.
dd if=/dev/urandom bs=1 count=1024 of="$state/munge/munge.key" status=none
chmod 400 "$state/munge/munge.key"
munged --force --key-file="$state/munge/munge.key" \
  --socket="$state/munge/munge.socket" --pid-file="$state/munged.pid" \
  --log-file="$state/log/munged.log" --seed-file="$state/munge/seed"

cat >"$conf" <<CONF
ClusterName=segdiscover
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
MaxArraySize=10001
DefMemPerCPU=$((mem / cpus))
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF=$conf
slurmctld
slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 1
done
echo "slurm did not come up; logs in $state/log" >&2
sinfo >&2 || true
tail -20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
exit 1
