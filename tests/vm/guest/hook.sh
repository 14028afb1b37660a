#!/bin/sh
# -N / -P program of the `hooks` scenario and --warn-hook of `warn`, installed as
# /lab/hook-n.sh, /lab/hook-p.sh and /lab/hook-w.sh (symlinks to this file; $0 tells which). Records the EARLYOOM_*
# environment, the argument count and whether the victim was still alive when the hook
# ran, in /tmp/lab/hook-<n|p>.env. Only the first call is recorded: a later kill must not
# overwrite the evidence of the first.

# Look at the victim first: -P runs just before the signal and the daemon waits for it
# at most ~200 ms, so this must happen before anything slow.
state=gone
if read -r stat 2>/dev/null <"/proc/$EARLYOOM_PID/stat"; then
	s=${stat##*) }
	s=${s%% *}
	if [ "$s" = Z ]; then state=zombie; else state=alive; fi
fi
kind=n
case $0 in *hook-p*) kind=p ;; *hook-w*) kind=w ;; esac
mkdir "/tmp/lab/hook-$kind.lock" 2>/dev/null || exit 0
out=/tmp/lab/hook-$kind.env
{
	echo "PID=$EARLYOOM_PID"
	echo "UID=$EARLYOOM_UID"
	echo "NAME=$EARLYOOM_NAME"
	echo "CMDLINE=$EARLYOOM_CMDLINE"
	echo "VICTIM=$state"
	echo "ARGC=$#"
	echo "MS=$(/lab/bin/hog now)"
	echo DONE
} >"$out.tmp" && mv "$out.tmp" "$out"
