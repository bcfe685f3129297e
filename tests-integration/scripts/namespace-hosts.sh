#!/usr/bin/env bash
# Test hosts on this machine: network namespaces rmpi-h1..rmpi-hN on a bridge (10.200.0.1-N,
# this machine 10.200.0.254), each running a real sshd that takes key-only root logins.
#
#   namespace-hosts.sh up DIR N     start them; DIR gets the keys, configs and logs, and
#                                   DIR/ssh_config is the client configuration to use
#   namespace-hosts.sh down DIR N   stop every sshd and remove the namespaces and bridge
#
# Needs root, iproute2 and openssh-server. The namespaces share this machine's host name,
# file system and /dev/shm: only the network tells them apart.
set -euo pipefail
action=${1:?up or down}
dir=${2:?a directory}
hosts=${3:-3}
bridge=rmpi-br0

down() {
    for i in $(seq 1 "$hosts"); do
        if [ -f "$dir/sshd-$i.pid" ]; then
            kill "$(cat "$dir/sshd-$i.pid")" 2>/dev/null || true
            rm -f "$dir/sshd-$i.pid"
        fi
        ip netns del "rmpi-h$i" 2>/dev/null || true
        ip link del "rmpi-v$i" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
}

if [ "$action" = down ]; then
    down
    exit 0
fi

down
mkdir -p "$dir" /run/sshd
chmod 700 "$dir"
[ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
[ -f "$dir/id" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id"
cp "$dir/id.pub" "$dir/authorized_keys"
cat > "$dir/ssh_config" <<CONFIG
Host *
    User root
    IdentityFile $dir/id
    IdentitiesOnly yes
    BatchMode yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ConnectTimeout 5
CONFIG

ip link add "$bridge" type bridge
ip addr add 10.200.0.254/24 dev "$bridge"
ip link set "$bridge" up
for i in $(seq 1 "$hosts"); do
    ns=rmpi-h$i
    ip netns add "$ns"
    ip link add "rmpi-v$i" type veth peer name eth0 netns "$ns"
    ip link set "rmpi-v$i" master "$bridge" up
    ip -n "$ns" addr add "10.200.0.$i/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    cat > "$dir/sshd-$i.config" <<CONFIG
ListenAddress 10.200.0.$i
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/sshd-$i.pid
CONFIG
    ip netns exec "$ns" /usr/sbin/sshd -f "$dir/sshd-$i.config" -E "$dir/sshd-$i.log"
done
for i in $(seq 1 "$hosts"); do
    for _ in $(seq 1 50); do
        if ssh -F "$dir/ssh_config" "10.200.0.$i" true 2>/dev/null; then
            continue 2
        fi
        sleep 0.1
    done
    echo "sshd on 10.200.0.$i does not answer; its log:" >&2
    cat "$dir/sshd-$i.log" >&2
    exit 1
done
