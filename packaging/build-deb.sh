#!/usr/bin/env bash
# Builds earlyoom-rs_<version>-<revision>_amd64.deb with dpkg-deb from the release binary
# and the files under packaging/ (no cargo-deb, no debhelper). Prints the .deb's path as
# its last line.
#
#   packaging/build-deb.sh [--binary PATH] [--out DIR] [--no-build]
#
#   --binary PATH  package this binary (default: ${CARGO_TARGET_DIR:-target}/release/earlyoom,
#                  built first with cargo build --release unless --no-build)
#   --out DIR      where the .deb goes (default: ${CARGO_TARGET_DIR:-target}/debian)
#
# Version: Cargo.toml's package version; Debian revision from DEB_REVISION (default 1).
# Needs dpkg-deb, dpkg-shlibdeps and objcopy (apt-get install dpkg-dev binutils). Runs as any user (file
# ownership in the archive is root:root through --root-owner-group).
set -euo pipefail

PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$PKG/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=
OUTDIR=$TARGET/debian
BUILD=1

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=${2:?}; BUILD=0; shift 2 ;;
	--out) OUTDIR=${2:?}; shift 2 ;;
	--no-build) BUILD=0; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

die() { echo "build-deb.sh: $*" >&2; exit 1; }
for t in dpkg-deb dpkg-shlibdeps gzip objcopy; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install dpkg-dev binutils)"
done

VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1)
[ -n "$VERSION" ] || die "no version in Cargo.toml"
DEBVERSION=$VERSION-${DEB_REVISION:-1}
ARCH=$(dpkg --print-architecture)
MAINTAINER=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$PKG/debian/changelog" | head -n1)
# Reproducible: every timestamp is the changelog's date unless SOURCE_DATE_EPOCH is set.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$(sed -n 's/^ -- .*>  //p' "$PKG/debian/changelog" | head -n1)" +%s)}
export SOURCE_DATE_EPOCH

if [ "$BUILD" = 1 ]; then
	echo "build-deb.sh: cargo build --release" >&2
	(cd "$ROOT" && cargo build --release --bin earlyoom --bin earlyoomctl >&2)
fi
BIN=${BIN:-$TARGET/release/earlyoom}
[ -x "$BIN" ] || die "no executable at $BIN (build it, or pass --binary)"
CTL=$(dirname "$BIN")/earlyoomctl
[ -x "$CTL" ] || die "no earlyoomctl beside $BIN (cargo build --release builds both)"
"$BIN" -v 2>&1 | grep -q "earlyoom v$VERSION" ||
	die "$BIN does not say earlyoom v$VERSION (stale build?)"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
DOC=$R/usr/share/doc/earlyoom-rs

install -D -m 0755 "$BIN" "$R/usr/bin/earlyoom"
# Cargo's release profile strips symbols; drop the sections dh_strip would drop too.
install -D -m 0755 "$CTL" "$R/usr/bin/earlyoomctl"
objcopy --remove-section=.comment --remove-section=.note "$R/usr/bin/earlyoom"
objcopy --remove-section=.comment --remove-section=.note "$R/usr/bin/earlyoomctl"
install -D -m 0644 "$PKG/systemd/earlyoom.service" "$R/lib/systemd/system/earlyoom.service"
install -D -m 0644 "$PKG/default/earlyoom" "$R/etc/default/earlyoom"
install -D -m 0755 "$PKG/sysvinit/earlyoom" "$R/etc/init.d/earlyoom"
install -d "$R/usr/share/man/man1" "$DOC/examples"
gzip -9n <"$PKG/man/earlyoom.1" >"$R/usr/share/man/man1/earlyoom.1.gz"
gzip -9n <"$PKG/man/earlyoomctl.1" >"$R/usr/share/man/man1/earlyoomctl.1.gz"
install -m 0644 "$PKG/debian/copyright" "$DOC/copyright"
gzip -9n <"$PKG/debian/changelog" >"$DOC/changelog.Debian.gz"
install -m 0644 "$PKG/systemd/metrics.conf.example" "$DOC/examples/metrics.conf"
install -m 0644 "$PKG/prometheus/earlyoom-alerts.yml" "$DOC/examples/earlyoom-alerts.yml"
install -D -m 0644 "$PKG/debian/lintian-overrides" "$R/usr/share/lintian/overrides/earlyoom-rs"
chmod 0644 "$R/usr/share/man/man1/earlyoom.1.gz" "$R/usr/share/man/man1/earlyoomctl.1.gz" "$DOC/changelog.Debian.gz"

# Control area: control (with shlibs-derived Depends), conffiles, md5sums, scripts.
C=$R/DEBIAN
install -d "$C"
for s in postinst prerm postrm; do
	install -m 0755 "$PKG/debian/$s" "$C/$s"
done
# preinst carries our versions of the two conffiles (see the comment in it).
for f in default/earlyoom sysvinit/earlyoom; do
	! grep -qx 'EARLYOOM_RS_EOF' "$PKG/$f" || die "$f contains the here-document delimiter"
done
awk -v dir="$PKG" '
	/^@@packaging\/.*@@$/ {
		f = dir "/" substr($0, 13, length($0) - 14)
		while ((getline line < f) > 0) print line
		close(f)
		next
	}
	{ print }' "$PKG/debian/preinst" >"$C/preinst"
chmod 0755 "$C/preinst"
! grep -q '^@@' "$C/preinst" || die "preinst: a placeholder was left"
printf '%s\n' /etc/default/earlyoom /etc/init.d/earlyoom >"$C/conffiles"
# dpkg-shlibdeps wants a debian/control in the current directory.
mkdir -p "$STAGE/src/debian"
printf 'Source: earlyoom-rs\n\nPackage: earlyoom-rs\nArchitecture: any\n' >"$STAGE/src/debian/control"
DEPENDS=$(cd "$STAGE/src" && dpkg-shlibdeps -O "$R/usr/bin/earlyoom" "$R/usr/bin/earlyoomctl" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || die "dpkg-shlibdeps found no dependencies"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
cat >"$C/control" <<EOF
Package: earlyoom-rs
Version: $DEBVERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: $DEPENDS
Provides: earlyoom
Conflicts: earlyoom
Replaces: earlyoom
Section: admin
Priority: optional
Description: early OOM daemon (memory-safe drop-in replacement for earlyoom)
 earlyoom checks the amount of available memory and free swap up to 10 times
 a second and, when both are below a threshold (10 % by default), kills the
 largest process, before the kernel's OOM killer would act and before the
 system stalls.
 .
 This is earlyoom-rs, a rewrite in Rust that accepts all of earlyoom's
 options, prints the same messages and installs under the same names
 (/usr/bin/earlyoom, earlyoom.service, /etc/default/earlyoom), so it
 replaces the earlyoom package in place. It adds a guard against cgroups
 livelocked at memory.high and a metrics file for the Prometheus node
 exporter's textfile collector.
EOF
(cd "$R" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$C/md5sums"
chmod 0644 "$C/control" "$C/conffiles" "$C/md5sums"
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUTDIR"
DEB=$OUTDIR/earlyoom-rs_${DEBVERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >&2
echo "$DEB"
