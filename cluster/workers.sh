#!/usr/bin/env bash
# Start, stop or list lpft workers on the machines of a hostfile, over ssh.
#
#   cluster/workers.sh start HOSTFILE ENDPOINT [-- extra `lpft worker` options]
#   cluster/workers.sh status HOSTFILE
#   cluster/workers.sh stop HOSTFILE
#   cluster/workers.sh logs HOSTFILE [DIR]      # copies each worker's log to DIR (default ./worker-logs)
#
# HOSTFILE: one `host [workers]` per line (default 1 worker; # comments). Each host needs lpft
# on PATH (or LPFT=/path/to/lpft) and, with CURVE, its key at ~/.lpft/worker.key and the
# coordinator's public key at ~/.lpft/coordinator.pub (override with LPFT_KEYS=DIR).
# Worker i on a host uses --dir ~/.cache/lpft/workers/i and logs to that directory.
set -euo pipefail
action=${1:?usage: workers.sh start|status|stop|logs HOSTFILE ...}
hostfile=${2:?usage: workers.sh $action HOSTFILE ...}
lpft=${LPFT:-lpft}
keys=${LPFT_KEYS:-'~/.lpft'}

hosts() { grep -v '^\s*#' "$hostfile" | awk 'NF { print $1, ($2 == "" ? 1 : $2) }'; }

case $action in
start)
    endpoint=${3:?usage: workers.sh start HOSTFILE ENDPOINT [-- options]}
    shift 3; [ "${1:-}" = "--" ] && shift
    curve="--curve-key $keys/worker.key --server-key $keys/coordinator.pub"
    case $endpoint in tcp://127.*|tcp://localhost*|ipc://*) curve="";; esac
    hosts | while read -r host count; do
        for ((i = 0; i < count; i++)); do
            dir="~/.cache/lpft/workers/$i"
            ssh -n "$host" "mkdir -p $dir && nohup $lpft worker --connect $endpoint --dir $dir $curve $* >> $dir/worker.log 2>&1 & echo \$! > $dir/worker.pid"
            echo "$host: worker $i started"
        done
    done ;;
status)
    hosts | while read -r host count; do
        ssh -n "$host" "for p in ~/.cache/lpft/workers/*/worker.pid; do [ -f \$p ] || continue; if kill -0 \$(cat \$p) 2>/dev/null; then echo \"$host: \$(dirname \$p) running (pid \$(cat \$p))\"; else echo \"$host: \$(dirname \$p) stopped\"; fi; done"
    done ;;
stop)
    hosts | while read -r host count; do
        # SIGTERM: the worker stops its trials at their next step; their attempts are requeued.
        ssh -n "$host" "for p in ~/.cache/lpft/workers/*/worker.pid; do [ -f \$p ] && kill \$(cat \$p) 2>/dev/null && echo \"$host: stopped \$(dirname \$p)\"; rm -f \$p; done; true"
    done ;;
logs)
    out=${3:-worker-logs}
    mkdir -p "$out"
    hosts | while read -r host count; do
        for ((i = 0; i < count; i++)); do
            scp -q "$host:.cache/lpft/workers/$i/worker.log" "$out/$host-$i.log" && echo "$out/$host-$i.log"
        done
    done ;;
*) echo "workers.sh: unknown action $action (start, status, stop, logs)" >&2; exit 2 ;;
esac
