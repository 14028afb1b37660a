# shellcheck shell=sh
# shellcheck disable=SC2086 # $BASE_ARGS is a list of daemon flags, split on purpose (set -f)
# The lab's scenarios, one sc_NAME function each (NAME as given on the kernel command
# line, '-' spelled '_'). Each starts the common cast (sentinel, sampler, daemon with its
# flags), sets up its situation with `hog`, waits for the outcome, then calls
# finish_common and adds its own JSON members and pass conditions.
#
# Sizes assume the lab guest: 1 GiB RAM, no swap, ~870 MiB available after boot; a hog
# at full speed (~125 MiB/s under TCG) fills it in ~7 s.
#
# Note on thresholds: this project (like earlyoom 1.8+) measures available memory in
# percent of MemAvailable+AnonPages; earlyoom 1.7 (Debian 12) in percent of MemTotal.
# In this guest the two differ by ~10 %, which every size below tolerates.

# 1. One hog at full speed: the plain case. It must die of the daemon's SIGTERM before
#    the kernel OOM killer has to act.
sc_hog() {
	start_common $BASE_ARGS
	HOG=$(spawn hog grow --name hog)
	wait_dead "$HOG" 60 || fail "hog still alive after 60 s"
	finish_common
	victim_checks "$HOG" SIGTERM
}

# 2. The hog ignores SIGTERM and keeps growing: only SIGKILL (on the kill threshold)
#    ends it, still before the kernel has to.
sc_termignore() {
	start_common $BASE_ARGS
	HOG=$(spawn hog grow --name hog --on-term ignore)
	wait_dead "$HOG" 60 || fail "hog still alive after 60 s"
	finish_common
	victim_checks "$HOG" SIGKILL
}

# 2b. The hog catches SIGTERM, ignores it and stops growing: memory then stays between
#     the SIGTERM and SIGKILL thresholds, so no threshold ever says SIGKILL. This
#     project escalates by time (10 s); earlyoom repeats SIGTERM forever, so this is
#     expected to fail with it. Pass: SIGKILL within 25 s of the first SIGTERM, and
#     memory never fell to the kill threshold (else the time rule was not exercised).
sc_termignore_hold() {
	start_common $BASE_ARGS
	HOG=$(spawn hog grow --name hog --on-term hold)
	# ~12 s to grow, then up to 25 s until the escalation, plus slack.
	wait_dead "$HOG" 50 || fail "hog still alive 50 s after it started"
	finish_common
	victim_checks "$HOG" SIGKILL
	exit_ms=$(death_ms "$HOG")
	after=$(diff_ms "$exit_ms" "$SIG_MS")
	jnum t_first_sigterm_to_death_ms "$after"
	check "SIGKILL came later than 25 s after the first SIGTERM (${after:-never} ms)" \
		at_most "$after" 25000
	min_pct=$(awk -v a="$MIN_AVAIL_KIB" -v t="$USER_TOTAL_KIB" 'BEGIN { printf "%d", a * 100 / t }')
	check "memory fell to the SIGKILL threshold (min ${min_pct} %), time-based escalation not exercised" \
		[ "$min_pct" -ge 5 ]
}

# 3. Two (nearly) equal hogs, one matching --prefer, one --avoid, then a third party:
#    four processes (comm 'third', forked by one parent) that grow to 120 MiB each. The
#    preferred hog is the slightly smaller one (330 vs 350 MiB), so with neither flag the
#    avoided one would rank first; with it the preferred one must die first. Then the
#    four grow on and memory runs low again with the avoided hog (350 MiB) much larger
#    than any 'third' (~110 MiB): without --avoid it would be the next victim, with it a
#    'third' must be, and the avoided one lives. Negative controls (the flags appended
#    with --args; the last regex wins): '--prefer ^x$ --avoid ^x$' makes avoidme the
#    first victim, '--avoid ^x$' the second; '--prefer ^x$' alone still passes, since
#    --avoid already ranks avoidme below preferme.
sc_prefer_avoid() {
	start_common -r 1 --prefer '^preferme$' --avoid '^(sentinel|avoidme)$'
	AV=$(spawn avoidme grow --name avoidme --size 350)
	wait_for "$T/avoidme.out" stopped 30 || fail "avoidme did not reach its size"
	PR=$(spawn preferme grow --name preferme --size 330)
	wait_for "$T/preferme.out" stopped 30 || fail "preferme did not reach its size"
	TH=$(spawn third grow --name third --size 0 --fork 4 --child-size 120)
	wait_for "$T/third.out" '^child' 10
	sleep 0.2
	kids=$(sed -n 's/^child //p' "$T/third.out" | tr '\n' ' ')
	wait_dead "$PR" 60 || fail "preferme still alive after 60 s"
	# Then until one of the four dies (or 60 s).
	_end=$(($(now) + 60000))
	while [ "$(now)" -lt "$_end" ]; do
		n=0
		for k in $kids; do alive "$k" && n=$((n + 1)); done
		[ "$n" -lt 4 ] && break
		sleep 0.2
	done
	sleep 1
	finish_common
	second=$(sed -n '2p' "$T/signals.txt" | cut -d' ' -f3)
	second_comm=$(sed -n '2p' "$T/signals.txt" | cut -d' ' -f5-)
	deaths=
	for k in $kids; do deaths="$deaths $k:$(death "$k")"; done
	jnum preferme_pid "$PR"
	jnum avoidme_pid "$AV"
	jstr preferme_death "$(death "$PR")"
	jstr avoidme_death "$(death "$AV")"
	jstr third_deaths "${deaths# }"
	jstr second_victim "$second_comm:$second"
	check "first victim was ${VCOMM:-none} ($VPID), not preferme ($PR)" [ "$VPID" = "$PR" ]
	check "preferme died of $(death "$PR"), not the daemon's SIGTERM" [ "$(death "$PR")" = SIGTERM ]
	check "second victim was ${second_comm:-none} (${second:-none}), not a 'third'" \
		one_of "$second" $kids
	check "avoidme did not survive ($(death "$AV"))" alive "$AV"
}

# 4. 1,500 idle processes plus a hog: the victim scan walks a big /proc under pressure.
#    Pass: the hog dies of SIGTERM, no idle process is touched. Figures: scan time
#    (t_low_to_signal_ms) and the minimum MemAvailable reached.
#    The hog grows at 60 MiB/s here, not full speed: with 1,500 processes the scan takes
#    0.3-0.9 s under TCG (both daemons) and a full-speed hog (~125 MiB/s) eats the last
#    ~75 MiB during it, so the kernel-vs-daemon race was decided by jitter (measured min
#    MemAvailable 0-47 MiB, one kernel OOM kill in ten runs). The variant
#    manyprocs-fullspeed (lab.rate=full) keeps that race as a benchmark.
sc_manyprocs() {
	start_common $BASE_ARGS
	IDLE=$(spawn idle idle --name idle --fork 1500)
	wait_for "$T/idle.out" holding 120 || fail "the 1,500 idle processes did not start"
	before=$(count_comm idle)
	rate=${RATE:-60}
	jstr hog_rate_mibps "$rate"
	if [ "$rate" = full ]; then
		HOG=$(spawn hog grow --name hog)
	else
		HOG=$(spawn hog grow --name hog --rate "$rate")
	fi
	wait_dead "$HOG" 90 || fail "hog still alive after 90 s"
	finish_common
	after=$(count_comm idle)
	jnum idle_before "$before"
	jnum idle_after "$after"
	victim_checks "$HOG" SIGTERM
	check "only $before idle processes started" [ "$before" -ge 1501 ]
	check "idle processes died ($before -> $after)" [ "$after" = "$before" ]
	: "$IDLE"
}

# 5. -N and -P hooks: both record their environment; -P also records whether the victim
#    was still alive when it ran (it must run before the signal). The hog runs as uid
#    65534 so EARLYOOM_UID is checked against a non-root value.
sc_hooks() {
	start_common $BASE_ARGS -N /lab/hook-n.sh -P /lab/hook-p.sh
	HOG=$(spawn hooked grow --name hooked --uid 65534)
	want_cmd=$(tr '\0' ' ' <"/proc/$HOG/cmdline" | sed 's/ $//')
	wait_dead "$HOG" 60 || fail "hog still alive after 60 s"
	# -N runs after the kill returns; give it a moment.
	wait_for "$T/hook-n.env" '^DONE' 5
	finish_common
	victim_checks "$HOG" SIGTERM
	for h in n p; do
		f=$T/hook-$h.env
		H=$(echo $h | tr np NP)
		if [ ! -f "$f" ]; then
			fail "-$H hook never ran"
			continue
		fi
		pid=$(sed -n 's/^PID=//p' "$f")
		uid=$(sed -n 's/^UID=//p' "$f")
		name=$(sed -n 's/^NAME=//p' "$f")
		cmd=$(sed -n 's/^CMDLINE=//p' "$f")
		jnum "hook_${h}_pid" "$pid"
		jnum "hook_${h}_uid" "$uid"
		jstr "hook_${h}_name" "$name"
		jstr "hook_${h}_cmdline" "$cmd"
		check "-$H: EARLYOOM_PID=$pid, want $HOG" [ "$pid" = "$HOG" ]
		check "-$H: EARLYOOM_UID=$uid, want 65534" [ "$uid" = 65534 ]
		check "-$H: EARLYOOM_NAME=$name, want hooked" [ "$name" = hooked ]
		check "-$H: EARLYOOM_CMDLINE='$cmd', want '$want_cmd'" [ "$cmd" = "$want_cmd" ]
	done
	if [ -f "$T/hook-p.env" ]; then
		victim=$(sed -n 's/^VICTIM=//p' "$T/hook-p.env")
		jstr hook_p_victim "$victim"
		check "-P ran when the victim was $victim, want alive" [ "$victim" = alive ]
	fi
}

# 6. The daemon is the largest killable process when memory first runs low.
#    How, in a 1 GiB guest: a protected process ('bigdb', oom_score_adj -1000, like a
#    database or a unit with OOMScoreAdjust=-1000) holds most of the memory, up to 13 %
#    available, and is never a candidate. The process that tips the box over is modest
#    (40 MiB) and runs at oom_score_adj -100 (what many distro units use, earlyoom's own
#    included). Its oom_score is then about (1000 + 40 - 100) * 2/3 = 627 while the
#    daemon at adj 0 scores >= 667 (every tiny adj-0 process does), so the daemon ranks
#    first; the sentinel is avoided and the lab plumbing sits at -1000. Memory ends near
#    8 % (either percentage base): below SIGTERM, above SIGKILL. earlyoom logs
#    "selected myself" and kills nothing (expected failure); this project must skip
#    itself and kill the next candidate, the hog.
sc_self_largest() {
	start_common $BASE_ARGS
	BIG=$(spawn bigdb grow --name bigdb --adj -1000 --until-avail-pct 13)
	wait_for "$T/bigdb.out" stopped 60 || fail "bigdb did not reach 13 % available"
	jnum daemon_oom_score_before "$(oom_score "$DPID")"
	HOG=$(spawn hog grow --name hog --adj -100 --size 40)
	wait_dead "$HOG" 25 || fail "hog still alive 25 s after it started"
	jnum daemon_oom_score "$(oom_score "$DPID")"
	finish_common
	victim_checks "$HOG" SIGTERM
	check "bigdb (adj -1000) did not survive ($(death "$BIG"))" alive "$BIG"
}

# 7. -g with a hog that leads its own session/process group of four (itself growing,
#    three children holding 16 MiB each). Pass: every member dies.
sc_pgroup() {
	start_common $BASE_ARGS -g
	HOG=$(spawn pgleader grow --name pgleader --setsid --fork 3 --child-name pgchild --child-size 16)
	wait_for "$T/pgleader.out" '^child' 10
	sleep 0.5
	kids=$(sed -n 's/^child //p' "$T/pgleader.out" | tr '\n' ' ')
	wait_dead "$HOG" 60 || fail "group leader still alive after 60 s"
	for k in $kids; do
		wait_dead "$k" 5 || true
	done
	finish_common
	victim_checks "$HOG" SIGTERM
	deaths=
	for k in $kids; do
		d=$(death "$k")
		deaths="$deaths $k:$d"
		check "group member $k did not die of the daemon's SIGTERM ($d)" [ "$d" = SIGTERM ]
	done
	jstr member_deaths "${deaths# }"
	check "the hog did not fork 3 children" [ "$(echo "$kids" | wc -w)" = 3 ]
}

# 8. An unreaped zombie beside the hog. The zombie's comm matches --prefer, the one way
#    a zombie (oom_score 0, no memory) could look attractive. Pass: the hog dies, the
#    zombie is never signalled (killing it frees nothing) and is still a zombie.
sc_zombie() {
	start_common -r 1 --prefer '^zombie$' --avoid '^sentinel$'
	ZP=$(spawn zombiemaker zombie --name zombiemaker)
	wait_for "$T/zombiemaker.out" '^zombie' 10
	Z=$(sed -n 's/^zombie //p' "$T/zombiemaker.out")
	HOG=$(spawn hog grow --name hog)
	wait_dead "$HOG" 60 || fail "hog still alive after 60 s"
	finish_common
	victim_checks "$HOG" SIGTERM
	jnum zombie_pid "$Z"
	zstate=$(sed 's/.*) \(.\).*/\1/' "/proc/$Z/stat" 2>/dev/null)
	jstr zombie_state "$zstate"
	check "the zombie $Z was signalled" [ -z "$(awk -v z="$Z" -v p="$ZP" '$3 == z || $3 == p' "$T/signals.txt")" ]
	check "the zombie $Z is no longer a zombie (state '$zstate'): setup broken" [ "$zstate" = Z ]
}

# 9. The protected service is the largest process: sentinel holds 300 MiB, three
#    workers grow to 200 MiB each (more than fits). Without --avoid the sentinel would be
#    the first victim; with it a worker must die and the sentinel must live.
#    (Every other scenario also checks that the small default sentinel survives.)
#    Negative control: with --args '--avoid ^x$' the sentinel is the first victim.
sc_sentinel() {
	SENTINEL_MIB=300
	start_common $BASE_ARGS
	jnum sentinel_oom_score "$(oom_score "$SENT")"
	W1=$(spawn worker1 grow --name worker --size 200 --rate 40)
	W2=$(spawn worker2 grow --name worker --size 200 --rate 40)
	W3=$(spawn worker3 grow --name worker --size 200 --rate 40)
	_end=$(($(now) + 60000))
	while alive "$W1" && alive "$W2" && alive "$W3" && [ "$(now)" -lt "$_end" ]; do
		sleep 0.2
	done
	sleep 2
	finish_common
	jstr worker_deaths "$W1:$(death "$W1") $W2:$(death "$W2") $W3:$(death "$W3")"
	check "first victim was ${VCOMM:-none} ($VPID), not a worker" [ "$VCOMM" = worker ]
	check "no worker died of the daemon's SIGTERM" \
		one_of SIGTERM "$(death "$W1")" "$(death "$W2")" "$(death "$W3")"
}

# 10. The field incident: cgroup 'work' with memory.high=300M, memory.max=500M and no
#     swap; a hog tries to hold 400 MiB there, a heartbeat (the collateral service)
#     beats every 50 ms beside it. Usage plateaus between high and max, the kernel
#     throttles instead of killing, and a MemAvailable-based killer sees plenty of free
#     memory. lab.expect=kill (`livelock`, with --livelock-guard): the hog must die of the
#     daemon within 15 s of the plateau (usage first at memory.high), the heartbeat must
#     survive and beat again with no gap over 0.5 s after the kill. lab.expect=nokill
#     (`guard-off`, earlyoom's behaviour): nothing is killed. Without lab.expect: report.
LIVELOCK_SECONDS=30
lacks() { ! grep -q -- "$1" "$2"; } # lacks PATTERN FILE
lacks_i() { ! grep -q -i -- "$1" "$2"; } # lacks_i PATTERN FILE: case-insensitive
# trace CGROUP FILE: every 0.5 s one line "t_ms current high events_high oom_kill
# full_total_us anon file" (the detector's inputs; tests/fixtures/guard/ are made from these).
trace_cgroup() {
	while [ -d "$1" ]; do
		_t=$(now)
		_c=$(cat "$1/memory.current" 2>/dev/null) || break
		_h=$(cat "$1/memory.high")
		_e=$(awk '$1 == "high" { h = $2 } $1 == "oom_kill" { k = $2 } END { print h, k }' "$1/memory.events")
		_f=$(sed -n 's/^full .*total=\([0-9]*\).*/\1/p' "$1/memory.pressure")
		_s=$(awk '$1 == "anon" { a = $2 } $1 == "file" { f = $2 } END { print a, f }' "$1/memory.stat")
		echo "$_t $_c $_h $_e $_f $_s" >>"$2"
		sleep 0.5
	done
}
# first_at_high CGROUP FILE: the time usage first reaches memory.high (100 ms resolution).
first_at_high() {
	_h=$(cat "$1/memory.high")
	while [ -d "$1" ]; do
		_c=$(cat "$1/memory.current" 2>/dev/null) || break
		if [ "$_c" -ge "$_h" ]; then
			now >"$2"
			break
		fi
		sleep 0.1
	done
}
# livelock_cgroup CG: the incident's limits on cgroup CG (created if needed):
# memory.high=300M, memory.max=500M, no swap.
livelock_cgroup() {
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	mkdir -p "$1"
	echo 300M >"$1/memory.high"
	echo 500M >"$1/memory.max"
	echo 0 >"$1/memory.swap.max" 2>/dev/null || true
}
# livelock_run CG: the incident inside CG (set up by livelock_cgroup): a heartbeat, then a
# hog that tries to hold 400 MiB. Returns when the hog died (plus 3 s of heartbeats) or
# after LIVELOCK_SECONDS, with the throttle lifted and both stopped; leaves HOG, HB, t0 and
# the cgroup's figures for livelock_report.
livelock_run() {
	HB=$(spawn heartbeat heartbeat --name heartbeat --cgroup "$1")
	(first_at_high "$1" "$T/plateau" &)
	(trace_cgroup "$1" "$T/trace" &)
	HOG=$(spawn hog grow --name hog --cgroup "$1" --size "${LIVELOCK_HOG_MIB:-400}")
	t0=$(now)
	max10=0
	while :; do
		full10=$(sed -n 's/^full avg10=\([0-9.]*\).*/\1/p' "$1/memory.pressure")
		max10=$(awk -v a="$full10" -v m="$max10" 'BEGIN { print (a > m ? a : m) }')
		[ $(($(now) - t0)) -lt $((LIVELOCK_SECONDS * 1000)) ] && alive "$HOG" || break
		sleep 1
	done
	# After a kill, let the heartbeat run a while so "gap after the kill" means something.
	alive "$HOG" || sleep 3
	hog_alive=0
	alive "$HOG" && hog_alive=1
	hb_alive=0
	alive "$HB" && hb_alive=1
	high=$(awk '$1 == "high" { print $2 }' "$1/memory.events")
	cg_oom_kill=$(awk '$1 == "oom_kill" { print $2 }' "$1/memory.events")
	full_total=$(sed -n 's/^full .*total=\([0-9]*\).*/\1/p' "$1/memory.pressure")
	current=$(cat "$1/memory.current")
	# Lift the throttle so the heartbeat can answer SIGTERM with its summary.
	echo max >"$1/memory.high"
	kill -KILL "$HOG" 2>/dev/null
	kill -TERM "$HB"
	wait_for "$T/heartbeat.out" '^heartbeat ' 10
	gap=$(sed -n 's/.*max_gap_ms=\([0-9]*\).*/\1/p' "$T/heartbeat.out")
	beats=$(sed -n 's/.*beats=\([0-9]*\).*/\1/p' "$T/heartbeat.out")
	if [ -z "$gap" ]; then
		gap=$(awk '$1 == "beat" { m = $6 } END { print m }' "$T/heartbeat.out")
	fi
}
# livelock_report NAME EXPECT: after livelock_run and finish_common, the livelock figures
# and, for EXPECT kill or nokill, their pass conditions (NAME: the cgroup below the root).
livelock_report() {
	hog_d=$(death "$HOG")
	hog_ms=$(death_ms "$HOG")
	died_ms=$(diff_ms "$hog_ms" "$t0")
	if [ "$hog_alive" = 1 ]; then
		# Alive at the end of the window; the lab killed it afterwards.
		hog_d=alive
		died_ms=''
		hog_ms=''
	fi
	plateau_ms=$(cat "$T/plateau" 2>/dev/null)
	plateau_to_death=$(diff_ms "$hog_ms" "$plateau_ms")
	# Beats after the kill: skip the first (its gap spans the stall before the kill).
	gap_after=''
	if [ -n "$hog_ms" ]; then
		gap_after=$(awk -v d="$hog_ms" '$1 == "beat" && $2 > d { n++; if (n > 1 && $4 > m) m = $4 } END { print m + 0 }' "$T/heartbeat.out")
	fi
	sed "s/^/LAB-TRACE $SCENARIO.$SLOT: /" "$T/trace" 2>/dev/null
	jbool hog_died "$((1 - hog_alive))"
	jstr hog_death "$hog_d"
	jnum t_hog_death_ms "$died_ms"
	jnum t_plateau_ms "$(diff_ms "$plateau_ms" "$t0")"
	jnum t_plateau_to_death_ms "$plateau_to_death"
	jnum window_s "$LIVELOCK_SECONDS"
	jnum heartbeat_max_gap_ms "$gap"
	jnum heartbeat_max_gap_after_kill_ms "$gap_after"
	jnum heartbeat_beats "$beats"
	jnum memory_events_high "$high"
	jnum memory_events_oom_kill "$cg_oom_kill"
	jnum pressure_full_avg10 "$full10"
	jnum pressure_full_avg10_max "$max10"
	jnum pressure_full_total_ms "$((full_total / 1000))"
	jnum memory_current_mib "$((current / 1048576))"
	jstr guard_line "$(grep -o "livelock guard: cgroup /$1:.*" "$T/daemon.log" | head -n1)"
	case $2 in
	kill)
		check "hog not killed by the daemon ($hog_d)" one_of "$hog_d" SIGTERM SIGKILL
		check "hog died ${plateau_to_death:-never} ms after the plateau (> 15 s)" \
			at_most "$plateau_to_death" 15000
		check "heartbeat (the collateral service) did not survive" [ "$hb_alive" = 1 ]
		check "heartbeat gap after the kill ${gap_after:-?} ms (>= 500 ms)" \
			at_most "$gap_after" 499
		check "the daemon did not explain its decision in a 'livelock guard:' line" \
			grep -q "livelock guard: cgroup /$1: usage" "$T/daemon.log"
		;;
	nokill)
		check "something was killed without --livelock-guard ($hog_d)" [ "$hog_alive" = 1 ]
		check "the cgroup did not livelock (memory.events high $high)" [ "${high:-0}" -gt 0 ]
		;;
	esac
}
sc_livelock() {
	[ -n "$EXPECT" ] || REPORT_ONLY=1
	cg=/sys/fs/cgroup/work
	livelock_cgroup $cg
	start_common $BASE_ARGS
	# earlyoomctl audit on this box, with and without the guard in the options it audits:
	# the no-swap band between memory.high and memory.max must be critical (exit 2) without
	# the guard, and not critical with it.
	audit_off=''
	audit_on=''
	if [ -x /lab/bin/earlyoomctl ]; then
		/lab/bin/earlyoomctl audit -r 1 >"$T/audit-off.txt" 2>&1
		audit_off=$?
		/lab/bin/earlyoomctl audit -r 1 --livelock-guard >"$T/audit-on.txt" 2>&1
		audit_on=$?
		sed 's/^/LAB-AUDIT: /' "$T/audit-off.txt"
	fi
	livelock_run $cg
	finish_common
	livelock_report work "$EXPECT"
	jnum audit_exit_guard_off "$audit_off"
	jnum audit_exit_guard_on "$audit_on"
	if [ "$SLOT" = ours ] && [ -n "$EXPECT" ]; then
		check "earlyoomctl audit did not flag the livelock band as critical (exit ${audit_off:-none})" \
			[ "$audit_off" = 2 ]
		check "earlyoomctl audit did not name the cgroup 'work'" grep -q 'livelock-band work' "$T/audit-off.txt"
		check "earlyoomctl audit still critical with --livelock-guard (exit ${audit_on:-none})" \
			at_most "$audit_on" 1
	fi
}

# 10c. (issue 12, finding 5) The incident with tmpfs: 250 MB written to a tmpfs by a
#      process of cgroup `work` (charged to it as shmem, which memory.stat counts in `file`)
#      beside an anonymous hog that pushes usage over memory.high. Without swap, reclaim
#      can free none of it; a guard that counted `file` as reclaimable saw 250 MB of room
#      and never tripped (full stall 94 %). Pass (with --livelock-guard): as `livelock`.
sc_livelock_tmpfs() {
	cg=/sys/fs/cgroup/work
	livelock_cgroup $cg
	mkdir -p /lab-tmpfs
	mount -t tmpfs -o size=400M tmpfs /lab-tmpfs
	# The writer joins the cgroup first, so the tmpfs pages are charged to `work`.
	sh -c "echo \$\$ >$cg/cgroup.procs; exec dd if=/dev/zero of=/lab-tmpfs/fill bs=1M count=250" 2>/dev/null
	jnum tmpfs_mib "$(($(du -k /lab-tmpfs/fill | cut -f1) / 1024))"
	jnum shmem_mib "$(($(awk '$1 == "shmem" { print $2 }' $cg/memory.stat) / 1048576))"
	start_common $BASE_ARGS
	LIVELOCK_HOG_MIB=150
	livelock_run $cg
	finish_common
	livelock_report work kill
	rm -f /lab-tmpfs/fill
}

# 10d. (issue 12, finding 6) 1,100 cgroups with a finite memory.high (a Kubernetes node
#      with MemoryQoS, a hosting box) under the daemon's default RLIMIT_NOFILE of 1024.
#      A guard that armed one PSI trigger fd per cgroup ran out of fds: the next victim
#      scan could not open /proc (exit 5). Pass (with --livelock-guard): a plain hog dies
#      of SIGTERM as in `hog`, the daemon keeps its fds within budget (triggers capped),
#      and it is still running.
MANY_CGROUPS=1100
sc_many_cgroups() {
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	mkdir -p /sys/fs/cgroup/many
	echo +memory >/sys/fs/cgroup/many/cgroup.subtree_control
	i=0
	while [ $i -lt $MANY_CGROUPS ]; do
		mkdir /sys/fs/cgroup/many/c$i
		echo 1G >/sys/fs/cgroup/many/c$i/memory.high
		i=$((i + 1))
	done
	jnum cgroups "$(find /sys/fs/cgroup/many -mindepth 1 -maxdepth 1 -type d | wc -l)"
	ulimit -n 1024
	jnum nofile "$(ulimit -n)"
	start_common $BASE_ARGS
	# Discovery (startup, then every 10 s) has armed what it will arm.
	sleep 2
	fds_before=$(ls /proc/"$DPID"/fd 2>/dev/null | wc -l)
	HOG=$(spawn hog grow --name hog)
	wait_dead "$HOG" 60 || fail "hog still alive after 60 s"
	fds_after=$(ls /proc/"$DPID"/fd 2>/dev/null | wc -l)
	finish_common
	victim_checks "$HOG" SIGTERM
	jnum daemon_fds "$fds_before"
	jnum daemon_fds_after_kill "$fds_after"
	check "the daemon holds $fds_before fds with $MANY_CGROUPS cgroups watched (> 200)" \
		at_most "$fds_before" 200
	check "the daemon exited (scan failed?)" [ "$DAEMON_ALIVE" = 1 ]
}

# 11. Healthy throttling: cgroup 'cache' at memory.high=200M whose growth is page cache (a
#     reader streams a 700 MB file from the lab's NVMe disk through it) beside 120 MiB of
#     anon and a heartbeat. The `high` counter climbs as fast as in the livelock, but
#     reclaim works (page cache), full stall stays low. Pass (with --livelock-guard):
#     nothing is killed, the guard says nothing, throttling really happened.
HEALTHY_SECONDS=30
sc_healthy() {
	cg=/sys/fs/cgroup/cache
	mkdir -p /data
	mount -o ro /dev/nvme0n1 /data || fail "no lab disk (/dev/nvme0n1)"
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	mkdir -p $cg
	echo 200M >$cg/memory.high
	echo 500M >$cg/memory.max
	echo 0 >$cg/memory.swap.max 2>/dev/null || true
	start_common $BASE_ARGS
	HB=$(spawn heartbeat heartbeat --name heartbeat --cgroup $cg)
	HOG=$(spawn anon grow --name anon --cgroup $cg --size 120)
	wait_for "$T/anon.out" holding 30
	(trace_cgroup $cg "$T/trace" &)
	(sh -c "echo \$\$ >$cg/cgroup.procs; while :; do cat /data/big >/dev/null; done" &)
	t0=$(now)
	while [ $(($(now) - t0)) -lt $((HEALTHY_SECONDS * 1000)) ]; do
		full10=$(sed -n 's/^full avg10=\([0-9.]*\).*/\1/p' $cg/memory.pressure)
		sleep 1
	done
	hog_alive=0
	alive "$HOG" && hog_alive=1
	hb_alive=0
	alive "$HB" && hb_alive=1
	high=$(awk '$1 == "high" { print $2 }' $cg/memory.events)
	file=$(awk '$1 == "file" { print $2 }' $cg/memory.stat)
	current=$(cat $cg/memory.current)
	kill -TERM "$HB"
	wait_for "$T/heartbeat.out" '^heartbeat ' 10
	gap=$(sed -n 's/.*max_gap_ms=\([0-9]*\).*/\1/p' "$T/heartbeat.out")
	finish_common
	sed "s/^/LAB-TRACE $SCENARIO.$SLOT: /" "$T/trace" 2>/dev/null
	jnum memory_events_high "$high"
	jnum memory_current_mib "$((current / 1048576))"
	jnum memory_file_mib "$((file / 1048576))"
	jnum pressure_full_avg10 "$full10"
	jnum heartbeat_max_gap_ms "$gap"
	check "the anon holder was killed ($(death "$HOG"))" [ "$hog_alive" = 1 ]
	check "the heartbeat was killed" [ "$hb_alive" = 1 ]
	check "the guard acted on healthy throttling" lacks 'livelock guard: cgroup' "$T/daemon.log"
	check "no throttling happened (memory.events high ${high:-0})" [ "${high:-0}" -gt 100 ]
}

# 12. A watched cgroup removed under the guard (`cgroup-vanish`, with --livelock-guard).
#     Cgroup 'vanish' has the livelock's limits and a 400 MiB hog ('ahog') plateaued at its
#     memory.high: the guard samples it with a PSI trigger open on its memory.pressure (armed
#     at discovery: at startup, then every 10 s) and its tracker mid-episode. 'bystander'
#     (memory.high 200M, an idle 16 MiB process, never a candidate) is watched throughout.
#     VANISH_AFTER_S after the plateau, well inside the guard's 5 s window, the lab itself
#     SIGKILLs ahog and rmdirs 'vanish' while the trigger fd is open; kernfs then answers
#     every poll of that fd with POLLERR. For CPU_SECONDS the daemon's CPU time must stay
#     small (a loop on that POLLERR would be 100 % of a CPU), it must close the dead
#     trigger, keep the bystander's and log nothing alarming. Then cgroup 'work' gets
#     sc_livelock's setup (livelock_cgroup/livelock_run/livelock_report): once the guard has
#     armed a trigger on it, its hog must die of the daemon as in `livelock`.
VANISH_AFTER_S=1.5
CPU_SECONDS=4
CPU_MAX_PCT=20
rmdir_quiet() { rmdir "$1" 2>/dev/null; }
sc_cgroup_vanish() {
	a=/sys/fs/cgroup/vanish
	by=/sys/fs/cgroup/bystander
	b=/sys/fs/cgroup/work
	livelock_cgroup $a
	mkdir -p $by
	echo 200M >$by/memory.high
	start_common $BASE_ARGS
	BY=$(spawn bystander idle --name bystander --cgroup $by --size 16)
	wait_until 15 trigger_open "$DPID" $a || fail "the guard armed no trigger on 'vanish' (15 s)"
	wait_until 15 trigger_open "$DPID" $by || fail "the guard armed no trigger on 'bystander' (15 s)"
	cpu_a0=$(cpu_ns "$DPID")
	AH=$(spawn ahog grow --name ahog --cgroup $a --size 400)
	ta=$(now)
	(first_at_high $a "$T/plateau-a" &)
	wait_for "$T/plateau-a" . 30 || fail "ahog never reached memory.high of 'vanish'"
	sleep $VANISH_AFTER_S
	# The removal, by the lab: kill the cgroup's only process, then rmdir (EBUSY until the
	# kernel has seen the task leave).
	t_kill=$(now)
	kill -KILL "$AH"
	wait_dead "$AH" 10 || fail "ahog did not die of the lab's SIGKILL"
	armed_a=0
	trigger_open "$DPID" $a && armed_a=1
	removed=0
	wait_until 5 rmdir_quiet $a && removed=1
	t_rm=$(now)
	cpu0=$(cpu_ns "$DPID")
	sw0=$(switches "$DPID")
	sleep $CPU_SECONDS
	t_cpu=$(now)
	cpu1=$(cpu_ns "$DPID")
	sw1=$(switches "$DPID")
	closed_a=1
	trigger_open "$DPID" $a && closed_a=0
	kept_by=0
	trigger_open "$DPID" $by && kept_by=1
	# What the daemon said meanwhile, its periodic memory reports aside.
	awk -v a="$t_kill" -v b="$t_cpu" '$1 >= a && $1 <= b && !/mem avail/' "$T/daemon.log" >"$T/after-removal.txt"
	# The livelock in a new cgroup: first wait for the guard to watch it (next discovery).
	livelock_cgroup $b
	tb=$(now)
	armed_b=0
	wait_until 15 trigger_open "$DPID" $b && armed_b=1
	t_armed_b=$(now)
	livelock_run $b
	finish_common
	livelock_report work kill
	ad=$(death "$AH")
	plateau_a=$(cat "$T/plateau-a" 2>/dev/null)
	cpu_ms=$((t_cpu - t_rm))
	cpu_pct=$(awk -v c="$((cpu1 - cpu0))" -v w="$cpu_ms" 'BEGIN { if (w > 0) printf "%.1f", c / (w * 10000) }')
	cpu_before=$(awk -v c="$((cpu0 - cpu_a0))" -v w="$((t_rm - ta))" 'BEGIN { if (w > 0) printf "%.1f", c / (w * 10000) }')
	wakeups=$(awk -v n="$((sw1 - sw0))" -v w="$cpu_ms" 'BEGIN { if (w > 0) printf "%.1f", n * 1000 / w }')
	jstr vanish_hog_death "$ad"
	jnum t_vanish_plateau_ms "$(diff_ms "$plateau_a" "$ta")"
	jnum t_vanish_plateau_to_kill_ms "$(diff_ms "$t_kill" "$plateau_a")"
	jnum t_vanish_kill_to_rmdir_ms "$(diff_ms "$t_rm" "$t_kill")"
	jbool vanish_removed "$removed"
	jbool vanish_trigger_open_at_removal "$armed_a"
	jbool vanish_trigger_closed_after "$closed_a"
	jbool bystander_trigger_kept "$kept_by"
	jnum daemon_cpu_pct_before_removal "$cpu_before"
	jnum daemon_cpu_pct_after_removal "$cpu_pct"
	jnum daemon_wakeups_per_s_after_removal "$wakeups"
	jnum cpu_window_ms "$cpu_ms"
	jstr daemon_lines_after_removal "$(cut -d' ' -f2- "$T/after-removal.txt" | tr '\n' '|')"
	jnum t_work_armed_ms "$(diff_ms "$t_armed_b" "$tb")"
	check "ahog died of $ad, not of the lab's SIGKILL" [ "$ad" = SIGKILL ]
	check "the daemon signalled ahog" [ -z "$(awk -v p="$AH" '$3 == p' "$T/signals.txt")" ]
	check "the guard acted on 'vanish'" lacks 'livelock guard: cgroup /vanish' "$T/daemon.log"
	check "the daemon had no trigger open on 'vanish' when it was removed" [ "$armed_a" = 1 ]
	check "rmdir of 'vanish' failed for 5 s" [ "$removed" = 1 ]
	check "daemon used ${cpu_pct:-?} % of a CPU after the removal (>= $CPU_MAX_PCT %)" \
		awk -v p="${cpu_pct:-100}" -v m="$CPU_MAX_PCT" 'BEGIN { exit !(p < m) }'
	check "the daemon still holds the dead trigger of 'vanish' after $CPU_SECONDS s" [ "$closed_a" = 1 ]
	check "the daemon dropped the bystander's trigger with the removed one" [ "$kept_by" = 1 ]
	check "the daemon logged trouble after the removal: $(grep -i -m1 'error\|fail\|cannot\|inactive' "$T/after-removal.txt")" \
		lacks_i 'error\|fail\|cannot\|inactive' "$T/after-removal.txt"
	check "the guard armed no trigger on the new cgroup 'work' within 15 s" [ "$armed_b" = 1 ]
	check "the bystander was killed ($(death "$BY"))" alive "$BY"
}

# ------------------------------------------------------------- scopes (issue 15) ----

# cap_cgroup CG MAX: cgroup CG (created, memory controller on in its parent) with
# memory.max MAX and no swap.
cap_cgroup() {
	_p=${1%/*}
	while [ "$_p" != /sys/fs/cgroup ]; do
		echo +memory >"${_p%/*}/cgroup.subtree_control" 2>/dev/null
		_p=${_p%/*}
	done
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	_q=/sys/fs/cgroup
	for _c in $(echo "${1#/sys/fs/cgroup/}" | tr '/' ' '); do
		_q=$_q/$_c
		mkdir -p "$_q"
		[ "$_q" = "$1" ] || echo +memory >"$_q/cgroup.subtree_control"
	done
	[ -z "$2" ] || echo "$2" >"$1/memory.max"
	echo 0 >"$1/memory.swap.max" 2>/dev/null || true
}
cg_oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$1/memory.events"; }

# 12. (issue 15) A capped cgroup (memory.max 500M, no swap) holding a 300 MiB protected
#     service (--avoid) and a hog growing at 40 MiB/s. The machine has memory to spare,
#     so earlyoom's /proc/meminfo rule never fires; the kernel's memcg OOM killer picks by
#     oom_score inside the cgroup, and the service is the larger. EXPECT=kill (variant
#     slice-avoid, --cgroup-headroom 10,5): the hog dies of the daemon's signal, the
#     service lives, memory.events oom_kill stays 0. No EXPECT (slice-avoid-off, the
#     baseline): report who died; the kernel is expected to kill the service.
sc_slice_avoid() {
	[ "$EXPECT" = kill ] || REPORT_ONLY=1
	cg=/sys/fs/cgroup/slice
	cap_cgroup $cg 500M
	start_common -r 1 --avoid '^(sentinel|svc)$'
	SVC=$(spawn svc idle --name svc --size 300 --cgroup $cg)
	wait_for "$T/svc.out" holding 60 || fail "svc did not reach its size"
	HOG=$(spawn hog grow --name hog --rate 40 --cgroup $cg)
	t0=$(now)
	wait_dead "$HOG" 60 || fail "hog still alive after 60 s"
	sleep 1
	finish_common
	svc_d=$(death "$SVC")
	jnum cgroup_oom_kill "$(cg_oom_kills $cg)"
	jstr svc_death "$svc_d"
	jstr hog_death "$(death "$HOG")"
	jnum t_hog_death_ms "$(diff_ms "$(death_ms "$HOG")" "$t0")"
	jstr headroom_line "$(grep -o 'cgroup headroom: cgroup /slice:.*' "$T/daemon.log" | head -n1)"
	if [ "$EXPECT" = kill ]; then
		check "hog died of $(death "$HOG"), not of the daemon's signal" one_of "$(death "$HOG")" SIGTERM SIGKILL
		check "svc did not survive ($svc_d)" alive "$SVC"
		check "memory.events oom_kill of the cgroup is $(cg_oom_kills $cg)" [ "$(cg_oom_kills $cg)" = 0 ]
		check "the daemon did not explain itself in a 'cgroup headroom:' line" \
			grep -q 'cgroup headroom: cgroup /slice: memory.max 500.0 MiB' "$T/daemon.log"
		check "first victim was ${VCOMM:-none} ($VPID), not the hog" [ "$VPID" = "$HOG" ]
	fi
}

# 13. (issue 15) The incident's layout scaled down: user.slice (max 700M) with two user
#     slices (350M each), system.slice with a service (350M): caps summing past RAM, no
#     swap, and 100 MiB resident in each. One runaway per slice in turn, at full speed,
#     inside a session scope (no cap of its own: the slice above decides). Pass (with
#     --cgroup-headroom 10,5): each runaway dies of the daemon's signal inside its own
#     slice, every resident lives, the kernel never kills.
sc_incident_box() {
	ua=/sys/fs/cgroup/user.slice/user-1001.slice
	ub=/sys/fs/cgroup/user.slice/user-1002.slice
	sv=/sys/fs/cgroup/system.slice/build.service
	cap_cgroup /sys/fs/cgroup/user.slice 700M
	cap_cgroup $ua 350M
	cap_cgroup $ub 350M
	cap_cgroup $sv 350M
	cap_cgroup $ua/session-1.scope ''
	cap_cgroup $ub/session-2.scope ''
	start_common $BASE_ARGS
	RA=$(spawn resa idle --name resident-a --size 100 --cgroup $ua/session-1.scope)
	RB=$(spawn resb idle --name resident-b --size 100 --cgroup $ub/session-2.scope)
	RS=$(spawn ress idle --name resident-s --size 100 --cgroup $sv)
	for f in resa resb ress; do wait_for "$T/$f.out" holding 60 || fail "$f did not reach its size"; done
	deaths=
	for where in $ua/session-1.scope $ub/session-2.scope $sv; do
		tag=run$(echo "$where" | tr -dc '0-9' | tail -c 4)
		H=$(spawn "$tag" grow --name runaway --cgroup "$where")
		wait_dead "$H" 60 || fail "the runaway in $where still alive after 60 s"
		deaths="$deaths ${where#/sys/fs/cgroup/}:$(death "$H")"
		case $(death "$H") in SIGTERM | SIGKILL) ;; *) fail "the runaway in $where died of $(death "$H")" ;; esac
		grep -q "cgroup headroom: cgroup /${where#/sys/fs/cgroup/}\|cgroup headroom: cgroup /$(dirname "${where#/sys/fs/cgroup/}"):" "$T/daemon.log" ||
			fail "no 'cgroup headroom:' line for the slice of $where"
		sleep 1
	done
	finish_common
	jstr runaway_deaths "${deaths# }"
	jstr residents "a:$(death "$RA") b:$(death "$RB") s:$(death "$RS")"
	jstr headroom_lines "$(grep -o 'cgroup headroom: cgroup [^ ]*: memory.max [0-9.]* MiB' "$T/daemon.log" | tr '\n' '|')"
	for c in $ua $ub $sv /sys/fs/cgroup/user.slice; do
		check "memory.events oom_kill of ${c#/sys/fs/cgroup/} is $(cg_oom_kills "$c")" [ "$(cg_oom_kills "$c")" = 0 ]
	done
	check "resident-a died ($(death "$RA"))" alive "$RA"
	check "resident-b died ($(death "$RB"))" alive "$RB"
	check "resident-s died ($(death "$RS"))" alive "$RS"
	check "the daemon signalled something else than the runaways: $(grep -v ' runaway$' "$T/signals.txt" | head -n1)" \
		[ -z "$(grep -v ' runaway$' "$T/signals.txt")" ]
}

# 14. (issue 15) A fork storm: a shell forking a 16 MiB child every 50 ms (320 MiB/s)
#     beside an --avoid'ed 20 MiB service. One-at-a-time kills cannot keep up. EXPECT=kill
#     (variant storm, --storm-guard): the kernel OOM killer never fires, the service lives,
#     the shell dies and no child is left after it. No EXPECT (storm-off): 30 s of it, then
#     the lab ends it; report the daemon's kills and the kernel's.
STORM_SECONDS=30
sc_storm() {
	[ "$EXPECT" = kill ] || REPORT_ONLY=1
	start_common -r 1 --avoid '^(sentinel|svc)$'
	SVC=$(spawn svc idle --name svc --size 20)
	wait_for "$T/svc.out" holding 30
	rm -f "$T/storm.pid"
	# shellcheck disable=SC2016 # expanded by the storm's own shell
	(sh -c 'echo $$ >'"$T/storm.pid"'; echo 0 >/proc/self/oom_score_adj; while :; do '"$HOGBIN"' idle --name child --size 16 >/dev/null 2>&1 & sleep 0.05; done' >/dev/null 2>&1 &)
	wait_for "$T/storm.pid" . 10
	SH=$(cat "$T/storm.pid")
	t0=$(now)
	ended=0
	while [ $(($(now) - t0)) -lt $((STORM_SECONDS * 1000)) ]; do
		alive "$SH" || { ended=1; break; }
		sleep 0.2
	done
	t_end=$(now)
	sleep 2
	left=$(count_comm child)
	# End it either way (baseline), then let the guest settle.
	kill -KILL "$SH" 2>/dev/null
	set +f
	for f in /proc/[0-9]*/comm; do
		[ "$(cat "$f" 2>/dev/null)" = child ] && p=${f#/proc/} && kill -KILL "${p%/comm}" 2>/dev/null
	done
	set -f
	finish_common
	jbool storm_ended "$ended"
	jnum t_storm_end_ms "$(diff_ms "$t_end" "$t0")"
	jnum children_left "$left"
	jstr shell_death "$(death "$SH")"
	jstr svc_death "$(death "$SVC")"
	jnum daemon_kills "$N_SIGNALS"
	jnum storm_lines "$(grep -c 'storm guard: [0-9]* kills in' "$T/daemon.log")"
	jstr storm_line "$(grep -o 'storm guard: [0-9]* kills in .*' "$T/daemon.log" | head -n1)"
	# Who killed the service: never the daemon (it is --avoid'ed); with hundreds of kernel
	# OOM kills the dmesg ring may have lost the kernel's line, so say which it was not.
	jbool svc_signalled_by_daemon "$([ -n "$(awk -v p="$SVC" '$3 == p' "$T/signals.txt")" ] && echo 1 || echo 0)"
	if [ "$EXPECT" = kill ]; then
		check "the storm did not end within $STORM_SECONDS s" [ "$ended" = 1 ]
		check "$left children left 2 s after the shell died" [ "$left" = 0 ]
		check "the shell died of $(death "$SH"), not the daemon's SIGKILL" [ "$(death "$SH")" = SIGKILL ]
		check "svc died ($(death "$SVC"))" alive "$SVC"
		check "no 'storm guard:' line naming the shell" \
			grep -q "storm guard: [0-9]* kills in [0-9.]* s have not restored memory, and the next victim, process [0-9]* \"child\", shares its parent with them: killing their parent, process $SH \"sh\"" "$T/daemon.log"
	fi
}

# 15. (issue 15) --cgroup-kill: cgroup `job` with memory.oom.group=1 holds a hog and three
#     10 MiB members; the machine runs low, the hog is the victim, and the whole cgroup
#     dies with it. Then cgroup `kept`, also memory.oom.group=1, holds an --avoid'ed
#     process and a second hog: it is never killed whole, the hog dies alone.
sc_cgroup_kill() {
	job=/sys/fs/cgroup/job
	kept=/sys/fs/cgroup/kept
	cap_cgroup $job ''
	cap_cgroup $kept ''
	echo 1 >$job/memory.oom.group
	echo 1 >$kept/memory.oom.group
	start_common -r 1 --avoid '^(sentinel|keeper)$'
	M=$(spawn members idle --name member --size 10 --fork 3 --child-size 10 --cgroup $job)
	wait_for "$T/members.out" holding 30
	kids=$(sed -n 's/^child //p' "$T/members.out" | tr '\n' ' ')
	H=$(spawn hog grow --name hog --cgroup $job)
	wait_dead "$H" 60 || fail "hog still alive after 60 s"
	sleep 1
	jobd="hog:$(death "$H") member:$(death "$M")"
	for k in $kids; do jobd="$jobd child:$(death "$k")"; done
	K=$(spawn keeper idle --name keeper --size 10 --cgroup $kept)
	wait_for "$T/keeper.out" holding 30
	H2=$(spawn hog2 grow --name hog2 --cgroup $kept)
	wait_dead "$H2" 60 || fail "hog2 still alive after 60 s"
	sleep 1
	finish_common
	jstr job_deaths "$jobd"
	jstr kept_deaths "hog2:$(death "$H2") keeper:$(death "$K")"
	jstr cgroup_kill_line "$(grep -o 'cgroup kill: killing cgroup /job.*' "$T/daemon.log" | head -n1)"
	jstr refusal_line "$(grep -o 'cgroup kill: not killing cgroup /kept.*' "$T/daemon.log" | head -n1)"
	jnum job_procs_left "$(wc -l <$job/cgroup.procs)"
	check "hog died of $(death "$H")" [ "$(death "$H")" = SIGKILL ]
	check "member $M died of $(death "$M"), not the daemon's SIGKILL" [ "$(death "$M")" = SIGKILL ]
	for k in $kids; do
		check "child $k of member died of $(death "$k")" one_of "$(death "$k")" SIGKILL gone
	done
	check "$(wc -l <$job/cgroup.procs) processes left in job" [ "$(wc -l <$job/cgroup.procs)" = 0 ]
	check "no 'cgroup kill: killing cgroup /job whole' line" grep -q 'cgroup kill: killing cgroup /job whole (memory.oom.group is set): 5 processes' "$T/daemon.log"
	check "hog2 died of $(death "$H2")" one_of "$(death "$H2")" SIGTERM SIGKILL
	check "keeper (--avoid) died ($(death "$K"))" alive "$K"
	check "no refusal line for kept" grep -q "cgroup kill: not killing cgroup /kept whole: its process $K \"keeper\" matches --avoid" "$T/daemon.log"
}

# 16. (issue 15) Why not: memory held between the SIGTERM and SIGKILL lines (a hog that
#     stops at 7 % available) with every candidate ignored. Pass: nothing is signalled,
#     earlyoom's "Could not find a process to kill" line repeats, and the daemon says why
#     in exactly one "no kill:" line (rate-limited) with the counts per rule.
WHY_NOT_SECONDS=10
sc_why_not() {
	start_common -r 1 --avoid '^sentinel$' --ignore '^(hog|sentinel)$'
	HOG=$(spawn hog grow --name hog --until-avail-pct 7)
	wait_for "$T/hog.out" stopped 60 || fail "hog did not stop at 7 %"
	sleep $WHY_NOT_SECONDS
	alive_hog=0
	alive "$HOG" && alive_hog=1
	kill -KILL "$HOG"
	finish_common
	n_why=$(grep -c 'no kill: ' "$T/daemon.log")
	n_earlyoom=$(grep -c 'Could not find a process to kill' "$T/daemon.log")
	jnum no_kill_lines "$n_why"
	jnum could_not_find_lines "$n_earlyoom"
	jstr no_kill_line "$(grep -o 'no kill: .*' "$T/daemon.log" | head -n1)"
	check "the hog did not survive" [ "$alive_hog" = 1 ]
	check "something was signalled ($SIGNALS)" [ "$N_SIGNALS" = 0 ]
	check "$n_why 'no kill:' lines in $WHY_NOT_SECONDS s, wanted 1" [ "$n_why" = 1 ]
	check "earlyoom's line came $n_earlyoom times (>= 5 wanted)" [ "$n_earlyoom" -ge 5 ]
	# hog and sentinel, and any `hog now` of the lab's clock that is running at the time.
	check "the reason line lacks the --ignore count" grep -Eq 'no kill: memory is at or below the SIGTERM line, but none of the [0-9]+ processes may be chosen: .*([2-9]|[1-9][0-9]+) ignored by --ignore' "$T/daemon.log"
}

# ------------------------------------------------- pressure and warning (issue 16) ----

nvme_dev() { # nvme_dev SERIAL: the /dev node of the lab disk with that serial
	set +f
	for _d in /sys/block/nvme*n1; do
		if [ "$(tr -d ' ' <"$_d/device/serial" 2>/dev/null)" = "$1" ]; then
			set -f
			echo "/dev/${_d##*/}"
			return 0
		fi
	done
	set -f
	return 1
}
swap_on() { # the host's throttled swap disk (lab.swap=1)
	_sw=$(nvme_dev swap) || { fail "no swap disk"; return 1; }
	mkswap "$_sw" >/dev/null 2>&1 && swapon "$_sw" || fail "swapon $_sw failed"
}
psi_full_us() { sed -n 's/^full .*total=\([0-9]*\).*/\1/p' /proc/pressure/memory; }
psi_full_avg10() { sed -n 's/^full avg10=\([0-9.]*\).*/\1/p' /proc/pressure/memory; }
max_of() { awk -v a="$1" -v m="$2" 'BEGIN { print (a > m ? a : m) }'; }
swap_free_pct() { awk '$1 == "SwapTotal:" { t = $2 } $1 == "SwapFree:" { f = $2 } END { if (t > 0) printf "%d", f * 100 / t; else print 100 }' /proc/meminfo; }
# beats_gap FILE FROM_MS: the longest gap between heartbeat beats after FROM_MS (the first
# beat after it excluded: its gap spans what came before).
beats_gap() { awk -v d="$2" '$1 == "beat" && $2 > d { n++; if (n > 1 && $4 > m) m = $4 } END { print m + 0 }' "$1"; }

# 17. (issue 16) Thrashing: a 2 GiB swap disk throttled to 60 MB/s, a service touching its
#     64 MiB working set every 200 ms, and a process randomly writing a 1300 MiB working
#     set (more than the 1 GiB of RAM, while swap stays ~75 % free: earlyoom's "memory and
#     swap both low" rule never fires). EXPECT=kill (variant thrash, --memory-pressure
#     40,10): the thrasher dies of the daemon's signal and the service's heartbeat recovers.
#     No EXPECT (thrash-off): THRASH_SECONDS of it, then the lab ends it; report the gaps.
THRASH_SECONDS=60
sc_thrash() {
	[ "$EXPECT" = kill ] || REPORT_ONLY=1
	swap_on
	start_common $BASE_ARGS
	HB=$(spawn service heartbeat --name service --size 64 --interval-ms 200)
	sleep 1
	full0=$(psi_full_us)
	t0=$(now)
	TH=$(spawn thrasher thrash --name thrasher --size 1300)
	min_swap=100
	while [ $(($(now) - t0)) -lt $((THRASH_SECONDS * 1000)) ] && alive "$TH"; do
		sf=$(swap_free_pct)
		[ "$sf" -lt "$min_swap" ] && min_swap=$sf
		sleep 1
	done
	t_end=$(now)
	full1=$(psi_full_us)
	th_alive=0
	alive "$TH" && th_alive=1
	# The service after the kill (or after the lab ends the baseline).
	kill -KILL "$TH" 2>/dev/null
	t_after=$(now)
	sleep 8
	gap_after=$(beats_gap "$T/service.out" "$((t_after + 3000))")
	gap_during=$(awk -v a="$t0" -v b="$t_end" '$1 == "beat" && $2 > a && $2 <= b && $4 > m { m = $4 } END { print m + 0 }' "$T/service.out")
	kill -TERM "$HB"
	wait_for "$T/service.out" '^heartbeat ' 10
	finish_common
	jnum swap_bps "62914560"
	jstr thrasher_death "$(death "$TH")"
	jnum t_thrash_to_death_ms "$(diff_ms "$(death_ms "$TH")" "$t0")"
	jnum full_stall_pct "$(awk -v u="$((full1 - full0))" -v w="$((t_end - t0))" 'BEGIN { if (w > 0) printf "%.1f", u / (w * 10) }')"
	jnum min_swap_free_pct "$min_swap"
	jnum heartbeat_max_gap_during_ms "$gap_during"
	jnum heartbeat_max_gap_after_ms "$gap_after"
	jstr pressure_line "$(grep -o 'memory pressure: full stall.*' "$T/daemon.log" | head -n1)"
	if [ "$EXPECT" = kill ]; then
		check "thrasher died of $(death "$TH"), not of the daemon's signal" one_of "$(death "$TH")" SIGTERM SIGKILL
		check "the thrasher was the first victim (${VCOMM:-none})" [ "$VPID" = "$TH" ]
		check "the daemon signalled the service" [ -z "$(awk -v p="$HB" '$3 == p' "$T/signals.txt")" ]
		check "heartbeat gap after the kill ${gap_after} ms (>= 1000)" at_most "$gap_after" 999
		check "swap fell to ${min_swap} % free: earlyoom's own rule could have fired" [ "$min_swap" -gt 10 ]
		check "no 'memory pressure:' line" grep -q 'memory pressure: full stall .*swapping\|memory pressure: full stall .*soft line' "$T/daemon.log"
	fi
}

# 18. (issue 16) Page cache churn: a reader streams a 1.3 GB file (more than RAM) from the
#     lab's NVMe disk through the page cache, for CACHE_SECONDS, beside 500 MiB of anon and a
#     heartbeat; no swap. Pass (with --memory-pressure at a hair-trigger 2 %): nothing is killed,
#     whatever the stall; the daemon says why when the stall holds (`no kill: memory full
#     stall ...: page cache churn`).
CACHE_SECONDS=40
sc_cache_stream() {
	mkdir -p /stream
	mount -o ro "$(nvme_dev stream)" /stream || fail "no stream disk"
	start_common $BASE_ARGS
	AN=$(spawn anon idle --name anon --size 500)
	wait_for "$T/anon.out" holding 60
	HB=$(spawn service heartbeat --name service)
	rm -f "$T/reader.pid"
	# shellcheck disable=SC2016
	(sh -c 'echo $$ >'"$T/reader.pid"'; echo 0 >/proc/self/oom_score_adj; exec sh -c "while :; do cat /stream/big >/dev/null; done"' &)
	wait_for "$T/reader.pid" . 10
	RD=$(cat "$T/reader.pid")
	full0=$(psi_full_us)
	t0=$(now)
	max10=0
	while [ $(($(now) - t0)) -lt $((CACHE_SECONDS * 1000)) ]; do
		max10=$(max_of "$(psi_full_avg10)" "$max10")
		sleep 1
	done
	full1=$(psi_full_us)
	t1=$(now)
	rd_alive=0
	alive "$RD" && rd_alive=1
	kill -KILL "$RD" 2>/dev/null
	kill -TERM "$HB"
	finish_common
	jnum full_stall_pct "$(awk -v u="$((full1 - full0))" -v w="$((t1 - t0))" 'BEGIN { if (w > 0) printf "%.1f", u / (w * 10) }')"
	jnum full_avg10_max "$max10"
	jnum gated_lines "$(grep -c 'no kill: memory full stall' "$T/daemon.log")"
	jstr gated_line "$(grep -o 'no kill: memory full stall.*' "$T/daemon.log" | head -n1)"
	jnum false_kills "$N_SIGNALS"
	check "something was killed ($SIGNALS)" [ "$N_SIGNALS" = 0 ]
	check "the reader died" [ "$rd_alive" = 1 ]
	check "anon died ($(death "$AN"))" alive "$AN"
}

# 19. (issue 16) After a kill the survivors refault: a worker touching a 400 MiB working
#     set every 5 s and a thrasher writing 900 MiB at random, with swap (throttled). The
#     daemon kills the thrasher on pressure (window 3 s); the worker's swapped-out pages
#     then come back at 60 MB/s for seconds, with the stall high. Pass: that refault storm
#     causes no second kill, the worker lives.
sc_after_kill() {
	swap_on
	start_common $BASE_ARGS
	# Touched every 5 s: cold enough to be swapped out while the thrasher runs, so that
	# each touch after the kill faults ~400 MiB back in at 60 MB/s (a long full stall).
	W=$(spawn worker heartbeat --name worker --size 400 --interval-ms 5000)
	sleep 2
	TH=$(spawn thrasher thrash --name thrasher --size 900)
	wait_dead "$TH" 90 || fail "the thrasher still alive after 90 s"
	t_kill=$(now)
	full0=$(psi_full_us)
	max10=0
	while [ $(($(now) - t_kill)) -lt 20000 ]; do
		max10=$(max_of "$(psi_full_avg10)" "$max10")
		sleep 1
	done
	full1=$(psi_full_us)
	t1=$(now)
	w_alive=0
	alive "$W" && w_alive=1
	kill -TERM "$W"
	finish_common
	jstr thrasher_death "$(death "$TH")"
	jnum full_stall_after_kill_pct "$(awk -v u="$((full1 - full0))" -v w="$((t1 - t_kill))" 'BEGIN { if (w > 0) printf "%.1f", u / (w * 10) }')"
	jnum full_avg10_max_after_kill "$max10"
	jnum pressure_actions "$(grep -c 'memory pressure: full stall' "$T/daemon.log")"
	check "thrasher died of $(death "$TH"), not of the daemon's signal" one_of "$(death "$TH")" SIGTERM SIGKILL
	check "the worker was killed ($(death "$W"))" [ "$w_alive" = 1 ]
	check "$N_SIGNALS processes signalled ($SIGNALS), wanted the thrasher only" [ "$N_SIGNALS" = 1 ]
}

# 20. (issue 16) The warning stage: a hog grows until 12 % is available (the warning line
#     is 15 %, SIGTERM 10 %) and holds; then the lab frees it. Pass (--warn 15 --warn-hook):
#     exactly one warning, naming the hog, which earlyoomctl candidates also ranks first;
#     the hook ran with the hog in its environment; nothing is signalled.
sc_warn() {
	start_common $BASE_ARGS
	HOG=$(spawn hog grow --name hog --until-avail-pct 12)
	wait_for "$T/hog.out" stopped 60 || fail "hog did not stop at 12 %"
	first=''
	if [ -x /lab/bin/earlyoomctl ]; then
		first=$(/lab/bin/earlyoomctl candidates --limit 1 -r 1 --avoid '^sentinel$' 2>/dev/null | awk '$1 == "1" { print $2; exit }')
	fi
	sleep 3
	kill -KILL "$HOG"
	sleep 3
	finish_common
	n_warn=$(grep -c 'warning: mem avail' "$T/daemon.log")
	jnum warnings "$n_warn"
	jstr warn_line "$(grep -o 'warning: mem avail.*' "$T/daemon.log" | head -n1)"
	jnum candidates_first "$first"
	jstr hook_env "$(tr '\n' ' ' <"$T/hook-w.env" 2>/dev/null)"
	check "$n_warn warnings, wanted 1" [ "$n_warn" = 1 ]
	check "the warning does not name the hog ($HOG)" grep -q "warning: mem avail .*the next victim would be process $HOG uid 0 \"hog\"" "$T/daemon.log"
	check "earlyoomctl candidates ranks ${first:-nothing} first, not the hog" [ "$first" = "$HOG" ]
	check "the hook did not get the hog" grep -qx "PID=$HOG" "$T/hook-w.env"
	check "the hook did not get its name" grep -qx "NAME=hog" "$T/hook-w.env"
	check "something was signalled ($SIGNALS)" [ "$N_SIGNALS" = 0 ]
}
