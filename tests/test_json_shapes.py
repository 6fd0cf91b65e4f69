"""JSON typing of every shape the client decodes (spec 1.6 and 2): ids are strings, sizes are
integers, timestamps are RFC 3339 with a zone, maps are objects, no ``ModelManager`` key,
``uploaded`` always present."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import image_body, image_hash, make_sif, seed

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
ID_KEYS = {"id", "entity", "collection", "container"}
INT_KEYS = {"size", "quota", "downloadCount", "stars", "containerStars", "containerDownloads", "quotaTotal",
            "quotaUsage", "totalParts", "partSize"}  # fmt: skip
TIME_KEYS = {"createdAt", "updatedAt", "deletedAt"}
LIST_KEYS = {"collections", "containers", "images", "tags", "fingerprints"}


def walk_keys(value: Any) -> list[str]:
    keys: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            keys.append(key)
            keys.extend(walk_keys(item))
    elif isinstance(value, list):
        for item in value:
            keys.extend(walk_keys(item))
    return keys


def check_model(obj: dict[str, Any]) -> None:
    assert isinstance(obj, dict)
    assert not any(key.lower() == "modelmanager" for key in walk_keys(obj))
    for key, value in obj.items():
        if key in ID_KEYS:
            assert isinstance(value, str) and value.isdigit(), (key, value)
        elif key in INT_KEYS:
            assert isinstance(value, int) and not isinstance(value, bool), (key, value)
        elif key in TIME_KEYS:
            assert value is None or (isinstance(value, str) and TIMESTAMP.match(value)), (key, value)
        elif key in LIST_KEYS:
            assert value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value)), (key, value)
        elif key in ("createdBy", "updatedBy", "deletedBy", "owner", "name", "description", "customData"):
            assert isinstance(value, str), (key, value)
        elif key in ("deleted", "private", "readOnly", "defaultPrivate", "uploaded"):
            assert isinstance(value, bool), (key, value)
    if "imageTags" in obj:
        tags = obj["imageTags"]
        assert tags is None or all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    if "archTags" in obj:
        arch_tags = obj["archTags"]
        assert arch_tags is None or all(
            isinstance(m, dict) and all(isinstance(v, str) for v in m.values()) for m in arch_tags.values()
        )


def check_image(obj: dict[str, Any]) -> None:
    check_model(obj)
    assert "uploaded" in obj and isinstance(obj["uploaded"], bool)
    assert obj["hash"].startswith("sha256.")
    for key in ("signed", "encrypted"):
        assert obj.get(key) is None or isinstance(obj[key], bool)
    assert obj.get("arch") is None or isinstance(obj["arch"], str)


@pytest.fixture
def populated(alice, pushed):
    seed(alice, "alice/tools/samtools", make_sif("arm64"), tags=["latest", "arm"])
    return pushed


def envelope(response) -> Any:
    assert response.status_code in (200, 201), response.content
    body = json.loads(response.content)
    assert set(body) == {"data"}
    return body["data"]


def test_entity_shape(alice_api, anon_api, populated):
    for client in (alice_api, anon_api):
        entity = envelope(client.get("v1/entities/alice"))
        check_model(entity)
        assert isinstance(entity["collections"], list) and entity["collections"]


def test_collection_shape(alice_api, populated):
    collection = envelope(alice_api.get("v1/collections/alice/tools"))
    check_model(collection)
    assert collection["entityName"] == "alice"
    created = envelope(alice_api.post("v1/collections", {"entity": collection["entity"], "name": "fresh"}))
    check_model(created)


def test_container_shape(alice_api, populated):
    container = envelope(alice_api.get("v1/containers/alice/tools/samtools"))
    check_model(container)
    assert set(container["archTags"]) == {"amd64", "arm64"}
    assert container["size"] > 0
    created = envelope(alice_api.post("v1/containers", {"collection": container["collection"], "name": "fresh"}))
    check_model(created)
    assert created["imageTags"] == {} and created["images"] == []


def test_image_shapes(alice_api, anon_api, populated):
    image = envelope(anon_api.get("v1/images/alice/tools/samtools:latest?arch=amd64"))
    check_image(image)
    assert image["uploaded"] is True
    assert image["size"] == len(populated["data"])
    container = image["container"]
    created = envelope(alice_api.post("v1/images", image_body(image_hash(b"new"), container)))
    check_image(created)
    assert created["uploaded"] is False
    assert created["size"] == 0


def test_search_shapes(alice_api, anon_api, populated):
    results = envelope(anon_api.get("v1/search?value=samtools"))
    for item in results["container"]:
        check_model(item)
    for item in results["image"]:
        check_image(item)
    results = envelope(anon_api.get("v1/search?value=alice"))
    for item in results["entity"]:
        check_model(item)
    results = envelope(anon_api.get("v1/search?value=tools"))
    assert results["collection"]
    for item in results["collection"]:
        check_model(item)


def test_tag_shapes(anon_api, populated):
    container = populated["image"]["container"]
    v1 = envelope(anon_api.get(f"v1/tags/{container}"))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in v1.items())
    v2 = envelope(anon_api.get(f"v2/tags/{container}"))
    assert all(isinstance(m, dict) and all(isinstance(v, str) for v in m.values()) for m in v2.values())


def test_upload_response_shapes(alice_api, populated, settings):
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    container = populated["image"]["container"]
    data = make_sif()
    created = envelope(alice_api.post("v1/images", image_body(image_hash(data), container)))
    started = envelope(alice_api.post(f"v2/imagefile/{created['id']}", {"filesize": len(data)}))
    assert isinstance(started["uploadURL"], str) and started["uploadURL"].startswith("http")
    multipart = envelope(alice_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)}))
    check_model(multipart)
    assert isinstance(multipart["uploadID"], str)
    assert all(isinstance(v, str) for v in multipart["options"].values())
    alice_api.put(started["uploadURL"], raw=data, token=None)
    summary = envelope(alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}))
    check_model(summary["quota"])
    assert isinstance(summary["containerUrl"], str)


def test_token_status_and_version_shapes(alice_api):
    status = envelope(alice_api.get("v1/token-status"))
    assert isinstance(status["username"], str)
    version = envelope(alice_api.get("version"))
    assert all(isinstance(v, str) for v in version.values())


def test_timestamps_are_utc_with_z(alice_api, populated):
    container = envelope(alice_api.get("v1/containers/alice/tools/samtools"))
    assert container["createdAt"].endswith("Z")
    assert container["deletedAt"] == "0001-01-01T00:00:00Z"
