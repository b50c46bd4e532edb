#!/usr/bin/env python3
"""What a pruned, sampled search cost against running its configurations (or a grid) to the
end, from its journal: issue 38's payoff, as results/README.md reports it.

    python3 bench/search_payoff.py results/paper-rt-lr-asha --grid results/paper-rt-lr \
        [--cpu-samples results/paper-rt-lr-asha/cpu-samples.json]

For each method: the trials by state, the FT epochs they ran (from the streamed `val/accuracy`
rows), the CPU they used (a completed trial's `timings.cpu`; a pruned one's from its result
where the build journaled it, else from bench/sample_cpu.py's samples), the CPU the same
configurations would have used run to the end (each at the median CPU of the search's
completed trials of its method), the grid's trials at that same price, and the rate each picks
(the best validation accuracy, `val/accuracy_best`, among completed trials: the paper's rule).
"""
import argparse
import json
import sqlite3
import statistics


def journal(directory):
    return sqlite3.connect(f"file:{directory}/journal.sqlite?mode=ro", uri=True)


def trials(db):
    rows = db.execute("SELECT id, state, config, result FROM trials ORDER BY position").fetchall()
    out = []
    for id, state, config, result in rows:
        config, result = json.loads(config), json.loads(result) if result else {}
        out.append({"id": id, "state": state, "method": config["method"], "lr": config["ft"]["lr"],
                    "cpu": (result.get("timings") or {}).get("cpu"),
                    "validation": (result.get("metrics") or {}).get("val/accuracy_best")})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("search")
    p.add_argument("--grid", help="the grid the search replaces (its trials are priced at the search's per-trial CPU)")
    p.add_argument("--cpu-samples", help="bench/sample_cpu.py's output, for pruned trials whose CPU the journal lacks")
    a = p.parse_args()
    db = journal(a.search)
    rows = trials(db)
    epochs = dict(db.execute("SELECT trial, MAX(epoch) FROM metrics WHERE name = 'val/accuracy' GROUP BY trial").fetchall())
    sampled = {}
    if a.cpu_samples:
        for entry in json.load(open(a.cpu_samples)).values():
            if entry["kind"] == "train" and entry["trial"]:
                sampled[entry["trial"]] = sampled.get(entry["trial"], 0) + entry["cpu"]
    grid = trials(journal(a.grid)) if a.grid else []

    print("| method | trials | completed | pruned | FT epochs run | CPU s spent | run to the end, CPU s | spent / to the end | grid trials | grid at this price, CPU s | spent / grid | picked rate (val acc) | grid's pick (val acc) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        done = [r for r in mine if r["state"] == "completed"]
        per_trial = statistics.median(r["cpu"] for r in done)
        spent, unknown = 0.0, 0
        for r in mine:
            cpu = r["cpu"] if r["cpu"] is not None else sampled.get(r["id"])
            if cpu is None:
                unknown += 1
            else:
                spent += cpu
        to_end = per_trial * len(mine)
        best = max(done, key=lambda r: r["validation"])
        theirs = [r for r in grid if r["method"] == method]
        cells = [method, len(mine), len(done), sum(r["state"] == "pruned" for r in mine), sum(epochs.get(r["id"], 0) for r in mine),
                 f"{spent:.0f}" + (f" ({unknown} unknown)" if unknown else ""), f"{to_end:.0f}", f"{spent / to_end:.2f}"]
        if theirs:
            grid_best = max((r for r in theirs if r["state"] == "completed"), key=lambda r: r["validation"])
            cells += [len(theirs), f"{per_trial * len(theirs):.0f}", f"{spent / (per_trial * len(theirs)):.2f}",
                      f"{best['lr']:.4g} ({best['validation']:.4f})", f"{grid_best['lr']:.4g} ({grid_best['validation']:.4f})"]
        else:
            cells += ["—", "—", "—", f"{best['lr']:.4g} ({best['validation']:.4f})", "—"]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
