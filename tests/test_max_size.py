"""MAX_IMAGE_SIZE: a declared size over the limit is refused with 413 before any byte is stored, on every upload
path; a body without a declared size is refused before it is read, and one longer or shorter than declared never
becomes an image. (tests/integration/test_disk_full.py sends such headers to gunicorn without the body.)"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from django_sylabs_library.flows import uploads
from django_sylabs_library.models import Blob, Image, UploadSession

from .conftest import assert_error, image_body, make_sif, sha256_hex

LIMIT = 10_000


@pytest.fixture
def limited(settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"MAX_IMAGE_SIZE": LIMIT}


@pytest.fixture
def record(alice_api: Any) -> Any:
    """An image record (not uploaded) for ``data`` in alice/limits/box."""

    def make(data: bytes) -> dict[str, Any]:
        if alice_api.get("v1/entities/alice").status_code == 404:
            alice_api.data("POST", "v1/entities", {"name": "alice"})
        entity = alice_api.data("GET", "v1/entities/alice")
        response = alice_api.get("v1/containers/alice/limits/box")
        if response.status_code == 404:
            collection = alice_api.data("POST", "v1/collections", {"entity": entity["id"], "name": "limits"})
            container = alice_api.data("POST", "v1/containers", {"collection": collection["id"], "name": "box"})
        else:
            container = response.json()["data"]
        return alice_api.data("POST", "v1/images", image_body("sha256." + sha256_hex(data), container["id"]))

    return make


def stored_nothing(image_storage: Path, created: dict[str, Any]) -> None:
    image = Image.objects.get(pk=int(created["id"]))
    assert image.uploaded is False and image.blob_id is None
    assert not UploadSession.objects.filter(image=image).exists()
    assert not Blob.objects.exists()
    assert [p for p in image_storage.rglob("*") if p.is_file()] == []
    assert list(uploads.upload_temp_dir().iterdir()) == []


def test_v1_body_over_the_limit(limited: None, alice_api: Any, record: Any, image_storage: Path) -> None:
    data = make_sif("amd64", LIMIT + 1)
    created = record(data)
    assert_error(alice_api.post(f"v1/imagefile/{created['id']}", raw=data), 413, "limit")
    stored_nothing(image_storage, created)


def test_v1_at_the_limit_is_accepted(limited: None, alice_api: Any, record: Any) -> None:
    data = make_sif("amd64", LIMIT)
    assert len(data) == LIMIT
    created = record(data)
    assert alice_api.post(f"v1/imagefile/{created['id']}", raw=data).status_code == 200
    assert Image.objects.get(pk=int(created["id"])).uploaded is True


def test_v1_declared_size_over_the_limit_with_a_short_body(
    limited: None, alice_api: Any, record: Any, image_storage: Path
) -> None:
    """Content-Length alone decides: the body is not read at all."""
    data = make_sif("amd64", 5000)
    created = record(data)
    response = alice_api.post(f"v1/imagefile/{created['id']}", raw=data, CONTENT_LENGTH=str(50 * 1024**3))
    assert_error(response, 413, "limit")
    stored_nothing(image_storage, created)


def test_v1_without_a_declared_size_is_refused_before_reading(
    limited: None, alice_api: Any, record: Any, image_storage: Path
) -> None:
    data = make_sif("amd64", 5000)
    created = record(data)
    response = alice_api.post(
        f"v1/imagefile/{created['id']}", raw=data, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert_error(response, 400, "Content-Length is required")
    stored_nothing(image_storage, created)


def test_v2_start_over_the_limit(limited: None, alice_api: Any, record: Any, image_storage: Path) -> None:
    data = make_sif("amd64", LIMIT + 1)
    created = record(data)
    body = {"filesize": len(data), "sha256sum": sha256_hex(data), "md5sum": hashlib.md5(data).hexdigest()}
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}", body), 413, "limit")
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}", {"filesize": 2**62}), 413)
    stored_nothing(image_storage, created)


def test_multipart_start_over_the_limit(limited: None, alice_api: Any, record: Any, image_storage: Path) -> None:
    data = make_sif("amd64", LIMIT + 1)
    created = record(data)
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)}), 413, "limit")
    stored_nothing(image_storage, created)


def test_v2_put_longer_than_declared_is_refused_before_reading(
    limited: None, alice_api: Any, record: Any, image_storage: Path
) -> None:
    """A body that would grow past its announced (accepted) size is refused on its Content-Length, and the upload
    URL is used up; nothing is stored."""
    data = make_sif("amd64", 5000)
    created = record(data)
    url = alice_api.data("POST", f"v2/imagefile/{created['id']}", {"filesize": len(data)})["uploadURL"]
    bigger = data + b"\0" * (LIMIT * 2)
    assert_error(alice_api.put(url, raw=bigger, token=None), 400, "does not match the announced filesize")
    assert not Blob.objects.exists() and list(uploads.upload_temp_dir().iterdir()) == []
    assert Image.objects.get(pk=int(created["id"])).uploaded is False


def test_multipart_part_longer_than_planned_is_refused(
    limited: None, alice_api: Any, record: Any, image_storage: Path
) -> None:
    data = make_sif("amd64", 5000)
    created = record(data)
    started = alice_api.data("POST", f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)})
    too_big = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": LIMIT * 2, "sha256sum": ""}
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart", too_big), 400, "partSize")
    body = {**too_big, "partSize": len(data)}
    url = alice_api.data("PUT", f"v2/imagefile/{created['id']}/_multipart", body, status=200)["presignedURL"]
    assert_error(alice_api.put(url, raw=data + b"\0" * LIMIT, token=None), 400, "Content-Length must be")
    assert not Blob.objects.exists()
    assert Image.objects.get(pk=int(created["id"])).uploaded is False


def test_no_limit_by_default(alice_api: Any, record: Any) -> None:
    data = make_sif("amd64", LIMIT * 3)
    created = record(data)
    assert alice_api.post(f"v1/imagefile/{created['id']}", raw=data).status_code == 200
