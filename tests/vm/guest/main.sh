#!/bin/sh
# Guest entry point (run by `hog init` as PID 1's only child): read the scenario from the
# kernel command line, run it, print one `LAB-RESULT {json}` line plus the logs the host
# keeps for debugging. The host matches `LAB-` lines anywhere in a console line, because
# the serial console puts escape codes in front of the first one.
#
# Kernel command line keys (all set by tests/vm/run):
#   lab.scenario=NAME   scenario function sc_NAME in scenarios.sh ('-' becomes '_')
#   lab.daemon=SLOT     which daemon binary: /lab/daemon/SLOT/earlyoom
#   lab.args=BASE64     extra daemon flags appended after the scenario's own (split on
#                       blanks, no quoting); with repeated options the last one wins
#   lab.expect=WORD     optional stricter pass rule for report-only scenarios
#                       (livelock: 'kill' = the daemon must kill the hog)
#   lab.rate=MIBPS|full manyprocs: the hog's growth rate (default 60 MiB/s)

# shellcheck source-path=SCRIPTDIR
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
# Regexes such as ^(sentinel|avoidme)$ travel in unquoted variables: no globbing, ever.
set -f
# Lab plumbing (this shell, the sampler, the log stamper, awk, sleep...) must never be a
# victim, neither of the daemon (which skips adj -1000) nor of the kernel. Test processes
# reset their own adj (hog always writes it, default 0; the stamper resets the daemon).
echo -1000 >/proc/self/oom_score_adj

SCENARIO=
SLOT=ours
ARGS_B64=
EXPECT=
# shellcheck disable=SC2013 # the command line is one line of blank-separated words
for w in $(cat /proc/cmdline); do
	case $w in
	lab.scenario=*) SCENARIO=${w#*=} ;;
	lab.daemon=*) SLOT=${w#*=} ;;
	lab.args=*) ARGS_B64=${w#*=} ;;
	lab.expect=*) EXPECT=${w#*=} ;;
	lab.rate=*) RATE=${w#*=} ;;
	esac
done
EXTRA_ARGS=
if [ -n "$ARGS_B64" ]; then
	EXTRA_ARGS=$(echo "$ARGS_B64" | base64 -d)
fi
DAEMON=/lab/daemon/$SLOT/earlyoom

# shellcheck source=lib.sh
. /lab/lib.sh
# shellcheck source=scenarios.sh
. /lab/scenarios.sh

echo "LAB-BOOT scenario=$SCENARIO daemon=$SLOT extra='$EXTRA_ARGS' uptime=$(cut -d' ' -f1 /proc/uptime)"
fn=sc_$(echo "$SCENARIO" | tr '-' '_')
if [ -z "$SCENARIO" ] || ! type "$fn" >/dev/null 2>&1; then
	fail "unknown scenario '$SCENARIO'"
	emit_result
else
	"$fn"
	emit_result
fi
dump_logs
echo "LAB-DONE"
