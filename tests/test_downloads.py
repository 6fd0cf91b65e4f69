"""Downloads: GET v1/imagefile/<ref> with 200, Range/206/416, ETag/304, and privacy (404, never 403)."""

from __future__ import annotations

import pytest

from django_sylabs_library.models import Collection, Container, Image
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import assert_error, body_of, image_hash, make_sif, seed, sha256_hex

PATH = "v1/imagefile/alice/tools/samtools:latest?arch=amd64"


def test_full_download(anon_api, pushed):
    response = anon_api.get(PATH)
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(pushed["data"]))
    assert response["Accept-Ranges"] == "bytes"
    assert "Content-Encoding" not in response
    assert body_of(response) == pushed["data"]


@pytest.mark.parametrize(
    "ref",
    [
        "alice/tools/samtools:latest?arch=amd64",
        "alice/tools/samtools?arch=amd64",
        "alice/tools/samtools:latest?arch=",
        "tools/samtools:latest?arch=amd64",
        "/alice/tools/samtools:latest?arch=amd64",
    ],
)
def test_download_refs(anon_api, pushed, ref):
    assert body_of(anon_api.get("v1/imagefile/" + ref)) == pushed["data"]


def test_download_by_hash(anon_api, pushed):
    response = anon_api.get(f"v1/imagefile/alice/tools/samtools:{image_hash(pushed['data'])}?arch=amd64")
    assert response.status_code == 200
    assert body_of(response) == pushed["data"]


def test_download_by_one_segment_ref(user_factory, anon_api):
    staff = user_factory("root", is_staff=True)
    data = make_sif()
    seed(staff, "default/default/busybox", data)
    assert body_of(anon_api.get("v1/imagefile/busybox:latest?arch=amd64")) == data


def test_download_picks_the_arch(alice, anon_api, pushed):
    arm = make_sif("arm64")
    seed(alice, "alice/tools/samtools", arm)
    assert body_of(anon_api.get("v1/imagefile/alice/tools/samtools:latest?arch=arm64")) == arm
    assert body_of(anon_api.get(PATH)) == pushed["data"]
    assert_error(anon_api.get("v1/imagefile/alice/tools/samtools:latest?arch=ppc64le"), 404)


def test_range(anon_api, pushed):
    data = pushed["data"]
    response = anon_api.get(PATH, HTTP_RANGE="bytes=10-99")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-99/{len(data)}"
    assert response["Content-Length"] == "90"
    assert body_of(response) == data[10:100]


def test_range_first_kilobyte_like_the_client(anon_api, pushed):
    # LC 1.2/1.3 probe with bytes=0-1024 and read the total after the '/'.
    data = pushed["data"]
    response = anon_api.get(PATH, HTTP_RANGE="bytes=0-1024")
    assert response.status_code == 206
    assert response["Content-Range"].rsplit("/", 1)[1] == str(len(data))
    assert body_of(response) == data[:1025]


def test_suffix_range(anon_api, pushed):
    data = pushed["data"]
    response = anon_api.get(PATH, HTTP_RANGE="bytes=-100")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
    assert body_of(response) == data[-100:]


def test_suffix_range_longer_than_the_file(anon_api, pushed):
    data = pushed["data"]
    response = anon_api.get(PATH, HTTP_RANGE=f"bytes=-{len(data) * 2}")
    assert response.status_code == 206
    assert body_of(response) == data


def test_open_range(anon_api, pushed):
    data = pushed["data"]
    response = anon_api.get(PATH, HTTP_RANGE="bytes=4000-")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 4000-{len(data) - 1}/{len(data)}"
    assert body_of(response) == data[4000:]


def test_range_past_the_end_is_clamped(anon_api, pushed):
    data = pushed["data"]
    response = anon_api.get(PATH, HTTP_RANGE=f"bytes=4090-{len(data) + 500}")
    assert response.status_code == 206
    assert body_of(response) == data[4090:]


@pytest.mark.parametrize("header", ["bytes=99999-100000", "bytes=4096-4100", "bytes=-0"])
def test_unsatisfiable_range_is_416(anon_api, pushed, header):
    response = anon_api.get(PATH, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(pushed['data'])}"
    body_of(response)


def test_open_range_past_the_end_is_416(anon_api, pushed):
    response = anon_api.get(PATH, HTTP_RANGE="bytes=99999-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(pushed['data'])}"
    body_of(response)


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-5", "bytes=5-2", "bytes=0-1,5-6", "bytes=-"])
def test_unsupported_range_serves_the_whole_file(anon_api, pushed, header):
    response = anon_api.get(PATH, HTTP_RANGE=header)
    assert response.status_code == 200
    assert body_of(response) == pushed["data"]


def test_etag_and_if_none_match(anon_api, pushed):
    response = anon_api.get(PATH)
    etag = response["ETag"]
    body_of(response)
    assert etag == f'"{sha256_hex(pushed["data"])}"'
    not_modified = anon_api.get(PATH, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    other = anon_api.get(PATH, HTTP_IF_NONE_MATCH='"something-else"')
    assert other.status_code == 200
    assert body_of(other) == pushed["data"]
    listed = anon_api.get(PATH, HTTP_IF_NONE_MATCH=f'"x", {etag}')
    assert listed.status_code == 304


def test_if_range_with_a_stale_etag_serves_everything(anon_api, pushed):
    response = anon_api.get(PATH, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"stale"')
    assert response.status_code == 200
    assert body_of(response) == pushed["data"]
    etag = f'"{sha256_hex(pushed["data"])}"'
    response = anon_api.get(PATH, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert response.status_code == 206
    assert body_of(response) == pushed["data"][:10]


def test_download_counts_once_per_download(anon_api, pushed):
    body_of(anon_api.get(PATH))
    body_of(anon_api.get(PATH, HTTP_RANGE="bytes=0-1024"))
    body_of(anon_api.get(PATH, HTTP_RANGE="bytes=1025-2047"))
    assert Image.objects.get().download_count == 2
    assert Container.objects.get().download_count == 2


def test_missing_image_is_404(anon_api, pushed):
    assert_error(anon_api.get("v1/imagefile/alice/tools/samtools:nope?arch=amd64"), 404)
    assert_error(anon_api.get("v1/imagefile/alice/tools/nothing:latest?arch=amd64"), 404)
    assert_error(anon_api.get("v1/imagefile/nobody/tools/samtools:latest?arch=amd64"), 404)


def test_malformed_ref_is_400(anon_api, pushed):
    assert_error(anon_api.get("v1/imagefile/a/b/c/d:latest?arch=amd64"), 400)
    assert_error(anon_api.get("v1/imagefile/alice/tools/samtools:sha256.xyz?arch=amd64"), 400)


def test_private_image_is_404_for_anonymous_and_others_never_403(alice_api, bob_api, anon_api, api, bob, pushed):
    Collection.objects.filter(name="tools").update(private=True)
    assert_error(anon_api.get(PATH), 404)
    assert_error(bob_api.get(PATH), 404)
    assert_error(bob_api.get(f"v1/imagefile/alice/tools/samtools:{image_hash(pushed['data'])}?arch=amd64"), 404)
    assert_error(anon_api.get(PATH, HTTP_RANGE="bytes=0-10"), 404)
    assert body_of(alice_api.get(PATH)) == pushed["data"]
    grant_collaborator(Collection.objects.get(name="tools"), bob)
    assert body_of(api(bob).get(PATH)) == pushed["data"]


def test_private_image_with_a_bad_token_is_401(api, pushed):
    Collection.objects.filter(name="tools").update(private=True)
    client = api()
    client.token = "sylib_bad"
    assert_error(client.get(PATH), 401)


def test_superuser_downloads_private_images(api, user_factory, pushed):
    Collection.objects.filter(name="tools").update(private=True)
    admin = user_factory("boss", is_superuser=True)
    assert body_of(api(admin).get(PATH)) == pushed["data"]


def test_incomplete_image_is_not_downloadable_even_for_its_owner(alice_api, pushed):
    from tests.conftest import image_body

    data = make_sif()
    container = pushed["image"]["container"]
    alice_api.data("POST", "v1/images", image_body(image_hash(data), container))
    assert_error(alice_api.get(f"v1/imagefile/alice/tools/samtools:{image_hash(data)}?arch=amd64"), 404)


@pytest.mark.parametrize("scheme", ["BEARER", "Bearer"])
def test_download_with_a_token(api, alice, pushed, scheme):
    assert body_of(api(alice, scheme=scheme).get(PATH)) == pushed["data"]


def test_download_is_never_a_302(anon_api, pushed):
    response = anon_api.get(PATH)
    assert response.status_code in (200, 303)
    body_of(response)
