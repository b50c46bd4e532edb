# Sourced by bench/compare.sh, compare-finetune.sh and compare-builds.sh: two commands run in
# alternation, round by round, so that the machine's load falls on both alike.
#
#   interleave [--header] ROUNDS NAME_A NAME_B UNIT
#
# Each round runs the caller's functions `run_a` then `run_b` and prints the last line of each
# one's output; `rate` (also the caller's) reads such a line on stdin and prints its figure.
# --header prints the first line of each output in round 1 (which library, which kernel).
# Ends with the median figure of each and the ratio A / B.

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

interleave() {
    local header=0
    if [ "$1" = --header ]; then header=1; shift; fi
    local rounds=$1 name_a=$2 name_b=$3 unit=$4 r a b
    local -a rates_a=() rates_b=()
    local width=$(( (${#name_a} > ${#name_b} ? ${#name_a} : ${#name_b}) + 1 ))
    for r in $(seq "$rounds"); do
        a=$(run_a)
        b=$(run_b)
        if [ "$header" = 1 ] && [ "$r" = 1 ]; then sed -n 1p <<<"$a"; sed -n 1p <<<"$b"; fi
        printf 'round %s  %-*s %s\n' "$r" "$width" "$name_a:" "$(tail -1 <<<"$a")"
        printf 'round %s  %-*s %s\n' "$r" "$width" "$name_b:" "$(tail -1 <<<"$b")"
        rates_a+=("$(tail -1 <<<"$a" | rate)")
        rates_b+=("$(tail -1 <<<"$b" | rate)")
    done
    local ma mb
    ma=$(median "${rates_a[@]}") mb=$(median "${rates_b[@]}")
    echo "median $unit: $name_a $ma, $name_b $mb, ratio $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')"
}
