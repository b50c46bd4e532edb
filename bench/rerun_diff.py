#!/usr/bin/env python3
"""How a sweep's reruns compare with the stored trials they repeat: issue 37's check that the
follow-up's FT and LP-FT baselines equal their `paper-rt` counterparts, as results/README.md
reports it.

    python3 bench/rerun_diff.py results/paper-rt results/paper-rt-lpft

A rerun plans to the stored trial's id (the id is the hash of the resolved config), so the pairs
are the ids completed in both journals. Per pair: the BLAS kernel each ran on (the result's
`versions.openblas`), then each metric of METRICS (and every OOD set's accuracy), `=` when the
two figures are identical, `old → new` (10 significant digits) when not, and which side lacks
it when one does. The last table splits the pairs into those that ran on the same kernel and
those that did not: per metric, how many are identical and the largest difference (relative;
absolute for whole-number metrics such as the best epoch), so "equal to the digit on the same
kernel" and "within the cross-kernel differences" are read off rather than asserted.
"""
import argparse
import json
import math
import sqlite3

METRICS = ["test/accuracy", "ood/*/accuracy", "val/accuracy_best", "ft/best_epoch", "test/ece", "temperature",
           "head/norm_after_lp", "features/diff", "ntk/fro_ft", "ntk/ft_ratio"]
WHOLE = {"ft/best_epoch"}


def completed(directory):
    db = sqlite3.connect(f"file:{directory}/journal.sqlite?mode=ro", uri=True)
    rows = db.execute("SELECT id, axes, result FROM trials WHERE state = 'completed' ORDER BY position")
    return {id: (json.loads(axes), json.loads(result)) for id, axes, result in rows}


def metric(result, name):
    # A metric that diverged is journaled as the string "nan", "inf" or "-inf".
    value = result["metrics"].get(name)
    return float(value) if isinstance(value, str) else value


def expand(pattern, present):
    """The metrics present that `pattern` names: itself, or those a `*` (one path step) matches."""
    if "*" not in pattern:
        return [pattern] if pattern in present else []
    prefix, suffix = pattern.split("*")
    return sorted(m for m in present if m.startswith(prefix) and m.endswith(suffix) and "/" not in m[len(prefix):-len(suffix)])


def kernel(result):
    # "OpenBLAS 0.3.21 … core=SkylakeX": the kernel is the last word.
    return (result.get("versions") or {}).get("openblas", "unknown").rsplit("core=", 1)[-1]


def arm(axes):
    return ", ".join(f"{k}={v}" for k, v in sorted(axes.items()) if k != "seed")


def identical(x, y):
    return x == y or (math.isnan(x) and math.isnan(y))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stored", help="the sweep whose trials are repeated (e.g. results/paper-rt)")
    p.add_argument("rerun", help="the sweep that repeats them (e.g. results/paper-rt-lpft)")
    a = p.parse_args()
    stored, rerun = completed(a.stored), completed(a.rerun)
    pairs = [(id, stored[id][1], *rerun[id]) for id in rerun if id in stored]
    if not pairs:
        raise SystemExit(f"no trial is completed in both {a.stored} and {a.rerun}")
    present = {m for _, old, _, new in pairs for m in list(old["metrics"]) + list(new["metrics"])}
    metrics = [m for pattern in METRICS for m in expand(pattern, present)]

    print("| trial | arm (rerun's axes) | seed | kernel, stored → rerun | " + " | ".join(metrics) + " |")
    print("|---|---|---|---|" + "---|" * len(metrics))
    # (same kernel?, metric) → [identical, compared, largest difference]
    summary = {(same, m): [0, 0, 0.0] for same in (True, False) for m in metrics}
    for id, old, axes, new in pairs:
        same = kernel(old) == kernel(new)
        cells = []
        for m in metrics:
            x, y = metric(old, m), metric(new, m)
            s = summary[(same, m)]
            if x is None and y is None:
                cells.append("—")
                continue
            s[1] += 1
            if x is None or y is None:
                s[2] = math.inf
                cells.append(f"missing in {'stored' if x is None else 'rerun'}")
            elif identical(x, y):
                s[0] += 1
                cells.append(f"{x:.6g} =")
            else:
                difference = abs(y - x) if m in WHOLE else abs(y - x) / max(abs(x), abs(y))
                s[2] = max(s[2], difference if not math.isnan(difference) else math.inf)
                cells.append(f"{x:.10g} → {y:.10g}")
        print(f"| {id[:8]} | {arm(axes)} | {axes.get('seed')} | {kernel(old)} → {kernel(new)} | " + " | ".join(cells) + " |")

    print()
    print("| metric | same kernel: identical of | largest difference | across kernels: identical of | largest difference |")
    print("|---|---|---|---|---|")
    for m in metrics:
        row = []
        for same in (True, False):
            identical_count, n, worst = summary[(same, m)]
            kind = "absolute" if m in WHOLE else "relative"
            row += [f"{identical_count} of {n}", "—" if n == 0 else "a figure missing or not finite on one side" if math.isinf(worst)
                    else f"{worst:.2g} ({kind})"]
        print(f"| {m} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
