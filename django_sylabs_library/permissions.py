"""The one place that decides who may see or change what.

Every API view, web page, admin action and management command asks these functions. Roles on a
collection (containers and images follow their collection):

* **owner**: the owner of the collection's entity, a member of the entity's team, a user or
  group granted ``push_collection`` through guardian, or a superuser. Owners push, tag, delete,
  freeze, change privacy and manage collaborators.
* **collaborator**: a user or group granted ``pull_collection``. Collaborators see and pull a
  private collection but may not push (the reference guide's rule).
* **reader**: anyone, including anonymous clients, on a public collection.

Private collections are invisible to everyone else: lookups, listings, searches and counts
behave as if they did not exist, so callers answer 404 rather than 403.
"""

from __future__ import annotations

import enum
from typing import Any

from django.db.models import Q, QuerySet
from guardian.shortcuts import assign_perm, remove_perm

from .exceptions import Forbidden, NotFound
from .models import (
    Collection,
    CollectionGroupObjectPermission,
    CollectionUserObjectPermission,
    Container,
    Entity,
    Image,
    Team,
)

PULL = "pull_collection"
PUSH = "push_collection"


class Role(enum.IntEnum):
    NONE = 0
    READER = 1
    COLLABORATOR = 2
    OWNER = 3


def _is_authenticated(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def is_superuser(user: Any) -> bool:
    return _is_authenticated(user) and bool(getattr(user, "is_superuser", False))


def is_team_member(user: Any, team_id: Any) -> bool:
    """Whether the user is in the team's group (one query)."""
    if team_id is None or not _is_authenticated(user):
        return False
    return Team.objects.filter(pk=team_id, group__user=user).exists()


def owns_entity(user: Any, entity: Entity) -> bool:
    """The entity's owner user, any member of its team, or a superuser (cached on the entity)."""
    if not _is_authenticated(user):
        return False
    if is_superuser(user) or (entity.owner_id is not None and entity.owner_id == user.pk):
        return True
    if entity.team_id is None:
        return False
    cache = entity.__dict__.setdefault("_sylabs_team_member", {})
    key = (user.pk, entity.team_id)
    if key not in cache:
        cache[key] = is_team_member(user, entity.team_id)
    return cache[key]


def owned_entities(user: Any, queryset: QuerySet[Entity] | None = None) -> QuerySet[Entity]:
    """Entities the user owns directly or through a team (superusers: their own and teams' only)."""
    qs = Entity.objects.all() if queryset is None else queryset
    if not _is_authenticated(user):
        return qs.none()
    return qs.filter(Q(owner=user) | Q(team__in=Team.objects.filter(group__user=user).values("pk")))


def _granted_codenames(user: Any, collection: Collection) -> set[str]:
    direct = CollectionUserObjectPermission.objects.filter(content_object=collection, user=user).values_list(
        "permission__codename", flat=True
    )
    via_groups = CollectionGroupObjectPermission.objects.filter(
        content_object=collection, group__user=user
    ).values_list("permission__codename", flat=True)
    return set(direct) | set(via_groups)


def collection_role(user: Any, collection: Collection) -> Role:
    """The caller's role on a collection (cached on the collection object for the request)."""
    key = getattr(user, "pk", None) if _is_authenticated(user) else None
    cache = collection.__dict__.setdefault("_sylabs_roles", {})
    if key in cache:
        return cache[key]
    role = Role.READER if not collection.private else Role.NONE
    if key is not None:
        if is_superuser(user) or owns_entity(user, collection.entity):
            role = Role.OWNER
        else:
            granted = _granted_codenames(user, collection)
            if PUSH in granted:
                role = Role.OWNER
            elif PULL in granted:
                role = max(role, Role.COLLABORATOR)
    cache[key] = role
    return role


def can_view_collection(user: Any, collection: Collection) -> bool:
    return collection_role(user, collection) >= Role.READER


def can_push(user: Any, collection: Collection) -> bool:
    return collection_role(user, collection) >= Role.OWNER


def require_view(user: Any, collection: Collection, what: str = "collection") -> None:
    """Raise NotFound (never Forbidden) when the caller may not see the collection."""
    if not can_view_collection(user, collection):
        raise NotFound(f"{what} not found")


def require_push(user: Any, collection: Collection) -> None:
    """Raise NotFound when invisible, Forbidden when visible but not the caller's to change."""
    require_view(user, collection)
    if not can_push(user, collection):
        if not _is_authenticated(user):
            from .exceptions import NotAuthenticated

            raise NotAuthenticated()
        raise Forbidden(
            f"Permission denied: only owners of collection {collection.entity.name}/"
            f"{collection.name} may push, tag or delete in it"
        )


def can_create_entity(user: Any, name: str, own_entity_name: str | None) -> bool:
    """Users may create only their own entity; staff may create any."""
    if not _is_authenticated(user):
        return False
    return bool(user.is_staff or user.is_superuser or name == own_entity_name)


def require_create_collection(user: Any, entity: Entity) -> None:
    if not owns_entity(user, entity):
        raise Forbidden(f"Permission denied: you may only create collections in an entity you own (not {entity.name})")


def visible_collections(user: Any, queryset: QuerySet[Collection] | None = None) -> QuerySet[Collection]:
    """Filter a collection queryset down to what the caller may see (one SQL query)."""
    qs = Collection.objects.all() if queryset is None else queryset
    if not _is_authenticated(user):
        return qs.filter(private=False)
    if is_superuser(user):
        return qs
    granted = CollectionUserObjectPermission.objects.filter(user=user, permission__codename__in=[PULL, PUSH]).values(
        "content_object_id"
    )
    granted_to_groups = CollectionGroupObjectPermission.objects.filter(
        group__user=user, permission__codename__in=[PULL, PUSH]
    ).values("content_object_id")
    team_entities = Entity.objects.filter(team__group__user=user).values("pk")
    # Subqueries, not joins: one SQL statement and no duplicate rows.
    return qs.filter(
        Q(private=False)
        | Q(entity__owner=user)
        | Q(entity__in=team_entities)
        | Q(pk__in=granted)
        | Q(pk__in=granted_to_groups)
    )


def visible_containers(user: Any, queryset: QuerySet[Container] | None = None) -> QuerySet[Container]:
    qs = Container.objects.all() if queryset is None else queryset
    return qs.filter(collection__in=visible_collections(user).values("pk"))


def visible_images(user: Any, queryset: QuerySet[Image] | None = None) -> QuerySet[Image]:
    """Uploaded images in visible collections (incomplete uploads are nobody's business)."""
    qs = Image.objects.all() if queryset is None else queryset
    return qs.filter(uploaded=True, container__collection__in=visible_collections(user).values("pk"))


def grant_collaborator(collection: Collection, user_or_group: Any) -> None:
    assign_perm(PULL, user_or_group, collection)


def grant_owner(collection: Collection, user_or_group: Any) -> None:
    assign_perm(PUSH, user_or_group, collection)


def revoke(collection: Collection, user_or_group: Any) -> None:
    for codename in (PULL, PUSH):
        remove_perm(codename, user_or_group, collection)
    collection.__dict__.pop("_sylabs_roles", None)


def grants(collection: Collection) -> tuple[list[tuple[Any, Role]], list[tuple[Any, Role]]]:
    """Who was granted what on a collection: ``(users, groups)``, each a list of
    ``(user_or_group, Role.COLLABORATOR | Role.OWNER)`` sorted by name (two queries)."""
    users: dict[int, tuple[Any, Role]] = {}
    for row in CollectionUserObjectPermission.objects.filter(
        content_object=collection, permission__codename__in=[PULL, PUSH]
    ).select_related("user", "permission"):
        role = Role.OWNER if row.permission.codename == PUSH else Role.COLLABORATOR
        if row.user_id not in users or users[row.user_id][1] < role:
            users[row.user_id] = (row.user, role)
    groups: dict[int, tuple[Any, Role]] = {}
    for row in CollectionGroupObjectPermission.objects.filter(
        content_object=collection, permission__codename__in=[PULL, PUSH]
    ).select_related("group__sylabs_team", "permission"):
        role = Role.OWNER if row.permission.codename == PUSH else Role.COLLABORATOR
        if row.group_id not in groups or groups[row.group_id][1] < role:
            groups[row.group_id] = (row.group, role)
    return (
        sorted(users.values(), key=lambda item: item[0].get_username().lower()),
        sorted(groups.values(), key=lambda item: item[0].name.lower()),
    )


__all__ = [
    "Role",
    "can_create_entity",
    "can_push",
    "can_view_collection",
    "collection_role",
    "grant_collaborator",
    "grant_owner",
    "grants",
    "is_superuser",
    "is_team_member",
    "owned_entities",
    "owns_entity",
    "require_create_collection",
    "require_push",
    "require_view",
    "revoke",
    "visible_collections",
    "visible_containers",
    "visible_images",
]
