#!/usr/bin/env bash
# README's "Your data in five minutes", run exactly as printed. Between the markers
# <!-- your-data:begin --> and <!-- your-data:end --> of README.md:
#   - every ```yaml block whose first line is `# examples/your-data/NAME` must equal that file;
#   - every line of every ```sh block is a command (a trailing `\` continues it), run in order
#     by bash with `lpft` on PATH, in a scratch directory holding a copy of examples/your-data
#     (so the runs/ it writes land there, not in the clone).
# Then each command's output is checked by what it is: `lpft train` completes and prints its
# metrics; `lpft sweep plan` lists 4 trials; `lpft sweep run` completes 4 trials, none failed,
# as its journal says; `lpft sweep report` prints its accuracy table (or, with --format html,
# writes report.html); `lpft sweep compare` prints its table. The section must hold a train, a
# sweep run, a report and a compare. ```text blocks (shown output) are not run.
#
#   bash scripts/check-your-data.sh      # LPFT=path/to/lpft (default .build/debug/lpft)
#
# Uses $LPFT_HOME (default ~/.cache/lpft) as a user would: the section's `lpft model fetch`
# fetches all-MiniLM-L6-v2 there once.
set -euo pipefail
check=check-your-data
cd "$(dirname "$0")/.."
fail() { echo "$check: FAIL: $*" >&2; exit 1; }
lpft=$(realpath -m "${LPFT:-.build/debug/lpft}")
[ -x "$lpft" ] || fail "no lpft at $lpft (swift build first, or set LPFT)"
work=$(mktemp -d "${TMPDIR:-/tmp}/lpft-$check.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/examples" "$work/logs"
ln -s "$lpft" "$work/bin/lpft"
cp -R examples/your-data "$work/examples/"

# The section's commands, one a line, NUL-separated (and the yaml blocks checked against their files).
python3 - README.md "$work/commands" <<'PY'
import re, sys
readme, out = sys.argv[1], sys.argv[2]
text = open(readme, encoding="utf-8").read()
begin, end = "<!-- your-data:begin -->", "<!-- your-data:end -->"
if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
    sys.exit(f"{readme}: expected one {begin} … {end} section")
section = text[text.index(begin):text.index(end)]
blocks = re.findall(r"^```(\w*)\n(.*?)^```", section, re.S | re.M)
for kind, body in blocks:
    first = body.split("\n", 1)[0]
    if kind == "yaml" and first.startswith("# examples/your-data/"):
        path = first[2:].strip()
        if open(path, encoding="utf-8").read() != body:
            sys.exit(f"{readme}: the yaml block for {path} differs from the file (copy one onto the other)")
        print(f"check-your-data: README's block for {path} equals the file")
commands = []
for kind, body in blocks:
    if kind != "sh":
        continue
    pending = ""
    for line in body.split("\n"):
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            commands.append(line)
if not commands:
    sys.exit(f"{readme}: no ```sh commands between the markers")
open(out, "w", encoding="utf-8").write("\0".join(commands) + "\0")
PY

# One SQL count on a journal.
count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

seen_train="" seen_run="" seen_report="" seen_compare=""
n=0
started=$(date +%s)
while IFS= read -r -d '' command; do
    n=$((n + 1))
    log=$work/logs/$n.log
    t0=$(date +%s)
    echo "$check: \$ $command"
    if ! (cd "$work" && PATH="$work/bin:$PATH" bash -o pipefail -c "$command") >"$log" 2>&1; then
        cat "$log" >&2
        fail "command $n exited with an error: $command"
    fi
    what=""
    case $command in
    "lpft train "*)
        seen_train=1
        grep -q '^  test/accuracy [0-9.]' "$log" || { cat "$log" >&2; fail "lpft train printed no test/accuracy"; }
        result=$(sed -n 's/^result: //p' "$log" | tail -n 1)
        [ -n "$result" ] && grep -q '"status" *: *"completed"' "$result" || { cat "$log" >&2; fail "lpft train: no completed result.json ($result)"; }
        what="completed: $(grep '^  test/accuracy ' "$log" | xargs)" ;;
    "lpft sweep plan "*)
        grep -q '^4 trial(s)$' "$log" || { cat "$log" >&2; fail "lpft sweep plan did not list 4 trials"; }
        what="4 trials" ;;
    "lpft sweep run "*)
        seen_run=1
        journal=$(sed -n 's/.*done: 4 completed, 0 failed; journal //p' "$log" | tail -n 1)
        [ -n "$journal" ] || { cat "$log" >&2; fail "lpft sweep run did not end with 4 completed, 0 failed"; }
        completed=$(count "$journal" "SELECT count(*) FROM trials WHERE state = 'completed'")
        total=$(count "$journal" "SELECT count(*) FROM trials")
        [ "$completed" -eq 4 ] && [ "$total" -eq 4 ] || fail "the journal holds $completed completed of $total trials, expected 4 of 4"
        what="4 of 4 trials completed in the journal" ;;
    "lpft sweep report "*"--format html"*)
        seen_report=1
        page=$(sed -n 's/^report: //p' "$log")
        case $page in /*) ;; ?*) page=$work/$page ;; esac
        [ -n "$page" ] && grep -q '<svg' "$page" || { cat "$log" >&2; fail "lpft sweep report --format html wrote no report with plots ($page)"; }
        what="wrote ${page#"$work"/}" ;;
    "lpft sweep report "*)
        seen_report=1
        grep -q '^| method | n | test/accuracy |' "$log" && grep -q '^| ft | 2 |' "$log" && grep -q '^| lp-ft | 2 |' "$log" ||
            { cat "$log" >&2; fail "lpft sweep report printed no accuracy table with ft and lp-ft (n = 2)"; }
        what="tables printed" ;;
    "lpft sweep compare "*)
        seen_compare=1
        grep -q '^| arm cell | against cell | metric |' "$log" && grep -q '| test/accuracy | 2 |' "$log" ||
            { cat "$log" >&2; fail "lpft sweep compare printed no test/accuracy row of 2 pairs"; }
        what="table printed" ;;
    esac
    echo "$check:   ok in $(($(date +%s) - t0)) s${what:+ ($what)}"
done <"$work/commands"
[ -n "$seen_train" ] || fail "README's section runs no lpft train"
[ -n "$seen_run" ] || fail "README's section runs no lpft sweep run"
[ -n "$seen_report" ] || fail "README's section runs no lpft sweep report"
[ -n "$seen_compare" ] || fail "README's section runs no lpft sweep compare"
echo "$check: OK ($n commands of README's \"Your data in five minutes\", as printed, in $(($(date +%s) - started)) s)"
