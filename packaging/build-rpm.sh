#!/usr/bin/env bash
# Builds earlyoom-rs-<version>-1.x86_64.rpm with cargo-generate-rpm from the release
# binary and the same files as the .deb (packaging/rpm/metadata.toml; Cargo.toml is not
# touched), then lists its files and scriptlets with rpm when rpm is installed. Prints
# the .rpm's path as its last line.
#
#   packaging/build-rpm.sh [--no-build] [--out DIR]
#
# Needs cargo-generate-rpm (cargo install cargo-generate-rpm --locked) and, for the
# listing, rpm (apt-get install rpm).
set -euo pipefail

PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$PKG/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUTDIR=$TARGET/generate-rpm
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
cargo generate-rpm --help >/dev/null 2>&1 ||
	die "cargo-generate-rpm not found (cargo install cargo-generate-rpm --locked)"

cd "$ROOT"
VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1)
if [ "$BUILD" = 1 ]; then
	echo "build-rpm.sh: cargo build --release" >&2
	cargo build --release --bin earlyoom --bin earlyoomctl >&2
fi
"$TARGET/release/earlyoom" -v 2>&1 | grep -q "earlyoom v$VERSION" ||
	die "$TARGET/release/earlyoom does not say earlyoom v$VERSION (stale build?)"
# Same timestamps as the .deb: the Debian changelog's date.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$(sed -n 's/^ -- .*>  //p' "$PKG/debian/changelog" | head -n1)" +%s)}
export SOURCE_DATE_EPOCH
mkdir -p "$OUTDIR"
RPM=$OUTDIR/earlyoom-rs-$VERSION-1.x86_64.rpm
# cargo-generate-rpm insists on a [package.metadata.generate-rpm] table in ./Cargo.toml
# even when --metadata-overwrite supplies everything, and we keep Cargo.toml free of
# packaging metadata: run it in a scratch directory holding a copy of Cargo.toml with an
# empty table and links to the files the assets name.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cp Cargo.toml "$SCRATCH/Cargo.toml"
printf '\n[package.metadata.generate-rpm]\nassets = []\n' >>"$SCRATCH/Cargo.toml"
ln -s "$ROOT/LICENSE" "$ROOT/packaging" "$ROOT/src" "$SCRATCH/"
(cd "$SCRATCH" && cargo generate-rpm --target-dir "$TARGET" \
	--metadata-overwrite packaging/rpm/metadata.toml --payload-compress xz -o "$RPM" >&2)
if command -v rpm >/dev/null; then
	{
		echo "== rpm -qpi"
		rpm -qpi "$RPM"
		echo "== rpm -qp --provides --conflicts --requires"
		rpm -qp --provides "$RPM"
		rpm -qp --conflicts "$RPM" | sed 's/^/conflicts: /'
		rpm -qp --requires "$RPM" | sed 's/^/requires: /'
		echo "== rpm -qplv"
		rpm -qplv "$RPM"
		echo "== rpm -qpc (config files)"
		rpm -qpc "$RPM"
		echo "== rpm -qp --scripts"
		rpm -qp --scripts "$RPM"
	} >&2
fi
echo "$RPM"
