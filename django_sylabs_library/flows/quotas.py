"""Opt-in storage quotas per entity (docs/limits.md).

The limit of an entity is, in bytes:

* ``Entity.quota`` when it is positive;
* none at all when ``Entity.quota`` is negative (an "unlimited" exception to a site default);
* ``SYLABS_LIBRARY["DEFAULT_ENTITY_QUOTA"]`` when ``Entity.quota`` is 0 (0 or None there: none).

Usage is the sum of the sizes of the entity's uploaded images, one term per image record: the
same file in two containers of one entity counts twice, exactly as the entity's pages and the
``size`` fields add it up (and as deleting either image frees it). Bytes that are stored once
for several entities count in each, so no entity's usage depends on what others keep.

A push is checked when its size is first declared (v1 ``Content-Length``, v2 ``filesize``,
multipart ``filesize``: before any byte is stored), when a shared blob would be attached
(dedup at ``POST v1/images``), and again at completion, when the size is certain. Refusals
are a 507 whose message the Apptainer client prints. Two pushes into one entity that complete
at the same instant may both pass; the overshoot is bounded by those concurrent images.
"""

from __future__ import annotations

import logging

from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from ..conf import library_settings
from ..exceptions import InsufficientStorage
from ..models import Entity, Image

logger = logging.getLogger(__name__)


class QuotaExceeded(InsufficientStorage):
    """507, the status the Sylabs library uses for over-quota pushes (spec 2.8)."""

    default_message = "Storage quota exceeded"


def _size(value: int) -> str:
    return str(filesizeformat(value)).replace("\xa0", " ")


def quota_of(entity: Entity) -> int | None:
    """The entity's limit in bytes, or None when it has none."""
    own = int(entity.quota or 0)
    if own > 0:
        return own
    if own < 0:
        return None
    default = library_settings.DEFAULT_ENTITY_QUOTA
    return int(default) if default else None


def quota_total(entity: Entity) -> int:
    """The limit as the client reads ``quotaTotal`` and entity ``quota``: 0 means unlimited."""
    return quota_of(entity) or 0


def usage_of(entity: Entity, exclude_image: int | None = None) -> int:
    """Bytes the entity's uploaded images use (one term per image record)."""
    images = Image.objects.filter(container__collection__entity=entity, uploaded=True)
    if exclude_image is not None:
        images = images.exclude(pk=exclude_image)
    return int(images.aggregate(total=Sum("size"))["total"] or 0)


def check_entity(entity: Entity, size: int, exclude_image: int | None = None) -> None:
    """Raise ``QuotaExceeded`` when ``size`` more bytes would take the entity over its quota."""
    limit = quota_of(entity)
    if limit is None:
        return
    used = usage_of(entity, exclude_image)
    if used + int(size) <= limit:
        return
    logger.info("push to entity %s refused: %d bytes in use + %d > quota of %d bytes", entity.name, used, size, limit)
    raise QuotaExceeded(
        f"storage quota exceeded: this image ({_size(size)}) would bring entity {entity.name} to "
        f"{_size(used + size)}, over its quota of {_size(limit)} ({_size(used)} in use). "
        "Delete images you no longer need or ask the library's administrators for more space."
    )


def check_image(image: Image, size: int) -> None:
    """Would storing ``size`` bytes for ``image`` fit its entity's quota? (The image itself, if
    it was uploaded before, is not counted twice.) Raises ``QuotaExceeded``."""
    entity = image.container.collection.entity
    check_entity(entity, size, exclude_image=image.pk)


def summary(entity: Entity) -> dict[str, int]:
    """``quota`` of the ``_complete`` answer: Apptainer prints "Library storage: using X out of
    Y quota" (or "out of unlimited quota" when ``quotaTotal`` is 0)."""
    return {"quotaTotal": quota_total(entity), "quotaUsage": usage_of(entity)}
