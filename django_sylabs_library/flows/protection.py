"""What a deletion must not touch: frozen tags and read-only containers.

The API refuses to delete an image with a frozen tag or in a read-only container
(``flows.images.delete_image``). Everything else that deletes — a collection from its settings
page, the admin's bulk actions, removing a departed user's content — asks these functions
first and refuses the objects they name, with the reason. Each function costs one or two
queries, whatever the number of objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..exceptions import Forbidden
from ..models import Container, Tag


class ContentFrozen(Forbidden):
    """A deletion was refused because it would remove frozen tags or read-only containers."""

    default_message = "Permission denied: it holds frozen tags or read-only containers"


def _add(reasons: dict[Any, list[str]], key: Any, text: str) -> None:
    items = reasons.setdefault(key, [])
    if text not in items and len(items) < 5:
        items.append(text)


def _join(reasons: dict[Any, list[str]]) -> dict[Any, str]:
    return {key: "; ".join(items) for key, items in reasons.items()}


def collection_blockers(collection_ids: Iterable[Any]) -> dict[Any, str]:
    """``{collection_id: reason}`` for collections holding a read-only container or a frozen tag."""
    ids = list(collection_ids)
    reasons: dict[Any, list[str]] = {}
    if not ids:
        return {}
    for cid, name in Container.objects.filter(collection_id__in=ids, read_only=True).values_list(
        "collection_id", "name"
    ):
        _add(reasons, cid, f"container {name} is read-only")
    for cid, container, tag, arch in Tag.objects.filter(container__collection_id__in=ids, frozen=True).values_list(
        "container__collection_id", "container__name", "name", "arch"
    ):
        _add(reasons, cid, f"tag {container}:{tag} ({arch}) is frozen")
    return _join(reasons)


def entity_blockers(entity_ids: Iterable[Any]) -> dict[Any, str]:
    ids = list(entity_ids)
    reasons: dict[Any, list[str]] = {}
    if not ids:
        return {}
    for eid, collection, name in Container.objects.filter(collection__entity_id__in=ids, read_only=True).values_list(
        "collection__entity_id", "collection__name", "name"
    ):
        _add(reasons, eid, f"container {collection}/{name} is read-only")
    for eid, collection, container, tag, arch in Tag.objects.filter(
        container__collection__entity_id__in=ids, frozen=True
    ).values_list("container__collection__entity_id", "container__collection__name", "container__name", "name", "arch"):
        _add(reasons, eid, f"tag {collection}/{container}:{tag} ({arch}) is frozen")
    return _join(reasons)


def container_blockers(container_ids: Iterable[Any]) -> dict[Any, str]:
    ids = list(container_ids)
    reasons: dict[Any, list[str]] = {}
    if not ids:
        return {}
    for pk in Container.objects.filter(pk__in=ids, read_only=True).values_list("pk", flat=True):
        _add(reasons, pk, "the container is read-only")
    for pk, tag, arch in Tag.objects.filter(container_id__in=ids, frozen=True).values_list(
        "container_id", "name", "arch"
    ):
        _add(reasons, pk, f"tag {tag} ({arch}) is frozen")
    return _join(reasons)


def image_blockers(image_ids: Iterable[Any]) -> dict[Any, str]:
    """Images whose container is read-only or that carry a frozen tag (the API's delete rule)."""
    from ..models import Image

    ids = list(image_ids)
    reasons: dict[Any, list[str]] = {}
    if not ids:
        return {}
    for pk in Image.objects.filter(pk__in=ids, container__read_only=True).values_list("pk", flat=True):
        _add(reasons, pk, "its container is read-only")
    for pk, tag, arch in Tag.objects.filter(image_id__in=ids, frozen=True).values_list("image_id", "name", "arch"):
        _add(reasons, pk, f"tag {tag} ({arch}) is frozen")
    return _join(reasons)


def tag_blockers(tag_ids: Iterable[Any]) -> dict[Any, str]:
    ids = list(tag_ids)
    reasons: dict[Any, list[str]] = {}
    if not ids:
        return {}
    for pk, frozen, read_only in Tag.objects.filter(pk__in=ids).values_list("pk", "frozen", "container__read_only"):
        if frozen:
            _add(reasons, pk, "the tag is frozen")
        if read_only:
            _add(reasons, pk, "its container is read-only")
    return _join(reasons)
