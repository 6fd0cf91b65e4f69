"""The copy-paste block of client commands on collection and container pages.

Exact commands for ``apptainer`` and ``singularity``: ``remote add`` (``--insecure`` when the
site is plain http), ``remote login``, ``pull`` and ``push``, and ``pull shub://`` only where the
client can use it. Apptainer's shub reference accepts no port in the registry host, and no
``_`` in the host or the entity, and the collection must be letters, digits and ``-`` (at most
39); on plain http it needs ``--no-https`` (``--nohttps`` for singularity, which older versions
know only in that spelling). Where shub cannot work, the block says why instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.urls import NoReverseMatch, reverse

from ..api.views import library_base_url

REMOTE_NAME = "mylib"
_SHUB_USER_RE = re.compile(r"^[A-Za-z0-9-]{1,39}$")
_SHUB_PART_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SHUB_REGISTRY_RE = re.compile(r"^[A-Za-z0-9.\-/]+$")


@dataclass
class Line:
    text: str
    key: str = ""
    comment: bool = False


@dataclass
class ClientCommands:
    remote_uri: str
    insecure: bool
    token_url: str
    apptainer: list[Line] = field(default_factory=list)
    singularity: list[Line] = field(default_factory=list)
    shub_note: str = ""


def _shub_problem(parts: Any, entity: str, collection: str, container: str, tag: str, public: bool) -> str:
    if not public:
        return "shub:// pulls are not shown: they send no token, so they work for public collections only."
    if parts.port is not None:
        return (
            "shub:// pulls are not shown: Apptainer accepts no port in a shub:// address, and this site is "
            f"served on port {parts.port}."
        )
    registry = f"{parts.hostname or ''}{parts.path.rstrip('/')}/{entity}"
    if not _SHUB_REGISTRY_RE.match(registry):
        return "shub:// pulls are not shown: the shub:// address would contain characters the client refuses."
    if not _SHUB_USER_RE.match(collection):
        return (
            "shub:// pulls are not shown: the client accepts only letters, digits and '-' (at most 39) as the "
            f"collection of a shub:// address, not {collection}."
        )
    if not (_SHUB_PART_RE.match(container) and _SHUB_PART_RE.match(tag)):
        return "shub:// pulls are not shown: the container or tag is not valid in a shub:// address."
    return ""


def client_commands(
    request: Any,
    entity: str,
    collection: str,
    container: str,
    tag: str = "latest",
    arch: str = "",
    push_tag: str | None = None,
    public: bool = True,
) -> ClientCommands:
    """Commands for ``library://entity/collection/container:tag`` on this site."""
    base = library_base_url(request)
    parts = urlsplit(base)
    insecure = parts.scheme == "http"
    remote_uri = parts.netloc + parts.path.rstrip("/")
    try:
        token_url = request.build_absolute_uri(reverse("django_sylabs_library:tokens"))
    except NoReverseMatch:  # pragma: no cover - the token page is part of the web URLs
        token_url = ""
    ref = f"library://{entity}/{collection}/{container}"
    arch_flag = f"--arch {arch} " if arch else ""
    shub_problem = _shub_problem(parts, entity, collection, container, tag, public)
    result = ClientCommands(remote_uri=remote_uri, insecure=insecure, token_url=token_url, shub_note=shub_problem)
    for client in ("apptainer", "singularity"):
        lines: list[Line] = [
            Line("# once: add this library as your default remote, then log in", comment=True),
            Line(f"# (paste a token from {token_url})", comment=True),
            Line(
                f"{client} remote add --no-login {'--insecure ' if insecure else ''}{REMOTE_NAME} {remote_uri}",
                f"{client}-remote-add",
            ),
            Line(f"{client} remote login {REMOTE_NAME}", f"{client}-remote-login"),
            Line(f"{client} pull {arch_flag}{ref}:{tag}", f"{client}-pull"),
            Line(f"{client} push -U {container}.sif {ref}:{push_tag or tag}", f"{client}-push"),
        ]
        if not shub_problem:
            flag = ("--no-https " if client == "apptainer" else "--nohttps ") if insecure else ""
            registry = f"{parts.hostname}{parts.path.rstrip('/')}/{entity}"
            lines.append(
                Line(f"{client} pull {flag}shub://{registry}/{collection}/{container}:{tag}", f"{client}-shub")
            )
        setattr(result, client, lines)
    return result
