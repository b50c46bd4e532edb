#!/usr/bin/env bash
# Start, stop or list lpft workers on the machines of a hostfile, over ssh.
#
#   cluster/workers.sh start HOSTFILE ENDPOINT [-- extra `lpft worker` options]
#   cluster/workers.sh status HOSTFILE
#   cluster/workers.sh stop HOSTFILE
#   cluster/workers.sh logs HOSTFILE [DIR]      # copies each worker's log to DIR (default ./worker-logs)
#
# HOSTFILE: one `host [workers]` per line (default 1 worker; # comments); a host is anything
# ssh takes, e.g. a Host of the ssh_config file LPFT_SSH_CONFIG (given to ssh as -F). Each
# host needs lpft on PATH (or LPFT=/path/to/lpft) and, with CURVE, its key at
# ~/.lpft/worker.key and the coordinator's public key at ~/.lpft/coordinator.pub (override
# with LPFT_KEYS=DIR). CURVE is used for every endpoint but loopback and ipc://, and for those
# too on a host that has the key: a coordinator on 127.0.0.1 with --curve-key (say, behind
# an ssh tunnel) refuses workers without it.
# Worker i on a host uses --dir LPFT_WORKERS_DIR/i (default ~/.cache/lpft/workers/i) and
# logs to worker.log there. `stop` sends SIGTERM (the workers hand their running trials back
# uncharged) and waits up to 60 s for them to exit; one still running keeps its pid file.
set -euo pipefail
action=${1:?usage: workers.sh start|status|stop|logs HOSTFILE ...}
hostfile=${2:?usage: workers.sh $action HOSTFILE ...}
lpft=${LPFT:-lpft}
keys=${LPFT_KEYS:-'~/.lpft'}
root=${LPFT_WORKERS_DIR:-'~/.cache/lpft/workers'}
ssh=(ssh -n)
[ -z "${LPFT_SSH_CONFIG:-}" ] || ssh+=(-F "$LPFT_SSH_CONFIG")

hosts() { grep -v '^\s*#' "$hostfile" | awk 'NF { print $1, ($2 == "" ? 1 : $2) }'; }

case $action in
start)
    endpoint=${3:?usage: workers.sh start HOSTFILE ENDPOINT [-- options]}
    shift 3; [ "${1:-}" = "--" ] && shift
    curve="--curve-key $keys/worker.key --server-key $keys/coordinator.pub"
    # Expanded on the host: the options only if its key is there.
    case $endpoint in tcp://127.*|tcp://localhost*|ipc://*) curve="\$([ -f $keys/worker.key ] && echo $curve)";; esac
    hosts | while read -r host count; do
        for ((i = 0; i < count; i++)); do
            dir="$root/$i"
            # The directory exists before the background job starts: it holds the pid file.
            "${ssh[@]}" "$host" "mkdir -p $dir && { nohup $lpft worker --connect $endpoint --dir $dir $curve $* >> $dir/worker.log 2>&1 & echo \$! > $dir/worker.pid; }"
            echo "$host: worker $i started"
        done
    done ;;
status)
    hosts | while read -r host count; do
        "${ssh[@]}" "$host" "for p in $root/*/worker.pid; do [ -f \$p ] || continue; if kill -0 \$(cat \$p) 2>/dev/null; then echo \"$host: \$(dirname \$p) running (pid \$(cat \$p))\"; else echo \"$host: \$(dirname \$p) stopped\"; fi; done"
    done ;;
stop)
    hosts | while read -r host count; do
        # SIGTERM to all first, so they wind down together; then up to 60 s for all of them.
        "${ssh[@]}" "$host" "for p in $root/*/worker.pid; do [ -f \$p ] && kill \$(cat \$p) 2>/dev/null; done
            end=\$((\$(date +%s) + 60))
            for p in $root/*/worker.pid; do
                [ -f \$p ] || continue
                while kill -0 \$(cat \$p) 2>/dev/null && [ \$(date +%s) -lt \$end ]; do sleep 0.1; done
                if kill -0 \$(cat \$p) 2>/dev/null; then echo \"$host: \$(dirname \$p) still running after 60 s (pid \$(cat \$p))\"
                else rm -f \$p; echo \"$host: stopped \$(dirname \$p)\"; fi
            done; true"
    done ;;
logs)
    out=${3:-worker-logs}
    mkdir -p "$out"
    hosts | while read -r host count; do
        for ((i = 0; i < count; i++)); do
            "${ssh[@]}" "$host" "cat $root/$i/worker.log" >"$out/$host-$i.log" && echo "$out/$host-$i.log"
        done
    done ;;
*) echo "workers.sh: unknown action $action (start, status, stop, logs)" >&2; exit 2 ;;
esac
