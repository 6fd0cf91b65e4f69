"""The shub:// manifest API: two-segment and entity-prefixed paths, public images only."""

from __future__ import annotations

from typing import Any

import pytest

from django_sylabs_library.models import Collection
from tests.conftest import assert_error, body_of, make_sif, push, sha256_hex


@pytest.fixture
def published(alice_api: Any) -> dict[str, Any]:
    data = make_sif("amd64")
    image = push(alice_api, "alice/dinosaurs/another", data, tags=["latest", "v1"])
    return {"data": data, "image": image}


def test_two_segment_manifest_and_download(anon_api: Any, published: dict[str, Any]) -> None:
    response = anon_api.get("/api/container/dinosaurs/another:v1")
    assert response.status_code == 200
    manifest = response.json()
    assert "data" not in manifest  # bare object, no envelope
    assert manifest["name"] == "another"
    assert manifest["tag"] == "v1"
    assert manifest["commit"] == sha256_hex(published["data"])
    assert manifest["version"] == published["image"]["hash"]
    assert manifest["image"].startswith("http://testserver/v1/imagefile/alice/dinosaurs/another:sha256.")
    download = anon_api.get(manifest["image"])
    assert download.status_code == 200
    assert int(download["Content-Length"]) == len(published["data"])
    assert body_of(download) == published["data"]


def test_tag_defaults_to_latest_and_digest_is_accepted(anon_api: Any, published: dict[str, Any]) -> None:
    assert anon_api.get("/api/container/dinosaurs/another").json()["tag"] == "latest"
    response = anon_api.get("/api/container/dinosaurs/another:v1@" + "a" * 40)
    assert response.status_code == 200
    assert_error(anon_api.get("/api/container/dinosaurs/another:v1@nothex"), 400, "digest")


def test_entity_prefixed_form(anon_api: Any, published: dict[str, Any]) -> None:
    response = anon_api.get("/alice/api/container/dinosaurs/another:latest")
    assert response.status_code == 200
    assert response.json()["commit"] == sha256_hex(published["data"])
    assert_error(anon_api.get("/bob/api/container/dinosaurs/another:latest"), 404)


def test_private_images_are_404_even_for_their_owner(alice_api: Any, published: dict[str, Any]) -> None:
    Collection.objects.filter(name="dinosaurs").update(private=True)
    # the shub client sends no token, so the manifest only ever serves public images
    assert_error(alice_api.get("/api/container/dinosaurs/another:v1"), 404)
    assert_error(alice_api.get("/alice/api/container/dinosaurs/another:v1"), 404)


def test_missing_and_ambiguous(anon_api: Any, bob_api: Any, published: dict[str, Any]) -> None:
    assert_error(anon_api.get("/api/container/dinosaurs/nosuch:v1"), 404)
    assert_error(anon_api.get("/api/container/dinosaurs/another:nosuch"), 404)
    push(bob_api, "bob/dinosaurs/another", make_sif("amd64"))
    assert_error(anon_api.get("/api/container/dinosaurs/another:latest"), 400, "ambiguous")
    # the entity-prefixed form still works
    assert anon_api.get("/bob/api/container/dinosaurs/another:latest").status_code == 200


def test_bad_references_are_400(anon_api: Any, published: dict[str, Any]) -> None:
    assert_error(anon_api.get("/api/container/another:v1"), 400)
    assert_error(anon_api.get("/api/container/a/b/c:v1"), 400)
    assert_error(anon_api.get("/api/container/dinosaurs/another:sha256." + "0" * 64), 400)
    assert_error(anon_api.get("/api/container/Dino Saurs/another:v1"), 400)
