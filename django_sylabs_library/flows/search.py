"""v1/search: names, hashes and descriptions, filtered by what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from .. import permissions
from ..conf import library_settings
from ..exceptions import InvalidInput
from ..models import Collection, Container, Entity, Image
from ..refs import validate_arch


@dataclass
class SearchResults:
    entities: list[Entity] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


def search(user: Any, value: Any, arch: Any = "", signed: Any = None) -> SearchResults:
    """Search everything the caller may see; ``arch`` or ``signed`` restrict it to images.

    ``arch`` may be a comma-separated list (the client's documented form). Each kind of result
    is bounded by ``SEARCH_LIMIT``.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("search value is required")
    value = value.strip()
    if len(value) > 256:
        raise InvalidInput("search value is longer than 256 characters")
    arches = [validate_arch(a.strip()) for a in (arch or "").split(",") if a.strip()]
    if signed not in (None, "", "true", "false", "1", "0"):
        raise InvalidInput("signed must be true or false")
    signed_only = signed in ("true", "1")
    limit = int(library_settings.SEARCH_LIMIT)
    results = SearchResults()
    images_only = bool(arches) or signed_only
    if not images_only:
        results.entities = list(Entity.objects.filter(name__icontains=value).order_by("name")[:limit])
        results.collections = list(
            permissions.visible_collections(user, Collection.objects.select_related("entity"))
            .filter(Q(name__icontains=value) | Q(description__icontains=value))
            .order_by("entity__name", "name")[:limit]
        )
        results.containers = list(
            permissions.visible_containers(user, Container.objects.select_related("collection__entity"))
            .filter(Q(name__icontains=value) | Q(description__icontains=value))
            .order_by("collection__entity__name", "collection__name", "name")[:limit]
        )
    images = permissions.visible_images(user, Image.objects.select_related("container__collection__entity")).filter(
        Q(container__name__icontains=value)
        | Q(container__collection__name__icontains=value)
        | Q(container__collection__entity__name__icontains=value)
        | Q(hash__icontains=value)
        | Q(description__icontains=value)
    )
    if arches:
        images = images.filter(arch__in=arches)
    if signed_only:
        images = images.filter(signed=True)
    results.images = list(images.order_by("-created_at")[:limit])
    return results
