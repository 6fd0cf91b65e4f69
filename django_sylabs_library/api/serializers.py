"""The wire format: models -> the client's JSON shapes (spec section 2).

Typing rules the Go client enforces (spec 1.6): ids are strings, sizes are integers, times are
RFC 3339 with a zone, maps and lists are objects/arrays or null. Functions here read prefetched
relations (``.all()``) so that list endpoints can prefetch instead of querying per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from .. import permissions
from ..conf import library_settings
from ..flows.keys import keys_for_fingerprints
from ..flows.quotas import quota_total
from ..flows.tags import tag_maps
from ..models import Collection, Container, Entity, Image, Tag

ZERO_TIME = "0001-01-01T00:00:00Z"


def timestamp(value: datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _base(obj: Any, owner_id: Any = None) -> dict[str, Any]:
    data = {
        "deleted": False,
        "createdBy": str(getattr(obj, "created_by_id", None) or ""),
        "createdAt": timestamp(obj.created_at),
        "updatedBy": "",
        "updatedAt": timestamp(obj.updated_at),
        "deletedAt": ZERO_TIME,
    }
    if owner_id:
        data["owner"] = str(owner_id)
    return data


def entity_json(entity: Entity, collection_ids: list[int], size: int = 0) -> dict[str, Any]:
    return {
        **_base(entity, entity.owner_id),
        "id": str(entity.pk),
        "name": entity.name,
        "description": entity.description,
        "collections": [str(i) for i in collection_ids],
        "size": size,
        "quota": quota_total(entity),
        "defaultPrivate": bool(
            entity.default_private if entity.default_private is not None else library_settings.DEFAULT_PRIVATE
        ),
        "customData": entity.custom_data,
    }


def collection_json(collection: Collection, container_ids: list[int], size: int = 0) -> dict[str, Any]:
    return {
        **_base(collection, collection.entity.owner_id),
        "id": str(collection.pk),
        "name": collection.name,
        "description": collection.description,
        "entity": str(collection.entity_id),
        "entityName": collection.entity.name,
        "containers": [str(i) for i in container_ids],
        "size": size,
        "private": collection.private,
        "customData": collection.custom_data,
    }


def container_json(container: Container) -> dict[str, Any]:
    """Uses ``container.tags.all()`` and ``container.images.all()`` (prefetch them for lists)."""
    collection = container.collection
    images = [i for i in container.images.all() if i.uploaded]
    image_tags, arch_tags = tag_maps((t.name, t.arch, t.image_id) for t in container.tags.all())
    return {
        **_base(container, collection.entity.owner_id),
        "id": str(container.pk),
        "name": container.name,
        "description": container.description,
        "fullDescription": container.full_description,
        "collection": str(collection.pk),
        "collectionName": collection.name,
        "entity": str(collection.entity_id),
        "entityName": collection.entity.name,
        "images": [str(i.pk) for i in images],
        "imageTags": image_tags,
        "archTags": arch_tags,
        "size": sum(i.size for i in images),
        "downloadCount": container.download_count,
        "stars": container.stars,
        "private": collection.private,
        "readOnly": container.read_only,
        "customData": container.custom_data,
    }


def signer_json(fingerprint: str, key: Any) -> dict[str, Any]:
    """A signature's key, linked to the keyserver's copy when we hold it."""
    if key is None:
        return {"fingerprint": fingerprint.upper(), "known": False}
    return {
        "fingerprint": fingerprint.upper(),
        "known": True,
        "keyFingerprint": key.fingerprint.upper(),
        "uploadedBy": key.uploaded_by.get_username() if key.uploaded_by else "",
        "userIds": [u.user_id for u in key.user_ids.all()],
    }


def image_json(image: Image, known_keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """Uses ``image.tags.all()``; ``image.container.collection.entity`` should be joined.

    ``known_keys`` maps signer fingerprints to keyserver keys (``flows.keys.keys_for_fingerprints``);
    it is looked up here when not given.
    """
    fingerprints = list(image.fingerprints or [])
    if known_keys is None:
        known_keys = keys_for_fingerprints(fingerprints) if fingerprints else {}
    container = image.container
    collection = container.collection
    data = {
        **_base(image),
        "createdBy": str(image.pushed_by_id or ""),
        "id": str(image.pk),
        "hash": image.hash,
        "description": image.description,
        "container": str(container.pk),
        "size": image.size,
        "uploaded": image.uploaded,
        "arch": image.arch,
        "signed": image.signed,
        "fingerprints": [f.upper() for f in fingerprints],
        "signers": [signer_json(f, known_keys.get(f.lower())) for f in fingerprints],
        "labels": image.labels or {},
        "encrypted": image.encrypted,
        "customData": image.custom_data,
        "entity": str(collection.entity_id),
        "entityName": collection.entity.name,
        "collection": str(collection.pk),
        "collectionName": collection.name,
        "containerName": container.name,
        "tags": sorted({t.name for t in image.tags.all()}),
        "containerDescription": container.description,
        "containerStars": container.stars,
        "containerDownloads": container.download_count,
    }
    return data


# --- query recipes: prefetches so that list serialisation costs a fixed number of queries ----


def _container_prefetches() -> list[Prefetch]:
    # Only the columns container_json reads: a container may have thousands of images and tags.
    return [
        Prefetch("tags", queryset=Tag.objects.only("id", "name", "arch", "image_id", "container_id")),
        Prefetch("images", queryset=Image.objects.filter(uploaded=True).only("id", "size", "uploaded", "container_id")),
    ]


def _collection_prefetches() -> list[Prefetch]:
    return [Prefetch("containers", queryset=Container.objects.only("id", "collection_id"))]


def _entity_prefetches(user: Any) -> list[Prefetch]:
    return [Prefetch("collections", queryset=permissions.visible_collections(user).only("id", "entity_id"))]


def containers_for_json(queryset: QuerySet[Container]) -> QuerySet[Container]:
    return queryset.select_related("collection__entity").prefetch_related(*_container_prefetches())


def images_for_json(queryset: QuerySet[Image]) -> QuerySet[Image]:
    return queryset.select_related("container__collection__entity").prefetch_related("tags")


def collections_for_json(queryset: QuerySet[Collection]) -> QuerySet[Collection]:
    return queryset.select_related("entity").prefetch_related(*_collection_prefetches())


def entities_for_json(queryset: QuerySet[Entity], user: Any) -> QuerySet[Entity]:
    return queryset.prefetch_related(*_entity_prefetches(user))


def prefetch_for_json(
    user: Any,
    *,
    entities: Sequence[Entity] = (),
    collections: Sequence[Collection] = (),
    containers: Sequence[Container] = (),
    images: Sequence[Image] = (),
) -> None:
    """The ``*_for_json`` prefetches for objects already fetched (with their ``select_related``), e.g. search
    results: one query per relation, without fetching the objects a second time."""
    prefetch_related_objects(list(entities), *_entity_prefetches(user))
    prefetch_related_objects(list(collections), *_collection_prefetches())
    prefetch_related_objects(list(containers), *_container_prefetches())
    prefetch_related_objects(list(images), "tags")


def entity_with_collections(entity: Entity) -> dict[str, Any]:
    return entity_json(entity, [c.pk for c in entity.collections.all()])


def collection_with_containers(collection: Collection) -> dict[str, Any]:
    return collection_json(collection, [c.pk for c in collection.containers.all()])
