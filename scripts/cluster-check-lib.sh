# Shared by scripts/check-slurm.sh and scripts/check-ssh-workers.sh (sourced, not run): a
# scratch directory, the processes the check started (ended on exit, even on failure), Debian
# packages installed on first use, spare ports, conditions polled with a deadline, and a noop
# sweep's coordinator on loopback TCP with CURVE, as docs/cluster.md's recipes run one.
# The caller sets `check` (its name, for messages) and may append to `cleanup_steps`.

# The daemons run as root (slurmd, sshd's privilege separation): without it the check is
# skipped, or fails with CI set, as the netns multi-host tests do.
if [ "$(id -u)" -ne 0 ]; then
    [ -z "${CI:-}" ] || { echo "$check: FAIL: needs root (CI is set)" >&2; exit 1; }
    echo "$check: skipped: needs root"
    exit 0
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lpft=$(realpath -m "${LPFT:-.build/debug/lpft}")
[ -x "$lpft" ] || { swift build --product lpft 2>&1 | tail -n 1; lpft=$(realpath .build/debug/lpft); }
work=$(mktemp -d "${TMPDIR:-/tmp}/lpft-$check.XXXXXX")
chmod 755 "$work"  # daemons check that the directories of their sockets are reachable
pids=()
cleanup_steps=()

fail() { echo "$check: FAIL: $*" >&2; exit 1; }

# Runs on every exit: the cleanup steps, last added first (e.g. cancel jobs), then SIGTERM to
# every process started here and a wait for each; on failure the logs are printed before the
# directory goes.
cleanup() {
    local status=$? i p
    trap - EXIT
    for ((i = ${#cleanup_steps[@]} - 1; i >= 0; i--)); do eval "${cleanup_steps[i]}" || true; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        find "$work" -name '*.log' -type f | sort | while read -r f; do echo "--- ${f#"$work"/} (last 20 lines)" >&2; tail -n 20 "$f" >&2; done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# Installs the Debian packages that are missing, timing it; services the packages would start
# are not started (policy-rc.d), since the check runs daemons of its own.
need_packages() {
    local missing=() p start
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    start=$(date +%s%N)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        cleanup_steps+=("rm -f /usr/sbin/policy-rc.d")
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
    echo "$check: installed ${missing[*]} in $(elapsed "$start") s"
}

# Seconds since START (from `date +%s%N`), to a tenth.
elapsed() { local tenths=$((($(date +%s%N) - $1) / 100000000)); echo "$((tenths / 10)).$((tenths % 10))"; }

# spare_ports [N]: N (default 1) distinct TCP ports nobody listens on now, the kernel's
# choice of ephemeral ones (all bound at once, so they differ), one per line.
spare_ports() {
    python3 - "${1:-1}" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in sockets))
PY
}

# poll SECONDS COMMAND…: runs COMMAND every 0.2 s until it succeeds (status 0) or SECONDS
# have passed (status 1).
poll() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# wait_for SECONDS WHAT COMMAND…: poll, failing with "WHAT did not happen within SECONDS s".
wait_for() {
    local seconds=$1 what=$2
    shift 2
    poll "$seconds" "$@" || fail "$what did not happen within $seconds s"
}

# Whether PID has exited (gone, or a zombie not yet reaped: `kill -0` still succeeds on those).
process_ended() { ! ps -o stat= -p "$1" | grep -qv Z; }

# reap PID SECONDS WHAT: waits up to SECONDS for PID (started here) to exit, reaps it, sets
# `reaped_status` to its exit status and forgets it (cleanup must not signal a reused pid).
reap() {
    local pid=$1 p kept=()
    wait_for "$2" "$3" process_ended "$pid"
    reaped_status=0
    wait "$pid" || reaped_status=$?
    for p in "${pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    pids=("${kept[@]}")
}

# One SQL query on the journal of the sweep in `$sweep` (default $work/sweep); rows as
# tab-separated lines.
journal() {
    python3 - "${sweep:-$work/sweep}/journal.sqlite" "$1" <<'PY'
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("\t".join("" if v is None else str(v) for v in row))
PY
}

# start_coordinator TRIALS DURATION_MS: a noop sweep of TRIALS trials (serve_sweep).
start_coordinator() {
    printf 'base: {method: noop}\ngrid:\n  duration_ms: [%s]\n  seed: [%s]\n' "$2" "$(seq -s, 1 "$1")" >"$work/noop.yaml"
    serve_sweep "$work/noop.yaml" "$work/sweep"
}

# serve_sweep SPEC DIR: `lpft sweep run SPEC --dir DIR` on tcp://127.0.0.1:PORT with CURVE:
# $work/keys holds coordinator.{key,pub} and worker.{key,pub} (the layout cluster/ expects in
# $LPFT_KEYS), $work/allowed the worker's public key. Sets `endpoint` and `coordinator` (its
# pid; its log is DIR.log); returns once it is listening.
serve_sweep() {
    local spec=$1 dir=$2
    if [ ! -e "$work/keys/worker.key" ]; then
        "$lpft" keys generate "$work/keys" --name coordinator >/dev/null
        "$lpft" keys generate "$work/keys" --name worker >/dev/null
        mkdir -p "$work/allowed" && cp "$work/keys/worker.pub" "$work/allowed/"
    fi
    endpoint="tcp://127.0.0.1:$(spare_ports)"
    "$lpft" sweep run "$spec" --dir "$dir" --bind "$endpoint" \
        --curve-key "$work/keys/coordinator.key" --allow "$work/allowed" >"$dir.log" 2>&1 &
    coordinator=$!
    pids+=("$coordinator")
    wait_for 60 "the coordinator listening on $endpoint" grep -q "coordinator on $endpoint" "$dir.log"
}

# Every trial of the sweep completed, by exactly one completed attempt.
assert_every_trial_completed_once() {
    local trials=$1 completed once
    completed=$(journal "SELECT count(*) FROM trials WHERE state = 'completed'")
    [ "$completed" -eq "$trials" ] || fail "$completed of $trials trials completed: $(journal "SELECT state, count(*) FROM trials GROUP BY state")"
    once=$(journal "SELECT count(*) FROM (SELECT trial FROM attempts WHERE state = 'completed' GROUP BY trial HAVING count(*) = 1)")
    [ "$once" -eq "$trials" ] || fail "only $once of $trials trials have exactly one completed attempt"
}
