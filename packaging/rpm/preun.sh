# earlyoom-rs %preun (written by hand). $1: 0 on erase, 1+ on upgrade.
# On erase: disable the unit and, where systemd is PID 1, stop the daemon.
if [ "$1" -eq 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl --no-reload disable --now earlyoom.service >/dev/null 2>&1 || :
	else
		systemctl --no-reload disable earlyoom.service >/dev/null 2>&1 || :
	fi
fi
exit 0
