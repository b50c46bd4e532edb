#!/usr/bin/env bash
# cluster/slurm-workers.sbatch on a real one-node SLURM: installs Debian's slurm-wlm and munge
# on first use, starts munged, slurmctld and slurmd on this machine from a scratch directory,
# runs a noop sweep's coordinator on loopback TCP with CURVE, submits the sbatch script as an
# array of two and checks that both workers joined (the journal's "worker joined" events name
# slurm-JOB-0 and slurm-JOB-1 on this host), that every trial completed exactly once, and that
# both array tasks ended COMPLETED with exit code 0 because the coordinator said it was done.
# Then a requeue mid-trial: a real tiny-model trial resumes, after `scontrol requeuehold`,
# from the checkpoint its first run uploaded (below).
# Everything it starts is stopped on exit, failed or not; on failure the logs are printed.
#
#   bash scripts/check-slurm.sh            # LPFT=path/to/lpft (default .build/debug/lpft); root
#
# What a one-node SLURM needs here (Debian 12's slurm-wlm 22.05, as root, no systemd, no
# cgroups to spare): its own munge key (`mungekey --create`) and munged on its own socket,
# named in slurm.conf as AuthInfo=socket=…; SlurmUser and SlurmdUser root;
# ProctrackType=proctrack/linuxproc and TaskPlugin=task/none (no cgroup plugins, so no
# cgroup.conf); no accounting (AccountingStorageType=accounting_storage/none, so `sacct` is
# empty: the jobs' states come from `scontrol show job`, kept for MinJobAge, 300 s);
# SelectType=select/cons_tres with CR_CPU, so the two one-CPU tasks share the node (22.05's
# default select/linear gives each job the whole node); the node line is `slurmd -C`'s (real
# CPUs and memory, else slurmd drains the node) with NodeAddr=127.0.0.1, and the controller
# is hostname(127.0.0.1), so nothing depends on the host name resolving; spare ports for
# slurmctld and slurmd. slurmctld and slurmd still log that they cannot load PMIx: harmless.
# The array asks for 1 CPU and 256 MB per task on the command line, which overrides the
# script's #SBATCH defaults (4 CPUs, 8 GB) that a 2-core machine could never schedule.
set -euo pipefail
check=check-slurm
source "$(dirname "$0")/cluster-check-lib.sh"
need_packages slurm-wlm munge

trials=40 duration_ms=300
started=$(date +%s%N)
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/tmp"
mungekey --create --keyfile="$work/munge/munge.key"
munged --foreground --force --socket="$work/munge/socket" --key-file="$work/munge/munge.key" \
    --log-file="$work/munge/munged.log" --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/seed" \
    >>"$work/munge/munged.log" 2>&1 &
pids+=($!)
wait_for 30 "munged answering on its socket" munge --socket="$work/munge/socket" --no-input

host=$(hostname -s)
read -r -d '' ctld_port slurmd_port < <(spare_ports 2) || true
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=lpftcheck
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
$(slurmd -C | head -n 1) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=check Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)
node_idle() { [ "$(sinfo -h -N -o %t)" = idle ]; }
wait_for 60 "node $host idle in sinfo" node_idle
echo "$check: munged, slurmctld and slurmd up in $(elapsed "$started") s"

start_coordinator "$trials" "$duration_ms"
started=$(date +%s%N)
job=$(sbatch --parsable --array=0-1 --cpus-per-task=1 --mem=256M --chdir="$work" \
    --export="ALL,LPFT=$lpft,LPFT_KEYS=$work/keys,TMPDIR=$work/tmp" cluster/slurm-workers.sbatch "$endpoint")
no_jobs_left() { [ -z "$(squeue -h -j "$job" 2>/dev/null)" ]; }
cleanup_steps+=("scancel $job; poll 30 no_jobs_left")
echo "$check: submitted array job $job against $endpoint"

reap "$coordinator" 300 "the sweep finishing (coordinator exit)"
[ "$reaped_status" -eq 0 ] || fail "the coordinator exited with $reaped_status"
wait_for 60 "the array's jobs ending" no_jobs_left
echo "$check: $trials trials of $duration_ms ms on two array tasks, submit to last job ended: $(elapsed "$started") s"

assert_every_trial_completed_once "$trials"
joined=$(journal "SELECT worker FROM events WHERE kind = 'worker joined' ORDER BY worker" | uniq | tr '\n' ' ')
[ "$joined" = "slurm-$job-0 slurm-$job-1 " ] || fail "workers joined: '$joined', expected slurm-$job-0 and slurm-$job-1"
hosts=$(journal "SELECT DISTINCT detail FROM events WHERE kind = 'worker joined'" | cut -d, -f1 | sort -u)
[ "$hosts" = "host $(hostname)" ] || fail "the workers joined from '$hosts', not from host $(hostname)"
busy=$(journal "SELECT count(DISTINCT worker) FROM attempts WHERE state = 'completed'")
[ "$busy" -eq 2 ] || fail "$busy worker(s) completed trials, expected both array tasks"
for task in 0 1; do
    record=$(scontrol -o show job "${job}_$task")
    grep -q 'JobState=COMPLETED .*ExitCode=0:0' <<<"$record" || fail "array task $task did not end COMPLETED with 0:0: $record"
    grep -q "worker slurm-$job-$task exits: coordinator says: the sweep is finished" "$work/lpft-worker-${job}_$task.log" ||
        fail "array task $task's worker did not exit because the coordinator said the sweep is finished"
done
echo "$check: array OK (workers slurm-$job-0 and slurm-$job-1 on $host completed $trials trials, each once; both tasks COMPLETED 0:0)"

# Requeue mid-trial: one real tiny-model FT trial on a task of its own; once the coordinator
# holds a checkpoint of it, `scontrol requeuehold` stops the task (SIGTERM: the trial
# checkpoints at its next step, the worker uploads that and exits) and holds it; its trial
# directory is removed, as if the task came back on another node; released, the restarted
# task's worker resumes the trial from the checkpoint the first run uploaded.
started=$(date +%s%N)
mkdir -p "$work/data"
python3 scripts/tiny-groups-data.py "$work/data" 1000 8 8
cat >"$work/tiny.yaml" <<YAML
base:
  model: $PWD/Tests/Fixtures/reference/tiny-bert
  task: {name: groups, train: $work/data/train.jsonl, validation: $work/data/validation.jsonl, test: $work/data/test.jsonl}
  ft: {epochs: 4, batch_size: 16, lr: 0.001}
  max_length: 16
grid:
  method: [ft]
YAML
sweep=$work/requeue
serve_sweep "$work/tiny.yaml" "$sweep"
job=$(sbatch --parsable --array=0-0 --cpus-per-task=1 --mem=1G --chdir="$work" \
    --export="ALL,LPFT=$lpft,LPFT_KEYS=$work/keys,TMPDIR=$work/tmp" cluster/slurm-workers.sbatch "$endpoint")
cleanup_steps+=("scancel $job; poll 30 no_jobs_left")
log=$work/lpft-worker-${job}_0.log
has_checkpoint() { [ "$(journal "SELECT count(*) FROM checkpoints")" -ge 1 ]; }
wait_for 180 "a checkpoint of the trial stored by the coordinator" has_checkpoint
[ "$(journal "SELECT state FROM trials")" = running ] || fail "the trial ended before the requeue (raise its epochs)"
scontrol requeuehold "${job}_0"
first_run_ended() { grep -q "lpft worker slurm-$job-0: exit 0" "$log"; }
wait_for 60 "the first run's worker exiting 0 on the requeue's SIGTERM" first_run_ended
interrupted() { [ "$(journal "SELECT state FROM attempts ORDER BY lease")" = interrupted ]; }
wait_for 30 "the first attempt recorded interrupted" interrupted
[ "$(journal "SELECT a.lease = c.lease FROM attempts a, checkpoints c")" = 1 ] ||
    fail "the stored checkpoint is not the interrupted attempt's: $(journal "SELECT name, lease FROM checkpoints")"
stored=$(journal "SELECT name FROM checkpoints")
trial=$(journal "SELECT id FROM trials")
rm -rf "$work/tmp/lpft-worker-$job-0/runs"  # the restart finds no trial directory of its own
# SLURM makes a requeued job wait (its BeginTime moved about 150 s on here); the check need not.
scontrol update JobId="${job}_0" StartTime=now
scontrol release "${job}_0"
reap "$coordinator" 300 "the trial finishing after the requeue (coordinator exit)"
[ "$reaped_status" -eq 0 ] || fail "the coordinator exited with $reaped_status"
wait_for 60 "the requeued job ending" no_jobs_left
[ "$(journal "SELECT state || ' ' || charged_attempts FROM trials")" = "completed 0" ] ||
    fail "the trial: $(journal "SELECT state, charged_attempts FROM trials")"
[ "$(journal "SELECT group_concat(state, ' ') FROM (SELECT state FROM attempts ORDER BY lease)")" = "interrupted completed" ] ||
    fail "attempts: $(journal "SELECT state FROM attempts ORDER BY lease" | tr '\n' ' ')"
grep -q "(restart 1)" "$log" || fail "the task did not restart after the requeue"
grep -q "lpft worker slurm-$job-0: exit 0" <(grep -A99 "(restart 1)" "$log") || fail "the restarted task did not end with exit 0"
resumed=$(grep -ho "resuming after FT epoch [0-9]* of 4[^…]*" "$work/tmp/lpft-worker-$job-0/runs/$trial/attempt-2.log" || true)
[ -n "$resumed" ] || fail "the restarted trial did not resume from the uploaded checkpoint $stored"
record=$(scontrol -o show job "${job}_0")
grep -q 'JobState=COMPLETED .*ExitCode=0:0' <<<"$record" || fail "the requeued task did not end COMPLETED with 0:0: $record"
echo "$check: requeue OK (SIGTERM on scontrol requeuehold, checkpoint $stored uploaded, trial directory removed; restarted, \"$resumed\"; $(elapsed "$started") s)"
echo "$check: OK"

