"""Images: resolving references, creating records, deleting, and marking uploads complete."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .. import permissions
from ..conf import library_settings
from ..exceptions import BlobGone, Conflict, ContainerReadOnly, InvalidInput, NotFound, TagFrozen
from ..models import Blob, Collection, Container, Image, Tag
from ..refs import ImageRef, validate_arch, validate_image_hash
from . import audit
from .metadata import apply_metadata, copy_metadata
from .namespaces import _description, container_by_id, get_collection

logger = logging.getLogger(__name__)


def resolve_collection(user: Any, ref: ImageRef) -> Collection:
    """Entity and collection of a 1-, 2- or 3-segment reference (spec sections 1.7 and 8.2)."""
    default_entity = library_settings.DEFAULT_ENTITY
    if ref.entity:
        return get_collection(user, ref.entity, ref.collection or library_settings.DEFAULT_COLLECTION)
    if not ref.collection:
        return get_collection(user, default_entity, library_settings.DEFAULT_COLLECTION)
    try:
        return get_collection(user, default_entity, ref.collection)
    except NotFound:
        pass
    # `collection/container`: the one collection of that name the caller can see, in any entity.
    candidates = list(
        permissions.visible_collections(user, Collection.objects.select_related("entity")).filter(name=ref.collection)[
            :2
        ]
    )
    if not candidates:
        raise NotFound(f"collection {ref.collection} not found")
    if len(candidates) > 1:
        raise InvalidInput(
            f"collection name {ref.collection} is ambiguous: use entity/{ref.collection}/{ref.container}"
        )
    return candidates[0]


def resolve_container(user: Any, ref: ImageRef) -> Container:
    collection = resolve_collection(user, ref)
    container = Container.objects.filter(collection=collection, name=ref.container).first()
    if container is None:
        raise NotFound(f"container {ref.path} not found")
    container.collection = collection
    return container


def resolve_image(user: Any, ref: ImageRef, arch: str = "") -> Image:
    """The image a reference names for an architecture.

    A hash reference finds that image in the container whatever ``arch`` says. A tag resolves
    through the tag map of ``arch``; an empty ``arch`` prefers the default architecture, then
    any. Images whose upload is not complete are visible only to those who may push (the
    client's push looks them up by hash to resume), never downloadable.
    """
    arch = validate_arch(arch, allow_empty=True)
    container = resolve_container(user, ref)
    image: Image | None = None
    if ref.hash:
        qs = Image.objects.filter(container=container)
        if ref.hash.startswith("sif."):
            image = qs.filter(sif_uuid=ref.hash[4:], uploaded=True).first()
        else:
            image = qs.filter(hash=ref.hash).first()
    else:
        tags = Tag.objects.filter(container=container, name=ref.tag).select_related("image")
        if arch:
            tag = tags.filter(arch=arch).first()
        else:
            tag = tags.filter(arch=library_settings.DEFAULT_ARCH).first() or tags.first()
        image = tag.image if tag else None
    if image is not None and not image.uploaded and not permissions.can_push(user, container.collection):
        image = None
    if image is None:
        suffix = f" ({arch})" if arch and not ref.hash else ""
        raise NotFound(f"image {ref}{suffix} not found")
    image.container = container
    return image


def create_image(user: Any, container_id: Any, image_hash: Any, description: Any = "") -> Image:
    """POST v1/images: a record the client then uploads to (``uploaded`` false).

    When the caller can already read an uploaded image with the same bytes, the new record
    shares its blob and is uploaded at once, so the client skips the upload. A hash the caller
    cannot read never attaches (spec 2.8; issue 6's dedup rule).
    """
    if container_id is None:
        raise InvalidInput("container is required")
    container = container_by_id(user, container_id)
    permissions.require_push(user, container.collection)
    if container.read_only:
        raise ContainerReadOnly()
    image_hash = validate_image_hash(image_hash)
    description = _description(description)
    sha = image_hash.removeprefix("sha256.")
    donor = permissions.visible_images(user, Image.objects.select_related("blob")).filter(blob__sha256=sha).first()
    if donor is not None:
        from .quotas import check_entity  # shared bytes count against the quota like uploaded ones

        check_entity(container.collection.entity, donor.blob.size)
    try:
        with transaction.atomic():
            image = Image.objects.create(
                container=container,
                hash=image_hash,
                description=description,
                pushed_by=user,
            )
            if donor is not None:
                _attach_blob(image, donor.blob, copy_metadata(donor, image))
                image.container = container
                audit.record(audit.IMAGE_PUSH, image, actor=user, detail={"size": image.size, "deduplicated": True})
    except IntegrityError:
        raise Conflict(f"image {image_hash} already exists in {container}") from None
    image.container = container
    logger.info("image %s created in %s (uploaded=%s)", image_hash, container, image.uploaded)
    return image


def ensure_image(user: Any, container_id: Any, image_hash: Any, description: Any = "") -> tuple[Image, bool]:
    """``POST v1/images``: ``(image, created)``. Concurrent pushes of the same bytes to one container
    both create the record; the loser gets the winner's record (uploaded or not) instead of a 409 the
    client would not retry, and uploads to it or skips the upload as its ``uploaded`` says."""
    try:
        return create_image(user, container_id, image_hash, description), True
    except BlobGone:
        raise
    except Conflict:
        # create_image has checked that the caller may push to the container.
        from .namespaces import _object_id

        found = (
            Image.objects.select_related("container__collection__entity")
            .filter(container_id=_object_id(container_id, "container"), hash=validate_image_hash(image_hash))
            .first()
        )
        if found is None:
            raise
        return found, False


def image_by_id(user: Any, ident: Any) -> Image:
    from .namespaces import _object_id

    pk = _object_id(ident, "image")
    image = Image.objects.select_related("container__collection__entity").filter(pk=pk).first()
    if image is None or not permissions.can_view_collection(user, image.container.collection):
        raise NotFound("image not found")
    if not image.uploaded and not permissions.can_push(user, image.container.collection):
        raise NotFound("image not found")
    return image


def _attach_blob(image: Image, blob: Blob, metadata_fields: list[str]) -> None:
    # Lock the blob row for the rest of the caller's transaction: garbage collection removes a blob
    # only under the same lock, after checking no image references it (flows/maintenance.py).
    if not list(Blob.objects.select_for_update().filter(pk=blob.pk).values_list("pk", flat=True)):
        raise BlobGone()
    image.blob = blob
    image.size = blob.size
    image.uploaded = True
    image.uploaded_at = timezone.now()
    image.save(update_fields=["blob", "size", "uploaded", "uploaded_at", *metadata_fields, "updated_at"])


def mark_uploaded(image: Image, blob: Blob, metadata: dict[str, Any]) -> Image:
    """Record verified bytes (and what the SIF reader found in them) for an image.

    Idempotent for the same bytes.
    """
    if blob.sha256 != image.sha256_hex:
        raise InvalidInput("uploaded bytes do not match the image hash")
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        if not locked.uploaded or locked.blob_id != blob.pk:
            _attach_blob(locked, blob, apply_metadata(locked, metadata))
            audit.record(
                audit.IMAGE_PUSH,
                object_type="image",
                ref=f"{audit.describe(image.container)[1]}:{image.hash}",
                object_id=image.pk,
                detail={"size": locked.size, "arch": locked.arch},
            )
    image.refresh_from_db()
    logger.info("image %s upload complete (%d bytes)", image.hash, image.size)
    return image


def delete_image(user: Any, ref: ImageRef, arch: str = "") -> Image:
    """DELETE v1/images/<ref>: remove the image a tag (or hash) names, with all its tags.

    Refused, changing nothing, when the container is read-only or one of the image's tags is
    frozen. The blob goes once no image references it.
    """
    image = resolve_image(user, ref, arch)
    container = image.container
    permissions.require_push(user, container.collection)
    if container.read_only:
        raise ContainerReadOnly()
    with transaction.atomic():
        locked = Image.objects.select_for_update().filter(pk=image.pk).first()
        if locked is None:
            raise NotFound(f"image {ref} not found")
        frozen = list(Tag.objects.filter(image=locked, frozen=True).values_list("name", flat=True))
        if frozen:
            raise TagFrozen(f"Permission denied: the image has frozen tag(s) {', '.join(sorted(set(frozen)))}")
        tag_rows = Tag.objects.filter(image=locked).values_list("name", "arch")
        tag_names = sorted({f"{name} ({tag_arch})" for name, tag_arch in tag_rows})
        locked.delete()  # receivers.py removes the blob once nothing references it
        audit.record(
            audit.IMAGE_DELETE,
            object_type="image",
            ref=f"{audit.describe(container)[1]}:{image.hash}",
            object_id=image.pk,
            actor=user,
            detail={"size": image.size, "arch": image.arch, "tags": tag_names},
        )
    logger.info("image %s deleted from %s", image.hash, container)
    return image


def discard_orphan(image: Image) -> bool:
    """Remove an image that was uploaded for a refused push: one no tag has ever pointed to.

    An image that was tagged once and is untagged now (its tag moved on) stays: it is still
    pullable by hash, and a refused push of the same bytes must not take it away.
    """
    with transaction.atomic():
        locked = Image.objects.select_for_update().filter(pk=image.pk).first()
        if locked is None or locked.first_tagged_at is not None or locked.tags.exists():
            return False
        pk = locked.pk
        locked.delete()
        audit.record(
            audit.IMAGE_DISCARD,
            object_type="image",
            ref=f"{audit.describe(image.container)[1]}:{image.hash}",
            object_id=pk,
            detail={"reason": "refused push: the image was never tagged"},
        )
    logger.info("discarded untagged image %s after a refused tag", image.hash)
    return True


def count_download(image: Image) -> None:
    Image.objects.filter(pk=image.pk).update(download_count=F("download_count") + 1)
    Container.objects.filter(pk=image.container_id).update(download_count=F("download_count") + 1)
