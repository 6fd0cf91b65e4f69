"""Storage usage: bytes of uploaded images per entity and per collection.

Counts only what the caller may see: an entity page shows the usage of the collections the
visitor can see, so a private collection's size never shows up in someone else's total.
A file pushed to several containers is counted in each (that is what each image record
costs against a quota); the bytes are stored once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from .. import permissions
from ..models import Collection, Container, Entity


@dataclass
class Usage:
    """``total`` bytes in ``images`` images; ``parts`` the biggest contributors (name, bytes),
    ``rest`` the bytes of all others."""

    total: int = 0
    images: int = 0
    parts: list[tuple[str, int]] = field(default_factory=list)
    rest: int = 0
    rest_count: int = 0
    quota: int = 0


def _usage(rows: list[tuple[str, int, int]], top: int) -> Usage:
    rows.sort(key=lambda r: (-r[1], r[0]))
    usage = Usage(total=sum(r[1] for r in rows), images=sum(r[2] for r in rows))
    usage.parts = [(name, size) for name, size, _ in rows[:top] if size]
    usage.rest = sum(r[1] for r in rows[len(usage.parts) :])
    usage.rest_count = len([r for r in rows[len(usage.parts) :] if r[1]])
    return usage


def entity_usage(user: Any, entity: Entity, top: int = 8) -> Usage:
    """Usage of the entity's collections that ``user`` may see, biggest collections first (one query)."""
    uploaded = Q(containers__images__uploaded=True)
    rows = list(
        permissions.visible_collections(user, Collection.objects.filter(entity=entity))
        .annotate(
            size=Coalesce(Sum("containers__images__size", filter=uploaded), 0),
            n=Count("containers__images", filter=uploaded),
        )
        .values_list("name", "size", "n")
    )
    usage = _usage(rows, top)
    if permissions.owns_entity(user, entity):
        from .quotas import quota_total  # the entity's own limit or DEFAULT_ENTITY_QUOTA; 0 is none

        usage.quota = quota_total(entity)
    return usage


def collection_usage(collection: Collection, top: int = 8) -> Usage:
    """Usage of a collection the caller may see (check first), biggest containers first (one query)."""
    uploaded = Q(images__uploaded=True)
    rows = list(
        Container.objects.filter(collection=collection)
        .annotate(size=Coalesce(Sum("images__size", filter=uploaded), 0), n=Count("images", filter=uploaded))
        .values_list("name", "size", "n")
    )
    return _usage(rows, top)
