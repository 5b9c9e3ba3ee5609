#!/usr/bin/env bash
# Time-boxed libFuzzer run of the firmware fuzz targets, one after the other (not part of CI or pytest):
#
#   firmware/fuzz/run_fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      default 600 s, every target
#
# Builds them (`make -C firmware fuzz`: clang, ASan + UBSan), then runs each under `nice -n 10` as one
# process (one job, one worker) for the time box, with value profiling. Each target starts from its committed
# seeds (firmware/fuzz/corpus/<target>) and regression inputs (firmware/fuzz/regressions/<target>) plus what
# earlier runs found (build/fuzz/corpus/<target>, where new inputs go). Logs: build/fuzz/logs/<target>.log;
# crashing inputs: build/fuzz/crashes/<target>/. Prints executions per target and every crash file; exits 1
# if any target crashed.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-600}
shift $(($# > 0 ? 1 : 0))
targets=${*:-frontend kernels detector network network_init engine wav}
out=$root/build/fuzz

make -s -C "$root/firmware" fuzz PYTHON="${PYTHON:-$root/.venv/bin/python}" || exit 2
mkdir -p "$out/logs"
status=0
printf '%-13s %8s %12s %9s %7s %s\n' target seconds executions exec/s corpus crashes
for t in $targets; do
    bin=$out/bin/fuzz_$t
    [ -x "$bin" ] || { echo "no such target: $t (have: $(ls "$out/bin" | sed 's/fuzz_//g' | tr '\n' ' '))"; exit 2; }
    mkdir -p "$out/corpus/$t" "$out/crashes/$t"
    dirs=("$out/corpus/$t" "$root/firmware/fuzz/corpus/$t")
    [ -d "$root/firmware/fuzz/regressions/$t" ] && dirs+=("$root/firmware/fuzz/regressions/$t")
    start=$(date +%s)
    # -timeout: an input slower than this many seconds is a finding too (a hang).
    nice -n 10 "$bin" -max_total_time="$seconds" -timeout=30 -use_value_profile=1 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$t/" "${dirs[@]}" >"$out/logs/$t.log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log" | tail -1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$out/logs/$t.log" | tail -1 | tr -d '#')
    crashes=$(find "$out/crashes/$t" -type f -newermt "@$start" | wc -l)
    printf '%-13s %8d %12d %9d %7d %d\n' "$t" "$elapsed" "${runs:-0}" $(( ${runs:-0} / (elapsed > 0 ? elapsed : 1) )) \
        "$(ls "$out/corpus/$t" | wc -l)" "$crashes"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        grep -E 'ERROR:|runtime error:|invariant failed' "$out/logs/$t.log" | head -3 | sed 's/^/    /'
        find "$out/crashes/$t" -type f -newermt "@$start" | sed 's/^/    /'
    fi
done
exit $status
