"""What happens to a user's entities and images when the user leaves.

The policy (docs/admin.md, "Users who leave"):

* **Deleting** a user never loses images silently. An entity the user owns is deleted with
  the user only when it holds no collection; an entity that also belongs to a team stays with
  the team. Any other entity blocks the deletion (``Entity.owner`` uses
  ``models.PROTECT_CONTENT``: ``ProtectedError``, and the admin lists it as protected) until
  its content is transferred or removed.
* **Deactivating** a user (``deactivate_user``) revokes their tokens; their entities and
  images stay as they are, readable as before, and only superusers (and users or teams granted
  ``push_collection``) can change them until they are transferred.
* **Transferring** (``transfer_content``) hands every entity the user owns to another user or
  to a team, names unchanged, so ``library://`` references keep working.
* **Removing** (``remove_content``) deletes the user's entities with their collections,
  containers and images, and is refused, deleting nothing, while any tag is frozen or any
  container is read-only.

The admin's user list offers these as actions ("Transfer or remove library content of the
selected users", "Deactivate the selected users").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from ..exceptions import InvalidInput
from ..models import Collection, Entity, Team, Token
from . import audit
from .protection import ContentFrozen, entity_blockers

logger = logging.getLogger(__name__)


@dataclass
class EntityContent:
    entity: Entity
    collections: int = 0
    containers: int = 0
    images: int = 0
    size: int = 0
    blocked: str = ""

    @property
    def shared_with_team(self) -> bool:
        return self.entity.team_id is not None


@dataclass
class ContentSummary:
    """What a user owns in the library, for the admin's confirmation pages."""

    user: Any
    entities: list[EntityContent] = field(default_factory=list)
    active_tokens: int = 0

    @property
    def images(self) -> int:
        return sum(e.images for e in self.entities)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entities)

    @property
    def collections(self) -> int:
        return sum(e.collections for e in self.entities)

    @property
    def protected(self) -> list[EntityContent]:
        """Entities that would block deleting the user (they hold collections, no team)."""
        return [e for e in self.entities if e.collections and not e.shared_with_team]

    @property
    def deleted_with_user(self) -> list[EntityContent]:
        return [e for e in self.entities if not e.collections and not e.shared_with_team]


def content_summary(user: Any) -> ContentSummary:
    """Entities the user owns with their sizes, and the active tokens (three queries)."""
    entities = list(
        Entity.objects.filter(owner=user)
        .select_related("team")
        .annotate(
            n_collections=Count("collections", distinct=True),
            n_containers=Count("collections__containers", distinct=True),
        )
        .order_by("name")
    )
    sizes = {
        row["entity"]: row
        for row in Collection.objects.filter(entity__in=[e.pk for e in entities])
        .values("entity")
        .annotate(
            n_images=Count("containers__images", filter=Q(containers__images__uploaded=True)),
            size=Sum("containers__images__size", filter=Q(containers__images__uploaded=True)),
        )
    }
    blockers = entity_blockers([e.pk for e in entities])
    now = timezone.now()
    tokens = (
        Token.objects.filter(user=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )
    summary = ContentSummary(user=user, active_tokens=tokens)
    for entity in entities:
        row = sizes.get(entity.pk, {})
        summary.entities.append(
            EntityContent(
                entity=entity,
                collections=entity.n_collections,
                containers=entity.n_containers,
                images=row.get("n_images") or 0,
                size=row.get("size") or 0,
                blocked=blockers.get(entity.pk, ""),
            )
        )
    return summary


def transfer_entities(
    entities: Iterable[Entity], *, to_user: Any = None, to_team: Team | None = None, keep_teams: bool = False
) -> list[Entity]:
    """Hand entities to ``to_user`` or ``to_team`` (exactly one); see ``transfer_content``.

    With ``keep_teams``, an entity that already belongs to a team keeps that team (and, for
    ``to_team``, only loses its owner user).
    """
    if (to_user is None) == (to_team is None):
        raise InvalidInput("transfer to either a user or a team")
    ids = [e.pk for e in entities]
    with transaction.atomic():
        moved = list(Entity.objects.select_for_update().filter(pk__in=ids).order_by("name"))
        for entity in moved:
            entity.personal = False
            if to_team is not None:
                entity.owner = None
                if not (keep_teams and entity.team_id):
                    entity.team = to_team
            else:
                entity.owner = to_user
            entity.save(update_fields=["owner", "team", "personal", "updated_at"])
            audit.record(
                audit.ENTITY_TRANSFER,
                entity,
                detail={
                    "to_user": to_user.get_username() if to_user is not None else None,
                    "to_team": to_team.name if to_team is not None else None,
                },
            )
    target = f"team {to_team.name}" if to_team is not None else f"user id {to_user.pk}"
    logger.info("entities %s transferred to %s", [e.name for e in moved], target)
    return moved


def transfer_content(user: Any, *, to_user: Any = None, to_team: Team | None = None) -> list[Entity]:
    """Hand every entity ``user`` owns to ``to_user`` or ``to_team`` (exactly one).

    Names, collections, images, tags, privacy and collaborators stay as they are, so
    ``library://`` references keep working. A personal entity stops being personal (the new
    owner keeps their own); with ``to_team`` the entity's owner is cleared and the team's
    members become its owners. An entity that already belongs to a team keeps that team, and
    gets ``to_user`` as its owner user (or, with ``to_team``, just loses its owner user).
    """
    if to_user is not None and to_user.pk == user.pk:
        raise InvalidInput("cannot transfer to the same user")
    return transfer_entities(Entity.objects.filter(owner=user), to_user=to_user, to_team=to_team, keep_teams=True)


def remove_content(user: Any) -> list[str]:
    """Delete the entities ``user`` alone owns, with everything in them.

    Entities that also belong to a team only lose their link to the user. Refused with
    ``ContentFrozen``, deleting nothing, while any of the user's entities holds a frozen tag or a
    read-only container. Returns the names of the deleted entities.
    """
    with transaction.atomic():
        entities = list(Entity.objects.select_for_update().filter(owner=user))
        alone = [e for e in entities if e.team_id is None]
        blockers = entity_blockers([e.pk for e in alone])
        if blockers:
            details = "; ".join(f"{e.name}: {blockers[e.pk]}" for e in alone if e.pk in blockers)
            raise ContentFrozen(f"Permission denied: not removed, frozen content in {details}")
        shared = [e.pk for e in entities if e.team_id is not None]
        Entity.objects.filter(pk__in=shared).update(owner=None, personal=False)
        names = [e.name for e in alone]
        Entity.objects.filter(pk__in=[e.pk for e in alone]).delete()
        for entity in alone:
            audit.record(
                audit.ENTITY_DELETE,
                object_type="entity",
                ref=entity.name,
                object_id=entity.pk,
                detail={"reason": f"content of user {user.get_username()} removed"},
            )
    logger.info("entities %s of user id %s removed", names, user.pk)
    return names


def deactivate_user(user: Any) -> int:
    """Set ``is_active`` false and revoke the user's tokens; their content stays. Returns the
    number of tokens revoked."""
    with transaction.atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
        revoked = Token.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit.record(
            audit.USER_DEACTIVATE,
            object_type="user",
            ref=user.get_username(),
            object_id=user.pk,
            detail={"tokens_revoked": revoked},
        )
    logger.info("user id %s deactivated, %d token(s) revoked", user.pk, revoked)
    return revoked
