"""What is inside a pushed image, read once when its bytes arrive (never the whole file: the
SIF reader seeks to the header and descriptors and reads only small objects)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Any

from ..conf import library_settings
from ..exceptions import InvalidInput
from ..sif.reader import SifError, read_sif

logger = logging.getLogger(__name__)


def inspect_file(path: Path | str | IO[bytes]) -> dict[str, Any]:
    """JSON-safe metadata of a local file (or a seekable binary file object, such as a ranged
    reader over an S3 object); ``{"sif": False, "error": ...}`` when it is no SIF.

    Refuses the upload (InvalidInput) for non-SIF bytes when ``REQUIRE_SIF`` is on.
    """
    try:
        if isinstance(path, (str, os.PathLike)):
            # Opened here, not by the reader: a missing file is an OSError for the caller to handle,
            # not "not a SIF image" with a server path in the client's message.
            with open(path, "rb") as fileobj:
                info = read_sif(fileobj)
        else:
            info = read_sif(path)
    except SifError as exc:
        if library_settings.REQUIRE_SIF:
            raise InvalidInput(f"the uploaded file is not a SIF image: {exc}") from None
        return {"sif": False, "error": str(exc)[:300]}
    return {
        "sif": True,
        "arch": info.arch or "",
        "uuid": info.uuid,
        "labels": dict(info.labels),
        "definition": (info.definition or "")[: 256 * 1024],
        "signed": bool(info.signed),
        "fingerprints": sorted(info.fingerprints),
        "encrypted": bool(info.encrypted),
    }


inspect_fileobj = inspect_file


def apply_metadata(image: Any, metadata: dict[str, Any]) -> list[str]:
    """Copy metadata onto an image record; returns the changed field names.

    The SIF's own architecture wins over anything the client said; an image whose SIF names an
    architecture can then only be tagged for that architecture (flows.tags.set_tag refuses the
    rest).
    """
    if not metadata.get("sif"):
        return []
    image.arch = metadata.get("arch") or image.arch
    image.sif_uuid = metadata.get("uuid", "")
    image.labels = metadata.get("labels") or {}
    image.definition = metadata.get("definition", "")
    image.signed = metadata.get("signed", False)
    image.fingerprints = metadata.get("fingerprints") or []
    image.encrypted = metadata.get("encrypted", False)
    return ["arch", "sif_uuid", "labels", "definition", "signed", "fingerprints", "encrypted"]


def copy_metadata(source: Any, target: Any) -> list[str]:
    """For an image that shares another's bytes (dedup)."""
    fields = ["arch", "sif_uuid", "labels", "definition", "signed", "fingerprints", "encrypted"]
    for name in fields:
        setattr(target, name, getattr(source, name))
    return fields
