#!/usr/bin/env bash
# cluster/workers.sh over real ssh to this machine: installs Debian's openssh-server on first
# use, runs an sshd of its own on a spare loopback port (its own host key, the check's own
# user key, StrictModes off since the keys sit under /tmp), and a noop sweep's coordinator on
# loopback TCP with CURVE (a worker without the key could not join). Then, with a hostfile of
# one ssh_config Host and 2 workers:
#   start  → status lists both running → both join the coordinator and complete trials
#   stop   → both exit, their running trials handed back (no attempt left running)
#   status → lists none;  logs → each worker's log, ending with its exit line.
# Everything it starts is stopped on exit, failed or not; on failure the logs are printed.
#
#   bash scripts/check-ssh-workers.sh      # LPFT=path/to/lpft (default .build/debug/lpft); root
#
# Debian's sshd needs its privilege separation directory /run/sshd (made here if missing and
# removed after); sshd is started by absolute path, as it re-executes itself.
set -euo pipefail
check=check-ssh-workers
source "$(dirname "$0")/cluster-check-lib.sh"
need_packages openssh-server

started=$(date +%s%N)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
port=$(spare_ports)
cat >"$work/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
CONF
echo "[127.0.0.1]:$port $(cat "$work/host_key.pub")" >"$work/known_hosts"
cat >"$work/ssh_config" <<CONF
Host lpft-check
    HostName 127.0.0.1
    Port $port
    User $(id -un)
    IdentityFile $work/user_key
    IdentitiesOnly yes
    UserKnownHostsFile $work/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
CONF
made_privsep=""
[ -d /run/sshd ] || { mkdir -m 755 /run/sshd && made_privsep=1; }
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd=$!
# Cleanup runs its steps last-added first: the workers are stopped while sshd still runs.
cleanup_steps+=("kill $sshd; wait $sshd; [ -z '$made_privsep' ] || rmdir /run/sshd")
export LPFT=$lpft LPFT_KEYS=$work/keys LPFT_WORKERS_DIR=$work/remote LPFT_SSH_CONFIG=$work/ssh_config
wait_for 30 "ssh to 127.0.0.1:$port" ssh -F "$LPFT_SSH_CONFIG" -n lpft-check true
echo "$check: sshd up and answering in $(elapsed "$started") s"

start_coordinator 2000 100
echo "lpft-check 2" >"$work/hostfile"
workers() { bash cluster/workers.sh "$1" "$work/hostfile" "${@:2}"; }
stray_workers() { for f in "$work"/remote/*/worker.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; true; }
cleanup_steps+=("workers stop >/dev/null || stray_workers")
workers start "$endpoint"
status=$(workers status)
echo "$status"
for i in 0 1; do
    grep -q "^lpft-check: $work/remote/$i running (pid [0-9]*)$" <<<"$status" || fail "status does not list worker $i running"
done
worker_pids=$(cat "$work"/remote/*/worker.pid)

names="$(hostname)-0 $(hostname)-1"
both_completed_trials() {
    [ "$(journal "SELECT count(DISTINCT worker) FROM attempts WHERE state = 'completed' AND worker IN ('$(hostname)-0', '$(hostname)-1')")" -eq 2 ]
}
wait_for 60 "both workers ($names) completing a trial" both_completed_trials
joined=$(journal "SELECT DISTINCT worker FROM events WHERE kind = 'worker joined' ORDER BY worker" | tr '\n' ' ')
[ "$joined" = "$names " ] || fail "workers joined: '$joined', expected $names"

stopped=$(workers stop)
echo "$stopped"
[ "$(grep -c '^lpft-check: stopped ' <<<"$stopped")" -eq 2 ] || fail "stop did not report both workers stopped"
for pid in $worker_pids; do process_ended "$pid" || fail "worker pid $pid still runs after stop"; done
status=$(workers status)
[ -z "$status" ] || fail "status after stop lists: $status"
none_running() { [ "$(journal "SELECT count(*) FROM attempts WHERE state = 'running'")" -eq 0 ]; }
wait_for 10 "the stopped workers' attempts ending" none_running
interrupted=$(journal "SELECT count(*) FROM attempts WHERE state = 'interrupted'")

workers logs "$work/logs" >/dev/null
for i in 0 1; do
    grep -q "worker $(hostname)-$i exits: " "$work/logs/lpft-check-$i.log" || fail "worker $i's log (workers.sh logs) has no exit line"
done
echo "$check: OK (start → 2 running, joined over CURVE as $names; stop → both exited, $interrupted running trial(s) handed back; status → none; logs copied)"
