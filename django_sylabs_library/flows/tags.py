"""Tags: tag + architecture -> image, with frozen tags and read-only containers refused."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import permissions
from ..conf import library_settings
from ..exceptions import ContainerReadOnly, InvalidInput, NotFound, TagFrozen
from ..models import Container, Image, Tag
from ..refs import validate_arch, validate_tag
from . import audit
from .images import discard_orphan
from .namespaces import _object_id

logger = logging.getLogger(__name__)


def tag_maps(rows: Iterable[tuple[str, str, int]]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """From ``(name, arch, image_id)`` rows: the v1 map ``{tag: imageID}`` (a tag present for
    several architectures shows the default one) and the v2 map ``{arch: {tag: imageID}}``."""
    default = library_settings.DEFAULT_ARCH
    v1: dict[str, str] = {}
    v2: dict[str, dict[str, str]] = {}
    for name, arch, image_id in rows:
        v2.setdefault(arch, {})[name] = str(image_id)
        if name not in v1 or arch == default:
            v1[name] = str(image_id)
    return v1, v2


def tags_v1(container: Container) -> dict[str, str]:
    return tag_maps(container.tags.values_list("name", "arch", "image_id"))[0]


def tags_v2(container: Container) -> dict[str, dict[str, str]]:
    return tag_maps(container.tags.values_list("name", "arch", "image_id"))[1]


def set_tag(user: Any, container: Container, tag: Any, image_id: Any, arch: Any = None) -> Tag:
    """Point ``tag`` (for ``arch``) at an image of this container.

    A v1 tag carries no architecture: the image's own is used, else ``DEFAULT_ARCH``. An
    existing tag moves (replace semantics), unless it is frozen or the container is read-only;
    then nothing changes and an image uploaded for this refused push, which nothing else
    points to, is discarded (the reference guide's "permission denied, nothing changes").
    """
    permissions.require_push(user, container.collection)
    tag = validate_tag(tag)
    if image_id in (None, ""):
        raise InvalidInput("ImageID is required")
    image = Image.objects.filter(pk=_object_id(image_id, "ImageID"), container=container).first()
    if image is None:
        raise NotFound("image not found in this container")
    if not image.uploaded:
        raise InvalidInput("image upload is not complete; upload the file before tagging it")
    # v1 tags carry no architecture: use the image's own, else the default.
    arch = image.arch or library_settings.DEFAULT_ARCH if arch is None else validate_arch(arch)
    if image.arch and image.arch != arch:
        raise InvalidInput(f"image {image.hash[:19]}… is for {image.arch}; it cannot be tagged for {arch}")
    if container.read_only:
        discard_orphan(image)
        raise ContainerReadOnly()
    for _ in range(3):
        try:
            with transaction.atomic():
                current = Tag.objects.select_for_update().filter(container=container, name=tag, arch=arch).first()
                if current is not None and current.frozen and current.image_id != image.pk:
                    raise TagFrozen(f"Permission denied: tag {tag} ({arch}) is frozen")
                if not image.arch:
                    Image.objects.filter(pk=image.pk).update(arch=arch)
                    image.arch = arch
                if current is None:
                    current = Tag.objects.create(container=container, name=tag, arch=arch, image=image, updated_by=user)
                    audit.record(
                        audit.TAG_SET, current, actor=user, detail={"arch": arch, "new": audit.image_ref(image)}
                    )
                    logger.info("tag %s:%s (%s) -> %s", container, tag, arch, image.hash)
                elif current.image_id != image.pk:
                    previous = current.image_id
                    old_hash = Image.objects.filter(pk=previous).values_list("hash", flat=True).first()
                    current.image = image
                    current.updated_by = user
                    current.save(update_fields=["image", "updated_by", "updated_at"])
                    audit.record(
                        audit.TAG_MOVE,
                        current,
                        actor=user,
                        detail={"arch": arch, "old": {"id": previous, "hash": old_hash}, "new": audit.image_ref(image)},
                    )
                    logger.info(
                        "tag %s:%s (%s) moved from image %s to %s",
                        container,
                        tag,
                        arch,
                        previous,
                        image.hash,
                    )
                Image.objects.filter(pk=image.pk, first_tagged_at__isnull=True).update(
                    first_tagged_at=timezone.now()
                )
                return current
        except TagFrozen:
            discard_orphan(image)
            raise
        except IntegrityError:
            continue  # a concurrent push created the same tag; look again
    raise InvalidInput("tag is being changed concurrently; try again")


def set_frozen(
    user: Any, container: Container, tag: str, arch: str | None, frozen: bool, *, check: bool = True
) -> int:
    """Freeze or unfreeze a tag (all architectures when ``arch`` is None). Returns the count.

    ``check`` False is for operator tools (management commands) acting outside collection roles.
    """
    if check:
        permissions.require_push(user, container.collection)
    qs = Tag.objects.filter(container=container, name=tag)
    if arch:
        qs = qs.filter(arch=arch)
    with transaction.atomic():
        count = qs.update(frozen=frozen)
        if not count:
            raise NotFound(f"tag {tag} not found in {container}")
        audit.record(
            audit.TAG_FREEZE if frozen else audit.TAG_UNFREEZE,
            object_type="tag",
            ref=f"{audit.describe(container)[1]}:{tag}",
            object_id=qs.values_list("pk", flat=True).first() if count == 1 else None,
            actor=user,
            detail={"arch": arch or "", "tags": count},
        )
    logger.info("tag %s:%s frozen=%s", container, tag, frozen)
    return count
