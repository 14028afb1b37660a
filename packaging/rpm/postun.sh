# earlyoom-rs %postun (written by hand). $1: 0 on erase, 1+ on upgrade (the restart
# after an upgrade happens in the new package's %posttrans).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
