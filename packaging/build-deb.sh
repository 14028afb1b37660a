#!/usr/bin/env bash
# Builds earlyoom-rs_<version>-<revision>_amd64.deb with dpkg-deb from the release binary
# and the files under packaging/ (no cargo-deb, no debhelper), and beside it the
# transitional package earlyoom_<version>-<revision>_all.deb (version 1:<version>-<revision>)
# that takes Debian's earlyoom over in place (see packaging/README.md). Prints the
# transitional package's path, then the .deb's path as its last line.
#
#   packaging/build-deb.sh [--binary PATH] [--out DIR] [--no-build]
#
#   --binary PATH  package this binary (default: ${CARGO_TARGET_DIR:-target}/release/earlyoom,
#                  built first with cargo build --release unless --no-build)
#   --out DIR      where the .deb goes (default: ${CARGO_TARGET_DIR:-target}/debian)
#
# Version: Cargo.toml's package version; the Debian revision is the top entry's of
# debian/changelog when its upstream part is Cargo.toml's version (else 1); DEB_REVISION
# overrides it. EARLYOOM_RS_HOMEPAGE, when set, becomes the Homepage: field.
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
CHANGELOG_VERSION=$(sed -n '1s/^earlyoom-rs (\([^)]*\)).*/\1/p' "$PKG/debian/changelog")
if [ -z "${DEB_REVISION:-}" ]; then
	DEB_REVISION=1
	[ "${CHANGELOG_VERSION%-*}" != "$VERSION" ] || DEB_REVISION=${CHANGELOG_VERSION##*-}
fi
DEBVERSION=$VERSION-$DEB_REVISION
# The transitional package outranks every Debian earlyoom with its epoch, so apt never
# "upgrades" it back to Debian's behind the admin's back; a rollback is an explicit
# downgrade (NEWS.Debian says how).
TRANS_VERSION=1:$DEBVERSION
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

# /etc/default/earlyoom is Debian 1.7's file byte for byte: dpkg then keeps an admin's
# edits silently on the takeover and on a rollback (old and new versions equal, nothing
# to ask). An edit here would bring the conffile prompt back; our examples go to
# default/examples instead.
DEBIAN_DEFAULT_MD5=2234751f3f30d3adb51be3e99bedafe9
[ "$(md5sum <"$PKG/default/earlyoom" | cut -d' ' -f1)" = "$DEBIAN_DEFAULT_MD5" ] ||
	die "default/earlyoom is no longer Debian 1.7's file (md5 $DEBIAN_DEFAULT_MD5); put new examples in default/examples"
# debian/copyright names every crate the binaries link statically.
if command -v cargo >/dev/null && CRATES=$(cd "$ROOT" && cargo tree --offline -e normal,no-proc-macro \
	--prefix none -f '{p}' 2>/dev/null | awk '$1 != "earlyoom-rs" { print $1 }' | sort -u) &&
	[ -n "$CRATES" ]; then
	for c in $CRATES; do
		grep -Eq "(^|[ ,])$c([ ,(]|$)" "$PKG/debian/copyright" ||
			die "debian/copyright does not name the crate $c, which the binaries link"
	done
else
	echo "build-deb.sh: cargo tree unavailable, debian/copyright's crate list not checked" >&2
fi

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
gzip -9n <"$PKG/debian/NEWS" >"$DOC/NEWS.Debian.gz"
install -m 0644 "$PKG/systemd/metrics.conf.example" "$DOC/examples/metrics.conf"
install -m 0644 "$PKG/systemd/hooks-no-network.conf" "$DOC/examples/hooks-no-network.conf"
install -m 0644 "$PKG/default/examples" "$DOC/examples/default-earlyoom"
install -D -m 0644 "$PKG/systemd/earlyoom.catalog" "$R/usr/lib/systemd/catalog/earlyoom.catalog"
install -m 0644 "$PKG/prometheus/earlyoom-alerts.yml" "$DOC/examples/earlyoom-alerts.yml"
install -D -m 0644 "$PKG/debian/lintian-overrides" "$R/usr/share/lintian/overrides/earlyoom-rs"
chmod 0644 "$R/usr/share/man/man1/earlyoom.1.gz" "$R/usr/share/man/man1/earlyoomctl.1.gz" \
	"$DOC/changelog.Debian.gz" "$DOC/NEWS.Debian.gz"

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
HOMEPAGE_FIELD=
[ -z "${EARLYOOM_RS_HOMEPAGE:-}" ] || HOMEPAGE_FIELD="Homepage: $EARLYOOM_RS_HOMEPAGE
"
cat >"$C/control" <<EOF
Package: earlyoom-rs
Version: $DEBVERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: $DEPENDS
Provides: earlyoom (= $TRANS_VERSION)
Conflicts: earlyoom (<< 1:0~)
Replaces: earlyoom (<< 1:0~)
Section: admin
Priority: optional
${HOMEPAGE_FIELD}Description: early OOM daemon (memory-safe drop-in replacement for earlyoom)
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

# The transitional package: Debian's earlyoom is upgraded to it instead of being removed,
# so that package's maintainer scripts only ever run with "upgrade" (they do nothing
# then) and its postrm purge, which would disable earlyoom.service (ours, same name), never
# runs; purging this one later disables nothing. It ships nothing but its doc directory,
# a symlink to ours (same source, and it depends on us), and a postrm for the rollback.
T=$STAGE/transitional
install -d "$T/DEBIAN" "$T/usr/share/doc"
ln -s earlyoom-rs "$T/usr/share/doc/earlyoom"
cat >"$T/DEBIAN/control" <<EOF
Package: earlyoom
Source: earlyoom-rs ($DEBVERSION)
Version: $TRANS_VERSION
Architecture: all
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$T" | cut -f1)
Depends: earlyoom-rs (>= $DEBVERSION)
Section: oldlibs
Priority: optional
${HOMEPAGE_FIELD}Description: transitional package for earlyoom-rs
 This package moves an installation of Debian's earlyoom to earlyoom-rs, a
 memory-safe drop-in replacement, without removing it: the unit
 earlyoom.service stays enabled as it was, /etc/default/earlyoom stays as the
 admin left it. It can be removed or purged afterwards; earlyoom-rs keeps
 working.
EOF
# md5sums only lists regular files, and a symlink is all this package has: none.
chmod 0644 "$T/DEBIAN/control"
install -m 0755 "$PKG/debian/transitional.postrm" "$T/DEBIAN/postrm"
find "$T" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
TRANS_DEB=$OUTDIR/earlyoom_${DEBVERSION}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$T" "$TRANS_DEB" >&2
echo "$TRANS_DEB"
echo "$DEB"
