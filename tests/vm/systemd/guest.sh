#!/bin/sh
# Runs inside the systemd lab's Debian guest (sdlab.service, as root, systemd is PID 1),
# from the payload disk mounted at /lab. NEVER run it on a host: it installs, purges
# and edits earlyoom packages and files. Prints one line per check on the console:
#   SDLAB-CHECK {"check":"NAME","pass":true|false,"detail":"..."}
# then SDLAB-DONE PASSED FAILED; the unit powers the guest off when this script ends.
# Files on /lab: earlyoom-rs.deb, earlyoom-debian.deb, hog, metrics.conf,
# hooks-no-network.conf and, for a package that has one, earlyoom-transitional.deb (the
# transitional earlyoom package built with it). Each takeover case starts from a clean
# slate (reset_all) and checks the admin's /etc/default/earlyoom and the unit's enabled
# state afterwards; cases that need the transitional package run the procedure the
# package under test documents (with it, or without it for a package that has none).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export SYSTEMD_PAGER= SYSTEMD_COLORS=0 DEBIAN_FRONTEND=noninteractive
if [ "$(cat /etc/hostname 2>/dev/null)" != sdlab ] || [ ! -f /lab/earlyoom-rs.deb ]; then
	echo "guest.sh: not the systemd lab guest; refusing to run" >&2
	exit 2
fi
PASSED=0
FAILED=0
T_START=$(date +%s)

json_str() { # escape for a JSON string (one line)
	printf '%s' "$1" | tr '\n\t\r' '   ' | sed 's/\\/\\\\/g; s/"/\\"/g' | cut -c1-400
}
result() { # result NAME true|false DETAIL
	printf 'SDLAB-CHECK {"check":"%s","pass":%s,"detail":"%s"}\n' "$1" "$2" "$(json_str "$3")"
	if [ "$2" = true ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}
check() { # check NAME DETAIL 'CONDITION': pass when the condition (eval'd here) holds
	if eval "$3" >/dev/null 2>&1; then result "$1" true "$2"; else result "$1" false "$2"; fi
}
log() { echo "SDLAB-LOG $*"; }

wait_for() { # wait_for SECONDS COMMAND...: poll every 0.5 s
	n=$(($1 * 2))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
		n=$((n - 1))
	done
	return 1
}
active() { [ "$(systemctl is-active earlyoom.service)" = active ]; }
mainpid() { systemctl show -p MainPID --value earlyoom.service; }
journal_since() { # journal_since EPOCH: the unit's journal lines since then
	journalctl -q -o cat -u earlyoom.service --since "@$1" --no-pager 2>/dev/null
}
journal_has() { journal_since "$1" | grep -q -- "$2"; }
has() { printf '%s\n' "$1" | tr ' ' '\n' | grep -qx -- "$2"; }
restart_with() { # restart_with 'ARGS': set EARLYOOM_ARGS, restart, wait for the banner
	sed -i "s|^EARLYOOM_ARGS=.*|EARLYOOM_ARGS=\"$1\"|" /etc/default/earlyoom
	T_RESTART=$(date +%s)
	sleep 1 # journalctl --since has a resolution of 1 s
	systemctl restart earlyoom.service
	wait_for 20 journal_has "$T_RESTART" 'sending SIGTERM when'
}

# ------------------------------------------------------- takeover helpers ----
TRANS=/lab/earlyoom-transitional.deb
[ -f "$TRANS" ] || TRANS=
DEB_SUM=2234751f3f30d3adb51be3e99bedafe9 # Debian 1.7's /etc/default/earlyoom
# Every earlyoom package and file gone, as on a host that never had one.
reset_all() {
	systemctl stop earlyoom.service >/dev/null 2>&1
	dpkg -P --force-depends earlyoom earlyoom-rs sdlab-blocker >/dev/null 2>&1 </dev/null
	rm -rf /etc/default/earlyoom* /etc/init.d/earlyoom* /var/lib/earlyoom-rs \
		/etc/systemd/system/earlyoom.service.d
	systemctl daemon-reload
}
# Debian's earlyoom 1.7, installed and running, with the admin's edit of
# /etc/default/earlyoom (a quoted regex, as in its examples); ADMIN_SUM is its md5.
debian_with_admin_edit() {
	dpkg -i /lab/earlyoom-debian.deb </dev/null >/dev/null 2>&1
	sed -i '/^EARLYOOM_ARGS=/d' /etc/default/earlyoom
	echo '# edited by the admin (systemd lab)' >>/etc/default/earlyoom
	printf '%s\n' "EARLYOOM_ARGS=\"-r 60 -m 7 --avoid '(^|/)(init|sshd)\$'\"" >>/etc/default/earlyoom
	systemctl restart earlyoom
	ADMIN_SUM=$(md5sum </etc/default/earlyoom)
}
# The install the package under test documents: with its transitional package in the
# same apt call, or (a package without one) alone. Output in $out, status in $rc.
documented_install() { # documented_install [APT-OPTION...]
	if [ -n "$TRANS" ]; then
		out=$(apt-get install -y "$@" /lab/earlyoom-rs.deb "$TRANS" </dev/null 2>&1)
	else
		out=$(apt-get install -y "$@" /lab/earlyoom-rs.deb </dev/null 2>&1)
	fi
	rc=$?
}
# One line for a check's detail: the admin's file, enablement, activity, the binary.
admin_state() {
	kept=changed
	[ -f /etc/default/earlyoom ] && [ "$(md5sum </etc/default/earlyoom)" = "$ADMIN_SUM" ] && kept=kept
	EN=$(systemctl is-enabled earlyoom.service 2>&1)
	AC=$(systemctl is-active earlyoom.service 2>&1)
	VER=$(/usr/bin/earlyoom -v 2>&1 | head -n1)
	echo "admin default $kept ($(grep '^EARLYOOM_ARGS' /etc/default/earlyoom 2>/dev/null | cut -c1-40)); is-enabled $EN; is-active $AC; $VER; /etc/default: $(ls /etc/default | grep earlyoom | tr '\n' ' ')"
}
ver() { /usr/bin/earlyoom -v 2>&1 | head -n1; }
admin_kept() { [ -f /etc/default/earlyoom ] && [ "$(md5sum </etc/default/earlyoom)" = "$ADMIN_SUM" ]; }
enabled() { [ "$(systemctl is-enabled earlyoom.service 2>&1)" = enabled ]; }
# The unit's enablement as recorded on disk (systemctl is-enabled needs the unit file,
# which a half-done transaction may have removed).
enablement_kept() { [ -L /etc/systemd/system/multi-user.target.wants/earlyoom.service ]; }
no_prompt() { ! echo "$out" | grep -q -e 'conffile prompt' -e 'What would you like to do'; }
pkg_status() { dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null | tr -s ' '; }

log "guest up after $(cut -d' ' -f1 /proc/uptime) s; $(systemctl --version | head -n1); kernel $(uname -r)"
swapoff -a 2>/dev/null
OOM_KILLS0=$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)

# ------------------------------------------------------------ fresh install ----
out=$(dpkg -i /lab/earlyoom-rs.deb </dev/null 2>&1)
rc=$?
check deb_install "dpkg -i exit $rc: $(echo "$out" | tail -n 2)" '[ "$rc" = 0 ]'
wait_for 20 active
check unit_active "systemctl is-active earlyoom: $(systemctl is-active earlyoom)" 'active'
en=$(systemctl is-enabled earlyoom 2>&1)
check unit_enabled "systemctl is-enabled earlyoom: $en" '[ "$en" = enabled ]'
# --man=no: the minimal image has no man-db to resolve Documentation=man:earlyoom(1);
# the page itself is checked next (and with man -l on the host).
v=$(systemd-analyze verify --man=no /lib/systemd/system/earlyoom.service 2>&1)
check unit_verify "systemd-analyze verify: ${v:-no output}" '[ -z "$v" ]'
check man_page "/usr/share/man/man1/earlyoom.1.gz: $(zcat /usr/share/man/man1/earlyoom.1.gz 2>/dev/null | grep -c '^\.SH') sections" \
	'zcat /usr/share/man/man1/earlyoom.1.gz | grep -q "^\.SH EXIT STATUS"'
log "security: $(systemd-analyze security earlyoom.service --no-pager 2>&1 | tail -n 1)"
# Every file of ours that the man page, the unit, /etc/default/earlyoom, NEWS.Debian and
# the examples point an admin to exists (roff's \- read as -), and the man page has what
# an admin looks for: earlyoomctl(1), ENVIRONMENT (NO_COLOR), the hooks' sandbox.
refs=$( {
	zcat /usr/share/man/man1/earlyoom.1.gz | sed 's/\\-/-/g'
	cat /lib/systemd/system/earlyoom.service /etc/default/earlyoom /usr/share/doc/earlyoom-rs/examples/* 2>/dev/null
	zcat /usr/share/doc/earlyoom-rs/NEWS.Debian.gz 2>/dev/null
} | grep -o '/usr/share/doc/earlyoom-rs/[A-Za-z0-9._/-]*[A-Za-z0-9]' | sort -u)
missing=
for r in $refs; do [ -e "$r" ] || missing="$missing $r"; done
man_txt=$(zcat /usr/share/man/man1/earlyoom.1.gz)
man_has=
echo "$man_txt" | grep -q '^\.BR earlyoomctl (1)' || man_has="$man_has no-earlyoomctl(1)"
echo "$man_txt" | grep -q '^\.SH ENVIRONMENT' || man_has="$man_has no-ENVIRONMENT"
echo "$man_txt" | grep -q 'NO_COLOR' || man_has="$man_has no-NO_COLOR"
echo "$man_txt" | grep -q '^\.SH HOOKS' || man_has="$man_has no-hooks-section"
beside=$(grep -c 'beside this file' /lib/systemd/system/earlyoom.service)
check doc_paths "$(echo "$refs" | wc -w) doc paths named, missing:${missing:- none}; man page:${man_has:- complete}; unit 'beside this file': $beside" \
	'[ -z "$missing" ] && [ -z "$man_has" ] && [ "$beside" = 0 ]'
# The package's relations are versioned and the copyright names the crates earlyoomctl
# links statically.
rel=$(dpkg-deb -f /lab/earlyoom-rs.deb Provides Conflicts Replaces | tr '\n' ' ')
crates=
for c in clap procfs rustix regex libc; do grep -qw "$c" /usr/share/doc/earlyoom-rs/copyright || crates="$crates $c"; done
check deb_metadata "$rel; copyright lacks:${crates:- none}" \
	'echo "$rel" | grep -q "Conflicts: earlyoom (<<" && echo "$rel" | grep -q "Replaces: earlyoom (<<" &&
	 echo "$rel" | grep -q "Provides: earlyoom (=" && [ -z "$crates" ]'

# The running process under its hardening.
PID=$(mainpid)
st=/proc/$PID/status
uid=$(awk '/^Uid:/ { print $2 }' "$st")
capeff=$(awk '/^CapEff:/ { print $2 }' "$st")
capbnd=$(awk '/^CapBnd:/ { print $2 }' "$st")
seccomp=$(awk '/^Seccomp:/ { print $2 }' "$st")
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "$st")
adj=$(cat "/proc/$PID/oom_score_adj")
nice=$(awk '{ print $19 }' "/proc/$PID/stat")
user=$(ps -o user= -p "$PID")
# DynamicUser uids are 61184-65519; CAP_KILL (5) + CAP_IPC_LOCK (14) = 0x4020.
check hardening_process \
	"pid $PID user $user uid $uid CapEff $capeff CapBnd $capbnd Seccomp $seccomp NoNewPrivs $nnp oom_score_adj $adj nice $nice" \
	'[ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] && [ "$capeff" = 0000000000004020 ] &&
	 [ "$capbnd" = 0000000000004020 ] && [ "$seccomp" = 2 ] && [ "$nnp" = 1 ] &&
	 [ "$adj" = -100 ] && [ "$nice" = -20 ]'
props=$(systemctl show earlyoom.service -p DynamicUser -p ProtectSystem -p ProtectHome \
	-p PrivateDevices -p PrivateNetwork -p ProtectControlGroups -p ProtectKernelTunables \
	-p RestrictNamespaces -p MemoryMax -p TasksMax -p Restart | tr '\n' ' ')
check hardening_unit "$props" \
	'has "$props" DynamicUser=yes && has "$props" ProtectSystem=strict &&
	 has "$props" ProtectControlGroups=yes &&
	 has "$props" MemoryMax=52428800 && has "$props" TasksMax=10 && has "$props" Restart=always'
filt=$(systemctl show -p SystemCallFilter --value earlyoom.service)
check syscall_filter "SystemCallFilter has pidfd_open pidfd_send_signal process_mrelease" \
	'has "$filt" pidfd_open && has "$filt" pidfd_send_signal && has "$filt" process_mrelease'
# ~@resources as in earlyoom's own unit (setpriority, setrlimit, sched_set*... denied).
check unit_resources_filter "setpriority $(has "$filt" setpriority && echo allowed || echo denied), setrlimit $(has "$filt" setrlimit && echo allowed || echo denied) by SystemCallFilter" \
	'! has "$filt" setpriority && ! has "$filt" setrlimit'

# ------------------------------------------- /etc/default/earlyoom honoured ----
restart_with "-r 1 -m 20"
sleep 3
j=$(journal_since "$T_RESTART")
check default_honoured "$(echo "$j" | grep -m1 'sending SIGTERM when')" \
	'echo "$j" | grep -q "sending SIGTERM when mem avail <= 20.00%"'
reports=$(echo "$j" | grep -c '^mem avail:')
check default_report_interval "$reports 'mem avail:' reports within ~3 s (-r 1)" '[ "$reports" -ge 2 ]'

# ----------------------------------------------------------------- the kill ----
# With a -N hook that reports the kill to a TCP listener on 127.0.0.1 (as a hook posting
# to a local agent would): under Debian's unit it could, so it must here.
cat >/usr/local/sbin/sdlab-hook <<'EOF'
#!/bin/bash
# systemd lab hook: tells the lab's listener on 127.0.0.1:4711 which process was killed.
if (echo "killed pid=$EARLYOOM_PID name=$EARLYOOM_NAME" >/dev/tcp/127.0.0.1/4711) 2>/dev/null; then
	echo "sdlab-hook: sent pid=$EARLYOOM_PID" >&2
else
	echo "sdlab-hook: connect failed pid=$EARLYOOM_PID" >&2
fi
EOF
chmod 755 /usr/local/sbin/sdlab-hook
LISTENER_LOG=/run/sdlab-listener.log
: >"$LISTENER_LOG"
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 4711,
		Listen => 5, ReuseAddr => 1) or die "listen: $!";
	open(my $log, ">>", $ARGV[0]) or die; select($log); $| = 1;
	while (my $c = $s->accept) { print $log $_ while <$c>; close $c }' "$LISTENER_LOG" &
LISTENER=$!
restart_with "-r 1 -m 20 -N /usr/local/sbin/sdlab-hook"
PID0=$(mainpid)
T_HOG=$(date +%s)
sleep 1
timeout 150 /lab/hog
hog_status=$?
took=$(($(date +%s) - T_HOG))
sleep 1
kill_line=$(journal_since "$T_HOG" | grep -m1 'sending SIG[A-Z]* to process .*"hog"')
# 143 = killed by SIGTERM, 137 = by SIGKILL, 124 = still alive after 150 s.
check hog_killed "hog exit status $hog_status after $took s" \
	'[ "$hog_status" = 143 ] || [ "$hog_status" = 137 ]'
check journal_kill_line "${kill_line:-no kill line}" '[ -n "$kill_line" ]'
VPID=$(echo "$kill_line" | sed -n 's/.*sending SIG[A-Z]* to process \([0-9]*\) .*/\1/p')
wait_for 10 grep -q "killed pid=$VPID" "$LISTENER_LOG"
got=$(cat "$LISTENER_LOG")
hooklog=$(journal_since "$T_HOG" | grep -m1 'sdlab-hook:')
check hook_network "listener got: ${got:-nothing}; hook: ${hooklog:-no line}" \
	'[ -n "$VPID" ] && grep -q "killed pid=$VPID name=hog" "$LISTENER_LOG"'

# The journal records (the daemon's side: priorities, one structured entry per kill with
# MESSAGE_ID and EARLYOOM_* fields; ours: the catalog). Run alone, with a built package:
# tests/vm/systemd-lab --deb target/debian/earlyoom-rs_*.deb --only journal
jw=$(journalctl -q -o cat -u earlyoom.service -p warning --since "@$T_HOG" --no-pager 2>/dev/null)
jw_kill=$(echo "$jw" | grep -c 'sending SIGTERM to process')
jw_rep=$(echo "$jw" | grep -c '^mem avail:')
check journal_priority "journalctl -u earlyoom -p warning since the hog: $jw_kill kill line(s), $jw_rep report line(s)$([ -z "$jw" ] && echo ' (no line at warning priority: a daemon without journal priorities)')" \
	'[ "$jw_kill" -ge 1 ] && [ "$jw_rep" = 0 ]'
jj=$(journalctl -q -o json MESSAGE_ID=bc25287a4ce94d53b138ae6d00ca3ab0 --since "@$T_HOG" --no-pager 2>/dev/null | head -n1)
check journal_structured "MESSAGE_ID=bc25287a... entry: $(if [ -z "$jj" ]; then echo 'none (a daemon without structured kill entries)'; else echo "$jj" | grep -o -e '"EARLYOOM_PID":"[0-9]*"' -e '"EARLYOOM_REASON":"[a-z]*"' -e '"EARLYOOM_SIGNAL":"[A-Z]*"' -e '"MESSAGE":"sending SIG[A-Z]* to process [0-9]*' | tr '\n' ' '; fi); victim $VPID" \
	'echo "$jj" | grep -q "\"EARLYOOM_PID\":\"$VPID\"" && echo "$jj" | grep -q "\"MESSAGE\":\"sending SIGTERM to process $VPID "'
ncat=$(journalctl --list-catalog --no-pager 2>/dev/null | grep -c ' earlyoom-rs: ')
check journal_catalog_installed "$ncat catalog entries Defined-By earlyoom-rs (journalctl --list-catalog)" '[ "$ncat" = 10 ]'
jx=$(journalctl -x -q -u earlyoom.service --since "@$T_HOG" --no-pager 2>/dev/null | grep -m1 "Subject: earlyoom sent SIGTERM to process $VPID")
check journal_catalog_text "journalctl -x: ${jx:-no catalog text for the kill}" '[ -n "$jx" ]'
sleep 1
nrestarts=$(systemctl show earlyoom.service -p NRestarts --value)
pid_now=$(mainpid)
check daemon_survived "still $(systemctl is-active earlyoom), MainPID $PID0 -> $pid_now, NRestarts $nrestarts" \
	'[ "$pid_now" = "$PID0" ] && [ "$nrestarts" = 0 ] && active'
sigsys=$(journalctl -b -q --no-pager -o short 2>/dev/null |
	grep -e 'status=31/SYS' -e 'SIGSYS' -e 'type=1326' -e 'sig=31' | head -n 3)
check no_sigsys "${sigsys:-no SIGSYS, no seccomp audit record in the journal}" '[ -z "$sigsys" ]'
perm=$(journal_since "$T_START" |
	grep -i -e 'capabilit' -e 'Operation not permitted' -e 'Permission denied' | head -n 3)
check no_permission_error "${perm:-no capability or permission error from earlyoom}" '[ -z "$perm" ]'
OOM_KILLS1=$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)
check no_kernel_oom "kernel oom_kill $OOM_KILLS0 -> $OOM_KILLS1" '[ "$OOM_KILLS1" = "$OOM_KILLS0" ]'

# -------------------------------------- the stricter sandbox for hooks ----
# The drop-in shipped for admins who want the network gone again: the same hook, the
# same kill, and the hook can no longer connect.
mkdir -p /etc/systemd/system/earlyoom.service.d
cp /lab/hooks-no-network.conf /etc/systemd/system/earlyoom.service.d/
systemctl daemon-reload
restart_with "-r 0 -m 20 -N /usr/local/sbin/sdlab-hook"
T_HOG2=$T_RESTART
nprops=$(systemctl show earlyoom.service -p PrivateNetwork -p RestrictAddressFamilies | tr '\n' ' ')
log "security with hooks-no-network.conf: $(systemd-analyze security earlyoom.service --no-pager 2>&1 | tail -n 1)"
sleep 1
timeout 150 /lab/hog
hog2=$?
sleep 2
k2=$(journal_since "$T_HOG2" | grep -m1 'sending SIG[A-Z]* to process .*"hog"')
VPID2=$(echo "$k2" | sed -n 's/.*sending SIG[A-Z]* to process \([0-9]*\) .*/\1/p')
wait_for 10 journal_has "$T_HOG2" "sdlab-hook: .* pid=$VPID2"
h2=$(journal_since "$T_HOG2" | grep -m1 'sdlab-hook:')
check hook_no_network_dropin "hog exit $hog2; $nprops; hook: ${h2:-no line}; listener: $(grep -c "pid=$VPID2 " "$LISTENER_LOG") line(s) for $VPID2" \
	'[ -n "$VPID2" ] && echo "$h2" | grep -q "connect failed pid=$VPID2" && ! grep -q "killed pid=$VPID2 " "$LISTENER_LOG"'
rm -rf /etc/systemd/system/earlyoom.service.d
systemctl daemon-reload
kill "$LISTENER" 2>/dev/null

# -p under ~@resources: setpriority fails with EPERM instead of SIGSYS, the daemon warns
# and stays up, as under Debian's unit (where it fails for want of CAP_SYS_NICE).
NR0=$(systemctl show earlyoom.service -p NRestarts --value)
restart_with "-r 0 -p"
sleep 2
pl=$(journal_since "$T_RESTART" | grep -m1 -e 'priority' -e 'Priority')
NR1=$(systemctl show earlyoom.service -p NRestarts --value)
check unit_p_flag "-p: ${pl:-no priority line}; $(systemctl is-active earlyoom), NRestarts $NR0 -> $NR1" \
	'active && [ "$NR1" = "$NR0" ] && ! journal_since "$T_RESTART" | grep -q "status=31/SYS"'

if grep -q 'sdlab.only=journal' /proc/cmdline; then
	log "sdlab.only=journal: the rest is skipped"
	log "checks took $(($(date +%s) - T_START)) s"
	echo "SDLAB-DONE $PASSED $FAILED"
	exit 0
fi

# ------------------------------------ the livelock guard under the hardening ----
restart_with "-r 0 -d --livelock-guard"
T_LL=$T_RESTART
sleep 1
# The lab-notes livelock: memory.high 300M, memory.max 500M, no swap, a hog holding
# 400 MiB. (systemd-run --scope execs the hog in a new scope: timeout's child is the hog.)
timeout 150 systemd-run --quiet --scope --unit=sdlab-livelock -p MemoryHigh=300M \
	-p MemoryMax=500M -p MemorySwapMax=0 /lab/hog 400
ll_status=$?
took=$(($(date +%s) - T_LL))
sleep 1
ll_line=$(journal_since "$T_LL" | grep -m1 'livelock guard: cgroup')
ll_kill=$(journal_since "$T_LL" | grep -m1 'sending SIG[A-Z]* to process .*"hog"')
trig=$(journal_since "$T_LL" | grep -m1 'livelock guard: watching .*sdlab-livelock' |
	sed 's/.*(PSI trigger: //; s/)$//')
check livelock_guard_kill \
	"hog exit $ll_status after $took s; $(echo "$ll_line" | cut -c1-170) | ${ll_kill:-no kill line} | PSI trigger: ${trig:-not logged}" \
	'[ -n "$ll_line" ] && [ -n "$ll_kill" ] && { [ "$ll_status" = 143 ] || [ "$ll_status" = 137 ]; }'
inactive=$(journal_since "$T_LL" | grep -m1 'livelock guard: inactive')
check livelock_guard_active "${inactive:-guard active (cgroup v2, memory controller, PSI)}" '[ -z "$inactive" ]'

# ---------------------------------------------------- metrics drop-in (docs) ----
mkdir -p /etc/systemd/system/earlyoom.service.d /var/lib/prometheus/node-exporter
cp /lab/metrics.conf /etc/systemd/system/earlyoom.service.d/metrics.conf
systemctl daemon-reload
restart_with "-r 1 --metrics-file /run/earlyoom/earlyoom.prom"
prom=/var/lib/prometheus/node-exporter/earlyoom.prom
wait_for 10 test -s "$prom"
mline=$(grep -m1 '^earlyoom_kills_total' "$prom" 2>/dev/null)
owner=$(stat -L -c '%U %a' "$prom" 2>/dev/null)
check metrics_dropin "via symlink -> $(readlink "$prom"): $mline (owner, mode: $owner)" \
	'grep -q "^earlyoom_start_time_seconds" "$prom" && grep -q "^earlyoom_mem_available_ratio" "$prom"'
echo "SDLAB-METRICS $(base64 -w0 <"$prom" 2>/dev/null)"
rm -rf /etc/systemd/system/earlyoom.service.d
systemctl daemon-reload

# ------------------------------------------------------------------- remove ----
out=$(dpkg -r earlyoom-rs </dev/null 2>&1)
rc=$?
sleep 1
running=$(pgrep -a -x earlyoom)
check remove_stops "dpkg -r exit $rc; is-active $(systemctl is-active earlyoom); running: ${running:-none}" \
	'[ "$rc" = 0 ] && [ -z "$running" ] && ! active'
check remove_keeps_conffile "after dpkg -r: /etc/default/earlyoom $(test -f /etc/default/earlyoom && echo kept || echo gone)" \
	'test -f /etc/default/earlyoom'
dpkg -P earlyoom-rs </dev/null >/dev/null 2>&1
left=$(ls /etc/default/earlyoom /etc/init.d/earlyoom /etc/systemd/system/multi-user.target.wants/earlyoom.service 2>/dev/null)
check purge_cleans "after dpkg -P: ${left:-conffiles and enablement link gone}" '[ -z "$left" ]'

# ------------------------------------------- replacing Debian's earlyoom ----
reset_all
debian_with_admin_edit
dv=$(/usr/bin/earlyoom -v 2>&1 | head -n1)
check debian_installed "dpkg -i Debian's earlyoom: runs '$dv', $(systemctl is-active earlyoom)" \
	'echo "$dv" | grep -q "v1.7" && active'
T_REPL=$(date +%s)
sleep 1
documented_install
check replace_install \
	"install ${TRANS:+with the transitional package }over Debian's: exit $rc, prompts $(echo "$out" | grep -c -e 'conffile prompt' -e 'What would you like'): $(echo "$out" | grep -i -e removing -e 'Unpacking earlyoom ' -e error | tr '\n' ' ')" \
	'[ "$rc" = 0 ] && no_prompt'
check replace_keeps_admin_default "$(admin_state)" 'admin_kept'
wait_for 20 journal_has "$T_REPL" 'sending SIGTERM when mem avail <=  7.00%'
PID=$(mainpid)
exe=$(readlink "/proc/$PID/exe")
j=$(journal_since "$T_REPL" | grep -m1 'sending SIGTERM when mem avail')
check replace_runs_ours "MainPID $PID exe $exe; $(admin_state); $j" \
	'[ "$exe" = /usr/bin/earlyoom ] && ver | grep -q "earlyoom v0" && active && enabled &&
	 echo "$j" | grep -q "7.00%"'
check replace_avoid_regex "the quoted --avoid regex reached the daemon" \
	'journal_has "$T_REPL" "Will avoid killing process names that match regex .(^|/)(init|sshd)\$."'
log "after the takeover: earlyoom $(pkg_status earlyoom), earlyoom-rs $(pkg_status earlyoom-rs)"

# Case old_purge: purging "the old package" afterwards (what apt autopurge or a cleanup
# of rc packages does). Without the transitional package it is Debian's, left in state
# config-files, whose postrm purge disables earlyoom.service; with it, the transitional
# package, which has no scripts.
out=$(dpkg -P earlyoom </dev/null 2>&1)
rc=$?
check old_purge "dpkg -P earlyoom: exit $rc; $(admin_state)" \
	'[ "$rc" = 0 ] && admin_kept && enabled && active'

# Case readme_install_purge: the install with apt's --purge, which earlyoom-rs 0.1.0-1's
# README advised to get rid of Debian's package at once.
reset_all
debian_with_admin_edit
documented_install --purge
check readme_install_purge "apt-get install --purge: exit $rc; $(admin_state)" \
	'[ "$rc" = 0 ] && no_prompt && admin_kept && enabled && active'

# Case failed_unpack: the install fails while unpacking (a file conflict with another
# package) over an edited Debian earlyoom, whose init script the admin edited too; the
# admin's files must be back in place, byte for byte, and stay so when the install is
# then repeated and succeeds.
reset_all
debian_with_admin_edit
echo '# init script edited by the admin (systemd lab)' >>/etc/init.d/earlyoom
INIT_SUM=$(md5sum </etc/init.d/earlyoom)
mkdir -p /tmp/blocker/DEBIAN /tmp/blocker/usr/bin
printf 'Package: sdlab-blocker\nVersion: 1\nArchitecture: all\nMaintainer: lab <lab@lab.invalid>\nDescription: owns /usr/bin/earlyoomctl\n' \
	>/tmp/blocker/DEBIAN/control
echo 'blocker' >/tmp/blocker/usr/bin/earlyoomctl
dpkg-deb -b /tmp/blocker /tmp/blocker.deb >/dev/null 2>&1 && dpkg -i /tmp/blocker.deb >/dev/null 2>&1 </dev/null
documented_install
sleep 1
init_kept=changed
[ "$(md5sum </etc/init.d/earlyoom 2>/dev/null)" = "$INIT_SUM" ] && init_kept=kept
leftover=$(ls /etc/default/earlyoom.dpkg-backup* /etc/init.d/earlyoom.dpkg-backup* /var/lib/earlyoom-rs 2>/dev/null | tr '\n' ' ')
check failed_unpack "install exit $rc ($(echo "$out" | grep -m1 -o 'trying to overwrite [^,]*')); earlyoom $(pkg_status earlyoom), earlyoom-rs $(pkg_status earlyoom-rs); init script $init_kept; backups left: ${leftover:-none}; $(admin_state)" \
	'[ "$rc" != 0 ] && admin_kept && [ "$init_kept" = kept ] && [ -z "$leftover" ] && enablement_kept'
dpkg -P sdlab-blocker >/dev/null 2>&1 </dev/null
# Run again, with -f: apt refuses a plain re-run while the first one's packages are
# half-installed ("Unmet dependencies. Try 'apt --fix-broken install'").
documented_install -f
sleep 1
init_kept=changed
[ "$(md5sum </etc/init.d/earlyoom 2>/dev/null)" = "$INIT_SUM" ] && init_kept=kept
check failed_unpack_retry "install again (-f): exit $rc $(echo "$out" | grep -m1 '^E:'), prompts $(echo "$out" | grep -c 'conffile prompt'); init script $init_kept; $(admin_state)" \
	'[ "$rc" = 0 ] && no_prompt && admin_kept && [ "$init_kept" = kept ] && enabled && active && ver | grep -q "earlyoom v0"'

# Case upgrade: after a takeover, the package upgraded to a rebuild of itself with a
# higher version (the daemon is restarted on the new binary; the admin's files stay).
# From a fresh takeover, so that no earlier case's loss shows up here.
reset_all
debian_with_admin_edit
documented_install
rm -rf /tmp/up
dpkg-deb -R /lab/earlyoom-rs.deb /tmp/up
sed -i 's/^Version: .*/&+sdlab1/' /tmp/up/DEBIAN/control
dpkg-deb -b /tmp/up /tmp/earlyoom-rs-up.deb >/dev/null 2>&1
PIDU0=$(mainpid)
out=$(dpkg -i /tmp/earlyoom-rs-up.deb </dev/null 2>&1)
rc=$?
wait_for 20 active
check upgrade "dpkg -i $(pkg_status earlyoom-rs): exit $rc; MainPID $PIDU0 -> $(mainpid); $(admin_state)" \
	'[ "$rc" = 0 ] && no_prompt && admin_kept && enabled && active && [ "$(mainpid)" != "$PIDU0" ]'

# Cases takeover_remove, takeover_purge: removing earlyoom-rs (with apt, which takes the
# transitional package along) keeps the admin's file and stops the daemon; purging then
# removes the conffiles, the enablement and our state.
out=$(apt-get remove -y earlyoom-rs </dev/null 2>&1)
rc=$?
sleep 1
running=$(pgrep -a -x earlyoom)
check takeover_remove "apt-get remove earlyoom-rs: exit $rc; running: ${running:-none}; earlyoom $(pkg_status earlyoom), earlyoom-rs $(pkg_status earlyoom-rs); $(admin_state)" \
	'[ "$rc" = 0 ] && [ -z "$running" ] && admin_kept'
out=$(apt-get purge -y earlyoom-rs earlyoom </dev/null 2>&1)
rc=$?
left=$(ls -d /etc/default/earlyoom* /etc/init.d/earlyoom* /var/lib/earlyoom-rs \
	/etc/systemd/system/multi-user.target.wants/earlyoom.service 2>/dev/null | tr '\n' ' ')
check takeover_purge "apt-get purge: exit $rc; left: ${left:-nothing}" '[ "$rc" = 0 ] && [ -z "$left" ]'

# Case stale_backup: a /etc/default/earlyoom.dpkg-backup from long ago (another tool, an
# old failed install) must neither replace the live file on a reinstall or an upgrade nor
# be overwritten. From a fresh takeover again; the upgrade is to the rebuild made for
# "upgrade".
reset_all
debian_with_admin_edit
documented_install
printf '%s\n' '# a stale backup (systemd lab)' 'EARLYOOM_ARGS="-r 5 -m 3"' >/etc/default/earlyoom.dpkg-backup
STALE_SUM=$(md5sum </etc/default/earlyoom.dpkg-backup)
out=$(dpkg -i /lab/earlyoom-rs.deb </dev/null 2>&1)
rc=$?
r1=$(admin_kept && echo kept || echo replaced)
out2=$(dpkg -i /tmp/earlyoom-rs-up.deb </dev/null 2>&1)
rc2=$?
stale=gone
[ -f /etc/default/earlyoom.dpkg-backup ] && stale=changed
[ "$(md5sum </etc/default/earlyoom.dpkg-backup 2>/dev/null)" = "$STALE_SUM" ] && stale=untouched
check stale_backup "reinstall exit $rc: admin default $r1; upgrade exit $rc2; stale backup $stale; $(admin_state)" \
	'[ "$rc" = 0 ] && [ "$rc2" = 0 ] && [ "$r1" = kept ] && admin_kept && [ "$stale" = untouched ] && enabled && active'
rm -f /etc/default/earlyoom.dpkg-backup

# Case rollback: back to Debian's earlyoom after the takeover, non-interactively, as
# NEWS.Debian says (apt-get install --allow-downgrades of Debian's .deb); the admin's
# file stays, Debian's daemon runs, enabled, with Debian's init script back.
reset_all
debian_with_admin_edit
documented_install
T_RB=$(date +%s)
sleep 1
out=$(apt-get install -y --allow-downgrades /lab/earlyoom-debian.deb </dev/null 2>&1)
rc=$?
wait_for 20 active
isum=$(md5sum </etc/init.d/earlyoom 2>/dev/null | cut -d' ' -f1)
check rollback "apt-get install --allow-downgrades Debian's: exit $rc, prompts $(echo "$out" | grep -c -e 'conffile prompt' -e 'What would you like'); earlyoom $(pkg_status earlyoom), earlyoom-rs $(pkg_status earlyoom-rs); init script $([ "$isum" = 456a2d9c00f91f1150802aa9da1ed936 ] && echo "Debian's" || echo "$isum"); $(admin_state)" \
	'[ "$rc" = 0 ] && no_prompt && admin_kept && enabled && active && ver | grep -q "v1.7" &&
	 [ "$isum" = 456a2d9c00f91f1150802aa9da1ed936 ] && [ -x /etc/init.d/earlyoom ]'
check rollback_debian_reads_admin_default "Debian's daemon: $(journal_since "$T_RB" | grep -m1 'sending SIGTERM when mem <=' || echo 'no banner of earlyoom 1.7')" \
	'journal_since "$T_RB" | grep -q "sending SIGTERM when mem <=  7.00%"'

# Case single_deb_purge: earlyoom-rs installed alone (dpkg -i) over Debian's, which is
# left in state config-files; with a transitional package, installing it afterwards (the
# remedy postinst prints) makes a later purge harmless; without one, the remedy is
# dpkg-reconfigure earlyoom-rs after the purge.
reset_all
debian_with_admin_edit
out=$(dpkg -i /lab/earlyoom-rs.deb </dev/null 2>&1)
warned=$(echo "$out" | grep -c 'left in state config-files')
if [ -n "$TRANS" ]; then
	dpkg -i "$TRANS" </dev/null >/dev/null 2>&1
	dpkg -P earlyoom </dev/null >/dev/null 2>&1
	how="postinst warned: $warned; dpkg -i the transitional package, dpkg -P earlyoom"
else
	dpkg -P earlyoom </dev/null >/dev/null 2>&1
	dpkg-reconfigure earlyoom-rs </dev/null >/dev/null 2>&1
	how="dpkg -P earlyoom, dpkg-reconfigure earlyoom-rs"
fi
check single_deb_purge "$how; $(admin_state)" \
	'admin_kept && enabled && active && { [ -z "$TRANS" ] || [ "$warned" -ge 1 ]; }'

log "checks took $(($(date +%s) - T_START)) s"
echo "SDLAB-DONE $PASSED $FAILED"
