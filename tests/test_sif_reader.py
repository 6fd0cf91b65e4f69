"""Tests for the pure-Python SIF reader (django_sylabs_library.sif.reader).

The images in tests/data/sif/ come from tests/data/make_sifs.sh (libconform mksif and siftool); the
facts below were printed by that script (tests/data/sif/FACTS.txt) and cross-checked with
`siftool list`/`info`/`header` when the files were generated. These tests never run siftool.
No database is needed.
"""

from __future__ import annotations

import io
import os
import struct
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_sylabs_library.sif import (
    ARCH_CODES,
    HEADER_PREFIX_LEN,
    SifHeader,
    parse_header,
    read_header,
)
from django_sylabs_library.sif.reader import (
    DATA_DEFFILE,
    DATA_GENERIC,
    DATA_LABELS,
    DATA_PARTITION,
    DATA_SIGNATURE,
    DESCRIPTOR_LEN,
    HEADER_LEN,
    MAX_DESCRIPTORS,
    SifError,
    SifInfo,
    read_descriptors,
    read_global_header,
    read_sif,
)

DATA = Path(__file__).parent / "data" / "sif"

# --- facts printed by tests/data/make_sifs.sh (see FACTS.txt); update them after regenerating ----
SIGNER_FINGERPRINT = "B22F4B4DEFF9C84854F3D7A8B54EDEAC395D7D59"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
MULTI_UUID = "71656b1d-7d28-4738-bf6c-0b583e5e5199"
ENCRYPTED_UUID = "43a895a4-e1eb-4f85-848c-85dee9e0c092"
EMPTY_UUID = "0a259046-05c8-4b17-b40d-5dbe1b966bbf"
MKSIF_BASE_LABELS = {
    "org.label-schema.build-date": "1970-01-01T00:00:00Z",
    "org.label-schema.schema-version": "1.0",
}
SIF_FILES = ["amd64.sif", "arm64.sif", "labels.sif", "signed.sif", "multi.sif", "encrypted.sif", "empty.sif"]

GROUP_MASK = 0xF0000000


def sif_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- a minimal SIF writer, to craft images the tools refuse to make ---------------------------


def pack_header(
    *,
    total: int = 8,
    free: int | None = None,
    d_off: int = 128,
    d_size: int | None = None,
    data_off: int | None = None,
    data_size: int = 0,
    arch: bytes = b"02\x00",
    magic: bytes = b"SIF_MAGIC\x00",
    version: bytes = b"01\x00",
    uuid: bytes = bytes(range(16)),
    created: int = 1_700_000_000,
    modified: int = 1_700_000_000,
) -> bytes:
    d_size = total * DESCRIPTOR_LEN if d_size is None else d_size
    data_off = d_off + d_size if data_off is None else data_off
    return struct.pack(
        "<32s10s3s3s16s8q",
        b"#!/usr/bin/env run-singularity\n",
        magic,
        version,
        arch,
        uuid,
        created,
        modified,
        total if free is None else free,
        total,
        d_off,
        d_size,
        data_off,
        data_size,
    )


def pack_descriptor(
    *,
    data_type: int,
    obj_id: int,
    offset: int,
    size: int,
    used: bool = True,
    group: int = GROUP_MASK | 1,
    link: int = 0,
    padded: int | None = None,
    name: bytes = b"",
    extra: bytes = b"",
) -> bytes:
    return struct.pack(
        "<iBIII7q128s384s",
        data_type,
        1 if used else 0,
        obj_id,
        group,
        link,
        offset,
        size,
        size if padded is None else padded,
        1_700_000_000,
        1_700_000_000,
        0,
        0,
        name,
        extra,
    )


def partition_extra(fs: int = 1, part: int = 2, arch: bytes = b"02\x00") -> bytes:
    return struct.pack("<ii3s", fs, part, arch)


def signature_extra(hash_type: int = 1, entity: bytes = b"") -> bytes:
    return struct.pack("<i256s", hash_type, entity)


def build_sif(objects: list[dict], *, total: int = 8, header: dict | None = None) -> tuple[bytes, int]:
    """Lay objects out after the descriptor table (partitions 4096-aligned).

    Each object is a dict with data_type and either data (bytes) or size (a hole of that many
    zero bytes), plus optional descriptor fields. Returns (the bytes up to the last object that
    has data, the full image length): the caller zero-fills or truncates up to the length.
    """
    d_off = 128
    cursor = d_off + total * DESCRIPTOR_LEN
    data_off = cursor
    descriptors = []
    chunks: list[tuple[int, bytes]] = []
    for i, obj in enumerate(objects):
        obj = dict(obj)
        data = obj.pop("data", None)
        size = len(data) if data is not None else obj.pop("size")
        if obj["data_type"] == DATA_PARTITION:
            cursor = (cursor + 4095) // 4096 * 4096
        descriptors.append(pack_descriptor(obj_id=obj.pop("obj_id", i + 1), offset=cursor, size=size, **obj))
        if data is not None:
            chunks.append((cursor, data))
        cursor += size
    descriptors += [bytes(DESCRIPTOR_LEN)] * (total - len(objects))
    fields = {
        "total": total,
        "free": total - len(objects),
        "d_off": d_off,
        "data_off": data_off,
        "data_size": cursor - data_off,
    }
    fields.update(header or {})
    hdr = pack_header(**fields)
    buf = bytearray(hdr + b"".join(descriptors))
    for offset, data in chunks:
        if len(buf) < offset:
            buf += bytes(offset - len(buf))
        buf[offset : offset + len(data)] = data
    return bytes(buf), cursor


def build(objects: list[dict], **kw) -> bytes:
    prefix, length = build_sif(objects, **kw)
    return prefix + bytes(length - len(prefix))


DEF_TEXT = b"Bootstrap: docker\nFrom: alpine\n"
LABELS_JSON = b'{"a": "1", "b": "2"}'


def standard_objects(labels: bytes = LABELS_JSON) -> list[dict]:
    return [
        {"data_type": DATA_DEFFILE, "data": DEF_TEXT},
        {"data_type": DATA_LABELS, "data": labels},
        {"data_type": DATA_PARTITION, "data": b"hsqs" + bytes(100), "extra": partition_extra()},
    ]


def set_desc_field(buf: bytearray, index: int, rel: int, fmt: str, value: int, d_off: int = 128) -> None:
    struct.pack_into(fmt, buf, d_off + index * DESCRIPTOR_LEN + rel, value)


# --- real images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arch", "extra_labels"),
    [
        ("amd64.sif", "amd64", {"libconform.arch": "amd64", "libconform.seed": "sif-amd64"}),
        ("arm64.sif", "arm64", {"libconform.arch": "arm64", "libconform.seed": "sif-arm64"}),
        (
            "labels.sif",
            "amd64",
            {
                "libconform.arch": "amd64",
                "libconform.seed": "sif-labels",
                "org.example.owner": "alice",
                "description": "hello world",
                "expr": "a=b",
            },
        ),
    ],
)
def test_mksif_unsigned_images(name: str, arch: str, extra_labels: dict[str, str]) -> None:
    info = read_sif(DATA / name)
    assert isinstance(info, SifInfo)
    assert info.arch == arch
    assert info.header.arch == arch
    assert info.uuid == NIL_UUID
    assert info.created_at == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert info.labels == {**MKSIF_BASE_LABELS, **extra_labels}
    seed = extra_labels["libconform.seed"]
    assert info.definition is not None
    assert info.definition.startswith("Bootstrap: scratch\n")
    assert f"libconform.seed {seed}" in info.definition
    assert not info.definition_truncated
    assert info.signed is False
    assert info.signatures == [] and info.fingerprints == []
    assert info.encrypted is False
    # siftool list: 1 Def.FILE 32176.., 2 JSON.Labels, 3 FS (Squashfs/*System/<arch>) 32768-36864
    assert [(d.id, d.type_name) for d in info.descriptors] == [(1, "Def.FILE"), (2, "JSON.Labels"), (3, "FS")]
    (part,) = info.partitions
    assert part is info.primary_partition
    assert (part.id, part.fs_type_name, part.part_type_name, part.arch) == (3, "Squashfs", "*System", arch)
    assert (part.descriptor.offset, part.size, part.descriptor.group_id) == (32768, 4096, 1)
    assert info.header.descriptors_total == 48 and info.header.descriptors_free == 45
    assert info.header.descriptors_offset == 4096 and info.header.data_offset == 32176
    assert info.header.version == "01"


def test_mksif_signed_image() -> None:
    info = read_sif(DATA / "signed.sif")
    assert info.arch == "arm64"
    assert info.signed is True
    assert info.fingerprints == [SIGNER_FINGERPRINT.lower()]
    (sig,) = info.signatures
    # siftool info 4: Signature, Linked ID 1 (G), Hash Type SHA-256, Entity = the key fingerprint
    assert (sig.id, sig.link, sig.link_is_group) == (4, 1, True)
    assert sig.hash_name == "SHA-256" and sig.hash_type == 1
    assert sig.fingerprint == SIGNER_FINGERPRINT.lower()
    assert sig.entity_format == "binary"
    assert (sig.descriptor.offset, sig.descriptor.size) == (36864, 1253)
    assert info.labels == {
        **MKSIF_BASE_LABELS,
        "libconform.arch": "arm64",
        "libconform.seed": "sif-signed",
        "signed": "yes",
    }
    assert info.definition == (
        "Bootstrap: scratch\n\n%labels\n    libconform.seed sif-signed\n\n%help\n"
        "    Synthetic test image written by libconform; its partition holds random bytes.\n"
    )


def test_siftool_multi_object_image() -> None:
    info = read_sif(DATA / "multi.sif")
    assert info.uuid == MULTI_UUID
    assert info.arch == "arm64"  # the primary partition's; the data partition is amd64
    assert [(d.id, d.type_name, d.name) for d in info.descriptors] == [
        (1, "Def.FILE", "image.def"),
        (2, "JSON.Labels", "labels.json"),
        (3, "Env.Vars", "env.sh"),
        (4, "FS", "rootfs.squashfs"),
        (5, "FS", "data.img"),
        (6, "JSON.Generic", "oci-config.json"),
        (7, "Signature", "sig.bin"),
    ]
    assert [(p.id, p.fs_type_name, p.part_type_name, p.arch, p.descriptor.group_id) for p in info.partitions] == [
        (4, "Squashfs", "*System", "arm64", 1),
        (5, "Raw", "Data", "amd64", 2),
    ]
    assert info.primary_partition is not None and info.primary_partition.id == 4
    assert info.labels == {"Maintainer": "sif-test", "Version": "2.0", "org.label-schema.schema-version": "1.0"}
    assert info.definition is not None and info.definition.startswith("Bootstrap: docker\nFrom: alpine:3.20\n")
    (sig,) = info.signatures
    assert (sig.id, sig.link, sig.link_is_group, sig.hash_name) == (7, 4, False, "SHA-384")
    assert info.fingerprints == [SIGNER_FINGERPRINT.lower()]
    assert info.signed and not info.encrypted
    offsets = {d.id: (d.offset, d.offset + d.size) for d in info.descriptors}
    assert offsets == {
        1: (32176, 32317),
        2: (32317, 32403),
        3: (32403, 32436),
        4: (32768, 38768),
        5: (40960, 43960),
        6: (43960, 44017),
        7: (44017, 44067),
    }
    assert info.header.descriptors_free == 41


def test_siftool_encrypted_image() -> None:
    info = read_sif(DATA / "encrypted.sif")
    assert info.uuid == ENCRYPTED_UUID
    assert info.arch == "amd64"
    assert info.encrypted is True
    assert info.partitions[0].fs_type_name == "Encrypted squashfs"
    (msg,) = info.crypto_messages
    assert (msg.descriptor.id, msg.descriptor.link, msg.format_name, msg.message_name) == (2, 1, "Unknown", "Unknown")
    assert info.labels == {} and info.definition is None and not info.signed


def test_siftool_empty_image() -> None:
    info = read_sif(DATA / "empty.sif")
    assert info.uuid == EMPTY_UUID
    assert info.arch is None  # header arch "00" and no partition
    assert info.header.arch_code == "00"
    assert info.descriptors == [] and info.partitions == [] and info.primary_partition is None
    assert info.labels == {} and info.definition is None
    assert not info.signed and not info.encrypted
    assert info.header.descriptors_free == info.header.descriptors_total == 48


@pytest.mark.parametrize("name", SIF_FILES)
def test_sources_agree(name: str, tmp_path: Path) -> None:
    """Path, str path, bytes and an open file give the same answer; the file position is kept."""
    path = DATA / name
    expected = read_sif(path)
    assert read_sif(str(path)) == expected
    assert read_sif(path.read_bytes()) == expected
    with path.open("rb") as fh:
        fh.seek(123)
        assert read_sif(fh) == expected
        assert fh.tell() == 123
    header, descriptors = read_descriptors(io.BytesIO(path.read_bytes()))
    assert header == expected.header == read_global_header(io.BytesIO(path.read_bytes()))
    assert descriptors == expected.descriptors


@pytest.mark.parametrize("name", SIF_FILES)
def test_legacy_header_api_still_works(name: str) -> None:
    data = sif_bytes(name)
    info = read_sif(data)
    hdr = parse_header(data[:HEADER_PREFIX_LEN])
    assert isinstance(hdr, SifHeader)
    assert hdr.uuid == info.uuid
    assert hdr.arch == info.header.arch
    assert read_header(io.BytesIO(data)) == hdr
    assert ARCH_CODES[b"02"] == "amd64" and ARCH_CODES[b"04"] == "arm64"
    assert parse_header(b"x" * 64) is None


# --- crafted images that are valid ------------------------------------------------------------


def test_built_image_round_trip() -> None:
    info = read_sif(build(standard_objects()))
    assert info.arch == "amd64"
    assert info.uuid == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert info.created_at == datetime.fromtimestamp(1_700_000_000, tz=timezone.utc)
    assert info.labels == {"a": "1", "b": "2"}
    assert info.definition == DEF_TEXT.decode()


def test_hex_text_fingerprint_and_missing_fingerprint() -> None:
    upper = "0123456789ABCDEF0123456789ABCDEF01234567"
    objects = [
        *standard_objects(),
        {
            "data_type": DATA_SIGNATURE,
            "data": b"sig1",
            "group": 0,
            "link": 3,
            "extra": signature_extra(2, upper.encode()),
        },
        {"data_type": DATA_SIGNATURE, "data": b"sig2", "group": 0, "link": 3, "extra": signature_extra(3, b"")},
        {
            "data_type": DATA_SIGNATURE,
            "data": b"sig3",
            "group": 0,
            "link": 3,
            "extra": signature_extra(9, bytes.fromhex(upper)),
        },
    ]
    info = read_sif(build(objects))
    assert info.signed is True
    assert [(s.fingerprint, s.entity_format, s.hash_name) for s in info.signatures] == [
        (upper.lower(), "hex", "SHA-384"),
        (None, None, "SHA-512"),
        (upper.lower(), "binary", "unknown"),
    ]
    assert info.fingerprints == [upper.lower()]


def test_label_variants() -> None:
    legacy = b'{"system-partition": {"x": "y"}, "myapp": {"z": "w"}}'
    assert read_sif(build(standard_objects(legacy))).labels == {"x": "y"}
    typed = b'{"n": 123456789012345678901234567890, "f": 1.5, "t": true, "z": null, "l": [1, "a"]}'
    assert read_sif(build(standard_objects(typed))).labels == {
        "n": "123456789012345678901234567890",
        "f": "1.5",
        "t": "true",
        "z": "",
        "l": '["1","a"]',
    }
    two = [*standard_objects(b'{"a": "1", "b": "2"}'), {"data_type": DATA_LABELS, "data": b'{"b": "3"}'}]
    assert read_sif(build(two)).labels == {"a": "1", "b": "3"}


def test_definition_is_capped() -> None:
    objects = standard_objects()
    objects[0] = {"data_type": DATA_DEFFILE, "data": b"A" * 5000 + b"\xff\xfe"}
    info = read_sif(build(objects), max_definition=100)
    assert info.definition == "A" * 100 and info.definition_truncated
    full = read_sif(build(objects))
    assert full.definition is not None and full.definition.endswith("\ufffd\ufffd") and not full.definition_truncated


def test_zero_length_objects_are_allowed() -> None:
    objects = [
        {"data_type": DATA_DEFFILE, "data": b""},
        {"data_type": DATA_GENERIC, "data": b""},
        standard_objects()[2],
    ]
    info = read_sif(build(objects))
    assert info.definition == "" and info.labels == {}


def test_unknown_partition_arch_falls_back_to_header() -> None:
    objects = standard_objects()
    objects[2] = {"data_type": DATA_PARTITION, "data": b"x", "extra": partition_extra(arch=b"99\x00")}
    info = read_sif(build(objects, header={"arch": b"04\x00"}))
    assert info.partitions[0].arch is None and info.arch == "arm64"


def test_unused_descriptors_are_ignored_even_if_garbage() -> None:
    buf = bytearray(build(standard_objects()))
    bogus = pack_descriptor(data_type=DATA_LABELS, obj_id=1, offset=-5, size=-1, used=False)
    buf[128 + 5 * DESCRIPTOR_LEN : 128 + 6 * DESCRIPTOR_LEN] = bogus
    assert read_sif(bytes(buf)).labels == {"a": "1", "b": "2"}


def test_go_zero_time_and_out_of_range_times() -> None:
    info = read_sif(build(standard_objects(), header={"created": -62135596800, "modified": 2**62}))
    assert info.created_at is None and info.header.modified_at is None


# --- hostile and broken input -----------------------------------------------------------------


def _boundaries(data: bytes) -> set[int]:
    info = read_sif(data)
    cuts = {0, 1, 31, 32, 42, 45, 48, 63, 64, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 1}
    start = info.header.descriptors_offset
    for i in range(info.header.descriptors_total + 1):
        cuts.update({start + i * DESCRIPTOR_LEN - 1, start + i * DESCRIPTOR_LEN, start + i * DESCRIPTOR_LEN + 1})
    for d in info.descriptors:
        cuts.update({d.offset - 1, d.offset, d.offset + 1, d.offset + d.size - 1})
    cuts.update(range(0, len(data), 97))
    return {c for c in cuts if 0 <= c < len(data)}


@pytest.mark.parametrize("name", SIF_FILES)
def test_every_truncation_is_rejected(name: str) -> None:
    data = sif_bytes(name)
    for cut in sorted(_boundaries(data)):
        with pytest.raises(SifError):
            read_sif(data[:cut])


def test_messages_are_clear() -> None:
    with pytest.raises(SifError, match="empty file"):
        read_sif(b"")
    with pytest.raises(SifError, match="too short"):
        read_sif(b"SIF")
    with pytest.raises(SifError, match="bad magic"):
        read_sif(b"\x7fELF" + bytes(200))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"magic": b"SIF_MAGIX\x00"}, "bad magic"),
        ({"version": b"02\x00"}, "version"),
        ({"total": 10**9}, "descriptor count"),
        ({"total": 2**62, "d_size": 0}, "descriptor count"),
        ({"total": MAX_DESCRIPTORS + 1}, "descriptor count"),
        ({"total": -1}, "descriptor count"),
        ({"free": 9}, "free descriptor"),
        ({"free": -1}, "free descriptor"),
        ({"d_off": 10**12}, "descriptor table"),
        ({"d_off": -128}, "negative offset"),
        ({"d_off": 64}, "overlaps the global header"),
        ({"d_size": 100}, "too small"),
        ({"d_size": 2**63 - 1}, "descriptor table"),
        ({"data_off": 2**40}, "data section"),
        ({"data_size": -1}, "negative size"),
        ({"data_size": 2**63 - 1}, "data section"),
    ],
)
def test_bad_header_fields(header: dict, message: str) -> None:
    with pytest.raises(SifError, match=message):
        read_sif(build(standard_objects(), header=header))


@pytest.mark.parametrize(
    ("index", "rel", "fmt", "value", "message"),
    [
        (2, 17, "<q", 10**15, "beyond the end"),  # partition offset past EOF
        (2, 17, "<q", -4096, "negative offset"),
        (2, 25, "<q", -1, "negative size"),
        (2, 25, "<q", 2**63 - 1, "beyond the end"),
        (2, 33, "<q", -7, "negative padded size"),
        (1, 25, "<q", 10**6, "beyond the end"),  # labels size past EOF
        (0, 17, "<q", 0, "overlaps the global header"),
        (0, 17, "<q", 200, "overlaps the descriptor table"),
        (1, 5, "<I", 0, "object id 0"),
        (1, 5, "<I", 1, "duplicate data object id"),
    ],
)
def test_bad_descriptor_fields(index: int, rel: int, fmt: str, value: int, message: str) -> None:
    buf = bytearray(build(standard_objects()))
    set_desc_field(buf, index, rel, fmt, value)
    with pytest.raises(SifError, match=message):
        read_sif(bytes(buf))


def test_overlapping_objects() -> None:
    buf = bytearray(build(standard_objects()))
    info = read_sif(bytes(buf))
    deffile, labels = info.descriptors[0], info.descriptors[1]
    set_desc_field(buf, 1, 17, "<q", deffile.offset + 3)  # labels start inside the definition file
    with pytest.raises(SifError, match="overlap"):
        read_sif(bytes(buf))
    buf = bytearray(build(standard_objects()))
    set_desc_field(buf, 2, 17, "<q", labels.offset)  # partition on top of the labels
    with pytest.raises(SifError, match="overlap"):
        read_sif(bytes(buf))


def test_two_primary_partitions() -> None:
    objects = [
        *standard_objects(),
        {"data_type": DATA_PARTITION, "data": b"y", "extra": partition_extra(arch=b"04\x00")},
    ]
    with pytest.raises(SifError, match="primary"):
        read_sif(build(objects))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (b'{"a": "\xff\xfe"}', "UTF-8"),
        (b'{"a": ', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'["a", "b"]', "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
        (b'{"a": NaN}', "constant"),
        (b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "not valid JSON|cannot be represented"),
    ],
)
def test_bad_labels(labels: bytes, message: str) -> None:
    with pytest.raises(SifError, match=message):
        read_sif(build(standard_objects(labels)))


def test_labels_too_large_is_refused_without_reading_it(tmp_path: Path) -> None:
    prefix, length = build_sif(
        [
            {"data_type": DATA_DEFFILE, "data": DEF_TEXT},
            {"data_type": DATA_LABELS, "size": 512 << 20},  # 512 MiB of "labels"
            {"data_type": DATA_PARTITION, "size": 4096, "extra": partition_extra()},
        ]
    )
    path = tmp_path / "big-labels.sif"
    with path.open("wb") as fh:
        fh.write(prefix)
        fh.truncate(length)
    with path.open("rb") as raw:
        counted = CountingReader(raw)
        with pytest.raises(SifError, match="too large"):
            read_sif(counted)
    assert counted.bytes_read < 64 * 1024


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(SifError, match="cannot open"):
        read_sif(tmp_path / "missing.sif")
    with pytest.raises(SifError, match="cannot open"):
        read_sif(tmp_path)  # a directory

    class NotSeekable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            return b""

    with pytest.raises(SifError, match="seekable"):
        read_sif(NotSeekable())
    path = tmp_path / "x.sif"
    path.write_bytes(sif_bytes("amd64.sif"))
    with path.open("r", encoding="latin-1") as text, pytest.raises(SifError, match="binary"):
        read_sif(text)  # type: ignore[arg-type]
    closed = io.BytesIO(sif_bytes("amd64.sif"))
    closed.close()
    with pytest.raises(SifError):
        read_sif(closed)
    with pytest.raises(TypeError):
        read_sif(12345)  # type: ignore[arg-type]


# --- it reads the metadata, never the partition -----------------------------------------------


class CountingReader(io.RawIOBase):
    """A file wrapper that records every read (offset, length)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.reads: list[tuple[int, int]] = []

    @property
    def bytes_read(self) -> int:
        return sum(n for _, n in self.reads)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, n: int = -1) -> bytes:
        pos = self.raw.tell()
        data = self.raw.read(n)
        self.reads.append((pos, len(data)))
        return data


def test_large_image_reads_only_metadata(tmp_path: Path) -> None:
    part_size = 64 << 20
    prefix, length = build_sif(
        [
            *standard_objects()[:2],
            {"data_type": DATA_PARTITION, "size": part_size, "extra": partition_extra(arch=b"04\x00")},
        ],
        total=48,
    )
    path = tmp_path / "big.sif"
    with path.open("wb") as fh:
        fh.write(prefix)
        fh.truncate(length)  # sparse: 64 MiB of zeros that are never written
    assert path.stat().st_size > part_size
    with path.open("rb") as raw:
        counted = CountingReader(raw)
        info = read_sif(counted)
    part = info.partitions[0]
    assert part.size == part_size and info.arch == "arm64" and info.labels == {"a": "1", "b": "2"}
    assert counted.bytes_read < 40 * 1024  # header + 48 descriptors (28 KiB) + two tiny objects
    part_start, part_end = part.descriptor.offset, part.descriptor.offset + part.size
    for pos, n in counted.reads:
        assert pos + n <= part_start or pos >= part_end, f"read {n} bytes of partition data at {pos}"


@pytest.mark.parametrize("name", ["signed.sif", "multi.sif"])
def test_real_images_never_read_partitions(name: str) -> None:
    with (DATA / name).open("rb") as raw:
        counted = CountingReader(raw)
        info = read_sif(counted)
    for part in info.partitions:
        start, end = part.descriptor.offset, part.descriptor.offset + part.size
        assert all(pos + n <= start or pos >= end for pos, n in counted.reads)
    assert counted.bytes_read < 32 * 1024


# --- property-based fuzzing over mutated real images -----------------------------------------

SEEDS = [sif_bytes(name) for name in SIF_FILES] + [build(standard_objects())]


def _field_slots(data: bytes) -> list[tuple[int, str]]:
    """(offset, struct format) of every header field and of every field of the in-use descriptors."""
    slots = [(off, "<q") for off in range(64, 128, 8)] + [(42, "3s"), (45, "3s")]
    d_off, total = struct.unpack_from("<q", data, 96)[0], struct.unpack_from("<q", data, 88)[0]
    for i in range(min(total, 10)):
        base = d_off + i * DESCRIPTOR_LEN
        slots += [(base, "<i"), (base + 4, "B"), (base + 5, "<I"), (base + 9, "<I"), (base + 13, "<I")]
        slots += [(base + rel, "<q") for rel in range(17, 73, 8)]
        slots += [(base + 201, "<i"), (base + 205, "<i"), (base + 209, "3s")]
    return slots


def _hot_ranges(data: bytes) -> list[tuple[int, int]]:
    """Where mutations matter: header, used descriptors and the small metadata objects."""
    info = read_sif(data)
    d_off = info.header.descriptors_offset
    ranges = [(0, HEADER_LEN), (d_off, d_off + DESCRIPTOR_LEN * max(1, len(info.descriptors) + 1))]
    ranges += [
        (d.offset, d.offset + d.size) for d in info.descriptors if d.data_type in (DATA_LABELS, DATA_DEFFILE) and d.size
    ]
    return ranges


SLOTS = [_field_slots(s) for s in SEEDS]
HOT = [_hot_ranges(s) for s in SEEDS]

_SMALL = [0, 1, -1, 2, 48, 127, 128, 585, 4095, 4096, 32176, 36864]
_LARGE = [2**31 - 1, -(2**31), 2**32 - 1, 2**62, 2**63 - 1, -(2**63)]
_TAGS = [0x4001, 0x4003, 0x4004, 0x4005, 0x4008, GROUP_MASK | 1]
INTERESTING = st.sampled_from(_SMALL + _LARGE + _TAGS)
ANY_INT = st.one_of(INTERESTING, st.integers(-(2**63), 2**63 - 1), st.integers(-70000, 70000))


ARCH_FIELD_VALUES = [b"00\x00", b"02\x00", b"04\x00", b"99\x00", b"0", b"\xff\xff\xff", b"01\x00"]


@st.composite
def mutated_sif(draw: st.DrawFn) -> bytes:
    k = draw(st.integers(0, len(SEEDS) - 1))
    buf = bytearray(SEEDS[k])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "hot_flip", "field", "field", "truncate", "splice", "insert", "garbage"]))
        if not buf:
            break
        if kind == "flip":
            pos = draw(st.integers(0, len(buf) - 1))
            buf[pos] ^= draw(st.integers(1, 255))
        elif kind == "hot_flip":
            lo, hi = draw(st.sampled_from(HOT[k]))
            pos = draw(st.integers(lo, hi - 1))
            if pos < len(buf):
                buf[pos] = draw(st.integers(0, 255))
        elif kind == "field":
            off, fmt = draw(st.sampled_from(SLOTS[k]))
            size = struct.calcsize(fmt)
            if off + size <= len(buf):
                if fmt == "3s":
                    struct.pack_into(fmt, buf, off, draw(st.sampled_from(ARCH_FIELD_VALUES)))
                else:
                    value = draw(ANY_INT)
                    bits = size * 8
                    if fmt in ("B", "<I"):
                        value %= 1 << bits
                    else:
                        value = (value + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
                    struct.pack_into(fmt, buf, off, value)
        elif kind == "truncate":
            del buf[draw(st.integers(0, len(buf))) :]
        elif kind == "splice":
            src = draw(st.integers(0, len(buf) - 1))
            n = draw(st.integers(1, 700))
            dst = draw(st.integers(0, len(buf) - 1))
            chunk = bytes(buf[src : src + n])
            buf[dst : dst + len(chunk)] = chunk
        elif kind == "insert":
            pos = draw(st.integers(0, len(buf)))
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        else:  # garbage over a metadata object, e.g. the labels JSON
            lo, hi = draw(st.sampled_from(HOT[k]))
            blob = draw(st.binary(min_size=1, max_size=max(1, min(256, hi - lo))))
            buf[lo : lo + len(blob)] = blob
    return bytes(buf)


@settings(
    max_examples=2000,
    derandomize=True,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_sif())
def test_fuzz_mutated_images(data: bytes) -> None:
    started = time.perf_counter()
    try:
        info = read_sif(data)
    except SifError as exc:
        assert str(exc)
    else:
        assert isinstance(info, SifInfo)
        assert all(len(fp) == 40 and fp == fp.lower() for fp in info.fingerprints)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in info.labels.items())
    assert time.perf_counter() - started < 1.0
