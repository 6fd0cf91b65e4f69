"""SIF test images, without Django: ``make_sif`` builds a small, well-formed SIF file (sylabs/sif v2 layout).

Shared by the unit tests (through ``tests/conftest.py``) and the integration helpers that run outside Django
(``tests/integration/faults.py``).
"""

from __future__ import annotations

import json
import os
import struct

SIF_ARCH_CODES = {"386": b"01", "amd64": b"02", "arm": b"03", "arm64": b"04", "ppc64le": b"06", "riscv64": b"12"}

_SIF_HEADER = struct.Struct("<32s10s3s3s16s8q")
_SIF_DESCRIPTOR = struct.Struct("<iBIII7q128s384s")
_GROUP_FLAG = 0xF0000000


def make_sif(
    arch: str = "amd64", size: int = 4096, *, signed: bool = False, labels: dict[str, str] | None = None
) -> bytes:
    """A small but well-formed SIF image (sylabs/sif v2 layout) with a random primary partition.

    The global header carries the architecture at bytes 45..46 (``02`` amd64, ``04`` arm64, ``00``
    unknown) and a random UUID at 48..63 (spec 1.7); one descriptor describes the partition (same
    architecture), and optionally a labels object and a signature object (signer fingerprint in
    the descriptor, as sylabs/sif writes it). ``size`` is the total length in bytes.
    """
    code = b"00" if arch in ("", "unknown") else SIF_ARCH_CODES[arch]
    objects: list[tuple[int, bytes, bytes, int]] = []  # (type, extra, data, link)
    if labels is not None:
        objects.append((0x4003, b"", json.dumps(labels).encode(), 0))
    signature = os.urandom(300) if signed else b""
    n_desc = 1 + len(objects) + (1 if signed else 0)
    table_len = n_desc * _SIF_DESCRIPTOR.size
    data_off = _SIF_HEADER.size + table_len
    extra_len = sum(len(o[2]) for o in objects) + len(signature)
    payload_len = max(16, size - data_off - extra_len)
    payload = os.urandom(payload_len)
    objects.insert(0, (0x4004, struct.pack("<ii3s", 1, 2, code + b"\x00"), payload, 0))
    if signed:
        entity = os.urandom(20).ljust(256, b"\x00")
        objects.append((0x4005, struct.pack("<i256s", 1, entity), signature, 1))
    table = b""
    data = b""
    for index, (data_type, extra, blob, link) in enumerate(objects, start=1):
        offset = data_off + len(data)
        group = _GROUP_FLAG | 1 if data_type == 0x4004 else 0
        table += _SIF_DESCRIPTOR.pack(
            data_type,
            1,
            index,
            group,
            link,
            offset,
            len(blob),
            len(blob),
            0,
            0,
            0,
            0,
            b"obj",
            extra.ljust(384, b"\x00"),
        )
        data += blob
    header = _SIF_HEADER.pack(
        b"#!/usr/bin/env run-singularity\n",
        b"SIF_MAGIC\x00",
        b"01\x00",
        code + b"\x00",
        os.urandom(16),
        1700000000,
        1700000000,
        0,
        n_desc,
        _SIF_HEADER.size,
        table_len,
        data_off,
        len(data),
    )
    return header + table + data
