# earlyoom-rs %posttrans (written by hand): runs once, at the end of the transaction.
# First install: enable the unit (a symlink: works without a running systemd, e.g. in an
# image build) and start it only where systemd is PID 1. Upgrade: restart if running.
state=/var/lib/rpm-state/earlyoom-rs/first-install
if [ -e "$state" ]; then
	rm -f "$state"
	systemctl --no-reload enable earlyoom.service >/dev/null 2>&1 || :
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null 2>&1 || :
		systemctl start earlyoom.service >/dev/null 2>&1 || :
	fi
elif [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	systemctl try-restart earlyoom.service >/dev/null 2>&1 || :
fi
exit 0
