#!/usr/bin/env bash
# Builds the earlyoom-rs container image as an OCI image layout (no container engine, no
# network): one layer holding the static release binary and its copyright, a config whose
# entrypoint is /usr/bin/earlyoom, a manifest and an index, every digest by sha256sum.
# Then checks the layout with packaging/container/check-oci.py (and umoci or skopeo when
# installed). Prints the layout's directory, then the oci-archive tarball, last.
#
#   packaging/container/build-image.sh [--binary PATH] [--no-build] [--out DIR]
#
#   --binary PATH  put this binary in the image (it must be statically linked)
#   --no-build     use ${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/earlyoom
#                  as built; without it, that static build runs first:
#                  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release \
#                    --target x86_64-unknown-linux-gnu --bin earlyoom
#   --out DIR      where the layout and the tarball go (default: ${CARGO_TARGET_DIR:-target}/container)
#
# Load it into a registry with e.g. skopeo copy oci-archive:FILE docker://REGISTRY/earlyoom-rs:VERSION
# (packaging/kubernetes/ expects localhost/earlyoom-rs:VERSION). The timestamps are the
# Debian changelog's date (SOURCE_DATE_EPOCH overrides it): the same binary gives the
# same digests.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKG=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$PKG/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TRIPLE=x86_64-unknown-linux-gnu
BIN=
BUILD=1
OUTDIR=$TARGET/container
while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=${2:?}; BUILD=0; shift 2 ;;
	--no-build) BUILD=0; shift ;;
	--out) OUTDIR=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
die() { echo "build-image.sh: $*" >&2; exit 1; }
for t in sha256sum gzip tar readelf objcopy python3; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install coreutils gzip tar binutils python3)"
done

VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$(sed -n 's/^ -- .*>  //p' "$PKG/debian/changelog" | head -n1)" +%s)}
export SOURCE_DATE_EPOCH
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

if [ "$BUILD" = 1 ]; then
	echo "build-image.sh: static cargo build --release --target $TRIPLE" >&2
	# The daemon makes no NSS call (no getpwnam and the like), so a static glibc build
	# runs in an image that has no libc at all.
	(cd "$ROOT" && RUSTFLAGS='-C target-feature=+crt-static' \
		cargo build --release --target "$TRIPLE" --bin earlyoom >&2)
fi
BIN=${BIN:-$TARGET/$TRIPLE/release/earlyoom}
[ -x "$BIN" ] || die "no executable at $BIN (build it, or drop --no-build)"
# An image without a libc needs a binary without a loader and without shared libraries.
if readelf -l "$BIN" | grep -q 'program interpreter' || readelf -d "$BIN" 2>/dev/null | grep -q NEEDED; then
	die "$BIN is dynamically linked (build with RUSTFLAGS='-C target-feature=+crt-static')"
fi
"$BIN" -v 2>&1 | grep -q "earlyoom v$VERSION" || die "$BIN does not say earlyoom v$VERSION (stale build?)"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/rootfs
install -D -m 0755 "$BIN" "$R/usr/bin/earlyoom"
objcopy --remove-section=.comment --remove-section=.note "$R/usr/bin/earlyoom"
install -D -m 0644 "$PKG/debian/copyright" "$R/usr/share/doc/earlyoom-rs/copyright"
# Mount points the DaemonSet uses (a runtime creates missing ones, but not on every
# read-only root file system).
install -d -m 0755 "$R/textfile" "$R/proc" "$R/sys" "$R/dev"
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

LAYOUT=$OUTDIR/earlyoom-rs_${VERSION}_oci
rm -rf "$LAYOUT"
mkdir -p "$LAYOUT/blobs/sha256"
blob() { # blob FILE: moves FILE into the layout as a blob, prints its digest and size
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$LAYOUT/blobs/sha256/$d"
	echo "sha256:$d $s"
}

# The layer: a reproducible tar (sorted, fixed owner and times, no atime/ctime records).
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
	--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$R" -cf "$STAGE/layer.tar" .
DIFF_ID=sha256:$(sha256sum "$STAGE/layer.tar" | cut -d' ' -f1)
gzip -9n <"$STAGE/layer.tar" >"$STAGE/layer.tar.gz"
read -r LAYER_DIGEST LAYER_SIZE < <(blob "$STAGE/layer.tar.gz")

cat >"$STAGE/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"$CREATED","config":{"Entrypoint":["/usr/bin/earlyoom"],"Cmd":["-r","3600"],"Env":["PATH=/usr/bin"],"StopSignal":"SIGTERM","Labels":{"org.opencontainers.image.title":"earlyoom-rs","org.opencontainers.image.version":"$VERSION","org.opencontainers.image.licenses":"MIT","org.opencontainers.image.description":"early OOM daemon (memory-safe drop-in replacement for earlyoom)"}},"rootfs":{"type":"layers","diff_ids":["$DIFF_ID"]},"history":[{"created":"$CREATED","created_by":"packaging/container/build-image.sh: static earlyoom $VERSION"}]}
JSON
read -r CONFIG_DIGEST CONFIG_SIZE < <(blob "$STAGE/config.json")

cat >"$STAGE/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CONFIG_DIGEST","size":$CONFIG_SIZE},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$LAYER_DIGEST","size":$LAYER_SIZE}],"annotations":{"org.opencontainers.image.title":"earlyoom-rs","org.opencontainers.image.version":"$VERSION","org.opencontainers.image.created":"$CREATED"}}
JSON
read -r MANIFEST_DIGEST MANIFEST_SIZE < <(blob "$STAGE/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}\n' >"$LAYOUT/oci-layout"
cat >"$LAYOUT/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$MANIFEST_DIGEST","size":$MANIFEST_SIZE,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"$VERSION"}}]}
JSON
find "$LAYOUT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

python3 "$HERE/check-oci.py" "$LAYOUT" "$VERSION" >&2 || die "the layout failed its check"
if command -v umoci >/dev/null; then
	# A second, independent reader: umoci verifies every digest while it unpacks.
	umoci stat --image "$LAYOUT:$VERSION" >&2 || die "umoci stat rejects the layout"
	umoci unpack --rootless --image "$LAYOUT:$VERSION" "$STAGE/bundle" >/dev/null ||
		die "umoci unpack rejects the layout"
	cmp -s "$STAGE/bundle/rootfs/usr/bin/earlyoom" "$R/usr/bin/earlyoom" ||
		die "umoci unpacked another /usr/bin/earlyoom than the one packed"
elif command -v skopeo >/dev/null; then
	skopeo inspect "oci:$LAYOUT:$VERSION" >&2 || die "skopeo inspect rejects the layout"
fi

ARCHIVE=$OUTDIR/earlyoom-rs_${VERSION}_oci.tar
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
	-C "$LAYOUT" -cf "$ARCHIVE" .
echo "build-image.sh: $MANIFEST_DIGEST ($(stat -c %s "$LAYOUT/blobs/sha256/${LAYER_DIGEST#sha256:}") bytes of layer)" >&2
echo "$LAYOUT"
echo "$ARCHIVE"
