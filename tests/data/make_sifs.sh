#!/bin/sh
# Regenerate the SIF test images in tests/data/sif/ (used by tests/test_sif_reader.py).
#
#   sh tests/data/make_sifs.sh          # from the repository root
#
# Needs the conformance driver (LIBCONFORM, default /tmp/libconform-bin/libconform) for
# `mksif`/`genkey`, and Debian's `siftool` (apt-get install siftool) for the hand-assembled images.
# The tests never run these tools: they hard-code the facts this script prints (and saves in
# tests/data/sif/FACTS.txt). mksif output is deterministic for a fixed --seed, but the signing key
# is new on every run (unless KEY=path/to/key.asc is given) and siftool stamps the current time
# and a random UUID, so after regenerating, update the constants at the top of
# tests/test_sif_reader.py from FACTS.txt (SIGNER_FINGERPRINT in particular).
set -eu

LIBCONFORM=${LIBCONFORM:-/tmp/libconform-bin/libconform}
SIFTOOL=${SIFTOOL:-siftool}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/sif"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rm -f "$out"/*.sif

# --- images made by the driver (the smallest payload mksif accepts is 0 MiB) -------------------
if [ -n "${KEY:-}" ]; then
    cp "$KEY" "$work/key.asc"
    cp "$KEY.pub" "$work/key.asc.pub"
else
    "$LIBCONFORM" genkey --out "$work/key.asc" --name "SIF Test Signer" --email "sif-test@example.invalid"
fi
cp "$work/key.asc.pub" "$out/signer.pub.asc"

mksif() { "$LIBCONFORM" mksif "$@" | tee -a "$work/mksif.txt"; }
mksif --out "$out/amd64.sif" --size-mb 0 --arch amd64 --seed sif-amd64
mksif --out "$out/arm64.sif" --size-mb 0 --arch arm64 --seed sif-arm64
mksif --out "$out/labels.sif" --size-mb 0 --seed sif-labels \
    --label org.example.owner=alice --label "description=hello world" --label "expr=a=b"
mksif --out "$out/signed.sif" --size-mb 0 --arch arm64 --seed sif-signed \
    --label signed=yes --sign-key "$work/key.asc"

# --- images assembled object by object with siftool ---------------------------------------------
fpr=$(gpg --with-colons --show-keys "$work/key.asc.pub" 2>/dev/null | awk -F: '$1=="fpr"{print $10; exit}' || true)
if [ -z "$fpr" ]; then
    fpr=433FE984155206BD962725E20E8713472A879943
fi

cat > "$work/image.def" <<'DEF'
Bootstrap: docker
From: alpine:3.20

%labels
    Maintainer sif-test
    Version 2.0

%post
    echo "built by siftool for the reader tests"
DEF
printf '{"Maintainer": "sif-test", "Version": "2.0", "org.label-schema.schema-version": "1.0"}' > "$work/labels.json"
printf 'export PATH=/usr/local/bin:$PATH\n' > "$work/env.sh"
printf '{"ociVersion": "1.0.2", "process": {"args": ["/bin/sh"]}}' > "$work/oci-config.json"
head -c 6000 /dev/zero | tr '\0' 'P' > "$work/primary.squashfs"
head -c 3000 /dev/zero | tr '\0' 'D' > "$work/data.img"
printf 'not a real signature, only its descriptor matters\n' > "$work/sig.bin"
printf 'wrapped key\n' > "$work/key.msg"

# multi.sif: definition, labels, environment, an arm64 primary squashfs, an amd64 raw data
# partition, a generic JSON object and a signature descriptor whose entity is the key fingerprint.
"$SIFTOOL" new "$out/multi.sif"
"$SIFTOOL" add "$out/multi.sif" "$work/image.def" --datatype 1 --groupid 1 --filename image.def
"$SIFTOOL" add "$out/multi.sif" "$work/labels.json" --datatype 3 --groupid 1 --filename labels.json
"$SIFTOOL" add "$out/multi.sif" "$work/env.sh" --datatype 2 --groupid 1 --filename env.sh
"$SIFTOOL" add "$out/multi.sif" "$work/primary.squashfs" --datatype 4 --groupid 1 \
    --partfs 1 --parttype 2 --partarch 4 --filename rootfs.squashfs
"$SIFTOOL" add "$out/multi.sif" "$work/data.img" --datatype 4 --groupid 2 \
    --partfs 4 --parttype 3 --partarch 2 --filename data.img
"$SIFTOOL" add "$out/multi.sif" "$work/oci-config.json" --datatype 6 --filename oci-config.json
"$SIFTOOL" add "$out/multi.sif" "$work/sig.bin" --datatype 5 --link 4 \
    --signhash 2 --signentity "$fpr" --filename sig.bin

# encrypted.sif: an encrypted-squashfs primary partition and a crypto message object.
"$SIFTOOL" new "$out/encrypted.sif"
"$SIFTOOL" add "$out/encrypted.sif" "$work/primary.squashfs" --datatype 4 --groupid 1 \
    --partfs 5 --parttype 2 --partarch 2
"$SIFTOOL" add "$out/encrypted.sif" "$work/key.msg" --datatype 8 --link 1

# empty.sif: a valid header and descriptor table with no objects.
"$SIFTOOL" new "$out/empty.sif"

# --- facts for the tests --------------------------------------------------------------------------
{
    echo "signer fingerprint: $fpr"
    echo "mksif reports:"
    cat "$work/mksif.txt"
    for f in "$out"/*.sif; do
        echo
        echo "=== $(basename "$f") ($(wc -c < "$f") bytes)"
        "$SIFTOOL" header "$f"
        "$SIFTOOL" list "$f" 2>&1 || true
        id=1
        while "$SIFTOOL" info "$id" "$f" > "$work/info" 2>/dev/null; do
            echo "--- object $id"
            cat "$work/info"
            id=$((id + 1))
        done
    done
} | tee "$out/FACTS.txt"
