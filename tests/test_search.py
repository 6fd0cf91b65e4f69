"""v1/search: anonymous allowed, privacy-filtered, arch/signed filters, bounded results."""

from __future__ import annotations

import pytest

from django_sylabs_library.models import Collection, Image
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import assert_error, make_sif, push, seed


@pytest.fixture
def library(alice, bob, alice_api, bob_api):
    """alice/tools/samtools (public, amd64+arm64), alice/secret/samtools-private (private),
    bob/bench/blast (public), as image JSON."""
    images = {
        "amd": seed(alice, "alice/tools/samtools", make_sif("amd64")),
        "arm": seed(alice, "alice/tools/samtools", make_sif("arm64")),
        "private": seed(alice, "alice/secret/samtools-private", make_sif("amd64"), private=True),
        "blast": seed(bob, "bob/bench/blast", make_sif("amd64")),
    }
    assert Collection.objects.get(name="secret").private
    return {key: {"id": str(image.pk), "hash": image.hash, "container": str(image.container_id)}
            for key, image in images.items()}  # fmt: skip


def search(client, query):
    return client.data("GET", "v1/search?" + query, status=200)


def ids(results, kind):
    return sorted(item["id"] for item in results[kind])


def test_keys_are_singular(anon_api, library):
    results = search(anon_api, "value=samtools")
    assert set(results) == {"entity", "collection", "container", "image"}
    assert all(isinstance(v, list) for v in results.values())


def test_anonymous_search_sees_public_things_only(anon_api, library):
    results = search(anon_api, "arch=&value=samtools")
    assert [c["name"] for c in results["container"]] == ["samtools"]
    assert ids(results, "image") == sorted([library["amd"]["id"], library["arm"]["id"]])
    results = search(anon_api, "value=secret")
    assert results["collection"] == [] and results["container"] == [] and results["image"] == []


def test_other_users_do_not_see_private_things(bob_api, library):
    results = search(bob_api, "value=samtools")
    assert library["private"]["id"] not in ids(results, "image")
    assert "samtools-private" not in [c["name"] for c in results["container"]]
    assert search(bob_api, "value=secret")["collection"] == []


def test_owner_sees_private_things(alice_api, library):
    results = search(alice_api, "value=samtools")
    assert library["private"]["id"] in ids(results, "image")
    assert "samtools-private" in [c["name"] for c in results["container"]]
    assert [c["name"] for c in search(alice_api, "value=secret")["collection"]] == ["secret"]


def test_collaborator_sees_private_things(api, bob, library):
    grant_collaborator(Collection.objects.get(name="secret"), bob)
    results = search(api(bob), "value=samtools")
    assert library["private"]["id"] in ids(results, "image")


def test_entities_list_only_visible_collections(anon_api, alice_api, library):
    anon = search(anon_api, "value=alice")["entity"]
    assert [e["name"] for e in anon] == ["alice"]
    owner = search(alice_api, "value=alice")["entity"]
    assert len(owner[0]["collections"]) == 2
    assert len(anon[0]["collections"]) == 1


def test_arch_restricts_to_images_of_that_arch(anon_api, library):
    results = search(anon_api, "arch=arm64&value=samtools")
    assert results["entity"] == [] and results["collection"] == [] and results["container"] == []
    assert ids(results, "image") == [library["arm"]["id"]]
    results = search(anon_api, "arch=amd64&value=samtools")
    assert ids(results, "image") == [library["amd"]["id"]]
    results = search(anon_api, "arch=amd64,arm64&value=samtools")
    assert ids(results, "image") == sorted([library["amd"]["id"], library["arm"]["id"]])


def test_signed_returns_only_signed_images(alice_api, anon_api, library):
    signed = push(alice_api, "alice/tools/samtools", make_sif("amd64", signed=True), tags=["signed"])
    assert Image.objects.get(pk=int(signed["id"])).signed is True
    results = search(anon_api, "arch=amd64&signed=true&value=samtools")
    assert ids(results, "image") == [signed["id"]]
    assert results["container"] == []
    assert results["image"][0]["signed"] is True
    assert len(results["image"][0]["fingerprints"]) == 1
    results = search(anon_api, "arch=amd64&signed=false&value=samtools")
    assert signed["id"] in ids(results, "image") and library["amd"]["id"] in ids(results, "image")


def test_search_matches_hashes_and_descriptions(alice_api, anon_api, library):
    results = search(anon_api, "value=" + library["blast"]["hash"][7:30])
    assert ids(results, "image") == [library["blast"]["id"]]
    described = push(alice_api, "alice/tools/other", make_sif(), description="Genome assembly toolkit")
    assert described["id"] in ids(search(anon_api, "value=assembly"), "image")


def test_hashes_match_by_prefix_with_or_without_the_algorithm(anon_api, library):
    """A hash is looked up by prefix through its index; a digest fragment from the middle is not a search term."""
    digest = library["blast"]["hash"].removeprefix("sha256.")
    assert ids(search(anon_api, "value=sha256." + digest[:10]), "image") == [library["blast"]["id"]]
    assert ids(search(anon_api, "value=" + digest[:10].upper()), "image") == [library["blast"]["id"]]
    assert library["blast"]["id"] not in ids(search(anon_api, "value=" + digest[20:40]), "image")


def test_private_images_found_by_hash_or_description_stay_hidden(alice_api, bob_api, anon_api, library):
    hidden = push(alice_api, "alice/secret/annotated", make_sif(), description="Unique phylogeny toolkit")
    for term in ("phylogeny", hidden["hash"][7:20]):
        assert hidden["id"] not in ids(search(bob_api, "value=" + term), "image")
        assert hidden["id"] not in ids(search(anon_api, "value=" + term), "image")
        assert hidden["id"] in ids(search(alice_api, "value=" + term), "image")


def test_images_are_newest_first(alice_api, anon_api):
    first = push(alice_api, "alice/order/older", make_sif(), description="ordering probe")
    second = push(alice_api, "alice/order/newer", make_sif(), description="ordering probe")
    assert [i["id"] for i in search(anon_api, "value=ordering")["image"]] == [second["id"], first["id"]]


def test_search_is_case_insensitive(anon_api, library):
    assert [c["name"] for c in search(anon_api, "value=SAMTOOLS")["container"]] == ["samtools"]


def test_search_image_fields_the_client_prints(anon_api, library):
    image = next(i for i in search(anon_api, "value=blast")["image"])
    assert image["entityName"] == "bob"
    assert image["collectionName"] == "bench"
    assert image["containerName"] == "blast"
    assert image["tags"] == ["latest"]
    assert image["hash"].startswith("sha256.")
    assert isinstance(image["description"], str)
    assert isinstance(image["fingerprints"], list)


def test_results_are_bounded_by_search_limit(user_factory, anon_api, settings):
    staff = user_factory("root", is_staff=True)
    for n in range(3):
        seed(staff, f"bulk{n}/bulk{n}/bulk{n}", make_sif())
    assert all(len(items) == 3 for items in search(anon_api, "value=bulk").values())
    settings.SYLABS_LIBRARY = {"SEARCH_LIMIT": 2}
    results = search(anon_api, "value=bulk")
    for kind in ("entity", "collection", "container", "image"):
        assert len(results[kind]) == 2, kind
    assert len(search(anon_api, "arch=amd64&value=bulk")["image"]) == 2


def test_incomplete_images_are_not_found(alice_api, anon_api, library):
    from tests.conftest import image_body, image_hash

    data = make_sif()
    created = alice_api.data("POST", "v1/images", image_body(image_hash(data), library["amd"]["container"]))
    assert created["id"] not in ids(search(alice_api, "value=samtools"), "image")


@pytest.mark.parametrize(
    "query", ["", "value=", "value=%20%20", "value=" + "x" * 257, "value=abc&arch=AMD!", "value=abc&signed=maybe"]
)
def test_bad_queries_are_400(anon_api, library, query):
    assert_error(anon_api.get("v1/search?" + query), 400)


def test_search_with_a_bad_token_is_401(api, library):
    client = api()
    client.token = "sylib_bad"
    assert_error(client.get("v1/search?value=samtools"), 401)
