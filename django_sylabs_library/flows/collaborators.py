"""Collaborators of a collection: users or teams (groups), granted through guardian.

Roles (``permissions.py``): a *collaborator* (``pull_collection``) sees and pulls, also when
the collection is private; an *owner* grant (``push_collection``) adds push, tag, freeze,
delete and settings. The entity's owner and its team's members are owners without a grant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from .. import permissions
from ..exceptions import InvalidInput, NotFound
from ..models import Collection
from ..permissions import Role
from . import audit

logger = logging.getLogger(__name__)

ROLES = {"collaborator": Role.COLLABORATOR, "owner": Role.OWNER}


@dataclass(frozen=True)
class Principal:
    """A user or a group (a team's group, or any Django group) named in a grant."""

    obj: Any
    is_group: bool

    @property
    def label(self) -> str:
        if self.is_group:
            team = getattr(self.obj, "sylabs_team", None)
            return f"team {team.name}" if team is not None else f"group {self.obj.name}"
        return f"user {self.obj.get_username()}"


@dataclass(frozen=True)
class Grant:
    principal: Principal
    role: Role

    @property
    def role_name(self) -> str:
        return "owner" if self.role >= Role.OWNER else "collaborator"


def find_principal(username: Any = None, team: Any = None) -> Principal:
    """The user named ``username`` or the team (else group) named ``team``; exactly one."""
    if bool(username) == bool(team):
        raise InvalidInput("name either a user or a team")
    if username:
        if not isinstance(username, str):
            raise InvalidInput("username must be a string")
        User = get_user_model()
        user = User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username.strip()[:150]}).first()
        if user is None:
            raise NotFound(f"no user {username.strip()[:80]}")
        return Principal(user, False)
    if not isinstance(team, str):
        raise InvalidInput("team must be a string")
    from ..models import Team

    name = team.strip()
    found = Team.objects.select_related("group").filter(name=name.lower()).first()
    group = found.group if found is not None else Group.objects.filter(name=name).first()
    if group is None:
        raise NotFound(f"no team {name[:80]}")
    return Principal(group, True)


def find_collection(path: Any) -> Collection:
    """``entity/collection`` for operator tools (no visibility check)."""
    if not isinstance(path, str) or path.count("/") != 1:
        raise InvalidInput("name the collection as entity/collection")
    entity, name = (p.strip().lower() for p in path.split("/"))
    collection = Collection.objects.select_related("entity").filter(entity__name=entity, name=name).first()
    if collection is None:
        raise NotFound(f"collection {path[:130]} not found")
    return collection


def add_collaborator(
    user: Any, collection: Collection, principal: Principal, role: str = "collaborator", *, check: bool = True
) -> Grant:
    """Grant ``role`` (``collaborator`` or ``owner``) on the collection, replacing any other.

    ``check`` False is for operator tools (management commands) acting outside collection roles.
    """
    if role not in ROLES:
        raise InvalidInput("role must be collaborator or owner")
    if check:
        permissions.require_push(user, collection)
    with transaction.atomic():
        permissions.revoke(collection, principal.obj)
        if ROLES[role] >= Role.OWNER:
            permissions.grant_owner(collection, principal.obj)
        else:
            permissions.grant_collaborator(collection, principal.obj)
        audit.record(audit.COLLABORATOR_ADD, collection, actor=user, detail=_grant_detail(principal, role))
    collection.__dict__.pop("_sylabs_roles", None)
    logger.info("%s granted %s on %s", principal.label, role, collection)
    return Grant(principal, ROLES[role])


def remove_collaborator(user: Any, collection: Collection, principal: Principal, *, check: bool = True) -> None:
    if check:
        permissions.require_push(user, collection)
    current = {(g.principal.is_group, g.principal.obj.pk) for g in list_collaborators(None, collection, check=False)}
    if (principal.is_group, principal.obj.pk) not in current:
        raise NotFound(f"{principal.label} is not a collaborator of {collection}")
    with transaction.atomic():
        permissions.revoke(collection, principal.obj)
        audit.record(audit.COLLABORATOR_REMOVE, collection, actor=user, detail=_grant_detail(principal))
    collection.__dict__.pop("_sylabs_roles", None)
    logger.info("%s removed from %s", principal.label, collection)


def _grant_detail(principal: Principal, role: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"principal": principal.label, "principal_id": principal.obj.pk}
    if role is not None:
        detail["role"] = role
    return detail


def list_collaborators(user: Any, collection: Collection, *, check: bool = True) -> list[Grant]:
    """Users first, then teams and groups, each by name (two queries). Owners and
    collaborators may list them."""
    if check:
        permissions.require_view(user, collection)
        if permissions.collection_role(user, collection) < Role.COLLABORATOR:
            return []
    users, groups = permissions.grants(collection)
    return [Grant(Principal(u, False), r) for u, r in users] + [Grant(Principal(g, True), r) for g, r in groups]
