# shellcheck shell=sh
# Shared guest-side helpers, sourced by main.sh: start/observe processes, run the daemon
# under the log stamper, read the reaper log and dmesg, build the JSON result.
#
# Conventions: every process a scenario starts is launched detached (`( cmd & )`), so
# it becomes a child of PID 1 (`hog init`), which reaps it at once and logs its exit
# status in $REAPED. That log, not `wait`, says how a process died.

T=/tmp/lab
HOGBIN=/lab/bin/hog
REAPED=/run/reaped.log
mkdir -p "$T"

# Defaults every scenario shares; scenarios may override before start_common.
BASE_ARGS='-r 1 --avoid ^sentinel$'
SENTINEL_MIB=16
# Threshold (percent of MemAvailable+AnonPages) whose first crossing the sampler records.
TERM_PCT=10

J=            # JSON members built so far (",\"k\":v" pieces)
FAILS=        # failed pass conditions, "; "-separated
REPORT_ONLY=0 # 1: the scenario has no pass rule (verdict REPORT)
DPID=0
SENT=0

# ---------------------------------------------------------------- JSON and verdict --

jstr() { # jstr KEY VALUE: string member, quotes/backslashes escaped, control chars dropped
	_v=$(printf '%s' "$2" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
	J="$J,\"$1\":\"$_v\""
}
jnum() { # jnum KEY VALUE: number member, null when VALUE is not a number
	case $2 in
	'' | - | *[!0-9.-]*) J="$J,\"$1\":null" ;;
	*) J="$J,\"$1\":$2" ;;
	esac
}
jbool() { # jbool KEY 0|1
	if [ "$2" = 1 ]; then J="$J,\"$1\":true"; else J="$J,\"$1\":false"; fi
}
fail() { FAILS="${FAILS:+$FAILS; }$*"; }
check() { # check "what must hold" test-command...: records a failure when the test fails
	_what=$1
	shift
	"$@" || fail "$_what"
}
at_most() { # at_most VALUE LIMIT: VALUE is a number <= LIMIT
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -le "$2" ]
}
one_of() { # one_of WORD CANDIDATES...: WORD equals one of them
	_w=$1
	shift
	for _c in "$@"; do [ "$_w" = "$_c" ] && return 0; done
	return 1
}
diff_ms() { # diff_ms LATER EARLIER: difference, or empty when either is unknown
	case "$1$2" in *[!0-9]* | '') return ;; esac
	[ -n "$1" ] && [ -n "$2" ] && echo $(($1 - $2))
}

emit_result() {
	if [ "$REPORT_ONLY" = 1 ]; then
		verdict=REPORT
	elif [ -z "$FAILS" ]; then
		verdict=PASS
	else
		verdict=FAIL
	fi
	pass=false
	[ "$verdict" = PASS ] && pass=true
	_r=$(printf '%s' "$FAILS" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
	echo "LAB-RESULT {\"scenario\":\"$SCENARIO\",\"daemon\":\"$SLOT\",\"verdict\":\"$verdict\",\"pass\":$pass,\"reason\":\"$_r\"$J}"
}

dump_logs() { # print the raw material the host keeps next to the result
	for f in "$T/daemon.log" "$REAPED" "$T/oom.txt" "$T"/*.out "$T"/hook-*.env; do
		[ -f "$f" ] || continue
		n=$(basename "$f")
		# Long logs (heartbeat, a chatty daemon) are cut to their last lines.
		tail -n 400 "$f" | sed "s|^|LAB-LOG $n: |"
	done
}

# --------------------------------------------------------------- processes --------

now() { "$HOGBIN" now; }

alive() { # alive PID: exists and is not a zombie
	case $1 in '' | 0 | *[!0-9]*) return 1 ;; esac
	read -r _l 2>/dev/null <"/proc/$1/stat" || return 1
	_s=${_l##*) }
	_s=${_s%% *}
	[ "$_s" != Z ] && [ "$_s" != X ]
}

spawn() { # spawn TAG HOG-MODE [FLAGS...]: start hog detached, print its pid
	_tag=$1
	shift
	rm -f "$T/$_tag.pid"
	("$HOGBIN" "$@" --pidfile "$T/$_tag.pid" >"$T/$_tag.out" 2>&1 &)
	_i=0
	while [ ! -s "$T/$_tag.pid" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 200 ]; then
			fail "$_tag did not start"
			echo 0
			return 1
		fi
		sleep 0.05
	done
	cat "$T/$_tag.pid"
}

wait_for() { # wait_for FILE PATTERN SECONDS: until grep finds PATTERN in FILE
	_end=$(($(now) + $3 * 1000))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		[ "$(now)" -ge "$_end" ] && return 1
		sleep 0.1
	done
}

wait_until() { # wait_until SECONDS COMMAND...: until COMMAND succeeds (tried every 0.1 s)
	_end=$(($(now) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now)" -ge "$_end" ] && return 1
		sleep 0.1
	done
}

wait_dead() { # wait_dead PID SECONDS: 0 once PID is gone, 1 on timeout
	_end=$(($(now) + $2 * 1000))
	while alive "$1"; do
		[ "$(now)" -ge "$_end" ] && return 1
		sleep 0.1
	done
	# Give the reaper a moment to log the exit.
	sleep 0.2
}

kernel_killed() { # kernel_killed PID: the kernel OOM killer killed PID
	dmesg | grep -q "Killed process $1 "
}

death() { # death PID: SIGTERM | SIGKILL | SIGKILL-kernel | exit-N | signal-N | alive | gone
	_r=$(awk -v p="$1" '$2 == p { print $3 "-" $4; exit }' "$REAPED")
	case $_r in
	signal-15) echo SIGTERM ;;
	signal-9) if kernel_killed "$1"; then echo SIGKILL-kernel; else echo SIGKILL; fi ;;
	'') if alive "$1"; then echo alive; else echo gone; fi ;;
	*) echo "$_r" ;;
	esac
}

death_ms() { awk -v p="$1" '$2 == p { print $1; exit }' "$REAPED"; }

count_comm() { # count_comm NAME: processes (zombies included) whose comm is NAME
	set +f
	grep -lx -- "$1" /proc/[0-9]*/comm 2>/dev/null | wc -l
	set -f
}

oom_score() { cat "/proc/$1/oom_score" 2>/dev/null; }

cpu_ns() { # cpu_ns PID: CPU time PID has used so far, ns (schedstat; else stat's ticks)
	if read -r _run _rest 2>/dev/null <"/proc/$1/schedstat"; then
		echo "$_run"
	else
		# utime + stime, fields 14 and 15, in USER_HZ (100 on x86) ticks.
		sed 's/.*) //' "/proc/$1/stat" | awk '{ printf "%.0f\n", ($12 + $13) * 10000000 }'
	fi
}

switches() { # switches PID: its voluntary context switches so far (each sleep is one)
	awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "/proc/$1/status"
}

# trigger_open PID CGROUP: PID holds CGROUP/memory.pressure open read-write, i.e. holds a
# PSI trigger on it (the daemon's samples open the file read-only and close it at once).
# A file of a removed cgroup can read back with " (deleted)" appended.
trigger_open() {
	set +f
	for _f in /proc/"$1"/fd/*; do
		case $(readlink "$_f" 2>/dev/null) in
		"$2/memory.pressure" | "$2/memory.pressure (deleted)")
			case $(sed -n 's/^flags:[[:space:]]*//p' "/proc/$1/fdinfo/${_f##*/}" 2>/dev/null) in
			*2 | *6)
				set -f
				return 0
				;;
			esac
			;;
		esac
	done
	set -f
	return 1
}

# ---------------------------------------------------------------- the daemon -------

start_daemon() { # start_daemon FLAGS...: scenario flags, then the host's extra flags
	DAEMON_ARGS="$*${EXTRA_ARGS:+ $EXTRA_ARGS}"
	jstr daemon_args "$DAEMON_ARGS"
	rm -f "$T/daemon.pid"
	# The stamper runs the daemon as its child (at oom_score_adj 0) and prefixes every
	# output line with CLOCK_MONOTONIC ms; it appends LAB-DAEMON-EXIT if the daemon dies.
	# shellcheck disable=SC2086 # DAEMON_ARGS is a word list on purpose (set -f is on)
	("$HOGBIN" stamp --name lab-stamp --pidfile "$T/daemon.pid" -- "$DAEMON" $DAEMON_ARGS \
		>"$T/daemon.log" 2>&1 &)
	wait_for "$T/daemon.pid" . 10
	DPID=$(cat "$T/daemon.pid" 2>/dev/null)
	# Ready once the first memory report is out (or it died trying).
	if ! wait_for "$T/daemon.log" 'mem avail\|LAB-DAEMON-EXIT' 15; then
		fail "daemon printed no memory report within 15 s"
	fi
	if grep -q LAB-DAEMON-EXIT "$T/daemon.log"; then
		fail "daemon exited at startup ($(grep LAB-DAEMON-EXIT "$T/daemon.log" | cut -d' ' -f3-))"
	fi
}

start_common() { # start_common DAEMON-FLAGS...: sentinel, sampler, daemon
	# The protected service: an idle process holding a little memory, comm 'sentinel',
	# which the daemon is told to avoid. It must survive every scenario.
	SENT=$(spawn sentinel idle --name sentinel --size "$SENTINEL_MIB")
	wait_for "$T/sentinel.out" holding 30
	("$HOGBIN" sample --name lab-sampler --interval-ms 10 --pct "$TERM_PCT" --pidfile "$T/sampler.pid" \
		>"$T/sampler.out" 2>&1 &)
	wait_for "$T/sampler.pid" . 10
	start_daemon "$@"
	START_MS=$(now)
}

# Parse the stamped daemon log and the kernel's view; add the common JSON members and
# the checks every scenario shares (no kernel OOM kill, daemon and sentinel alive).
finish_common() {
	kill -TERM "$(cat "$T/sampler.pid")" 2>/dev/null
	wait_for "$T/sampler.out" '^sample ' 5
	line=$(grep '^sample ' "$T/sampler.out")
	for kv in $line; do
		case $kv in
		min_avail_kib=*) MIN_AVAIL_KIB=${kv#*=} ;;
		user_total_kib=*) USER_TOTAL_KIB=${kv#*=} ;;
		cross_ms=*) CROSS_USER_MS=${kv#*=} ;;
		cross_total_ms=*) CROSS_TOTAL_MS=${kv#*=} ;;
		esac
	done
	OOM_KILLS=$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)
	dmesg | grep -E 'Killed process|oom-kill:|invoked oom-killer' >"$T/oom.txt"
	DAEMON_ALIVE=0
	alive "$DPID" && DAEMON_ALIVE=1
	SENT_ALIVE=0
	alive "$SENT" && SENT_ALIVE=1

	log=$T/daemon.log
	VERSION=$(sed -n '1s/^[0-9]* //p' "$log")
	# Which base the daemon's percentages use: 1.8+ (and this project) print "user mem
	# total" and measure against MemAvailable+AnonPages, 1.7 against MemTotal. The
	# sampler recorded the crossing for both; take the matching one.
	if grep -q 'user mem total' "$log"; then
		CROSS_MS=$CROSS_USER_MS
		jstr threshold_base user_mem_total
	else
		CROSS_MS=$CROSS_TOTAL_MS
		jstr threshold_base mem_total
	fi
	[ "$CROSS_MS" = -1 ] && CROSS_MS=
	LOW_MS=$(awk '/low memory!/ { print $1; exit }' "$log")
	# "sending SIGTERM to process PID uid UID "COMM": ..." is common to earlyoom 1.7+
	# and this project; comm goes last so spaces in it survive `read`.
	sed -n 's/^\([0-9]*\) .*sending \(SIG[A-Z]*\) to process \([0-9]*\) uid \(-*[0-9]*\) "\(.*\)": .*/\1 \2 \3 \4 \5/p' \
		"$log" >"$T/signals.txt"
	SIG_MS='' SIG='' VPID='' VUID='' VCOMM=''
	read -r SIG_MS SIG VPID VUID VCOMM <"$T/signals.txt"
	N_SIGNALS=$(wc -l <"$T/signals.txt")
	SIGNALS=$(awk '{ printf "%s%s:%s", (NR > 1 ? " " : ""), $2, $3 }' "$T/signals.txt")
	ESCALATIONS=$(grep -c 'escalating to SIGKILL' "$log")
	# Only after startup: earlyoom's startup self-test may legitimately select itself.
	SELF_SELECTED=$(awk -v t="$START_MS" '$1 >= t && /selected myself/' "$log" | wc -l)
	VEXIT_MS=
	[ -n "$VPID" ] && VEXIT_MS=$(death_ms "$VPID")

	jstr daemon_version "$VERSION"
	jnum victim_pid "$VPID"
	jstr victim_comm "$VCOMM"
	jnum victim_uid "$VUID"
	jstr first_signal "$SIG"
	jnum signals_sent "$N_SIGNALS"
	jstr signals "$SIGNALS"
	jnum escalations "$ESCALATIONS"
	jnum selected_myself "$SELF_SELECTED"
	jnum t_low_to_signal_ms "$(diff_ms "$SIG_MS" "$LOW_MS")"
	# The sampler looks every 10 ms; a daemon that kills within a few ms of the crossing
	# can end a dip the sampler never saw (its first crossing is then a later one, after
	# the signal). No figure then, rather than a misleading negative one.
	cross_sig=$(diff_ms "$SIG_MS" "$CROSS_MS")
	case $cross_sig in -*) cross_sig='' ;; esac
	jnum t_cross_to_signal_ms "$cross_sig"
	jnum t_signal_to_exit_ms "$(diff_ms "$VEXIT_MS" "$SIG_MS")"
	jnum t_start_to_low_ms "$(diff_ms "$LOW_MS" "$START_MS")"
	jnum min_avail_mib "$((MIN_AVAIL_KIB / 1024))"
	jnum min_avail_pct "$(awk -v a="$MIN_AVAIL_KIB" -v t="$USER_TOTAL_KIB" 'BEGIN { if (t > 0) printf "%.2f", a * 100 / t }')"
	jnum kernel_oom_kills "$OOM_KILLS"
	jstr kernel_oom_victims "$(sed -n 's/.*Killed process \([0-9]*\) (\([^)]*\)).*/\2:\1/p' "$T/oom.txt" | tr '\n' ' ')"
	jbool daemon_alive "$DAEMON_ALIVE"
	jbool sentinel_alive "$SENT_ALIVE"

	check "kernel OOM killer fired $OOM_KILLS time(s)" [ "$OOM_KILLS" = 0 ]
	check "daemon not alive at the end ($(grep LAB-DAEMON-EXIT "$log" | cut -d' ' -f3-))" \
		[ "$DAEMON_ALIVE" = 1 ]
	check "sentinel did not survive ($(death "$SENT"))" [ "$SENT_ALIVE" = 1 ]
}

victim_checks() { # victim_checks PID WANTED-DEATH: PID is the first victim and died so
	_d=$(death "$1")
	jstr hog_death "$_d"
	check "hog died of $_d, expected $2 from the daemon" [ "$_d" = "$2" ]
	check "first victim was pid ${VPID:-none} ($VCOMM), not the hog $1" [ "$VPID" = "$1" ]
}
