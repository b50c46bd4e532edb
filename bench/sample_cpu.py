#!/usr/bin/env python3
"""Samples the CPU (user + system) of every process whose command line contains NEEDLE (a
sweep directory), every 2 s, into OUT (JSON: per process, its kind, trial id and CPU seconds).
A process's last sample before it exits is its CPU, at most 2 s short. For builds whose journal
does not hold what a pruned trial cost (before 1c7683c); stop it with Ctrl-C or kill.

    python3 bench/sample_cpu.py results/paper-rt-lr-asha /tmp/cpu.json &
"""
import json, os, re, time, sys
needle = sys.argv[1]; out = sys.argv[2]
tick = os.sysconf("SC_CLK_TCK")
seen = {}
while True:
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if not any(needle.encode() in c for c in cmd) or any(b"sample_cpu.py" in c for c in cmd): continue
            stat = open(f"/proc/{pid}/stat").read()
            f = stat[stat.rindex(")") + 2:].split()
            cpu = (int(f[11]) + int(f[12])) / tick; children = (int(f[13]) + int(f[14])) / tick
            words = [c.decode(errors="replace") for c in cmd]
            kind = words[1] if len(words) > 1 else "?"
            m = re.search(r"runs/([0-9a-f]{16})", " ".join(words))
            key = f"{pid}:{int(f[19])}"
            seen[key] = {"pid": int(pid), "kind": kind, "trial": m.group(1) if m else None, "cpu": cpu, "children": children, "last": time.time(),
                         "first": seen.get(key, {}).get("first", time.time())}
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    json.dump(seen, open(out + ".tmp", "w")); os.replace(out + ".tmp", out)
    time.sleep(2)
