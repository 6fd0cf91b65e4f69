"""List pages cost a fixed number of queries, whatever the number of rows (no query per row),
checked with 1,000 containers."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_sylabs_library.flows import teams
from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Container, Image, Tag
from django_sylabs_library.permissions import grant_collaborator

# Upper bounds per page; each must hold for 10 rows and for 1,000 (tests below compare both).
MAX_QUERIES = {
    "/": 12,
    "/search/?q=bulk": 14,
    "/e/alice/": 12,
    "/e/alice/bulk/": 14,
    "/e/alice/bulk/?page=10": 14,
    "/e/alice/bulk/c0004/": 14,
}


def fill(entity, containers: int, collections: int = 10, images_per_container: int = 1) -> None:
    """``containers`` containers spread over ``collections`` collections (the first is ``bulk``),
    each with uploaded images tagged for amd64 and arm64. Bulk inserts, not flows."""
    now = timezone.now()
    made = Collection.objects.bulk_create(
        [Collection(entity=entity, name="bulk" if n == 0 else f"coll{n:03d}") for n in range(collections)]
    )
    # half of the containers in "bulk", the rest spread over the others
    rows = []
    for n in range(containers):
        collection = made[0] if n % 2 == 0 or collections == 1 else made[1 + n % (collections - 1)]
        rows.append(Container(collection=collection, name=f"c{n:04d}", download_count=n))
    boxes = Container.objects.bulk_create(rows)
    images = Image.objects.bulk_create(
        [
            Image(
                container=box,
                hash="sha256." + hashlib.sha256(f"{box.name}-{i}".encode()).hexdigest(),
                size=1000 + i,
                arch="amd64" if i % 2 == 0 else "arm64",
                uploaded=True,
                uploaded_at=now,
                signed=False,
                labels={"n": str(i)},
            )
            for box in boxes
            for i in range(images_per_container)
        ]
    )
    Tag.objects.bulk_create(
        [
            Tag(container_id=image.container_id, name="latest", arch=image.arch, image=image)
            for image in images
            if image.labels["n"] in ("0", "1")
        ]
        + [Tag(container_id=image.container_id, name=f"v{image.pk}", arch=image.arch, image=image) for image in images]
    )


def queries(client, path: str) -> int:
    client.get(path)  # warm up (the user's own entity is created on the first visit)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(ctx.captured_queries)


@pytest.fixture
def viewer(user_factory, alice):
    """A logged-in user who is in a team and a collaborator somewhere (the costlier visibility filter)."""
    user = user_factory("viewer")
    teams.create_team("lab-q", members=[user])
    return user


@pytest.mark.parametrize("path", list(MAX_QUERIES))
@pytest.mark.parametrize("who", ["anonymous", "viewer", "owner"])
def test_list_pages_do_not_query_per_row(client, alice, viewer, path, who):
    entity = ensure_user_entity(alice)
    fill(entity, containers=10)
    if who == "viewer":
        client.force_login(viewer)
        grant_collaborator(Collection.objects.get(name="coll001"), viewer)
    elif who == "owner":
        client.force_login(alice)
    small = queries(client, path.replace("?page=10", ""))
    Collection.objects.filter(entity=entity).delete()
    fill(entity, containers=1000)
    if who == "viewer":
        grant_collaborator(Collection.objects.get(name="coll001"), viewer)
    large = queries(client, path)
    assert large == small, f"{path}: {small} queries for 10 containers, {large} for 1,000"
    assert large <= MAX_QUERIES[path]


def test_thousand_containers_within_the_budget(client, alice, django_assert_max_num_queries):
    entity = ensure_user_entity(alice)
    fill(entity, containers=1000, collections=1)
    client.force_login(alice)
    client.get("/")
    for path, limit in MAX_QUERIES.items():
        with django_assert_max_num_queries(limit):
            response = client.get(path)
        assert response.status_code == 200
    page = client.get("/e/alice/bulk/").content.decode()
    assert "Page 1 of 10" in page
    assert page.count('<tr><td><a href="/e/alice/bulk/c') == 100


def test_container_page_with_many_images(client, alice, django_assert_max_num_queries):
    entity = ensure_user_entity(alice)
    fill(entity, containers=1, collections=1, images_per_container=200)
    client.force_login(alice)
    client.get("/e/alice/bulk/c0000/")
    with django_assert_max_num_queries(MAX_QUERIES["/e/alice/bulk/c0004/"]):
        response = client.get("/e/alice/bulk/c0000/")
    assert response.content.decode().count('class="sl-image"') == 200
