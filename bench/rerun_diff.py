#!/usr/bin/env python3
"""How a sweep's reruns compare with the stored trials they repeat: issue 37's check that the
follow-up's FT and LP-FT baselines equal their `paper-rt` counterparts, as results/README.md
reports it.

    python3 bench/rerun_diff.py results/paper-rt results/paper-rt-lpft

A rerun plans to the stored trial's id (the id is the hash of the resolved config), so the pairs
are the ids completed in both journals. Per pair: the BLAS kernel each ran on (from the result's
`versions.openblas`), then each metric, `=` when the two figures are identical and `old → new`
(10 significant digits) when not; the last table gives, per metric, how many pairs are identical
and the largest relative difference, so "equal to the digit" and "within the cross-kernel
differences" can be read off rather than asserted.
"""
import argparse
import json
import sqlite3

METRICS = ["test/accuracy", "ood/tweets-sentiment/accuracy", "val/accuracy_best", "ft/best_epoch",
           "test/ece", "temperature", "head/norm_after_lp", "features/diff", "ntk/fro_ft", "ntk/ft_ratio"]


def completed(directory):
    db = sqlite3.connect(f"file:{directory}/journal.sqlite?mode=ro", uri=True)
    rows = db.execute("SELECT id, axes, result FROM trials WHERE state = 'completed' ORDER BY position")
    return {id: (json.loads(axes), json.loads(result)) for id, axes, result in rows}


def kernel(result):
    # "OpenBLAS 0.3.21 … core=SkylakeX": the kernel is the last word.
    return result["versions"]["openblas"].rsplit("core=", 1)[-1]


def arm(axes):
    return ", ".join(f"{k}={v}" for k, v in sorted(axes.items()) if k != "seed")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stored", help="the sweep whose trials are repeated (e.g. results/paper-rt)")
    p.add_argument("rerun", help="the sweep that repeats them (e.g. results/paper-rt-lpft)")
    a = p.parse_args()
    stored, rerun = completed(a.stored), completed(a.rerun)
    pairs = [(id, stored[id], rerun[id]) for id in rerun if id in stored]
    if not pairs:
        raise SystemExit(f"no trial is completed in both {a.stored} and {a.rerun}")
    metrics = [m for m in METRICS if any(m in r["metrics"] for _, _, (_, r) in pairs)]

    print("| trial | arm (rerun's axes) | seed | kernel, stored → rerun | " + " | ".join(metrics) + " |")
    print("|---|---|---|---|" + "---|" * len(metrics))
    summary = {m: [0, 0, 0.0] for m in metrics}  # identical, compared, largest relative difference
    for id, (_, old), (axes, new) in pairs:
        cells = []
        for m in metrics:
            x, y = old["metrics"].get(m), new["metrics"].get(m)
            if x is None or y is None:
                cells.append("—")
                continue
            s = summary[m]
            s[1] += 1
            if x == y:
                s[0] += 1
                cells.append(f"{x:.6g} =")
            else:
                s[2] = max(s[2], abs(y - x) / max(abs(x), abs(y)))
                cells.append(f"{x:.10g} → {y:.10g}")
        print(f"| {id[:8]} | {arm(axes)} | {axes.get('seed')} | {kernel(old)} → {kernel(new)} | " + " | ".join(cells) + " |")

    print()
    print("| metric | identical | of | largest relative difference |")
    print("|---|---|---|---|")
    for m, (same, n, worst) in summary.items():
        print(f"| {m} | {same} | {n} | {worst:.2g} |")


if __name__ == "__main__":
    main()
