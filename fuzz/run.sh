#!/usr/bin/env bash
# Fuzz smoke run (docs/fuzzing.md): builds every target, runs each for a bounded time on a copy
# of its seed corpus, prints one line of figures per target, and exits non-zero if any target
# crashed (panic, failed invariant, sanitizer report, timeout or out-of-memory).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 20 seconds, every target)
#
# Environment:
#   FUZZ_SANITIZER=address|none   default address (ASan works on stable with RUSTC_BOOTSTRAP=1)
#   FUZZ_RUNS=N                   stop each target after N executions (or SECONDS, if sooner)
#   CARGO_TARGET_DIR              default /tmp/target-fuzz
set -euo pipefail

cd "$(dirname "$0")"
fuzzdir=$PWD
secs=${1:-20}
shift || true
sanitizer=${FUZZ_SANITIZER:-address}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-fuzz}
# cargo-fuzz passes nightly-only flags (-Zsanitizer=..., -Cpasses=sancov-module is stable);
# RUSTC_BOOTSTRAP=1 makes the stable toolchain accept them. No nightly is needed.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --version 0.13.2
fi

echo "fuzz/run.sh: building every target (sanitizer: $sanitizer)" >&2
cargo fuzz build -s "$sanitizer"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

work=$(mktemp -d /tmp/earlyoom-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
limit=(-max_total_time="$secs")
if [[ -n ${FUZZ_RUNS:-} ]]; then
    limit+=(-runs="$FUZZ_RUNS")
fi

failed=()
printf '%-8s %12s %8s %10s %6s %7s %s\n' target execs seconds execs/s cov ft result
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "artifacts/$t"
    extra=()
    if [[ -f dict/$t.dict ]]; then
        extra+=(-dict="$fuzzdir/dict/$t.dict")
    fi
    log=$work/$t.log
    start=$(date +%s.%N)
    # The first corpus directory receives new inputs; the seeds stay untouched. -jobs=1 makes
    # libFuzzer log the fuzzing child to ./fuzz-0.log (copied into $log at the end): running
    # from $work keeps concurrent runs of this script apart.
    if (cd "$work" && cargo fuzz run --fuzz-dir "$fuzzdir" -s "$sanitizer" "$t" "$work/$t" \
        "$fuzzdir/corpus/$t" -- "${limit[@]}" -workers=1 -jobs=1 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$fuzzdir/artifacts/$t/" \
        "${extra[@]}") >"$log" 2>&1; then
        result=ok
    else
        result=CRASH
        failed+=("$t")
    fi
    end=$(date +%s.%N)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    if [[ -z $execs ]]; then
        execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    fi
    elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    rate=$(awk -v n="${execs:-0}" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    printf '%-8s %12s %8s %10s %6s %7s %s\n' "$t" "${execs:-?}" "$elapsed" "$rate" "${cov:-?}" "${ft:-?}" "$result"
    if [[ $result == CRASH ]]; then
        echo "---- $t: last lines of the libFuzzer log ----" >&2
        grep -E -A12 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "$log" | head -60 >&2 || tail -40 "$log" >&2
        for a in "artifacts/$t"/*; do
            [[ -f $a ]] || continue
            echo "---- reproducer $a (cargo fuzz run $t $a) ----" >&2
            od -An -c "$a" | head -20 >&2
        done
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz/run.sh: crashes in: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: no crash in ${#targets[@]} targets" >&2
