"""``GET [<entity>/]api/container/<collection>/<container>[:tag][@digest]``: a bare manifest.

Apptainer's shub client sends no token, so only public images are served (private ones are
404). ``commit`` names the client's cache file: it must be non-empty and unique per content,
so it is the image's SHA-256 (spec section 6).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from ..api.exceptions import allow_methods, error_response
from ..api.views import absolute_url
from ..exceptions import InvalidInput, LibraryError
from ..flows.images import resolve_image
from ..refs import ImageRef, parse_ref

_DIGEST_RE = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40})$")


def _parse(name: str, entity: str | None) -> ImageRef:
    name, _, digest = name.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise InvalidInput("digest must be 32 or 40 hex characters")
    if name.count("/") != 1:
        raise InvalidInput("shub references are collection/container[:tag]")
    ref = parse_ref(f"{entity}/{name}" if entity else name)
    if ref.hash:
        raise InvalidInput("shub references name a tag, not a hash")
    return ref


@allow_methods("GET")
def manifest(request: HttpRequest, name: str, entity: str | None = None) -> HttpResponse:
    try:
        ref = _parse(name, entity)
        image = resolve_image(None, ref)  # anonymous: public images only
    except LibraryError as exc:
        return error_response(exc.status, exc.message)
    container = image.container
    collection = container.collection
    path = reverse(
        "django_sylabs_library:imagefile",
        kwargs={"ref": f"{collection.entity.name}/{collection.name}/{container.name}:{image.hash}"},
    )
    query = urlencode({"arch": image.arch}) if image.arch else ""
    body: dict[str, Any] = {
        "id": str(image.pk),
        "name": container.name,
        "tag": ref.tag,
        "image": absolute_url(request, path) + (f"?{query}" if query else ""),
        "version": image.hash,
        "commit": image.sha256_hex,
        "collection": collection.name,
        "entity": collection.entity.name,
        "size": image.size,
        "arch": image.arch,
        "frozen": any(t.frozen for t in image.tags.all()),
        "add_date": image.created_at.isoformat(),
    }
    return JsonResponse(body)
