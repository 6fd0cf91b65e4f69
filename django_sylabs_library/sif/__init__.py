"""Reading SIF (Singularity Image Format) files. Pure Python, no Django imports.

``parse_header``/``read_header`` give the architecture and UUID from the first 64 bytes (spec
section 1.7). ``read_sif`` (from :mod:`.reader`) reads the whole metadata: descriptors, partitions,
labels, definition file and signatures, with bounds checks, raising ``SifError`` on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .reader import (
    ARCH_NAMES,
    CryptoMessage,
    Descriptor,
    GlobalHeader,
    Partition,
    SifError,
    SifInfo,
    Signature,
    read_descriptors,
    read_global_header,
    read_sif,
)

__all__ = [
    "ARCH_CODES",
    "HEADER_PREFIX_LEN",
    "SIF_MAGIC",
    "CryptoMessage",
    "Descriptor",
    "GlobalHeader",
    "Partition",
    "Signature",
    "SifError",
    "SifHeader",
    "SifInfo",
    "parse_header",
    "read_descriptors",
    "read_global_header",
    "read_header",
    "read_sif",
]

SIF_MAGIC = b"SIF_MAGIC\x00"
_MAGIC_OFFSET = 32
_ARCH_OFFSET = 45
_UUID_OFFSET = 48
HEADER_PREFIX_LEN = 64

#: Header architecture codes (sylabs/sif pkg/sif/arch.go) -> Go GOARCH names.
ARCH_CODES = ARCH_NAMES


@dataclass(frozen=True)
class SifHeader:
    arch: str | None  # None when the header says "unknown" (00) or an unknown code
    uuid: str


def parse_header(prefix: bytes) -> SifHeader | None:
    """Parse the first 64 bytes of a file; None when they are not a SIF header."""
    if len(prefix) < HEADER_PREFIX_LEN or prefix[_MAGIC_OFFSET : _MAGIC_OFFSET + 10] != SIF_MAGIC:
        return None
    code = prefix[_ARCH_OFFSET : _ARCH_OFFSET + 2]
    raw = prefix[_UUID_OFFSET : _UUID_OFFSET + 16].hex()
    uuid = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return SifHeader(arch=ARCH_CODES.get(code), uuid=uuid)


def read_header(fileobj: BinaryIO) -> SifHeader | None:
    fileobj.seek(0)
    return parse_header(fileobj.read(HEADER_PREFIX_LEN))
