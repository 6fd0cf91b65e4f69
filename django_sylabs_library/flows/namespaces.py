"""Entities, collections and containers: lookup with privacy, creation with ownership."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from .. import permissions
from ..conf import library_settings
from ..exceptions import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from ..models import Collection, Container, Entity
from ..refs import NAME_MAX_LENGTH, normalise_entity_name, validate_name
from . import audit

logger = logging.getLogger(__name__)


def _is_reserved(name: str) -> bool:
    return name in set(library_settings.RESERVED_NAMES)


def ensure_user_entity(user: Any) -> Entity:
    """The user's own entity, created on first use from the normalised username.

    Collisions with other entities and reserved names get a numeric suffix (``-2``, ``-3``...).
    """
    entity = Entity.objects.filter(owner=user, personal=True).first()
    if entity is not None:
        return entity
    base = normalise_entity_name(user.get_username())
    for attempt in range(1, 1000):
        if attempt == 1:
            name = base
        else:
            suffix = f"-{attempt}"
            name = base[: NAME_MAX_LENGTH - len(suffix)].rstrip("._-") + suffix
        if _is_reserved(name) or Entity.objects.filter(name=name).exists():
            continue
        try:
            with transaction.atomic():
                entity = Entity.objects.create(name=name, owner=user, personal=True, description=name)
        except IntegrityError:
            # A concurrent request created it (or took the name): look again.
            entity = Entity.objects.filter(owner=user, personal=True).first()
            if entity is not None:
                return entity
            continue
        logger.info("created entity %s for user id %s", name, user.pk)
        return entity
    raise Conflict("could not find a free entity name for this user")


def user_entity_name(user: Any) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    return ensure_user_entity(user).name


def _refuse_nul(*names: str | None) -> None:
    """No stored name holds a NUL, and PostgreSQL errors on one in a query parameter."""
    if any("\x00" in (n or "") for n in names):
        raise NotFound("not found")


def get_entity(name: str) -> Entity:
    """Entities are public namespaces; their private collections are filtered elsewhere."""
    _refuse_nul(name)
    raw = name or ""
    name = raw.lower()
    entity = Entity.objects.filter(name=name).first()
    if entity is None:
        # The reference guide looks entities up by username; accept that for users whose
        # username is not itself a valid entity name.
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: raw[:150]}).first()
        if user is not None:
            entity = Entity.objects.filter(owner=user, personal=True).first()
    if entity is None:
        raise NotFound(f"entity {name[:80]} not found")
    return entity


def create_entity(user: Any, name: Any, description: str = "", default_private: Any = None) -> Entity:
    if not (user and user.is_authenticated):
        raise NotAuthenticated()
    name = validate_name(name, "entity name")
    own = user_entity_name(user)
    if name == own:
        raise Conflict(f"entity {name} already exists")
    if not permissions.can_create_entity(user, name, own):
        raise Forbidden(f"Permission denied: you may only create your own entity ({own})")
    if _is_reserved(name) and name != library_settings.DEFAULT_ENTITY:
        raise InvalidInput(f"entity name {name} is reserved")
    if default_private is not None and not isinstance(default_private, bool):
        raise InvalidInput("defaultPrivate must be true or false")
    try:
        with transaction.atomic():
            entity = Entity.objects.create(
                name=name,
                owner=user,
                personal=False,
                description=_description(description),
                default_private=default_private if default_private else None,
            )
            audit.record(audit.ENTITY_CREATE, entity, actor=user)
    except IntegrityError:
        raise Conflict(f"entity {name} already exists") from None
    logger.info("entity %s created by user id %s", name, user.pk)
    return entity


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("description must be a string")
    if len(value) > 10000:
        raise InvalidInput("description is longer than 10000 characters")
    return value


def _object_id(value: Any, what: str) -> int:
    """Ids arrive as the client's strings ("7") or, from curl users, as numbers (7)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be an id")
    if isinstance(value, int):
        ident = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        # isascii: "１" (fullwidth) is a digit to isdigit() and int(), "²" only to isdigit().
        ident = int(value)
    else:
        raise InvalidInput(f"{what} must be an id (a number or a string of digits)")
    if ident <= 0 or ident >= 2**63:
        raise InvalidInput(f"{what} is not a valid id")
    return ident


def get_collection(user: Any, entity_name: str, name: str) -> Collection:
    _refuse_nul(entity_name, name)
    collection = (
        Collection.objects.select_related("entity")
        .filter(entity__name=(entity_name or "").lower(), name=(name or "").lower())
        .first()
    )
    if collection is None or not permissions.can_view_collection(user, collection):
        raise NotFound(f"collection {entity_name[:64]}/{name[:64]} not found")
    return collection


def collection_by_id(user: Any, ident: Any) -> Collection:
    pk = _object_id(ident, "collection")
    collection = Collection.objects.select_related("entity").filter(pk=pk).first()
    if collection is None or not permissions.can_view_collection(user, collection):
        raise NotFound("collection not found")
    return collection


def create_collection(
    user: Any, entity_id: Any, name: Any, *, private: Any = None, description: Any = ""
) -> Collection:
    """Create a collection in an entity the caller owns.

    ``private`` True makes it private; False or absent takes the entity's ``defaultPrivate``,
    else the ``DEFAULT_PRIVATE`` setting (the client always sends false, spec section 4.2).
    """
    if not (user and user.is_authenticated):
        raise NotAuthenticated()
    if entity_id is None:
        raise InvalidInput("entity is required")
    pk = _object_id(entity_id, "entity")
    entity = Entity.objects.filter(pk=pk).first()
    if entity is None:
        raise NotFound("entity not found")
    # Ownership is checked before existence, so nobody learns of a private collection's name.
    permissions.require_create_collection(user, entity)
    name = validate_name(name, "collection name")
    if private is not None and not isinstance(private, bool):
        raise InvalidInput("private must be true or false")
    if private is True:
        is_private = True
    elif entity.default_private is not None:
        is_private = entity.default_private
    else:
        is_private = bool(library_settings.DEFAULT_PRIVATE)
    try:
        with transaction.atomic():
            collection = Collection.objects.create(
                entity=entity,
                name=name,
                private=is_private,
                created_by=user,
                description=_description(description),
            )
            audit.record(audit.COLLECTION_CREATE, collection, actor=user, detail={"private": is_private})
    except IntegrityError:
        raise Conflict(f"collection {entity.name}/{name} already exists") from None
    logger.info("collection %s/%s created (private=%s)", entity.name, name, is_private)
    return collection


def ensure_collection(user: Any, entity_id: Any, name: Any, **fields: Any) -> tuple[Collection, bool]:
    """``POST v1/collections`` as the client needs it: ``(collection, created)``.

    Two ``apptainer push`` runs into a new collection both look it up, find nothing and create it; the
    one that loses the race must not fail (the client does not retry on 409). So a collection that
    already exists is returned to a caller who was allowed to create it, unchanged (its privacy and
    description stay as they are).
    """
    try:
        return create_collection(user, entity_id, name, **fields), True
    except Conflict:
        # create_collection has checked that the caller may create collections in this entity.
        existing = Collection.objects.select_related("entity").filter(
            entity_id=_object_id(entity_id, "entity"), name=validate_name(name, "collection name")
        )
        found = existing.first()
        if found is None:
            raise
        return found, False


def ensure_container(user: Any, collection_id: Any, name: Any, **fields: Any) -> tuple[Container, bool]:
    """``POST v1/containers``: ``(container, created)``; an existing one is returned (see ensure_collection)."""
    try:
        return create_container(user, collection_id, name, **fields), True
    except Conflict:
        # create_container has checked the caller may push to the collection.
        found = Container.objects.filter(
            collection_id=_object_id(collection_id, "collection"), name=validate_name(name, "container name")
        ).first()
        if found is None:
            raise
        return found, False


def get_container(user: Any, entity_name: str, collection_name: str, name: str) -> Container:
    collection = get_collection(user, entity_name, collection_name)
    _refuse_nul(name)
    container = Container.objects.filter(collection=collection, name=(name or "").lower()).first()
    if container is None:
        raise NotFound(f"container {collection}/{name[:64]} not found")
    container.collection = collection
    return container


def container_by_id(user: Any, ident: Any) -> Container:
    pk = _object_id(ident, "container")
    container = Container.objects.select_related("collection__entity").filter(pk=pk).first()
    if container is None or not permissions.can_view_collection(user, container.collection):
        raise NotFound("container not found")
    return container


def create_container(user: Any, collection_id: Any, name: Any, *, description: Any = "") -> Container:
    if not (user and user.is_authenticated):
        raise NotAuthenticated()
    if collection_id is None:
        raise InvalidInput("collection is required")
    collection = collection_by_id(user, collection_id)
    permissions.require_push(user, collection)
    name = validate_name(name, "container name")
    try:
        with transaction.atomic():
            container = Container.objects.create(
                collection=collection,
                name=name,
                created_by=user,
                description=_description(description),
            )
            audit.record(audit.CONTAINER_CREATE, container, actor=user)
    except IntegrityError:
        raise Conflict(f"container {collection}/{name} already exists") from None
    logger.info("container %s/%s created", collection, name)
    return container


def set_container_read_only(user: Any, container: Container, read_only: Any) -> Container:
    """Freeze or unfreeze a whole container (the Library API's ``readOnly``)."""
    if not isinstance(read_only, bool):
        raise InvalidInput("readOnly must be true or false")
    permissions.require_push(user, container.collection)
    if container.read_only != read_only:
        container.read_only = read_only
        with transaction.atomic():
            container.save(update_fields=["read_only", "updated_at"])
            audit.record(audit.CONTAINER_READ_ONLY if read_only else audit.CONTAINER_WRITABLE, container, actor=user)
        logger.info("container %s read-only=%s", container, read_only)
    return container


def update_container(user: Any, container: Container, data: dict[str, Any]) -> Container:
    """PUT v1/containers/<ref>: change readOnly and descriptions (other keys are ignored).

    ``data`` has lower-cased keys (``api.parsing.read_json``).
    """
    permissions.require_push(user, container.collection)
    # Validate everything before writing anything.
    if "readonly" in data and not isinstance(data["readonly"], bool):
        raise InvalidInput("readOnly must be true or false")
    descriptions = {
        field: _description(data[key])
        for key, field in (("description", "description"), ("fulldescription", "full_description"))
        if key in data
    }
    if descriptions:
        for field, value in descriptions.items():
            setattr(container, field, value)
        container.save(update_fields=[*descriptions, "updated_at"])
    if "readonly" in data:
        set_container_read_only(user, container, data["readonly"])
    return container


def set_collection_private(user: Any, collection: Collection, private: Any) -> Collection:
    """Make a collection private or public (owners only).

    A private collection disappears at once for everyone but its owners and collaborators:
    pages, API answers, searches and counts leave it out.
    """
    if not isinstance(private, bool):
        raise InvalidInput("private must be true or false")
    permissions.require_push(user, collection)
    if collection.private != private:
        collection.private = private
        with transaction.atomic():
            collection.save(update_fields=["private", "updated_at"])
            audit.record(audit.COLLECTION_PRIVATE if private else audit.COLLECTION_PUBLIC, collection, actor=user)
        logger.info("collection %s private=%s (user id %s)", collection, private, getattr(user, "pk", None))
    return collection


def delete_collection(user: Any, collection: Collection) -> dict[str, int]:
    """Delete a collection with its containers, images and tags (owners only).

    Refused, deleting nothing, while any of its containers is read-only or any tag is frozen
    (the delete rule of the API, applied to everything the collection holds). Stored files go
    once no image references them (``receivers.py``). Returns what was deleted.
    """
    from .protection import ContentFrozen, collection_blockers

    permissions.require_push(user, collection)
    with transaction.atomic():
        locked = Collection.objects.select_for_update().filter(pk=collection.pk).first()
        if locked is None:
            raise NotFound(f"collection {collection} not found")
        blockers = collection_blockers([locked.pk])
        if blockers:
            raise ContentFrozen(f"Permission denied: collection {collection} cannot be deleted: {blockers[locked.pk]}")
        pk = locked.pk
        _, counts = locked.delete()
        summary = {
            "containers": counts.get("django_sylabs_library.Container", 0),
            "images": counts.get("django_sylabs_library.Image", 0),
            "tags": counts.get("django_sylabs_library.Tag", 0),
        }
        audit.record(
            audit.COLLECTION_DELETE,
            object_type="collection",
            ref=f"{collection.entity.name}/{collection.name}",
            object_id=pk,
            actor=user,
            detail=summary,
        )
    logger.info("collection %s deleted by user id %s (%s)", collection, getattr(user, "pk", None), summary)
    return summary
