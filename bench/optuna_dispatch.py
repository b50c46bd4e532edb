#!/usr/bin/env python3
"""Optuna peer of `lpft bench dispatch`: trial throughput and short-trial efficiency.

Run by hand, never by CI (needs Optuna in its own venv):

    /root/optunaenv/bin/python bench/optuna_dispatch.py

Setup: python3 -m venv /root/optunaenv && /root/optunaenv/bin/pip install optuna

Each repeat creates a fresh study in SQLite RDB storage (sqlite:///<tmpdir>/optuna.db) with a
GridSampler over exactly as many grid points as trials, then forks --workers processes; each
calls optuna.load_study(...).optimize(objective, n_trials=k) on the shared study, the k summing
to the trial count. (a) the objective returns at once: trials/s; (b) it sleeps --short-ms:
wall time against the ideal trials x ms / workers, as efficiency = ideal / wall.

Timing: from launching the worker processes to all of them exiting (fork, so no interpreter
start-up or `import optuna` is inside the window; the study is created before). lpft's figure
starts once its workers have joined, so this slightly favours lpft; the "trial span" (first
trial's start to last trial's completion, from the database) is printed too, as the closer match.

Duplicates: the number of grid points evaluated more than once (and of points never evaluated)
is counted from the trials' params; concurrent GridSampler workers have historically re-run points.
"""
import argparse
import collections
import multiprocessing as mp
import os
import statistics
import tempfile
import time

import optuna


def objective_for(sleep_s):
    def objective(trial):
        i = trial.suggest_int("i", 0, 10**9)  # GridSampler substitutes its grid value
        if sleep_s:
            time.sleep(sleep_s)
        return float(i)
    return objective


def worker(url, name, n_points, n_trials, sleep_s):
    # Per-trial INFO logging would add I/O to every trial on a 2-core machine; keep warnings.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The sampler is not stored with the study, so every process passes its own GridSampler,
    # with default arguments, as an Optuna user would.
    sampler = optuna.samplers.GridSampler({"i": list(range(n_points))})
    study = optuna.load_study(study_name=name, storage=url, sampler=sampler)
    study.optimize(objective_for(sleep_s), n_trials=n_trials)


def run(workers, n, sleep_s):
    """One repeat; returns (wall s, trial span s, duplicated points, missed points, not COMPLETE)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/optuna.db"
        optuna.create_study(study_name="dispatch", storage=url)
        # Split n trials over the workers as evenly as possible.
        counts = [n // workers + (i < n % workers) for i in range(workers)]
        ctx = mp.get_context("fork")
        t0 = time.perf_counter()
        procs = [ctx.Process(target=worker, args=(url, "dispatch", n, k, sleep_s)) for k in counts]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        failed = [p.exitcode for p in procs if p.exitcode != 0]
        if failed:
            print(f"  warning: {len(failed)} worker(s) exited non-zero: {failed}")
        trials = optuna.load_study(study_name="dispatch", storage=url).get_trials(deepcopy=False)
        done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        seen = collections.Counter(t.params["i"] for t in done)
        dups = sum(1 for c in seen.values() if c > 1)
        missed = n - len(seen)
        starts = [t.datetime_start for t in done]
        ends = [t.datetime_complete for t in done]
        span = (max(ends) - min(starts)).total_seconds() if done else float("nan")
        return wall, span, dups, missed, len(trials) - len(done)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--quick-trials", type=int, default=1600)
    ap.add_argument("--short-trials", type=int, default=400)
    ap.add_argument("--short-ms", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per run
    print(f"optuna {optuna.__version__}, SQLite RDB storage, GridSampler, {a.workers} forked "
          f"worker processes, nproc {os.cpu_count()}; timed from process launch to all exited")
    ideal = a.short_trials * a.short_ms / 1000 / a.workers
    rates, effs, dups_total = [], [], 0
    for r in range(1, a.repeats + 1):
        wall, span, dups, missed, bad = run(a.workers, a.quick_trials, 0.0)
        rates.append(a.quick_trials / wall)
        dups_total += dups
        print(f"[{r}] (a) {a.quick_trials} zero-duration trials on {a.workers} workers: "
              f"{wall:.2f} s, {rates[-1]:.0f} trials/s (trial span {span:.2f} s); "
              f"duplicated grid points {dups}, missed {missed}, not COMPLETE {bad}")
        wall, span, dups, missed, bad = run(a.workers, a.short_trials, a.short_ms / 1000)
        effs.append(ideal / wall)
        dups_total += dups
        print(f"[{r}] (b) {a.short_trials} x {a.short_ms} ms trials on {a.workers} workers: "
              f"{wall:.2f} s (ideal {ideal:.2f} s), efficiency {100 * effs[-1]:.1f}% "
              f"(trial span {span:.2f} s, {100 * ideal / span:.1f}%); "
              f"duplicated grid points {dups}, missed {missed}, not COMPLETE {bad}")
    print(f"median: (a) {statistics.median(rates):.0f} trials/s; "
          f"(b) efficiency {100 * statistics.median(effs):.1f}%; "
          f"duplicated grid points over all runs {dups_total}")


if __name__ == "__main__":
    main()
