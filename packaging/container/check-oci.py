#!/usr/bin/env python3
# Checks an OCI image layout as packaging/container/build-image.sh writes it, with the
# standard library only (CI has no container engine): oci-layout, index -> manifest ->
# config and layers, every blob's size and sha256 against its descriptor, the config's
# diff_ids against the uncompressed layers, the entrypoint a static executable in the
# layer, and that it runs (-v names the expected version).
#
#   packaging/container/check-oci.py LAYOUT_DIR VERSION
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def blob(layout, desc, media_type):
    """Reads the blob a descriptor names and checks its media type, size and digest."""
    algo, _, hexd = desc.get("digest", "").partition(":")
    check(desc.get("mediaType") == media_type, f"{hexd[:12]}: mediaType {desc.get('mediaType')}")
    if not check(algo == "sha256" and len(hexd) == 64, f"digest {desc.get('digest')} is sha256"):
        sys.exit(1)
    path = os.path.join(layout, "blobs", "sha256", hexd)
    if not check(os.path.isfile(path), f"blob {hexd[:12]} present"):
        sys.exit(1)
    data = open(path, "rb").read()
    check(len(data) == desc.get("size"), f"blob {hexd[:12]} size {len(data)} == {desc.get('size')}")
    check(hashlib.sha256(data).hexdigest() == hexd, f"blob {hexd[:12]} sha256 matches its name")
    return data


def is_static_elf(data):
    """True for an ELF64 executable without a PT_INTERP program header (no loader)."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def main():
    layout, version = sys.argv[1], sys.argv[2]
    check(json.load(open(os.path.join(layout, "oci-layout"))) == {"imageLayoutVersion": "1.0.0"},
          "oci-layout is imageLayoutVersion 1.0.0")
    index = json.load(open(os.path.join(layout, "index.json")))
    check(index.get("schemaVersion") == 2 and index.get("mediaType") == MT_INDEX, "index.json: OCI index, schemaVersion 2")
    refs = [m for m in index.get("manifests", [])
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == version]
    if not check(len(refs) == 1, f"index names one manifest {version}"):
        sys.exit(1)
    check(refs[0].get("platform") == {"architecture": "amd64", "os": "linux"}, "platform linux/amd64")
    manifest = json.loads(blob(layout, refs[0], MT_MANIFEST))
    check(manifest.get("schemaVersion") == 2 and manifest.get("mediaType") == MT_MANIFEST, "manifest: schemaVersion 2")
    config = json.loads(blob(layout, manifest["config"], MT_CONFIG))
    check(config.get("architecture") == "amd64" and config.get("os") == "linux", "config: linux/amd64")
    layers = manifest.get("layers", [])
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    check(config.get("rootfs", {}).get("type") == "layers" and len(diff_ids) == len(layers) >= 1,
          f"config: {len(diff_ids)} diff_id(s) for {len(layers)} layer(s)")
    files = {}
    for desc, diff_id in zip(layers, diff_ids):
        raw = gzip.decompress(blob(layout, desc, MT_LAYER))
        check("sha256:" + hashlib.sha256(raw).hexdigest() == diff_id, f"diff_id {diff_id[:19]} is the uncompressed layer")
        with tarfile.open(fileobj=io.BytesIO(raw)) as t:
            for m in t.getmembers():
                name = os.path.normpath(m.name)
                check(not name.startswith(("/", "..")), f"layer path {m.name} stays inside the image")
                if m.isfile():
                    files[name] = (m.mode, t.extractfile(m).read())
    entry = config.get("config", {}).get("Entrypoint") or []
    if not check(len(entry) >= 1, f"entrypoint {entry}"):
        sys.exit(1)
    path = os.path.normpath(entry[0].lstrip("/"))
    if not check(path in files, f"entrypoint {entry[0]} is a file in the layer"):
        sys.exit(1)
    mode, data = files[path]
    check(mode & 0o111 != 0, f"{entry[0]} is executable (mode {oct(mode)})")
    check(is_static_elf(data), f"{entry[0]} is a static ELF (no program interpreter: the image has no libc)")
    check("usr/share/doc/earlyoom-rs/copyright" in files, "copyright in the image")
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "earlyoom")
        with open(exe, "wb") as f:
            f.write(data)
        os.chmod(exe, 0o755)
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10)
        banner = (out.stdout + out.stderr).splitlines()[:1]
        check(banner == [f"earlyoom v{version}"], f"{entry[0]} -v says {banner}")
    referenced = {d["digest"].split(":")[1] for d in [refs[0], manifest["config"], *layers]}
    present = set(os.listdir(os.path.join(layout, "blobs", "sha256")))
    check(present == referenced, f"blobs: {len(present)} present, {len(referenced)} referenced, none stray")
    print(f"check-oci: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
