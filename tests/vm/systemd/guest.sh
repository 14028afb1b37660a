#!/bin/sh
# Runs inside the systemd lab's Debian guest (sdlab.service, as root, systemd is PID 1),
# from the payload disk mounted at /lab. NEVER run it on a host: it installs, purges
# and edits earlyoom packages and files. Prints one line per check on the console:
#   SDLAB-CHECK {"check":"NAME","pass":true|false,"detail":"..."}
# then SDLAB-DONE PASSED FAILED; the unit powers the guest off when this script ends.
# Files on /lab: earlyoom-rs.deb, earlyoom-debian.deb, hog, metrics.conf.
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
	 has "$props" PrivateNetwork=yes && has "$props" ProtectControlGroups=yes &&
	 has "$props" MemoryMax=52428800 && has "$props" TasksMax=10 && has "$props" Restart=always'
filt=$(systemctl show -p SystemCallFilter --value earlyoom.service)
check syscall_filter "SystemCallFilter has pidfd_open pidfd_send_signal process_mrelease" \
	'has "$filt" pidfd_open && has "$filt" pidfd_send_signal && has "$filt" process_mrelease'

# ------------------------------------------- /etc/default/earlyoom honoured ----
restart_with "-r 1 -m 20"
sleep 3
j=$(journal_since "$T_RESTART")
check default_honoured "$(echo "$j" | grep -m1 'sending SIGTERM when')" \
	'echo "$j" | grep -q "sending SIGTERM when mem avail <= 20.00%"'
reports=$(echo "$j" | grep -c '^mem avail:')
check default_report_interval "$reports 'mem avail:' reports within ~3 s (-r 1)" '[ "$reports" -ge 2 ]'

# ----------------------------------------------------------------- the kill ----
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
out=$(dpkg -i /lab/earlyoom-debian.deb </dev/null 2>&1)
rc=$?
wait_for 20 active
dv=$(/usr/bin/earlyoom -v 2>&1 | head -n1)
check debian_installed "dpkg -i Debian's earlyoom: exit $rc, runs '$dv', $(systemctl is-active earlyoom)" \
	'[ "$rc" = 0 ] && active'
# The admin's edit (a quoted regex, as in the examples).
sed -i '/^EARLYOOM_ARGS=/d' /etc/default/earlyoom
echo '# edited by the admin (systemd lab)' >>/etc/default/earlyoom
printf '%s\n' "EARLYOOM_ARGS=\"-r 60 -m 7 --avoid '(^|/)(init|sshd)\$'\"" >>/etc/default/earlyoom
systemctl restart earlyoom
ADMIN_SUM=$(md5sum </etc/default/earlyoom)
T_REPL=$(date +%s)
sleep 1
out=$(dpkg -i /lab/earlyoom-rs.deb </dev/null 2>&1)
rc=$?
prompt=$(echo "$out" | grep -c -e 'conffile prompt' -e 'What would you like to do')
check replace_install \
	"dpkg -i earlyoom-rs over Debian's: exit $rc, prompts $prompt: $(echo "$out" | grep -i -e removing -e error | tr '\n' ' ')" \
	'[ "$rc" = 0 ] && [ "$prompt" = 0 ]'
now_sum=$(md5sum </etc/default/earlyoom)
check replace_keeps_admin_default \
	"$(grep '^EARLYOOM_ARGS' /etc/default/earlyoom); beside it: $(ls /etc/default/ | grep earlyoom | tr '\n' ' ')" \
	'[ "$now_sum" = "$ADMIN_SUM" ]'
wait_for 20 journal_has "$T_REPL" 'sending SIGTERM when mem avail <=  7.00%'
PID=$(mainpid)
exe=$(readlink "/proc/$PID/exe")
ver=$(/usr/bin/earlyoom -v 2>&1 | head -n1)
j=$(journal_since "$T_REPL" | grep -m1 'sending SIGTERM when mem avail')
check replace_runs_ours \
	"MainPID $PID exe $exe ($ver), $(systemctl is-active earlyoom), $(systemctl is-enabled earlyoom 2>&1); $j" \
	'[ "$exe" = /usr/bin/earlyoom ] && echo "$ver" | grep -q "earlyoom v0" && active &&
	 echo "$j" | grep -q "7.00%"'
check replace_avoid_regex "the quoted --avoid regex reached the daemon" \
	'journal_has "$T_REPL" "Will avoid killing process names that match regex .(^|/)(init|sshd)\$."'
old=$(dpkg-query -W -f='${Status}' earlyoom 2>/dev/null)
log "Debian's earlyoom after the replacement: ${old:-not installed}"
# Debian's package stays in state config-files; purging it runs its postrm purge, which
# (deb-systemd-helper purge) disables earlyoom.service, our unit now. Documented in
# packaging/README.md with the remedy, which is checked here.
dpkg -P earlyoom </dev/null >/dev/null 2>&1
after_purge=$(systemctl is-enabled earlyoom 2>&1)
dpkg-reconfigure earlyoom-rs </dev/null >/dev/null 2>&1
en=$(systemctl is-enabled earlyoom 2>&1)
kept=no
[ "$(md5sum </etc/default/earlyoom)" = "$ADMIN_SUM" ] && kept=yes
check old_purge_remedy \
	"after dpkg -P earlyoom: is-enabled $after_purge; after dpkg-reconfigure earlyoom-rs: $en, $(systemctl is-active earlyoom); admin default kept: $kept" \
	'[ "$en" = enabled ] && active && [ "$kept" = yes ]'

log "checks took $(($(date +%s) - T_START)) s"
echo "SDLAB-DONE $PASSED $FAILED"
