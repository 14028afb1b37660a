#!/usr/bin/env bash
# Builds earlyoom-rs-<version>-<release>.x86_64.rpm with rpmbuild from packaging/rpm/earlyoom-rs.spec,
# the release binaries and the same files as the .deb (Cargo.toml is not touched), then
# lists its files and scriptlets. Prints the .rpm's path as its last line.
#
#   packaging/build-rpm.sh [--no-build] [--out DIR]
#
# Release: the Debian revision build-deb.sh uses (debian/changelog's top entry, or
# DEB_REVISION). EARLYOOM_RS_HOMEPAGE, when set, becomes the URL: tag.
# Needs rpmbuild (apt-get install rpm, Debian's rpm 4.18 has it).
set -euo pipefail

PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$PKG/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUTDIR=$TARGET/rpm
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) BUILD=0; shift ;;
	--out) OUTDIR=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-rpm.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
die() { echo "build-rpm.sh: $*" >&2; exit 1; }
command -v rpmbuild >/dev/null || die "rpmbuild not found (apt-get install rpm)"

cd "$ROOT"
VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1)
CHANGELOG_VERSION=$(sed -n '1s/^earlyoom-rs (\([^)]*\)).*/\1/p' "$PKG/debian/changelog")
if [ -z "${DEB_REVISION:-}" ]; then
	DEB_REVISION=1
	[ "${CHANGELOG_VERSION%-*}" != "$VERSION" ] || DEB_REVISION=${CHANGELOG_VERSION##*-}
fi
if [ "$BUILD" = 1 ]; then
	echo "build-rpm.sh: cargo build --release" >&2
	cargo build --release --bin earlyoom --bin earlyoomctl >&2
fi
"$TARGET/release/earlyoom" -v 2>&1 | grep -q "earlyoom v$VERSION" ||
	die "$TARGET/release/earlyoom does not say earlyoom v$VERSION (stale build?)"
# Same timestamps as the .deb: the Debian changelog's date.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$(sed -n 's/^ -- .*>  //p' "$PKG/debian/changelog" | head -n1)" +%s)}
export SOURCE_DATE_EPOCH

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
SRC=$SCRATCH/SOURCES
mkdir -p "$SRC"
cp "$TARGET/release/earlyoom" "$TARGET/release/earlyoomctl" "$SRC/"
cp "$PKG/systemd/earlyoom.service" "$PKG/systemd/earlyoom.catalog" "$PKG/systemd/hooks-no-network.conf" \
	"$PKG/man/earlyoom.1" "$PKG/man/earlyoomctl.1" "$PKG/prometheus/earlyoom-alerts.yml" \
	"$ROOT/README.md" "$ROOT/LICENSE" "$SRC/"
cp "$PKG/systemd/metrics.conf.example" "$SRC/metrics.conf"
cp "$PKG/default/earlyoom" "$SRC/default-earlyoom"
cp "$PKG/default/examples" "$SRC/default-examples"
mkdir -p "$OUTDIR"
defs=(--define "_topdir $SCRATCH" --define "_sourcedir $SRC" --define "_rpmdir $OUTDIR"
	--define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm"
	--define "pkgversion $VERSION" --define "pkgrelease $DEB_REVISION"
	# The binaries come stripped from cargo's release profile: no debuginfo package.
	--define "debug_package %{nil}"
	# Debian's brp-compress (which gzips the man pages, as on Fedora) says #!/bin/sh but
	# needs bash (read -d); run it with bash.
	--define "__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}"
	--define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1")
[ -z "${EARLYOOM_RS_HOMEPAGE:-}" ] || defs+=(--define "homepage $EARLYOOM_RS_HOMEPAGE")
# --nodeps: the BuildRequires are Fedora's (systemd-rpm-macros); on Debian the rpm
# database is empty, and the spec carries its own fallback for those macros.
rpmbuild -bb --quiet --nodeps "${defs[@]}" "$PKG/rpm/earlyoom-rs.spec" >&2
RPM=$OUTDIR/earlyoom-rs-$VERSION-$DEB_REVISION.x86_64.rpm
[ -f "$RPM" ] || die "rpmbuild wrote no $RPM"
{
	echo "== rpm -qpi"
	rpm -qpi "$RPM"
	echo "== rpm -qp --provides --conflicts --requires"
	rpm -qp --provides "$RPM"
	rpm -qp --conflicts "$RPM" | sed 's/^/conflicts: /'
	rpm -qp --requires "$RPM" | sed 's/^/requires: /'
	echo "== rpm -qplv"
	rpm -qplv "$RPM"
	echo "== rpm -qpc (config files), -qpL (licenses), -qpd (docs)"
	rpm -qpc "$RPM"
	rpm -qpL "$RPM"
	rpm -qpd "$RPM"
	echo "== rpm -qp --scripts"
	rpm -qp --scripts "$RPM"
	echo "== rpm -qp --changelog"
	rpm -qp --changelog "$RPM"
} >&2
echo "$RPM"
