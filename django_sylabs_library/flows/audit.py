"""The audit log: one ``AuditEvent`` row per change to the library (docs/security.md).

Flows call ``record(action, obj, ...)`` right where the change happens (inside its transaction
when it has one), so every way in (API, web pages, admin, management commands) is covered by
the same line. Who and from where reach the flows without request objects: the entry points
open an audit context (a ``contextvars.ContextVar``):

* the API's ``LibraryView.dispatch`` and the keyserver's add view (``request_context``), whose
  authentication fills in the user and the token's prefix (``set_actor``);
* the web pages (``web/mixins.py``, the token views) and the admin (``request_context``);
* management commands (``command_context("sylabs_library_freeze")``: the actor is
  ``manage.py sylabs_library_freeze``).

Events name their object by type, a reference string (``entity/collection/container:tag``)
and its primary key, never by foreign key, so they outlive what they describe. The actor is a
nullable foreign key plus the username at the time, so events outlive users too.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..models import AuditEvent, Collection, Container, Entity, Image, SigningKey, Tag, Team, Token

logger = logging.getLogger(__name__)

# Actions, one per kind of change (the ``action`` column; the admin filters by it).
IMAGE_PUSH = "image.push"
IMAGE_DELETE = "image.delete"
IMAGE_DISCARD = "image.discard"
TAG_SET = "tag.set"
TAG_MOVE = "tag.move"
TAG_FREEZE = "tag.freeze"
TAG_UNFREEZE = "tag.unfreeze"
TAG_DELETE = "tag.delete"
CONTAINER_CREATE = "container.create"
CONTAINER_READ_ONLY = "container.read_only"
CONTAINER_WRITABLE = "container.writable"
CONTAINER_DELETE = "container.delete"
COLLECTION_CREATE = "collection.create"
COLLECTION_PRIVATE = "collection.private"
COLLECTION_PUBLIC = "collection.public"
COLLECTION_DELETE = "collection.delete"
ENTITY_CREATE = "entity.create"
ENTITY_TRANSFER = "entity.transfer"
ENTITY_DELETE = "entity.delete"
COLLABORATOR_ADD = "collaborator.add"
COLLABORATOR_REMOVE = "collaborator.remove"
TEAM_CREATE = "team.create"
TEAM_DELETE = "team.delete"
TEAM_MEMBER_ADD = "team.member_add"
TEAM_MEMBER_REMOVE = "team.member_remove"
TOKEN_CREATE = "token.create"
TOKEN_REVOKE = "token.revoke"
USER_DEACTIVATE = "user.deactivate"
KEY_ADD = "key.add"
KEY_UPDATE = "key.update"
KEY_DELETE = "key.delete"
ADMIN_CHANGE = "admin.change"

VIA_SESSION = "session"
VIA_COMMAND = "command"


@dataclass
class AuditContext:
    """Who is acting and from where, for the events recorded while it is current."""

    actor: Any = None
    actor_name: str = ""
    remote_addr: str | None = None
    via: str = ""


_current: ContextVar[AuditContext | None] = ContextVar("sylabs_library_audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


@contextmanager
def context(
    *, actor: Any = None, actor_name: str = "", remote_addr: str | None = None, via: str = ""
) -> Iterator[AuditContext]:
    """Make an ``AuditContext`` current for the block (and restore the previous one after)."""
    ctx = AuditContext(actor=None, actor_name=actor_name, remote_addr=_clean_addr(remote_addr), via=via)
    if actor is not None:
        _set_actor(ctx, actor, via)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def request_context(request: Any, *, session_user: bool = True) -> Any:
    """The context of a web or API request: its remote address, and the logged-in user
    (``session_user``; API views leave it to their authentication, which calls ``set_actor``)."""
    from ..api.throttling import client_ip  # REMOTE_ADDR, or X-Forwarded-For of RATE_LIMIT_NUM_PROXIES proxies

    user = getattr(request, "user", None) if session_user else None
    actor = user if user is not None and getattr(user, "is_authenticated", False) else None
    return context(actor=actor, remote_addr=client_ip(request), via=VIA_SESSION if actor is not None else "")


def command_context(command: str) -> Any:
    """The context of a management command: the actor is ``manage.py <command>``."""
    return context(actor_name=f"manage.py {command}"[:150], via=VIA_COMMAND)


def set_actor(user: Any, token: Any = None) -> None:
    """Called by authentication: the acting user and how (a token's prefix, else ``session``)."""
    ctx = _current.get()
    if ctx is None or user is None or not getattr(user, "is_authenticated", False):
        return
    via = getattr(token, "key_prefix", "") if token is not None else VIA_SESSION
    _set_actor(ctx, user, via or VIA_SESSION)


def _set_actor(ctx: AuditContext, user: Any, via: str) -> None:
    ctx.actor = user
    ctx.actor_name = user.get_username()[:150]
    ctx.via = via or ctx.via


def _clean_addr(value: Any) -> str | None:
    """An IP address or None (a UNIX socket's empty REMOTE_ADDR, or anything odd)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def describe(obj: Any) -> tuple[str, str, int | None]:
    """``(object_type, reference, pk)`` of a library object, as stored in an event."""
    if isinstance(obj, Entity):
        return "entity", obj.name, obj.pk
    if isinstance(obj, Collection):
        return "collection", f"{obj.entity.name}/{obj.name}", obj.pk
    if isinstance(obj, Container):
        collection = obj.collection
        return "container", f"{collection.entity.name}/{collection.name}/{obj.name}", obj.pk
    if isinstance(obj, Image):
        return "image", f"{describe(obj.container)[1]}:{obj.hash}", obj.pk
    if isinstance(obj, Tag):
        return "tag", f"{describe(obj.container)[1]}:{obj.name}", obj.pk
    if isinstance(obj, Token):
        return "token", f"{obj.user.get_username()}/{obj.name}", obj.pk
    if isinstance(obj, SigningKey):
        return "key", obj.fingerprint.upper(), obj.pk
    if isinstance(obj, Team):
        return "team", obj.name, obj.pk
    name = type(obj).__name__.lower()
    return name[:32], str(obj)[:512], getattr(obj, "pk", None)


def record(
    action: str,
    obj: Any = None,
    *,
    actor: Any = None,
    detail: dict[str, Any] | None = None,
    object_type: str | None = None,
    ref: str | None = None,
    object_id: int | None = None,
) -> AuditEvent:
    """Write one event.

    The actor is the current context's (the authenticated requester, or ``manage.py
    <command>``); ``actor``, the user the flow acts for, is used only without one (flows called
    from a shell or a test).
    """
    ctx = _current.get() or AuditContext()
    if obj is not None:
        described = describe(obj)
        object_type = object_type or described[0]
        ref = ref if ref is not None else described[1]
        object_id = object_id if object_id is not None else described[2]
    if ctx.actor is not None or ctx.actor_name:
        actor, actor_name = ctx.actor, ctx.actor_name
    elif actor is not None and getattr(actor, "is_authenticated", False):
        actor_name = actor.get_username()[:150]
    else:
        actor, actor_name = None, ""
    via = ctx.via
    event = AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk is not None else None,
        actor_name=actor_name,
        action=action,
        object_type=(object_type or "")[:32],
        object_ref=(ref or "")[:512],
        object_id=object_id,
        detail=detail or {},
        remote_addr=ctx.remote_addr,
        via=(via or "")[:32],
    )
    # Not the reference: a token's names its prefix, and logs never carry token material.
    logger.info("audit: %s %s id %s", action, event.object_type, event.object_id)
    return event


def image_ref(image: Image) -> dict[str, Any]:
    """An image as it appears in an event's ``detail`` (e.g. a tag's old and new image)."""
    return {"id": image.pk, "hash": image.hash}


def membership_changed(
    sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any
) -> None:
    """``m2m_changed`` of users' groups: joining or leaving a team's group, by any path (the
    admin's team, group or user pages, ``flows.teams``, LDAP/SSO group sync), is a team change."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    from django.contrib.auth import get_user_model

    if action == "pre_clear":
        # ``clear()`` names no pks; record the members it is about to remove.
        pk_set = set(
            instance.user_set.values_list("pk", flat=True) if reverse else instance.groups.values_list("pk", flat=True)
        )
    if not pk_set:
        return
    if reverse:  # group.user_set.add(users)
        group_ids, user_ids = [instance.pk], list(pk_set)
    else:  # user.groups.add(groups)
        group_ids, user_ids = list(pk_set), [instance.pk]
    teams = list(Team.objects.filter(group_id__in=group_ids))
    if not teams:
        return
    users = {u.pk: u.get_username() for u in get_user_model().objects.filter(pk__in=user_ids)}
    what = TEAM_MEMBER_ADD if action == "post_add" else TEAM_MEMBER_REMOVE
    for team in teams:
        for user_id in sorted(users):
            record(what, team, detail={"user": users[user_id], "user_id": user_id})
