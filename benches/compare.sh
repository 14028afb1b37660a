#!/usr/bin/env bash
# Side-by-side benchmarks of earlyoom-rs ("ours") and earlyoom in C ("theirs").
#
#   benches/compare.sh [options] [OURS [THEIRS]]
#
# OURS defaults to $CARGO_TARGET_DIR/release/earlyoom, else target/release/earlyoom; build it
# first with `cargo build --release`. THEIRS defaults to /usr/bin/earlyoom (Debian's package).
#
# Options (EOOM_BENCH_COMMIT=... overrides the commit shown for ours, e.g. for a build from
# `git archive` output, which has no .git):
#   -r RUNS     runs per measurement; the tables show medians (default 5)
#   -F RUNS     runs of the idle-footprint measurement (default 11: cheap, and the executable's
#               resident pages vary from run to run with the load address, see BENCHMARKS.md)
#   -c COUNTS   process counts for the scan measurements (default "1000 10000")
#   -C CROWDS   crowds for the scan measurements (default "largest"): "largest", one clear
#               largest process (the crowd's parent, with the ballast) and idle children;
#               "ties", every child at oom_score_adj 1000 above the ballast holder, all
#               equal (same oom_score, same RSS: each scan decides among ties)
#   -S SAMPLES  "selecting victim took" samples kept per -d run (default 20)
#   -w SECS     window of one no-debug CPU-per-scan run (default 5)
#   -t SECS     duration of one idle-CPU run (default 60; use 600 for the final figures)
#   -T RUNS     idle-CPU runs (default 1)
#   -o DIR      keep the raw data in DIR (default: a new directory under /tmp)
#   -x LIST     skip parts, comma-separated: footprint,idle,scan,syscalls,rust,valgrind
#   -h          this help
#
# Everything runs inside a private PID namespace (unshare --pid --mount-proc), which makes the
# process count exact and means every process the daemons see, and the one each of them sends
# signal 0 to in its startup self-test, was started by this script; leaving the namespace
# kills whatever is left. Needs root (or unprivileged user namespaces), bash, awk, unshare;
# cc for the idle-process helper (falls back to `sleep`, without a ballast); cargo for the
# library bench; strace for the system-call counts and valgrind for the instructions per idle
# wake-up (each skipped without it).
# Progress goes to stderr, the markdown tables to stdout (and to DIR/results.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

RUNS=5
FP_RUNS=11
COUNTS="1000 10000"
CROWDS="largest"
SAMPLES=20
WINDOW=5
IDLE_SECS=60
IDLE_RUNS=1
OUT=""
SKIP=""
while getopts "r:F:c:C:S:w:t:T:o:x:h" opt; do
    case $opt in
    r) RUNS=$OPTARG ;;
    F) FP_RUNS=$OPTARG ;;
    c) COUNTS=$OPTARG ;;
    C) CROWDS=$OPTARG ;;
    S) SAMPLES=$OPTARG ;;
    w) WINDOW=$OPTARG ;;
    t) IDLE_SECS=$OPTARG ;;
    T) IDLE_RUNS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    x) SKIP=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

log() { printf '[compare %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

# ---------------------------------------------------------------------------------------------
# Outer part: resolve the binaries, build the helpers, then re-run this script as PID 1 of a
# new PID namespace.
# ---------------------------------------------------------------------------------------------
if [[ -z ${EOOM_BENCH_INNER:-} ]]; then
    if [[ $# -ge 1 ]]; then
        ours=$1
    elif [[ -n ${CARGO_TARGET_DIR:-} && -x $CARGO_TARGET_DIR/release/earlyoom ]]; then
        ours=$CARGO_TARGET_DIR/release/earlyoom
    else
        ours=$repo/target/release/earlyoom
    fi
    theirs=${2:-/usr/bin/earlyoom}
    [[ -x $ours ]] || die "no executable '$ours' (cargo build --release first)"
    [[ -x $theirs ]] || die "no executable '$theirs' (apt-get install earlyoom)"
    ours=$(readlink -f "$ours")
    theirs=$(readlink -f "$theirs")
    command -v unshare >/dev/null || die "unshare (util-linux) is needed"

    if [[ -z $OUT ]]; then
        OUT=$(mktemp -d /tmp/eoom-compare.XXXXXX)
    fi
    mkdir -p "$OUT"
    OUT=$(readlink -f "$OUT")
    log "raw data in $OUT"

    # The crowd of idle processes.
    spawn=""
    if command -v cc >/dev/null; then
        if cc -O2 -Wall -o "$OUT/idle_procs" "$here/idle_procs.c"; then
            spawn=$OUT/idle_procs
        fi
    fi
    [[ -n $spawn ]] || log "no cc: falling back to 'sleep' processes (slower, more memory)"

    # The library bench: benches/scan.rs built as a binary of a throw-away package that
    # depends on this one, so it runs inside the namespace without cargo.
    rust=""
    if ! skipped rust; then
        if command -v cargo >/dev/null; then
            shim=$OUT/shim
            mkdir -p "$shim"
            cat >"$shim/Cargo.toml" <<EOF
[package]
name = "earlyoom-bench-shim"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
earlyoom-rs = { path = "$repo" }
libc = "0.2"

[[bin]]
name = "earlyoom-scan-bench"
path = "$here/scan.rs"

# The same as the package's release profile, so the library is compiled as in the daemon.
[profile.release]
lto = "fat"
codegen-units = 1
panic = "abort"
strip = true
opt-level = "s"
EOF
            cp "$repo/Cargo.lock" "$shim/Cargo.lock"
            tdir=${CARGO_TARGET_DIR:-$repo/target}
            log "building the library bench (target dir $tdir)"
            if (cd "$shim" && CARGO_TARGET_DIR=$tdir cargo build --release --offline -q 2>"$OUT/shim-build.log" ||
                CARGO_TARGET_DIR=$tdir cargo build --release -q 2>>"$OUT/shim-build.log"); then
                rust=$tdir/release/earlyoom-scan-bench
            else
                log "library bench did not build, see $OUT/shim-build.log"
            fi
        else
            log "no cargo: skipping the library bench"
        fi
    fi

    # The machine, for the report.
    {
        echo "nproc=$(nproc)"
        echo "cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
        echo "mem_total_kib=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
        echo "swap_total_kib=$(awk '/^SwapTotal:/{print $2}' /proc/meminfo)"
        echo "kernel=$(uname -srm)"
        echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "ours=$ours"
        echo "ours_version=$("$ours" -v 2>&1 | head -n1)"
        echo "ours_commit=${EOOM_BENCH_COMMIT:-$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)}"
        echo "theirs=$theirs"
        echo "theirs_version=$("$theirs" -v 2>&1 | head -n1)"
        echo "theirs_package=$(dpkg-query -W -f='${Package} ${Version}' earlyoom 2>/dev/null || echo unknown)"
    } >"$OUT/machine.txt"

    ns=(unshare --pid --fork --mount-proc --kill-child)
    if [[ $(id -u) -ne 0 ]]; then
        log "not root: using a user namespace too (mlockall may fail, VmLck may read 0)"
        ns=(unshare --user --map-root-user --pid --fork --mount-proc --kill-child)
    fi
    export EOOM_BENCH_INNER=1 EOOM_BENCH_OURS=$ours EOOM_BENCH_THEIRS=$theirs \
        EOOM_BENCH_OUT=$OUT EOOM_BENCH_SPAWN=$spawn EOOM_BENCH_RUST=$rust
    exec "${ns[@]}" bash "${BASH_SOURCE[0]}" -r "$RUNS" -F "$FP_RUNS" -c "$COUNTS" -C "$CROWDS" -S "$SAMPLES" -w "$WINDOW" \
        -t "$IDLE_SECS" -T "$IDLE_RUNS" -x "$SKIP"
fi

# ---------------------------------------------------------------------------------------------
# Inner part: PID 1 of a private PID namespace.
# ---------------------------------------------------------------------------------------------
ours=$EOOM_BENCH_OURS
theirs=$EOOM_BENCH_THEIRS
OUT=$EOOM_BENCH_OUT
spawn=$EOOM_BENCH_SPAWN
rust=$EOOM_BENCH_RUST
[[ $$ -eq 1 ]] || die "the inner part must run as PID 1 of its own PID namespace"
scratch=/dev/shm
[[ -d $scratch && -w $scratch ]] || scratch=$OUT
scratch=$(mktemp -d "$scratch/eoom-compare.XXXXXX")

declare -a mine=() # every process this script started and may still have to stop
crowd_pid=""

stop() { # stop PID...: SIGTERM to processes this script started, then reap them
    local p
    for p in "$@"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "$@"; do
        wait "$p" 2>/dev/null || true
    done
}

cleanup() {
    trap - EXIT INT TERM
    ((${#mine[@]})) && stop "${mine[@]}"
    [[ -n $crowd_pid ]] && stop_crowd
    mkdir -p "$OUT/logs"
    cp "$scratch"/*.err "$OUT/logs/" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# start NAME BIN ARGS...: runs BIN with stdin from /dev/null, stdout and stderr to
# $scratch/NAME.out and .err; sets $started.
started=""
start() {
    local name=$1
    shift
    : >"$scratch/$name.out"
    : >"$scratch/$name.err"
    (
        # Close whatever this shell inherited or keeps open above stderr, so the fd count is
        # the daemon's own.
        for f in "/proc/$BASHPID/fd"/*; do
            f=${f##*/}
            if ((f > 2)); then eval "exec $f>&-"; fi
        done
        exec "$@"
    ) </dev/null >"$scratch/$name.out" 2>"$scratch/$name.err" &
    started=$!
    mine+=("$started")
}

forget() { # forget PID: drop it from $mine once stopped
    local p keep=()
    for p in "${mine[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    mine=("${keep[@]}")
}

halt() { # halt PID: stop one daemon we started and forget it
    stop "$1"
    forget "$1"
}

median() { # median of the arguments (numbers); "n/a" if none
    if (($# == 0)); then
        echo "n/a"
        return
    fi
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1}
        END { if (NR % 2) v = a[(NR + 1) / 2]; else v = (a[NR / 2] + a[NR / 2 + 1]) / 2;
              if (v == int(v)) printf "%d\n", v; else printf "%.3f\n", v }'
}

range() { # range of the arguments (numbers): "MIN-MAX"
    printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'
}

ratio() { # ratio OURS THEIRS
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

alive() { # alive PID: running, not a zombie
    [[ -r /proc/$1/stat ]] && awk '{ sub(/^.*\) /, ""); exit ($1 == "Z") }' "/proc/$1/stat" 2>/dev/null
}

count_procs() { # thread-group leaders in our /proc
    local n=0 d
    for d in /proc/[0-9]*; do
        [[ -d $d ]] && n=$((n + 1))
    done
    echo "$n"
}

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }          # on-CPU time, ns
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime
vol_switches() { awk '$1 == "voluntary_ctxt_switches:" {print $2}' "/proc/$1/status"; }

meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }

# Percent of available memory as each daemon computes it: earlyoom 1.7 against MemTotal,
# earlyoom >= 1.8 and ours against "user mem total" = MemAvailable + AnonPages.
pct_theirs() { awk -v a="$(meminfo MemAvailable)" -v t="$(meminfo MemTotal)" 'BEGIN {printf "%.2f", 100 * a / t}'; }
pct_ours() { awk -v a="$(meminfo MemAvailable)" -v n="$(meminfo AnonPages)" 'BEGIN {printf "%.2f", 100 * a / (a + n)}'; }

results=$OUT/results.md
: >"$results"
emit() { printf '%s\n' "$*" | tee -a "$results"; }

name_of() { [[ $1 == "$ours" ]] && echo ours || echo theirs; }

# Alternate which daemon goes first from run to run.
order() { if (($1 % 2)); then echo "$theirs $ours"; else echo "$ours $theirs"; fi; }

# ----------------------------------------------------------------------- 1. idle footprint
MAPPINGS="exe libc ld gcc heap anon other"

# rss_by_mapping PID BIN: resident KiB per kind of mapping, in the order of $MAPPINGS.
rss_by_mapping() {
    awk -v exe="$2" -v order="$MAPPINGS" '
        /^[0-9a-f]+-[0-9a-f]+ / {
            p = $6
            if (p == exe) c = "exe"
            else if (p ~ /\/libc\.so/) c = "libc"
            else if (p ~ /\/ld-linux/) c = "ld"
            else if (p ~ /\/libgcc_s/) c = "gcc"
            else if (p == "[heap]") c = "heap"
            else if (p == "" || p == "[stack]") c = "anon"
            else c = "other"
        }
        $1 == "Rss:" { r[c] += $2 }
        END { n = split(order, k, " "); for (i = 1; i <= n; i++) printf "%d%s", r[k[i]], (i < n ? " " : "\n") }' "/proc/$1/smaps"
}

bench_footprint() {
    local mode args bin r pid key n m i label
    declare -A val=()
    for mode in r0 defaults; do
        args=()
        [[ $mode == r0 ]] && args=(-r 0)
        for ((r = 0; r < FP_RUNS; r++)); do
            for bin in $(order "$r"); do
                n=$(name_of "$bin")
                start "fp-$n" "$bin" "${args[@]}"
                pid=$started
                sleep 2
                alive "$pid" || die "$n exited early: $(cat "$scratch/fp-$n.err")"
                for key in VmRSS RssAnon RssFile VmLck; do
                    val[$mode.$n.$key]+=" $(status_kib "$pid" "$key")"
                done
                # Shared libc pages count fully in VmRSS; Pss splits them among their users.
                val[$mode.$n.Pss]+=" $(awk '$1 == "Pss:" {print $2}' "/proc/$pid/smaps_rollup")"
                val[$mode.$n.Private]+=" $(awk '$1 ~ /^Private_(Clean|Dirty):$/ {s += $2} END {print s}' "/proc/$pid/smaps_rollup")"
                val[$mode.$n.fds]+=" $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
                read -r -a m <<<"$(rss_by_mapping "$pid" "$bin")"
                i=0
                for key in $MAPPINGS; do
                    val[$mode.$n.map.$key]+=" ${m[i]}"
                    i=$((i + 1))
                done
                ls -l "/proc/$pid/fd" >"$OUT/fds-$n.txt" 2>&1 || true
                halt "$pid"
            done
        done
    done
    local so st
    so=$(stat -c %s "$ours")
    st=$(stat -c %s "$theirs")
    emit ""
    emit "### Idle footprint (median of $FP_RUNS runs, read 2 s after start)"
    emit ""
    emit "| measure | ours | earlyoom | ours/earlyoom |"
    emit "| --- | ---: | ---: | ---: |"
    local label o t
    for mode in r0 defaults; do
        if [[ $mode == r0 ]]; then label="\`-r 0\`"; else label="defaults"; fi
        for key in VmRSS RssAnon RssFile Pss Private VmLck; do
            # shellcheck disable=SC2086 # word splitting of the value lists is intended
            o=$(median ${val[$mode.ours.$key]})
            # shellcheck disable=SC2086
            t=$(median ${val[$mode.theirs.$key]})
            emit "| $key, $label (KiB) | $o | $t | $(ratio "$o" "$t") |"
        done
        # shellcheck disable=SC2086
        o=$(median ${val[$mode.ours.fds]})
        # shellcheck disable=SC2086
        t=$(median ${val[$mode.theirs.fds]})
        emit "| open fds, $label | $o | $t | $(ratio "$o" "$t") |"
    done
    emit "| binary size (bytes) | $so | $st | $(ratio "$so" "$st") |"
    emit ""
    emit "Linked against: ours \`$(ldd "$ours" 2>/dev/null | awk '/=>/{printf "%s ", $1}')\`," \
        "earlyoom \`$(ldd "$theirs" 2>/dev/null | awk '/=>/{printf "%s ", $1}')\`."
    emit ""
    emit "Resident KiB by mapping, \`-r 0\` (/proc/PID/smaps Rss; medians, so the rows need not add up to VmRSS):"
    emit ""
    emit "| mapping | ours (min-max) | earlyoom (min-max) |"
    emit "| --- | ---: | ---: |"
    for key in $MAPPINGS; do
        case $key in
        exe) label="the executable" ;;
        libc) label="libc.so.6 (shared with every process)" ;;
        ld) label="ld-linux (shared)" ;;
        gcc) label="libgcc_s.so.1 (shared)" ;;
        heap) label="[heap]" ;;
        anon) label="anonymous + stack" ;;
        other) label="other (vdso...)" ;;
        esac
        # shellcheck disable=SC2086
        o=$(median ${val[r0.ours.map.$key]})
        # shellcheck disable=SC2086
        t=$(median ${val[r0.theirs.map.$key]})
        # shellcheck disable=SC2086
        emit "| $label | $o ($(range ${val[r0.ours.map.$key]})) | $t ($(range ${val[r0.theirs.map.$key]})) |"
    done
}

# ----------------------------------------------------------------------------- 4. idle CPU
bench_idle() {
    local r bin n pid
    declare -A a=() v=()
    for ((r = 0; r < IDLE_RUNS; r++)); do
        log "idle CPU run $((r + 1))/$IDLE_RUNS: ${IDLE_SECS} s, both daemons at once, defaults"
        local -A pids=()
        for bin in $(order "$r"); do
            n=$(name_of "$bin")
            start "idle-$n" "$bin"
            pids[$n]=$started
        done
        sleep 2
        for n in ours theirs; do
            pid=${pids[$n]}
            alive "$pid" || die "$n exited early: $(cat "$scratch/idle-$n.err")"
            a[$n]="$(cpu_ns "$pid") $(cpu_ticks "$pid") $(vol_switches "$pid")"
        done
        sleep "$IDLE_SECS"
        for n in ours theirs; do
            pid=${pids[$n]}
            if ! alive "$pid"; then
                died "$n" "$pid" "idle-$n"
                pids[$n]=""
                continue
            fi
            read -r ns0 tk0 sw0 <<<"${a[$n]}"
            read -r ns1 tk1 sw1 <<<"$(cpu_ns "$pid") $(cpu_ticks "$pid") $(vol_switches "$pid")"
            v[$n.ticks]+=" $(awk -v d=$((tk1 - tk0)) -v hz="$(getconf CLK_TCK)" -v s="$IDLE_SECS" \
                'BEGIN {printf "%.3f", d / hz * 60 / s}')"
            v[$n.ns]+=" $(awk -v d=$((ns1 - ns0)) -v s="$IDLE_SECS" 'BEGIN {printf "%.3f", d / 1e6 * 60 / s}')"
            v[$n.wake]+=" $(awk -v d=$((ns1 - ns0)) -v w=$((sw1 - sw0)) \
                'BEGIN {if (w > 0) printf "%.1f", d / 1e3 / w; else print "n/a"}')"
            v[$n.wakes]+=" $(awk -v w=$((sw1 - sw0)) -v s="$IDLE_SECS" 'BEGIN {printf "%.1f", w * 60 / s}')"
        done
        for n in ours theirs; do
            [[ -z ${pids[$n]} ]] || halt "${pids[$n]}"
        done
    done
    emit ""
    emit "### Idle CPU at default settings (median of $IDLE_RUNS run(s) of $IDLE_SECS s, both side by side)"
    emit ""
    emit "| measure | ours | earlyoom | ours/earlyoom |"
    emit "| --- | ---: | ---: | ---: |"
    local key label o t
    for key in ticks ns wakes wake; do
        case $key in
        ticks) label="CPU s per minute, utime+stime (/proc/PID/stat, 1/$(getconf CLK_TCK) s ticks)" ;;
        ns) label="CPU ms per minute (/proc/PID/schedstat, ns resolution)" ;;
        wakes) label="wake-ups per minute (voluntary context switches)" ;;
        wake) label="CPU µs per wake-up (one loop iteration incl. the -r 1 report)" ;;
        esac
        # shellcheck disable=SC2086
        o=$(median ${v[ours.$key]})
        # shellcheck disable=SC2086
        t=$(median ${v[theirs.$key]})
        emit "| $label | $o | $t | $(ratio "$o" "$t") |"
    done
    if ! skipped valgrind && command -v valgrind >/dev/null; then
        o=$(instr_per_wakeup "$ours")
        t=$(instr_per_wakeup "$theirs")
        emit "| user-space instructions per wake-up (valgrind, \`-r 1\`) | $o | $t | $(ratio "$o" "$t") |"
    fi
}

# instr_per_wakeup BIN: instructions BIN executes in user space per loop iteration at the
# defaults (valgrind's callgrind count over 15 s minus that over 5 s, divided by the report
# lines printed in between). Unlike CPU time per wake-up, which on a virtual machine is mostly
# the kernel's and the hypervisor's work and varies with the neighbours' load, this count is
# the same from run to run and shows the daemon's own code.
instr_per_wakeup() {
    local bin=$1 s pid lines=() instr=()
    for s in 5 15; do
        start vg valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin"
        pid=$started
        sleep "$s"
        halt "$pid"
        lines+=("$(count_lines 'mem avail' "$scratch/vg.out")")
        instr+=("$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$scratch/vg.err")")
    done
    awk -v i0="${instr[0]:-0}" -v i1="${instr[1]:-0}" -v l0="${lines[0]}" -v l1="${lines[1]}" \
        'BEGIN {if (l1 > l0 && i1 > i0) printf "%d\n", (i1 - i0) / (l1 - l0); else print "n/a"}'
}

# ------------------------------------------------------------------ 2. victim scan timing
crowd_mib=0
start_crowd() { # start_crowd TOTAL BALLAST_MIB CROWD: make /proc hold about TOTAL processes
    local total=$1 ballast=$2 crowd=${3:-largest} base k tie=()
    [[ $crowd == ties ]] && tie=(ties)
    base=$(count_procs)
    # The crowd's parent and the daemon under test count too.
    k=$((total - base - 2))
    ((k >= 0)) || k=0
    if [[ -n $spawn ]]; then
        "$spawn" "$k" "$ballast" "${tie[@]}" </dev/null >"$scratch/crowd.out" 2>"$scratch/crowd.err" &
        crowd_pid=$!
        local i
        for ((i = 0; i < 600; i++)); do
            grep -q '^ready' "$scratch/crowd.out" 2>/dev/null && break
            sleep 0.1
        done
        grep -q '^ready' "$scratch/crowd.out" || die "idle_procs did not start: $(cat "$scratch/crowd.err")"
        crowd_mib=$(awk '{print $3}' "$scratch/crowd.out")
        # Children of pid 2 pass for kernel threads (children of kthreadd) in ours.
        ((crowd_pid != 2)) || die "the crowd's parent got pid 2; its children would look like kernel threads"
    else
        # Fallback: a subshell full of sleeps that stops them when it is stopped; no ballast.
        (
            trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
            for ((i = 0; i < k; i++)); do sleep 3600 & done
            wait
        ) </dev/null >/dev/null 2>&1 &
        crowd_pid=$!
        while (($(count_procs) < total - 1)); do sleep 0.2; done
        crowd_mib=0
    fi
}

# stray_daemons: stop any daemon left running in this namespace (everything in it was started
# by this script), so that it cannot load the machine during later measurements.
stray_daemons() {
    local d p exe
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        exe=$(readlink "$d/exe" 2>/dev/null || true)
        if [[ $exe == "$ours" || $exe == "$theirs" ]]; then
            log "  stopping a stray daemon: pid $p ($exe)"
            kill -TERM "$p" 2>/dev/null || true
        fi
    done
}

stop_crowd() {
    [[ -n $crowd_pid ]] || return 0
    # idle_procs' children have PR_SET_PDEATHSIG = SIGKILL; the fallback subshell stops its
    # sleeps itself.
    stop "$crowd_pid"
    crowd_pid=""
    # The children die asynchronously; wait until only we are left.
    local i
    for ((i = 0; i < 300 && $(count_procs) > 2; i++)); do sleep 0.1; done
}

# Ballast (MiB) that makes MemAvailable <= 97 % of MemAvailable + AnonPages, so that "-m 99"
# is low memory for ours as well as for earlyoom 1.7; at least 64 MiB, so that the crowd's
# parent is the victim of every scan for both daemons; -1 if it would take more than a
# quarter of MemAvailable.
ballast_needed() {
    awk -v a="$(meminfo MemAvailable)" -v n="$(meminfo AnonPages)" 'BEGIN {
        b = (3 * a - 97 * n) / 100 / 1024
        if (b <= 0) b = 0
        b = int(b) + 64
        if (b * 1024 > a / 4) print -1; else print b }'
}

count_lines() { # count_lines PATTERN FILE: matching lines, 0 if none or no file yet
    local c
    c=$(grep -c -- "$1" "$2" 2>/dev/null) || true
    echo "${c:-0}"
}

times_of() { # times_of FILE: the "selecting victim took X ms" figures, in order
    awk '/selecting victim took/ {print $(NF - 1)}' "$1"
}

# syscalls_per_proc TRACE PROCS: system calls from the end of the 2nd scan to the end of the
# 3rd (a scan ends with getdents64 returning 0), i.e. one steady-state iteration, per
# process: "TOTAL (name N, ...)".
syscalls_per_proc() {
    awk -v procs="$2" '
        /^[a-z_0-9]+\(/ {
            name = substr($0, 1, index($0, "(") - 1)
            if (scans == 2) { c[name]++; total++ }
            if (name == "getdents64" && $0 ~ /= 0$/) { scans++; if (scans == 3) exit }
        }
        END {
            if (scans < 3) { print "n/a"; exit }
            printf "%.2f (", total / procs
            sep = ""
            for (k in c) if (c[k] / procs >= 0.05) { printf "%s%s %.2f", sep, k, c[k] / procs; sep = ", " }
            print ")"
        }' "$1"
}

# retry N CMD...: run CMD up to N times until it succeeds (a daemon that vanished mid-run,
# e.g. killed from outside, is logged with its status and measured again).
retry() {
    local n=$1 i
    shift
    for ((i = 1; i <= n; i++)); do
        "$@" && return 0
        log "  attempt $i of $1 for $3 failed"
    done
    die "giving up on $1 for $3 after $n attempts"
}

# died NAME PID: log that a daemon ended on its own, with its wait status and last words.
died() {
    local st=0
    wait "$2" 2>/dev/null || st=$?
    forget "$2"
    log "  $1 (pid $2) ended by itself, wait status $st; last stderr: $(tail -n 2 "$scratch/$3.err" | tr '\n' '|')"
}

# (a) -d: the daemon's own "selecting victim took" line after every scan. Appends to the
# dbg/boot arrays of bench_scan.
run_debug() {
    local bin=$1 n=$2 r=$3 total=$4 pid i lines
    start "d-$n" "$bin" --dryrun -d -m 99 -s 100 -r 0
    pid=$started
    # Poll gently: grep over a growing file competes with the daemon for a CPU.
    for ((i = 0; i < 240; i++)); do
        sleep 0.5
        lines=$(count_lines 'selecting victim took' "$scratch/d-$n.out")
        ((lines > SAMPLES)) && break
        alive "$pid" || break
    done
    if ! alive "$pid"; then
        died "$n" "$pid" "d-$n"
        return 1
    fi
    halt "$pid"
    grep -q 'dryrun, not actually sending any signal' "$scratch/d-$n.err" ||
        die "$n did not see low memory: $(tail -n 3 "$scratch/d-$n.err")"
    mapfile -t t < <(times_of "$scratch/d-$n.out")
    ((${#t[@]} > SAMPLES)) || die "$n printed only ${#t[@]} scan times"
    boot[$n]+=" ${t[0]}"
    dbg[$n]+=" ${t[*]:1:SAMPLES}"
    if ((r == 0)); then
        awk '!/selecting victim took/ && n++ < 6' "$scratch/d-$n.out" >"$OUT/debug-head-$n-${crowd:-largest}-$total.txt"
    fi
    rm -f "$scratch/d-$n.out"
}

# (b) no -d: CPU time per low-memory iteration (scan + 2 meminfo reads + the dry-run kill
# report), counted by the "dryrun, not actually..." lines. Appends to cpu/wall/iters.
run_nodebug() {
    local bin=$1 n=$2 pid i c0 k0 w0 c1 k1 w1
    start "nd-$n" "$bin" --dryrun -m 99 -s 100 -r 0
    pid=$started
    for ((i = 0; i < 600; i++)); do
        (($(count_lines 'dryrun, not actually' "$scratch/nd-$n.err") >= 2)) && break
        alive "$pid" || break
        sleep 0.05
    done
    alive "$pid" && c0=$(cpu_ns "$pid")
    k0=$(count_lines 'dryrun, not actually' "$scratch/nd-$n.err")
    w0=$(date +%s%N)
    sleep "$WINDOW"
    alive "$pid" && c1=$(cpu_ns "$pid")
    k1=$(count_lines 'dryrun, not actually' "$scratch/nd-$n.err")
    w1=$(date +%s%N)
    if [[ -z ${c0:-} || -z ${c1:-} ]] || ! alive "$pid"; then
        died "$n" "$pid" "nd-$n"
        return 1
    fi
    halt "$pid"
    ((k1 > k0)) || die "$n did no dry-run kill in ${WINDOW} s"
    cpu[$n]+=" $(awk -v c=$((c1 - c0)) -v k=$((k1 - k0)) 'BEGIN {printf "%.3f", c / 1e6 / k}')"
    wall[$n]+=" $(awk -v w=$((w1 - w0)) -v k=$((k1 - k0)) 'BEGIN {printf "%.3f", w / 1e6 / k}')"
    iters[$n]+=" $((k1 - k0))"
}

bench_scan() {
    local total ballast procs r bin n pid i p crowd
    for crowd in $CROWDS; do
    [[ $crowd == largest || $crowd == ties ]] || die "unknown crowd '$crowd' (-C: largest, ties)"
    [[ $crowd == largest || -n $spawn ]] || die "the ties crowd needs idle_procs (cc)"
    for total in $COUNTS; do
        ballast=$(ballast_needed)
        [[ $ballast -ge 0 ]] || die "cannot make -m 99 count as low memory here"
        local need=$((total * 200 / 1024 + ballast + 512)) # ~200 KiB per idle process, generous
        (($(meminfo MemAvailable) / 1024 > need * 2)) || die "not enough memory for $total processes"
        stray_daemons
        log "scan at $total processes, crowd $crowd: starting it (ballast ${ballast} MiB)"
        start_crowd "$total" "$ballast" "$crowd"
        procs=$(($(count_procs) + 1)) # + the daemon
        local po pt
        po=$(pct_ours)
        pt=$(pct_theirs)
        log "  $procs processes; mem avail ${po}% (ours' base) / ${pt}% (earlyoom 1.7's base)"
        awk -v a="$po" -v b="$pt" 'BEGIN {exit !(a < 99 && b < 99)}' ||
            die "memory is not low at -m 99 (${po}%, ${pt}%)"
        declare -A dbg=() boot=() cpu=() wall=() iters=() sys=()
        for ((r = 0; r < RUNS; r++)); do
            for bin in $(order "$r"); do
                n=$(name_of "$bin")
                retry 3 run_debug "$bin" "$n" "$r" "$total"
                retry 3 run_nodebug "$bin" "$n"
            done
        done
        # (c) the library: Scanner::scan without the debug table, allocations counted.
        local lib=""
        if [[ -n $rust ]]; then
            lib=$("$rust" --scans 50 --no-loop | tee -a "$OUT/rust-scan-$crowd-$total.txt")
        fi
        # (d) system calls per process in one steady-state scan, from an strace of each.
        if ! skipped syscalls && command -v strace >/dev/null; then
            for bin in "$ours" "$theirs"; do
                n=$(name_of "$bin")
                start "st-$n" strace -I1 -qq -o "$scratch/st-$n.trace" "$bin" --dryrun -m 99 -s 100 -r 0
                pid=$started
                # Traced, a scan is slow: allow 30 s per 1,000 processes.
                for ((i = 0; i < 300 * (total / 1000 + 1); i++)); do
                    (($(count_lines 'dryrun, not actually' "$scratch/st-$n.err") >= 3)) && break
                    sleep 0.1
                done
                # Stop the traced daemon first (strace 6.1 has no --kill-on-exit: a daemon
                # whose strace dies first would go on running untraced), then strace.
                local tracee
                tracee=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
                for p in $tracee; do kill -TERM "$p" 2>/dev/null || true; done
                halt "$pid"
                sys[$n]=$(syscalls_per_proc "$scratch/st-$n.trace" "$procs")
                cp "$scratch/st-$n.trace" "$OUT/strace-$n-$crowd-$total.txt" 2>/dev/null || true
                rm -f "$scratch/st-$n.trace"
            done
        fi

        stop_crowd
        stray_daemons

        local o t ob tb oc tc ow tw
        # shellcheck disable=SC2086
        o=$(median ${dbg[ours]})
        # shellcheck disable=SC2086
        t=$(median ${dbg[theirs]})
        # shellcheck disable=SC2086
        ob=$(median ${boot[ours]})
        # shellcheck disable=SC2086
        tb=$(median ${boot[theirs]})
        # shellcheck disable=SC2086
        oc=$(median ${cpu[ours]})
        # shellcheck disable=SC2086
        tc=$(median ${cpu[theirs]})
        # shellcheck disable=SC2086
        ow=$(median ${wall[ours]})
        # shellcheck disable=SC2086
        tw=$(median ${wall[theirs]})
        emit ""
        emit "### Victim scan, $procs processes in /proc, crowd \"$crowd\" (ms; medians)"
        emit ""
        emit "| measure | ours | earlyoom | ours/earlyoom |"
        emit "| --- | ---: | ---: | ---: |"
        emit "| \`-d\` \"selecting victim took\", steady state, incl. the debug table ($((RUNS * SAMPLES)) samples each) | $o | $t | $(ratio "$o" "$t") |"
        emit "| \`-d\` \"selecting victim took\", startup self-test scan ($RUNS samples each) | $ob | $tb | $(ratio "$ob" "$tb") |"
        emit "| no \`-d\`: CPU per low-memory iteration (scan + dry-run kill report; $RUNS × ${WINDOW} s) | $oc | $tc | $(ratio "$oc" "$tc") |"
        emit "| no \`-d\`: wall time per low-memory iteration (100 ms sleep included) | $ow | $tw | $(ratio "$ow" "$tw") |"
        if [[ -n ${sys[ours]:-} ]]; then
            emit "| system calls per process in one scan, no \`-d\` (strace) | ${sys[ours]} | ${sys[theirs]} | $(ratio "${sys[ours]%% *}" "${sys[theirs]%% *}") |"
        fi
        if [[ -n $lib ]]; then
            local med cmed alloc first pp
            med=$(sed -n 's/.* median_us=\([0-9.]*\).*/\1/p' <<<"$lib")
            cmed=$(sed -n 's/.* cpu_median_us=\([0-9.]*\).*/\1/p' <<<"$lib")
            alloc=$(sed -n 's/.*allocs_per_scan=\([0-9.]*\).*/\1/p' <<<"$lib")
            first=$(sed -n 's/.*first_scan_allocs=\([0-9]*\).*/\1/p' <<<"$lib")
            pp=$(sed -n 's/.*per_proc_ns=\([0-9.]*\).*/\1/p' <<<"$lib")
            emit "| library \`Scanner::scan()\`, no debug table: wall time (median of 50) | $(awk -v u="$med" 'BEGIN {printf "%.3f", u / 1000}') | – | – |"
            emit "| library \`Scanner::scan()\`: CPU time (median of 50) | $(awk -v u="$cmed" 'BEGIN {printf "%.3f", u / 1000}') | – | – |"
            emit "| library: CPU ns per process | $pp | – | – |"
            emit "| library: heap allocations per scan (first scan) | $alloc ($first) | – | – |"
        fi
        # shellcheck disable=SC2086
        emit "" && emit "Dry-run iterations counted per ${WINDOW} s window: ours $(median ${iters[ours]}), earlyoom $(median ${iters[theirs]}); ballast ${crowd_mib} MiB."
    done
    done
}

# ------------------------------------------------------------ 3. one monitoring iteration
bench_loop() {
    [[ -n $rust ]] || return 0
    local line med cmed alloc
    line=$("$rust" --no-scan | tee "$OUT/rust-loop.txt")
    med=$(sed -n 's/.* median_ns=\([0-9.]*\).*/\1/p' <<<"$line")
    cmed=$(sed -n 's/.* cpu_median_ns=\([0-9.]*\).*/\1/p' <<<"$line")
    alloc=$(sed -n 's/.*allocs_per_iter=\([0-9.]*\).*/\1/p' <<<"$line")
    emit ""
    emit "### One monitoring-loop iteration, ours via the library (meminfo pread + parse + decide + sleep time)"
    emit ""
    emit "| measure | ours |"
    emit "| --- | ---: |"
    emit "| wall time per iteration (ns, median of 21 rounds of 2,000) | $med |"
    emit "| CPU time per iteration (ns, same rounds) | $cmed |"
    emit "| heap allocations per iteration | $alloc |"
}

log "inside a private PID namespace; ours=$ours theirs=$theirs"
emit "## Results"
emit ""
emit "Ours: \`$ours\` ($(awk -F= '$1 == "ours_version" {print $2}' "$OUT/machine.txt"), $(awk -F= '$1 == "ours_commit" {print $2}' "$OUT/machine.txt")). Earlyoom: \`$theirs\` ($(awk -F= '$1 == "theirs_package" {print $2}' "$OUT/machine.txt")). Runs per figure: $RUNS."
skipped footprint || { log "idle footprint"; bench_footprint; }
skipped rust || bench_loop
skipped idle || bench_idle
skipped scan || bench_scan
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
emit ""
emit "Machine: $(tr '\n' ';' <"$OUT/machine.txt" | sed 's/;/; /g')"
log "done; tables in $results"
