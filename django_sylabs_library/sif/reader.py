"""A pure-Python reader of SIF (Singularity Image Format) metadata.

Why this exists: the library server records what a pushed image contains (architecture, labels,
definition file, signatures) without shelling out to `apptainer` or `siftool`. Images are large and
come from untrusted users, so the reader

* seeks to the header and the descriptor table and reads only the small data objects it needs
  (labels, definition file); it never reads a partition, and it reads no more than a few MiB in
  total whatever the file says;
* checks every count, offset and size taken from the file against the real file size and fixed
  maxima before using it;
* reports every problem with the file as :class:`SifError` (a ``ValueError``), never another
  exception, and never loops or allocates in proportion to a number found in the file.

The layout follows the public format of the ``sylabs/sif`` v2 Go package (``pkg/sif/sif.go``,
``descriptor.go``, ``arch.go``): all integers are little-endian and structures are packed.

Global header (128 bytes)::

    0   launch script   32 bytes
    32  magic           10 bytes  "SIF_MAGIC\\0"
    42  version          3 bytes  "01\\0"
    45  arch             3 bytes  two ASCII digits and a NUL
    48  uuid            16 bytes
    64  created, modified, descriptors free, descriptors total,
        descriptors offset, descriptors size, data offset, data size   (8 x int64)

Descriptor (585 bytes)::

    0   data type int32, used bool (1 byte), id uint32, group id uint32, link uint32
    17  offset, size, size with padding, created, modified, uid, gid   (7 x int64)
    73  name            128 bytes
    201 extra           384 bytes, interpreted per data type
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any

__all__ = [
    "CryptoMessage",
    "Descriptor",
    "GlobalHeader",
    "Partition",
    "Signature",
    "SifError",
    "SifInfo",
    "read_descriptors",
    "read_global_header",
    "read_sif",
]


class SifError(ValueError):
    """The file is not a SIF image, or it is truncated, inconsistent or hostile."""


# --- format constants -------------------------------------------------------------------------

SIF_MAGIC = b"SIF_MAGIC\x00"
SIF_VERSION = b"01\x00"
HEADER_LEN = 128
DESCRIPTOR_LEN = 585
NAME_LEN = 128
EXTRA_LEN = 384
GROUP_MASK = 0xF0000000

_HEADER = struct.Struct("<32s10s3s3s16s8q")
_DESCRIPTOR = struct.Struct("<iBIII7q128s384s")
_PARTITION_EXTRA = struct.Struct("<ii3s")
_SIGNATURE_EXTRA = struct.Struct("<i256s")
_CRYPTO_EXTRA = struct.Struct("<ii")
_SBOM_EXTRA = struct.Struct("<i")
assert _HEADER.size == HEADER_LEN and _DESCRIPTOR.size == DESCRIPTOR_LEN

# Data object types.
DATA_DEFFILE = 0x4001
DATA_ENVVAR = 0x4002
DATA_LABELS = 0x4003
DATA_PARTITION = 0x4004
DATA_SIGNATURE = 0x4005
DATA_GENERIC_JSON = 0x4006
DATA_GENERIC = 0x4007
DATA_CRYPTO_MESSAGE = 0x4008
DATA_SBOM = 0x4009

DATA_TYPE_NAMES = {
    DATA_DEFFILE: "Def.FILE",
    DATA_ENVVAR: "Env.Vars",
    DATA_LABELS: "JSON.Labels",
    DATA_PARTITION: "FS",
    DATA_SIGNATURE: "Signature",
    DATA_GENERIC_JSON: "JSON.Generic",
    DATA_GENERIC: "Generic/Raw",
    DATA_CRYPTO_MESSAGE: "Cryptographic Message",
    DATA_SBOM: "SBOM",
}

# Partition file system types.
FS_SQUASH = 1
FS_EXT3 = 2
FS_IMMUOBJ = 3
FS_RAW = 4
FS_ENCRYPTED_SQUASHFS = 5
FS_TYPE_NAMES = {
    FS_SQUASH: "Squashfs",
    FS_EXT3: "Ext3",
    FS_IMMUOBJ: "Archive",
    FS_RAW: "Raw",
    FS_ENCRYPTED_SQUASHFS: "Encrypted squashfs",
}

# Partition types.
PART_SYSTEM = 1
PART_PRIMSYS = 2
PART_DATA = 3
PART_OVERLAY = 4
PART_TYPE_NAMES = {PART_SYSTEM: "System", PART_PRIMSYS: "*System", PART_DATA: "Data", PART_OVERLAY: "Overlay"}

# Signature hash types (names as Go's crypto.Hash prints them).
HASH_TYPE_NAMES = {1: "SHA-256", 2: "SHA-384", 3: "SHA-512", 4: "BLAKE2s-256", 5: "BLAKE2b-256"}

# Crypto message formats and message types.
FORMAT_OPENPGP = 1
FORMAT_PEM = 2
FORMAT_TYPE_NAMES = {FORMAT_OPENPGP: "OpenPGP", FORMAT_PEM: "PEM"}
MESSAGE_CLEAR_SIGNATURE = 0x100
MESSAGE_RSA_OAEP = 0x200
MESSAGE_TYPE_NAMES = {MESSAGE_CLEAR_SIGNATURE: "Clear Signature", MESSAGE_RSA_OAEP: "RSA-OAEP"}

SBOM_FORMAT_NAMES = {
    1: "cyclonedx-json",
    2: "cyclonedx-xml",
    3: "github-json",
    4: "spdx-json",
    5: "spdx-rdf",
    6: "spdx-tag-value",
    7: "spdx-yaml",
    8: "syft-json",
}

#: Architecture codes (header and partition descriptors) -> Go GOARCH names.
ARCH_NAMES = {
    b"01": "386",
    b"02": "amd64",
    b"03": "arm",
    b"04": "arm64",
    b"05": "ppc64",
    b"06": "ppc64le",
    b"07": "mips",
    b"08": "mipsle",
    b"09": "mips64",
    b"10": "mips64le",
    b"11": "s390x",
    b"12": "riscv64",
}

# --- limits: nothing read from the file may push us past these ----------------------------------

#: Most descriptors we accept. sylabs/sif and Apptainer create 48; 4096 keeps the table read
#: under 2.4 MiB.
MAX_DESCRIPTORS = 4096
#: Most bytes of the definition file returned (longer ones are cut and flagged).
MAX_DEFINITION_BYTES = 1 << 20
#: Most bytes of labels JSON read in total; a larger labels object is refused.
MAX_LABELS_BYTES = 1 << 20

#: Go's zero ``time.Time`` as Unix seconds: what deterministic builds write for "no time".
_GO_ZERO_TIME = -62135596800
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# --- helpers ----------------------------------------------------------------------------------


def _unix_to_datetime(seconds: int) -> datetime | None:
    """A UTC datetime, or None for Go's zero time and values a datetime cannot hold."""
    if seconds == _GO_ZERO_TIME:
        return None
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _arch_name(code: bytes) -> str | None:
    """GOARCH name of a 3-byte arch field; None for "00" (unknown) or anything unrecognised."""
    if len(code) != 3 or code[2] != 0:
        return None
    return ARCH_NAMES.get(code[:2])


def _format_uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _cstring(raw: bytes) -> str:
    """Text of a NUL-padded fixed-size field (trailing NULs dropped, bad bytes replaced)."""
    return raw.rstrip(b"\x00").decode("utf-8", errors="replace")


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _entity_fingerprint(entity: bytes) -> tuple[str | None, str | None]:
    """Signer fingerprint from a signature descriptor's entity field, and how it was stored.

    sylabs/sif stores the 20 raw bytes of the OpenPGP v4 fingerprint at the start of the
    256-byte field (all zero when unknown). Some older writers stored it as 40 hex characters
    (either case); that is recognised too. Returns (40 lower-case hex, "binary" | "hex") or
    (None, None).
    """
    text = entity[:40]
    if len(text) == 40 and all(b in _HEX_DIGITS for b in text) and (len(entity) == 40 or entity[40] == 0):
        return text.decode("ascii").lower(), "hex"
    raw = entity[:20]
    if len(raw) < 20 or raw == bytes(20):
        return None, None
    return raw.hex(), "binary"


# --- result types -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalHeader:
    """Every field of the 128-byte global header, as stored (times are Unix seconds)."""

    launch_script: str
    version: str
    arch_code: str  # the two digits, e.g. "02"; "" when not digits
    arch: str | None  # GOARCH name, None for "00"/unknown
    uuid: str
    created: int
    modified: int
    descriptors_free: int
    descriptors_total: int
    descriptors_offset: int
    descriptors_size: int
    data_offset: int
    data_size: int

    @property
    def created_at(self) -> datetime | None:
        return _unix_to_datetime(self.created)

    @property
    def modified_at(self) -> datetime | None:
        return _unix_to_datetime(self.modified)


@dataclass(frozen=True)
class Descriptor:
    """One in-use data object descriptor. ``group_id``/``link`` have the group flag bits removed."""

    index: int  # position in the descriptor table
    data_type: int
    used: bool
    id: int
    group_id: int  # 0 when the object is in no group
    link: int  # 0 when not linked
    link_is_group: bool  # True when ``link`` names an object group rather than an object
    offset: int
    size: int
    size_with_padding: int
    created: int
    modified: int
    name: str
    extra: bytes = field(repr=False)

    @property
    def type_name(self) -> str:
        return DATA_TYPE_NAMES.get(self.data_type, "Unknown")

    @property
    def created_at(self) -> datetime | None:
        return _unix_to_datetime(self.created)

    @property
    def modified_at(self) -> datetime | None:
        return _unix_to_datetime(self.modified)


@dataclass(frozen=True)
class Partition:
    """A file system data object and the metadata in its descriptor's extra field."""

    descriptor: Descriptor
    fs_type: int
    part_type: int
    arch_code: str
    arch: str | None

    @property
    def fs_type_name(self) -> str:
        return FS_TYPE_NAMES.get(self.fs_type, "Unknown")

    @property
    def part_type_name(self) -> str:
        return PART_TYPE_NAMES.get(self.part_type, "Unknown")

    @property
    def primary(self) -> bool:
        return self.part_type == PART_PRIMSYS

    @property
    def encrypted(self) -> bool:
        return self.fs_type == FS_ENCRYPTED_SQUASHFS

    @property
    def id(self) -> int:
        return self.descriptor.id

    @property
    def size(self) -> int:
        return self.descriptor.size


@dataclass(frozen=True)
class Signature:
    """A signature data object: hash type and signer fingerprint from the extra field."""

    descriptor: Descriptor
    hash_type: int
    fingerprint: str | None  # 40 lower-case hex, None when the descriptor carries none
    entity_format: str | None  # "binary" (sylabs/sif) or "hex" (text), None without fingerprint

    @property
    def hash_name(self) -> str:
        return HASH_TYPE_NAMES.get(self.hash_type, "unknown")

    @property
    def id(self) -> int:
        return self.descriptor.id

    @property
    def link(self) -> int:
        return self.descriptor.link

    @property
    def link_is_group(self) -> bool:
        return self.descriptor.link_is_group


@dataclass(frozen=True)
class CryptoMessage:
    """A cryptographic message data object (e.g. the wrapped key of an encrypted image)."""

    descriptor: Descriptor
    format_type: int
    message_type: int

    @property
    def format_name(self) -> str:
        return FORMAT_TYPE_NAMES.get(self.format_type, "Unknown")

    @property
    def message_name(self) -> str:
        return MESSAGE_TYPE_NAMES.get(self.message_type, "Unknown")


@dataclass(frozen=True)
class SifInfo:
    """What the server records about an image."""

    header: GlobalHeader
    descriptors: list[Descriptor]  # in-use descriptors, in table order
    arch: str | None  # primary partition's GOARCH, else the header's; None when unknown
    uuid: str
    created_at: datetime | None
    partitions: list[Partition]
    primary_partition: Partition | None
    labels: dict[str, str]
    definition: str | None
    definition_truncated: bool
    signatures: list[Signature]
    signed: bool
    fingerprints: list[str]  # unique, sorted, 40 lower-case hex
    crypto_messages: list[CryptoMessage]
    encrypted: bool
    sbom_formats: list[str] = field(default_factory=list)


# --- low-level access -------------------------------------------------------------------------


class _Source:
    """Bounded random access to a binary file object of known size."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.f = fileobj
        try:
            end = fileobj.seek(0, os.SEEK_END)
            self.size = int(end if end is not None else fileobj.tell())
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise SifError(f"cannot determine the file size (the file must be seekable): {exc}") from exc
        if self.size < 0:
            raise SifError("cannot determine the file size")
        self.bytes_read = 0

    def read_at(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``; the caller has checked the range fits the file."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise SifError(f"{what} lies outside the file")
        try:
            self.f.seek(offset)
            chunks: list[bytes] = []
            remaining = length
            while remaining > 0:
                chunk = self.f.read(remaining)
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise SifError("the file must be opened in binary mode")
                if not chunk:
                    break
                chunk = bytes(chunk)
                if len(chunk) > remaining:  # a misbehaving reader; never keep more than asked
                    chunk = chunk[:remaining]
                chunks.append(chunk)
                remaining -= len(chunk)
        except (OSError, ValueError) as exc:
            if isinstance(exc, SifError):
                raise
            raise SifError(f"cannot read {what}: {exc}") from exc
        data = b"".join(chunks)
        self.bytes_read += len(data)
        if len(data) != length:
            raise SifError(f"file truncated while reading {what}")
        return data


def _check_range(offset: int, length: int, file_size: int, what: str) -> None:
    if offset < 0:
        raise SifError(f"{what} has a negative offset ({offset})")
    if length < 0:
        raise SifError(f"{what} has a negative size ({length})")
    if offset > file_size or length > file_size - offset:
        raise SifError(f"{what} ends beyond the end of the file (offset {offset}, size {length}, file {file_size})")


def _parse_header(raw: bytes, file_size: int) -> GlobalHeader:
    (
        launch,
        magic,
        version,
        arch,
        uuid_raw,
        created,
        modified,
        free,
        total,
        d_off,
        d_size,
        data_off,
        data_size,
    ) = _HEADER.unpack(raw)
    if magic != SIF_MAGIC:
        raise SifError("not a SIF image (bad magic)")
    if version != SIF_VERSION:
        shown = version.rstrip(b"\x00")
        raise SifError(f"unsupported SIF version {shown!r}")
    if total < 0 or total > MAX_DESCRIPTORS:
        raise SifError(f"descriptor count {total} out of range (0..{MAX_DESCRIPTORS})")
    if free < 0 or free > total:
        raise SifError(f"free descriptor count {free} out of range (0..{total})")
    table_len = total * DESCRIPTOR_LEN
    if d_size < table_len:
        raise SifError(f"descriptor area ({d_size} bytes) too small for {total} descriptors")
    _check_range(d_off, d_size, file_size, "descriptor table")
    if total and d_off < HEADER_LEN:
        raise SifError("descriptor table overlaps the global header")
    _check_range(data_off, data_size, file_size, "data section")
    digits = arch[:2]
    arch_code = digits.decode("ascii") if digits.isdigit() else ""
    return GlobalHeader(
        launch_script=_cstring(launch),
        version=version.rstrip(b"\x00").decode("ascii"),
        arch_code=arch_code,
        arch=_arch_name(arch),
        uuid=_format_uuid(uuid_raw),
        created=created,
        modified=modified,
        descriptors_free=free,
        descriptors_total=total,
        descriptors_offset=d_off,
        descriptors_size=d_size,
        data_offset=data_off,
        data_size=data_size,
    )


def _parse_descriptors(table: bytes, header: GlobalHeader, file_size: int) -> list[Descriptor]:
    table_start = header.descriptors_offset
    table_end = table_start + header.descriptors_total * DESCRIPTOR_LEN
    out: list[Descriptor] = []
    seen_ids: set[int] = set()
    for index in range(header.descriptors_total):
        (
            data_type,
            used,
            obj_id,
            group,
            link,
            offset,
            size,
            size_padded,
            created,
            modified,
            _uid,
            _gid,
            name,
            extra,
        ) = _DESCRIPTOR.unpack_from(table, index * DESCRIPTOR_LEN)
        if not used:
            continue  # free slots carry no meaning (sylabs/sif skips them too)
        what = f"data object {obj_id} (descriptor {index})"
        if obj_id == 0:
            raise SifError(f"descriptor {index} is in use but has object id 0")
        if obj_id in seen_ids:
            raise SifError(f"duplicate data object id {obj_id}")
        seen_ids.add(obj_id)
        if size_padded < 0:
            raise SifError(f"{what} has a negative padded size ({size_padded})")
        _check_range(offset, size, file_size, what)
        if size and offset < HEADER_LEN:
            raise SifError(f"{what} overlaps the global header")
        if size and header.descriptors_total and offset < table_end and table_start < offset + size:
            raise SifError(f"{what} overlaps the descriptor table")
        out.append(
            Descriptor(
                index=index,
                data_type=data_type,
                used=True,
                id=obj_id,
                group_id=group & ~GROUP_MASK & 0xFFFFFFFF,
                link=link & ~GROUP_MASK & 0xFFFFFFFF,
                link_is_group=(link & GROUP_MASK) == GROUP_MASK,
                offset=offset,
                size=size,
                size_with_padding=size_padded,
                created=created,
                modified=modified,
                name=_cstring(name),
                extra=extra,
            )
        )
    # Data objects must not share bytes: overlapping objects are a sign of a crafted file.
    spans = sorted((d.offset, d.offset + d.size, d.id) for d in out if d.size > 0)
    for (_, end_a, id_a), (start_b, _, id_b) in zip(spans, spans[1:], strict=False):
        if start_b < end_a:
            raise SifError(f"data objects {id_a} and {id_b} overlap")
    return out


def _partition(d: Descriptor) -> Partition:
    fs_type, part_type, arch = _PARTITION_EXTRA.unpack_from(d.extra)
    digits = arch[:2]
    return Partition(
        descriptor=d,
        fs_type=fs_type,
        part_type=part_type,
        arch_code=digits.decode("ascii") if digits.isdigit() else "",
        arch=_arch_name(arch),
    )


def _signature(d: Descriptor) -> Signature:
    hash_type, entity = _SIGNATURE_EXTRA.unpack_from(d.extra)
    fingerprint, fmt = _entity_fingerprint(entity)
    return Signature(descriptor=d, hash_type=hash_type, fingerprint=fingerprint, entity_format=fmt)


def _crypto_message(d: Descriptor) -> CryptoMessage:
    format_type, message_type = _CRYPTO_EXTRA.unpack_from(d.extra)
    return CryptoMessage(descriptor=d, format_type=format_type, message_type=message_type)


def _label_value(value: Any) -> str:
    """Labels are a string map in Apptainer; other JSON values are kept as their JSON text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _reject_constant(name: str) -> Any:
    raise SifError(f"labels JSON contains the non-standard constant {name}")


def _parse_labels(raw: bytes, obj_id: int) -> dict[str, str]:
    """Labels from one JSON labels object; a flat object, or the old ``system-partition`` nesting."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SifError(f"labels object {obj_id} is not valid UTF-8") from exc
    try:
        # Numbers are kept as their text: never convert a huge digit string into an int.
        value = json.loads(text, parse_int=str, parse_float=str, parse_constant=_reject_constant)
    except SifError:
        raise
    except (ValueError, RecursionError) as exc:
        raise SifError(f"labels object {obj_id} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise SifError(f"labels object {obj_id} is not a JSON object")
    nested = value.get("system-partition")
    if isinstance(nested, dict):
        value = nested
    try:
        return {str(k): _label_value(v) for k, v in value.items()}
    except (ValueError, RecursionError) as exc:
        raise SifError(f"labels object {obj_id} holds values that cannot be represented") from exc


# --- public API -------------------------------------------------------------------------------

SifSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]


def _open(source: SifSource) -> tuple[IO[bytes], bool]:
    """A binary file object for ``source`` and whether we opened it (and so must close it)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), True
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(source, "rb"), True  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise SifError(f"cannot open {os.fspath(source)!r}: {exc.strerror or exc}") from exc
    if not (hasattr(source, "read") and hasattr(source, "seek")):
        raise TypeError("read_sif() needs a path, bytes or a seekable binary file object")
    return source, False


def read_global_header(fileobj: IO[bytes]) -> GlobalHeader:
    """Parse and sanity-check the global header of an open, seekable binary file."""
    src = _Source(fileobj)
    return _read_header(src)


def _read_header(src: _Source) -> GlobalHeader:
    if src.size == 0:
        raise SifError("empty file")
    if src.size < HEADER_LEN:
        raise SifError(f"file too short for a SIF header ({src.size} bytes)")
    return _parse_header(src.read_at(0, HEADER_LEN, "global header"), src.size)


def read_descriptors(fileobj: IO[bytes]) -> tuple[GlobalHeader, list[Descriptor]]:
    """The global header and the in-use descriptors of an open, seekable binary file."""
    src = _Source(fileobj)
    header = _read_header(src)
    return header, _read_descriptors(src, header)


def _read_descriptors(src: _Source, header: GlobalHeader) -> list[Descriptor]:
    length = header.descriptors_total * DESCRIPTOR_LEN
    table = src.read_at(header.descriptors_offset, length, "descriptor table") if length else b""
    return _parse_descriptors(table, header, src.size)


def _read_sif(src: _Source, max_definition: int, max_labels: int) -> SifInfo:
    header = _read_header(src)
    descriptors = _read_descriptors(src, header)

    partitions: list[Partition] = []
    signatures: list[Signature] = []
    crypto: list[CryptoMessage] = []
    sbom_formats: list[str] = []
    label_objects: list[Descriptor] = []
    deffile: Descriptor | None = None
    for d in descriptors:
        if d.data_type == DATA_PARTITION:
            partitions.append(_partition(d))
        elif d.data_type == DATA_SIGNATURE:
            signatures.append(_signature(d))
        elif d.data_type == DATA_CRYPTO_MESSAGE:
            crypto.append(_crypto_message(d))
        elif d.data_type == DATA_LABELS:
            label_objects.append(d)
        elif d.data_type == DATA_DEFFILE and deffile is None:
            deffile = d
        elif d.data_type == DATA_SBOM:
            (fmt,) = _SBOM_EXTRA.unpack_from(d.extra)
            sbom_formats.append(SBOM_FORMAT_NAMES.get(fmt, "unknown"))

    primaries = [p for p in partitions if p.primary]
    if len(primaries) > 1:
        raise SifError(f"{len(primaries)} primary system partitions (at most one is allowed)")
    primary = primaries[0] if primaries else None
    arch = primary.arch if primary is not None and primary.arch else header.arch

    labels: dict[str, str] = {}
    budget = max_labels
    for d in label_objects:
        if d.size > budget:
            raise SifError(f"labels object {d.id} is too large ({d.size} bytes, limit {max_labels} in total)")
        budget -= d.size
        labels.update(_parse_labels(src.read_at(d.offset, d.size, f"labels object {d.id}"), d.id))

    definition: str | None = None
    truncated = False
    if deffile is not None:
        length = min(deffile.size, max_definition)
        truncated = deffile.size > length
        raw = src.read_at(deffile.offset, length, f"definition file object {deffile.id}")
        definition = raw.decode("utf-8", errors="replace")

    fingerprints = sorted({s.fingerprint for s in signatures if s.fingerprint})
    # An encrypted file system, or a crypto message (the wrapped key of an encrypted image); an
    # OpenPGP clear-signature message is a signature, not encryption.
    encrypted = any(p.encrypted for p in partitions) or any(
        not (c.format_type == FORMAT_OPENPGP and c.message_type == MESSAGE_CLEAR_SIGNATURE) for c in crypto
    )
    return SifInfo(
        header=header,
        descriptors=descriptors,
        arch=arch,
        uuid=header.uuid,
        created_at=header.created_at,
        partitions=partitions,
        primary_partition=primary,
        labels=labels,
        definition=definition,
        definition_truncated=truncated,
        signatures=signatures,
        signed=bool(signatures),
        fingerprints=fingerprints,
        crypto_messages=crypto,
        encrypted=encrypted,
        sbom_formats=sbom_formats,
    )


def read_sif(
    source: SifSource,
    *,
    max_definition: int = MAX_DEFINITION_BYTES,
    max_labels: int = MAX_LABELS_BYTES,
) -> SifInfo:
    """Read the metadata of a SIF image: a path, the bytes of a (small) image, or a file object.

    A file object must be binary and seekable; its position is restored afterwards. Only the
    header, the descriptor table, the labels objects and the first ``max_definition`` bytes of
    the definition file are read. Raises :class:`SifError` for anything that is not a sound SIF.
    """
    fileobj, owned = _open(source)
    position: int | None = None
    if not owned:
        try:
            position = fileobj.tell()
        except (OSError, ValueError, AttributeError):
            position = None
    try:
        return _read_sif(_Source(fileobj), max(0, max_definition), max(0, max_labels))
    finally:
        if owned:
            fileobj.close()
        elif position is not None:
            with contextlib.suppress(OSError, ValueError):
                fileobj.seek(position)
