"""What the SIF says is recorded at push time, over every upload path, and drives search."""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from django_sylabs_library.models import Image
from tests.conftest import (
    PushError,
    assert_error,
    collection_body,
    container_body,
    image_body,
    image_hash,
    push,
)

DATA = Path(__file__).parent / "data" / "sif"
SIGNER = "B22F4B4DEFF9C84854F3D7A8B54EDEAC395D7D59"  # tests/data/sif/FACTS.txt


def real(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize("upload", ["v1", "v2"])
def test_metadata_of_a_signed_image(alice_api: Any, upload: str) -> None:
    image = push(alice_api, f"alice/meta/signed-{upload}", real("signed.sif"), arch="arm64", upload=upload)
    assert image["signed"] is True
    assert image["arch"] == "arm64"
    assert len(image["fingerprints"]) == 1
    assert image["signers"][0]["fingerprint"] == image["fingerprints"][0]
    assert image["signers"][0]["known"] is False
    stored = Image.objects.get(pk=image["id"])
    assert stored.sif_uuid and stored.signed is True


def test_labels_and_definition(alice_api: Any) -> None:
    image = push(alice_api, "alice/meta/labels", real("labels.sif"))
    assert image["labels"]
    assert image["signed"] is False
    stored = Image.objects.get(pk=image["id"])
    assert stored.labels == image["labels"]
    assert stored.definition


def test_multipart_upload_records_metadata(alice_api: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    # trailing bytes after the last SIF object are allowed; they make the file span 3 parts
    data = real("signed.sif").ljust(11 * 1024 * 1024, b"\0")
    container = alice_api.data("POST", "v1/containers", container_body("big", collection_id(alice_api)))
    image = alice_api.data("POST", "v1/images", image_body(image_hash(data), container["id"]))
    start = alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(data)})
    assert start["totalParts"] == 3
    parts = []
    for number in range(1, start["totalParts"] + 1):
        chunk = data[(number - 1) * start["partSize"] : number * start["partSize"]]
        body = {"partSize": len(chunk), "uploadID": start["uploadID"], "partNumber": number,
                "sha256sum": hashlib.sha256(chunk).hexdigest()}  # fmt: skip
        url = alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart", body, status=200)["presignedURL"]
        put = alice_api.put(url, raw=chunk, token=None)
        assert put.status_code == 200, put.content
        parts.append({"partNumber": number, "token": put["ETag"]})
    done = {"uploadID": start["uploadID"], "completedParts": parts}
    alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart_complete", done, status=200)
    stored = alice_api.data("GET", f"v1/images/alice/meta/big:{image_hash(data)}?arch=amd64", status=200)
    assert stored["uploaded"] is True
    assert stored["signed"] is True and stored["arch"] == "arm64"
    assert stored["fingerprints"] == [SIGNER]


def collection_id(api: Any) -> str:
    response = api.get("v1/collections/alice/meta")
    if response.status_code == 200:
        return response.json()["data"]["id"]
    entity = api.data("GET", "v1/entities/alice", status=200)
    return api.data("POST", "v1/collections", collection_body("meta", entity["id"]))["id"]


def test_signers_link_to_keys_on_the_keyserver(alice_api: Any, anon_api: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False}
    image = push(alice_api, "alice/meta/linked", real("signed.sif"), arch="arm64")
    assert image["signers"] == [{"fingerprint": SIGNER, "known": False}]
    keytext = (DATA / "signer.pub.asc").read_text()
    body = urllib.parse.urlencode({"keytext": keytext}).encode()
    added = alice_api.request("POST", "/pks/add", raw=body, content_type="application/x-www-form-urlencoded")
    assert added.status_code == 200, added.content
    again = anon_api.data("GET", "v1/images/alice/meta/linked:latest?arch=arm64", status=200)
    signer = again["signers"][0]
    assert signer["known"] is True and signer["uploadedBy"] == "alice"
    assert signer["keyFingerprint"] == SIGNER
    found = anon_api.data("GET", "v1/search?value=linked&signed=true", status=200)["image"]
    assert found[0]["signers"][0]["known"] is True


def test_sif_arch_wins_over_the_declared_one(alice_api: Any) -> None:
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/meta/arm", real("arm64.sif"), arch="amd64")
    assert refused.value.step == "set tag"
    assert_error(refused.value.response, 400, "arm64")
    # pushed with its real architecture it is accepted and recorded as arm64
    image = push(alice_api, "alice/meta/arm", real("arm64.sif"), arch="arm64")
    assert image["arch"] == "arm64"


def test_non_sif_bytes_are_refused_by_default(alice_api: Any, settings: Any) -> None:
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/meta/junk", b"not a sif image at all" * 100)
    assert_error(refused.value.response, 400, "not a SIF image")
    assert not Image.objects.filter(uploaded=True).exists()
    settings.SYLABS_LIBRARY = {"REQUIRE_SIF": False}
    image = push(alice_api, "alice/meta/junk", b"not a sif image at all" * 100)
    assert image["uploaded"] is True and image["signed"] is None


def test_signed_search_returns_only_signed_images(alice_api: Any, anon_api: Any) -> None:
    push(alice_api, "alice/meta/signed", real("signed.sif"), arch="arm64")
    push(alice_api, "alice/meta/unsigned", real("amd64.sif"))
    push(alice_api, "alice/meta/unsigned-arm", real("arm64.sif"), arch="arm64")
    found = anon_api.get("v1/search?value=meta&signed=true").json()["data"]["image"]
    assert [i["containerName"] for i in found] == ["signed"]
    found = anon_api.get("v1/search?value=meta&arch=arm64").json()["data"]["image"]
    assert sorted(i["containerName"] for i in found) == ["signed", "unsigned-arm"]
    found = anon_api.get("v1/search?value=meta&arch=amd64,arm64&signed=true").json()["data"]["image"]
    assert [i["containerName"] for i in found] == ["signed"]
