# earlyoom-rs %post (written by hand). $1: 1 on first install, 2+ on upgrade.
# A first install is enabled and started in %posttrans, after the rest of the
# transaction: when this package replaces the distribution's earlyoom (dnf swap), that
# package is erased after our %post, and its %preun stops and disables earlyoom.service,
# which is then our unit.
if [ "$1" -eq 1 ]; then
	mkdir -p /var/lib/rpm-state/earlyoom-rs
	touch /var/lib/rpm-state/earlyoom-rs/first-install
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
