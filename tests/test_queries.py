"""Query counts do not grow with the number of rows (no N+1) on list-like answers."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Container, Image, Tag


def add_images(container, start, count, user):
    images = Image.objects.bulk_create(
        Image(
            container=container,
            hash="sha256." + hashlib.sha256(f"{container.pk}-{n}".encode()).hexdigest(),
            size=1000 + n,
            arch="amd64",
            uploaded=True,
            pushed_by=user,
        )
        for n in range(start, start + count)
    )
    Tag.objects.bulk_create(
        Tag(container=container, name=f"v{image.pk}", arch="amd64", image=image) for image in images
    )


def add_containers(collection, start, count, user):
    for n in range(start, start + count):
        container = Container.objects.create(collection=collection, name=f"bulk{n}", created_by=user)
        add_images(container, 0, 1, user)


def count_queries(client, path):
    client.get(path)  # warm up: entity creation, token last-use write
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.fixture
def tools(alice):
    return Collection.objects.create(entity=ensure_user_entity(alice), name="tools")


@pytest.mark.parametrize("who", ["owner", "anonymous"])
def test_search_query_count_is_constant(alice, alice_api, anon_api, tools, django_assert_max_num_queries, who):
    client = alice_api if who == "owner" else anon_api
    add_containers(tools, 0, 1, alice)
    path = "v1/search?value=bulk"
    baseline = count_queries(client, path)
    add_containers(tools, 1, 29, alice)
    with django_assert_max_num_queries(baseline):
        response = client.get(path)
    data = response.json()["data"]
    assert len(data["container"]) == 30 and len(data["image"]) == 30


def test_search_images_only_query_count_is_constant(alice, anon_api, tools, django_assert_max_num_queries):
    add_containers(tools, 0, 1, alice)
    path = "v1/search?arch=amd64&value=bulk"
    baseline = count_queries(anon_api, path)
    add_containers(tools, 1, 29, alice)
    with django_assert_max_num_queries(baseline):
        assert len(anon_api.get(path).json()["data"]["image"]) == 30


def test_get_container_query_count_is_constant(alice, alice_api, tools, django_assert_max_num_queries):
    container = Container.objects.create(collection=tools, name="samtools")
    add_images(container, 0, 1, alice)
    path = "v1/containers/alice/tools/samtools"
    baseline = count_queries(alice_api, path)
    add_images(container, 1, 29, alice)
    with django_assert_max_num_queries(baseline):
        data = alice_api.get(path).json()["data"]
    assert len(data["images"]) == 30
    assert len(data["archTags"]["amd64"]) == 30


def test_get_collection_and_entity_query_counts_are_constant(alice, alice_api, tools, django_assert_max_num_queries):
    add_containers(tools, 0, 1, alice)
    collection_baseline = count_queries(alice_api, "v1/collections/alice/tools")
    entity_baseline = count_queries(alice_api, "v1/entities/alice")
    add_containers(tools, 1, 29, alice)
    for n in range(29):
        Collection.objects.create(entity=tools.entity, name=f"extra{n}")
    with django_assert_max_num_queries(collection_baseline):
        assert len(alice_api.get("v1/collections/alice/tools").json()["data"]["containers"]) == 30
    with django_assert_max_num_queries(entity_baseline):
        assert len(alice_api.get("v1/entities/alice").json()["data"]["collections"]) == 30


def test_tag_maps_query_count_is_constant(alice, alice_api, tools, django_assert_max_num_queries):
    container = Container.objects.create(collection=tools, name="samtools")
    add_images(container, 0, 1, alice)
    baseline = count_queries(alice_api, f"v2/tags/{container.pk}")
    add_images(container, 1, 29, alice)
    with django_assert_max_num_queries(baseline):
        assert len(alice_api.get(f"v2/tags/{container.pk}").json()["data"]["amd64"]) == 30
