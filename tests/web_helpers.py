"""Helpers for the web, team and matrix tests: push as any owner (team members included)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django_sylabs_library.flows import images as image_flows
from django_sylabs_library.flows import namespaces, uploads
from django_sylabs_library.flows import tags as tag_flows
from django_sylabs_library.models import Collection, Container, Entity, Image
from tests.conftest import image_hash


def seed_as(
    user: Any,
    ref: str,
    data: bytes,
    tags: Iterable[str] = ("latest",),
    *,
    private: bool | None = None,
    arch: str | None = None,
) -> Image:
    """Like ``conftest.seed`` but through the permission checks only: the entity must exist and
    ``user`` must own it in any way (owner, team member, push grant, superuser)."""
    entity_name, collection_name, container_name = ref.removeprefix("library://").split("/")
    entity = Entity.objects.get(name=entity_name)
    collection = Collection.objects.filter(entity=entity, name=collection_name).first()
    if collection is None:
        collection = namespaces.create_collection(user, entity.pk, collection_name, private=private)
    container = Container.objects.filter(collection=collection, name=container_name).first()
    if container is None:
        container = namespaces.create_container(user, collection.pk, container_name)
    image = Image.objects.filter(container=container, hash=image_hash(data)).first()
    if image is None:
        image = image_flows.create_image(user, container.pk, image_hash(data))
    if not image.uploaded:
        image = uploads.receive_legacy(user, image, io.BytesIO(data).read, len(data))
    image.refresh_from_db()
    for tag in tags:
        tag_flows.set_tag(user, container, tag, image.pk, arch)
    return image
