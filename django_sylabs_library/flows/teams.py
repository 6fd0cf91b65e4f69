"""Teams: a Django group whose members act as owners of the team's entity.

Creating a team creates (or adopts) the group and an entity of the team's name, so members
can push to ``library://<team>/<collection>/<container>:<tag>`` at once. Membership is group
membership: add users in the admin (team or group page), through LDAP/SSO group sync, or with
``add_member``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from ..exceptions import Conflict, InvalidInput, NotFound
from ..models import Entity, Team
from ..refs import validate_name
from . import audit
from .namespaces import _description, _is_reserved

logger = logging.getLogger(__name__)


def create_team(
    name: Any,
    *,
    description: Any = "",
    members: Iterable[Any] = (),
    group: Group | None = None,
    entity: bool = True,
) -> Team:
    """Create a team (and, with ``entity``, its entity of the same name).

    Args:
        name: a valid entity name, not reserved and not taken by an entity.
        description: shown on the team's entity page.
        members: users to add to the team's group.
        group: an existing group to turn into a team; by default a group named like the team is
            created, or adopted when it exists and is not a team yet.
        entity: create the team's entity (``False`` when an existing entity is handed over).

    >>> team = create_team("lab-x", members=[alice, bob])
    >>> team.entities.get().name
    'lab-x'
    """
    name = validate_name(name, "team name")
    description = _description(description)
    if _is_reserved(name):
        raise InvalidInput(f"team name {name} is reserved")
    if entity and Entity.objects.filter(name=name).exists():
        raise Conflict(f"an entity named {name} already exists")
    try:
        with transaction.atomic():
            if group is None:
                group, _ = Group.objects.get_or_create(name=name)
            if Team.objects.filter(group=group).exists():
                raise Conflict(f"group {group.name} is already a team")
            team = Team.objects.create(group=group, name=name, description=description)
            audit.record(audit.TEAM_CREATE, team, detail={"group": group.name, "entity": bool(entity)})
            if entity:
                Entity.objects.create(name=name, team=team, personal=False, description=description or name)
            for user in members:
                group.user_set.add(user)
    except IntegrityError:
        raise Conflict(f"team {name} already exists") from None
    logger.info("team %s created (group id %s)", name, group.pk)
    return team


def get_team(name: Any) -> Team:
    """A team by its name, else by its group's name."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("team name is required")
    team = Team.objects.select_related("group").filter(name=name.lower()).first()
    if team is None:
        team = Team.objects.select_related("group").filter(group__name=name).first()
    if team is None:
        raise NotFound(f"no team {name[:80]}")
    return team


def add_member(team: Team, user: Any) -> None:
    team.group.user_set.add(user)
    logger.info("user id %s added to team %s", user.pk, team.name)


def remove_member(team: Team, user: Any) -> None:
    team.group.user_set.remove(user)
    logger.info("user id %s removed from team %s", user.pk, team.name)


def members(team: Team) -> list[Any]:
    return sorted(team.group.user_set.all(), key=lambda u: u.get_username().lower())
