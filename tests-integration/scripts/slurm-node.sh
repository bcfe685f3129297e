#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests: munged, slurmctld and slurmd started
# by hand (no systemd), configured in DIR, listening on loopback ports of their own.
#
#   slurm-node.sh up DIR     start it; then run `SLURM_CONF=DIR/slurm.conf srun ...`
#   slurm-node.sh down DIR   stop every daemon it started
#
# Needs root, slurm-wlm and munge. `srun --overcommit` runs more tasks than the node's CPUs.
set -euo pipefail
action=${1:?up or down}
dir=${2:?a directory}

down() {
    for daemon in slurmd slurmctld munged; do
        if [ -f "$dir/$daemon.pid" ]; then
            pid=$(cat "$dir/$daemon.pid")
            kill "$pid" 2>/dev/null || true
            # Wait for it to end, so nothing of the cluster outlives the call.
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/$daemon.pid"
        fi
    done
}

if [ "$action" = down ]; then
    down
    exit 0
fi

down
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
node=$(hostname -s)
cpus=$(nproc)
# munged, on a socket of its own, with a key of its own.
chown munge: "$dir/munge"
[ -f "$dir/munge/munge.key" ] || {
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 2>/dev/null
    chown munge: "$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
}
runuser -u munge -- /usr/sbin/munged --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --force
cp "$dir/munge/munged.pid" "$dir/munged.pid"

cat > "$dir/slurm.conf" <<CONFIG
ClusterName=rmpi-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONFIG
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -i
/usr/sbin/slurmd -N "$node"
for _ in $(seq 1 100); do
    if sinfo -h -o '%t' 2>/dev/null | grep -q idle; then
        exit 0
    fi
    sleep 0.2
done
echo "the Slurm node did not come up; its logs:" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/munge/munged.log" >&2 || true
exit 1
