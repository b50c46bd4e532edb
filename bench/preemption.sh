#!/usr/bin/env bash
# Work lost to preemption, before and after checkpoints travel (issue 35, item 6): the same
# sweep of tiny-model FT trials run by each build on two workers, first undisturbed, then with
# each worker killed (SIGKILL) every PERIOD seconds, staggered, and replaced at once by a fresh
# one (a new --dir, --runs and empty $LPFT_HOME: a new machine, as a spot VM or a requeued job
# on another node is). Lost work is the worker time the preempted sweep spent beyond what the
# undisturbed one did; the journal has every attempt's start and end.
#   bench/preemption.sh BEFORE_LPFT AFTER_LPFT [PERIOD_S] [ROUNDS]
set -euo pipefail
before=$1 after=$2 period=${3:-30} rounds=${4:-1}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE   # a user's machine has neither
fixture=$(realpath "$(dirname "$0")/../Tests/Fixtures/reference/tiny-bert")
work=$(mktemp -d /tmp/lpft-preemption.XXXXXX)
trap 'pkill -KILL -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

# 8 trials (seeds) of about 20 s each on one thread: 8,000 examples, 25 epochs of tiny-bert.
python3 "$(dirname "$0")/../scripts/tiny-groups-data.py" "$work" 8000 64 64
cat >"$work/spec.yaml" <<YAML
base:
  model: $fixture
  task: {name: groups, train: $work/train.jsonl, validation: $work/validation.jsonl, test: $work/test.jsonl}
  ft: {epochs: 25, batch_size: 16, lr: 0.001}
  max_length: 16
  threads: 1
grid:
  method: [ft]
  seed: [1, 2, 3, 4, 5, 6, 7, 8]
YAML
timing=(--heartbeat 0.5 --liveness 4)

# Worker seconds the sweep's attempts took, completed ones, attempts, and those that resumed.
account() {
    python3 - "$1/journal.sqlite" "$1" <<'PY'
import glob, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
spent, = db.execute("SELECT sum(ended_at - started_at) FROM attempts").fetchone()
useful, = db.execute("SELECT sum(ended_at - started_at) FROM attempts WHERE state = 'completed'").fetchone()
attempts, = db.execute("SELECT count(*) FROM attempts").fetchone()
done, = db.execute("SELECT count(*) FROM trials WHERE state = 'completed'").fetchone()
resumed = sum("resuming after FT epoch" in open(f, errors="replace").read() for f in glob.glob(f"{sys.argv[2]}-w*/runs/*/attempt-*.log"))
print(f"{spent:.1f} {useful:.1f} {attempts} {done} {resumed}")
PY
}

# undisturbed BUILD NAME: the sweep on two local workers.
undisturbed() {
    local start=$(date +%s.%N)
    "$1" sweep run "$work/spec.yaml" --dir "$work/$2" --local-workers 2 "${timing[@]}" >"$work/$2.log" 2>&1
    echo "$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }") $(account "$work/$2")"
}

# preempted BUILD NAME: the sweep with two workers, each killed every $period s and replaced.
preempted() {
    local build=$1 name=$2 endpoint="ipc://$work/$2.ipc" start=$(date +%s.%N) coordinator n=0 slot
    "$build" sweep run "$work/spec.yaml" --dir "$work/$name" --bind "$endpoint" --retry-delay 0 --max-attempts 20 \
        "${timing[@]}" >"$work/$name.log" 2>&1 &
    coordinator=$!
    local pids=() born=()
    spawn() {  # a fresh worker in slot $1
        n=$((n + 1))
        mkdir -p "$work/$name-home$n"
        LPFT_HOME=$work/$name-home$n "$build" worker --connect "$endpoint" --dir "$work/$name-w$n" --name "w$n" \
            "${timing[@]}" >"$work/$name-w$n.log" 2>&1 &
        pids[$1]=$!
        born[$1]=$(date +%s)
    }
    spawn 0
    sleep "$((period / 2))"   # staggered
    spawn 1
    while kill -0 "$coordinator" 2>/dev/null; do
        for slot in 0 1; do
            if [ $(($(date +%s) - born[slot])) -ge "$period" ]; then
                kill -KILL "${pids[slot]}" 2>/dev/null || true
                spawn "$slot"
            fi
        done
        sleep 0.5
    done
    wait "$coordinator" || true
    kill -KILL "${pids[@]}" 2>/dev/null || true
    echo "$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }") $(account "$work/$name") $n"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); kill period $period s per worker"
echo "# build run wall_s worker_s completed_worker_s attempts trials_completed resumed [workers_started]"
for round in $(seq "$rounds"); do
    for b in before after; do
        build=${!b}
        echo "$b undisturbed $(undisturbed "$build" "$b-u$round")"
        echo "$b preempted $(preempted "$build" "$b-p$round")"
    done
done
