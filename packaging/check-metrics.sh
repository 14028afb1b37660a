#!/usr/bin/env bash
# Runs the daemon for a moment with --metrics-file (and --dryrun: it never signals
# anything) into a temporary directory, then checks the file with
# `promtool check metrics` (Debian's prometheus package) and that every metric the
# alert rules use is there. Also runs the alert rules' unit tests.
#
#   packaging/check-metrics.sh [BINARY]   (default: ${CARGO_TARGET_DIR:-target}/release/earlyoom)
set -euo pipefail

PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$PKG/.." && pwd)
BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/earlyoom}
command -v promtool >/dev/null || { echo "check-metrics.sh: promtool not found (apt-get install prometheus)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "check-metrics.sh: no daemon at $BIN (cargo build --release)" >&2; exit 2; }

TMP=$(mktemp -d)
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
FILE=$TMP/earlyoom.prom
"$BIN" --dryrun -r 1 --livelock-guard --metrics-file "$FILE" >"$TMP/stdout" 2>"$TMP/stderr" &
PID=$!
for _ in $(seq 50); do
	[ -s "$FILE" ] && break
	sleep 0.1
done
sleep 1.2 # one rewrite at the report interval, too
kill "$PID"
wait "$PID" 2>/dev/null || true
PID=
[ -s "$FILE" ] || { echo "check-metrics.sh: the daemon wrote no $FILE" >&2; cat "$TMP/stderr" >&2; exit 1; }
[ ! -e "$FILE.tmp" ] || { echo "check-metrics.sh: $FILE.tmp left behind" >&2; exit 1; }

fail=0
echo "== promtool check metrics"
if promtool check metrics <"$FILE"; then
	echo "clean"
else
	fail=1
fi
echo "== metrics the alert rules and the docs rely on"
for m in earlyoom_kills_total earlyoom_last_kill_timestamp_seconds earlyoom_mem_available_ratio \
	earlyoom_swap_free_ratio earlyoom_threshold_ratio earlyoom_livelocked_cgroups \
	earlyoom_scan_duration_seconds earlyoom_start_time_seconds earlyoom_dryrun \
	earlyoom_livelock_trips_total; do
	if grep -q "^$m[{ ]" "$FILE"; then echo "ok $m"; else echo "MISSING $m"; fail=1; fi
done
grep -q '^earlyoom_dryrun 1$' "$FILE" || { echo "earlyoom_dryrun is not 1 under --dryrun"; fail=1; }
# Families a newer daemon adds (EarlyoomDroppingLogLines uses the counter; a daemon
# without them is still accepted, the rule then never fires). When present, their shape.
echo "== metrics a newer daemon adds (present or absent)"
for m in earlyoom_build_info earlyoom_log_lines_dropped_total; do
	if grep -q "^${m}[{ ]" "$FILE"; then echo "ok $m"; else echo "absent $m (an older daemon)"; fi
done
if grep -q '^earlyoom_build_info[{ ]' "$FILE" &&
	! grep -Eq '^earlyoom_build_info\{([^}]*,)?version="[^"]+"[^}]*\} 1$' "$FILE"; then
	echo "earlyoom_build_info is not 1 with a version label: $(grep '^earlyoom_build_info' "$FILE")"
	fail=1
fi
if grep -q '^earlyoom_log_lines_dropped_total[{ ]' "$FILE" &&
	! grep -q '^# TYPE earlyoom_log_lines_dropped_total counter$' "$FILE"; then
	echo "earlyoom_log_lines_dropped_total is not typed counter"
	fail=1
fi
echo "== promtool check rules / test rules"
promtool check rules "$PKG/prometheus/earlyoom-alerts.yml" || fail=1
(cd "$PKG/prometheus" && promtool test rules earlyoom-alerts.test.yml) || fail=1
[ "$fail" = 0 ] && echo "check-metrics: all checks passed" || echo "check-metrics: FAILED"
exit "$fail"
