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

HEX_DIGITS = frozenset("0123456789abcdef")


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
    results.images = _matching_images(user, value, arches, signed_only, limit)
    return results


def _hash_prefix_range(value: str) -> tuple[str, str] | None:
    """``(low, high)`` bounds of the stored hashes that start with ``value`` when it looks like a hash.

    A hash is matched by prefix (``3f2a…`` or ``sha256.3f2a…``), as a range on the indexed column: a
    ``LIKE '%…%'`` over every hash would scan the whole table.
    """
    digits = value.lower().removeprefix("sha256.")
    if len(digits) < 3 or not set(digits) <= HEX_DIGITS:
        return None
    low = "sha256." + digits
    return low, low[:-1] + chr(ord(low[-1]) + 1)


def _matching_images(user: Any, value: str, arches: list[str], signed_only: bool, limit: int) -> list[Image]:
    """Images whose container, collection or entity name, hash (prefix) or description matches, newest first.

    Three narrow queries instead of one ``OR`` across joined tables: the names are matched on the small
    container table and the images are then found through the ``container_id`` index; the hash through
    its index; only the description needs a scan (on PostgreSQL a trigram index serves it, see migration
    0005). Each query stops at ``limit`` rows, so the cost does not grow with the number of matches.
    """

    def restricted(queryset: Any) -> Any:
        queryset = queryset.filter(uploaded=True)
        if arches:
            queryset = queryset.filter(arch__in=arches)
        if signed_only:
            queryset = queryset.filter(signed=True)
        return queryset

    visible_collection_ids = permissions.visible_collections(user).values("pk")
    matching_containers = Container.objects.filter(collection__in=visible_collection_ids).filter(
        Q(name__icontains=value)
        | Q(collection__name__icontains=value)
        | Q(collection__entity__name__icontains=value)
    )
    newest = ("-pk",)
    candidate_ids: set[int] = set(
        restricted(Image.objects.filter(container__in=matching_containers.values("pk")))
        .order_by(*newest)
        .values_list("pk", flat=True)[:limit]
    )
    bounds = _hash_prefix_range(value)
    if bounds is not None:
        candidate_ids.update(
            restricted(permissions.visible_images(user).filter(hash__gte=bounds[0], hash__lt=bounds[1]))
            .order_by(*newest)
            .values_list("pk", flat=True)[:limit]
        )
    described = Image.objects.filter(description__icontains=value).values("pk")
    candidate_ids.update(
        restricted(permissions.visible_images(user).filter(pk__in=described))
        .order_by(*newest)
        .values_list("pk", flat=True)[:limit]
    )
    chosen = sorted(candidate_ids, reverse=True)[:limit]
    return list(
        Image.objects.filter(pk__in=chosen).select_related("container__collection__entity").order_by(*newest)
    )
