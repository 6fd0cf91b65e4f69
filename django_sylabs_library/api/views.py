"""Library API views: parse the request, call a flow, serialise the answer. Nothing else.

Routes and call sequences: spec sections 3-5 and 8. Every answer is ``{"data": ...}`` except
where the client expects a bare object (discovery, rbac, oci-redirect, upload PUTs), and every
error is ``{"error": {"code", "message"}}`` (``api/exceptions.py``).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import API_VERSION, __version__, metrics, permissions
from ..conf import library_settings
from ..exceptions import InvalidInput, NotAuthenticated, NotFound
from ..flows import audit, namespaces, search, tags, uploads
from ..flows import images as image_flows
from ..flows.bodyreader import request_body
from ..flows.keys import keys_for_fingerprints
from ..flows.usage import entity_usage
from ..models import Collection, Container, Entity, Image
from ..redact import redact
from ..refs import parse_ref
from . import schema as doc
from . import serializers as s
from .authentication import BearerTokenAuthentication, ReadOnlyTokenPermission
from .downloads import blob_for_token, blob_response, download_mode, presigned_location, proxy_token, redirect_response
from .exceptions import library_exception_handler
from .parsing import content_length, read_json, refuse_nul_in_url
from .throttling import throttles_for

logger = logging.getLogger(__name__)


class FirstRendererNegotiation(BaseContentNegotiation):
    """The client sends no useful Accept header; always answer JSON."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class LibraryView(APIView):
    schema = AutoSchema()  # drf-spectacular's, whatever the host's REST_FRAMEWORK says
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [ReadOnlyTokenPermission]  # read-only tokens may only read
    parser_classes: list[Any] = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation
    secret_in_path = False  # the URL itself is the credential (upload, part and proxy download targets)

    def get_exception_handler(self) -> Any:
        return library_exception_handler

    def get_throttles(self) -> list[Any]:
        return throttles_for(self, self.request)  # SYLABS_LIBRARY["RATE_LIMITS"]; none by default

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with audit.request_context(request, session_user=False):  # who and from where, for the audit log
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()
        refuse_nul_in_url(request._request)
        super().initial(request, *args, **kwargs)
        audit.set_actor(self.user(request), request.auth)

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if metrics.enabled():
            started = getattr(self, "_started", None)
            elapsed = time.monotonic() - started if started is not None else 0.0
            metrics.observe_request(type(self).__name__, request.method, response.status_code, elapsed)
        if response.status_code >= 400 and self.secret_in_path:
            # Django's django.request logger would print the path, whose last segment is the credential:
            # log it here without the secret and tell Django it has been logged.
            level = logging.ERROR if response.status_code >= 500 else logging.WARNING
            logger.log(level, "%s: %s", response.reason_phrase, redact(request.path))
            response._has_been_logged = True
        return response

    @staticmethod
    def user(request: Any) -> Any:
        user = request.user
        return user if user is not None and user.is_authenticated else None

    @staticmethod
    def require_user(request: Any) -> Any:
        user = request.user
        if user is None or not user.is_authenticated:
            raise NotAuthenticated()
        return user


def data(value: Any, status: int = 200) -> Response:
    return Response({"data": value}, status=status)


def absolute_url(request: Any, path: str) -> str:
    """``PUBLIC_URL`` (a site behind a TLS proxy sets it) or the request's own origin + path."""
    origin = library_settings.PUBLIC_URL
    if origin:
        return origin.rstrip("/") + path
    return request.build_absolute_uri(path)


def library_base_url(request: Any) -> str:
    """Absolute URL where our API is mounted, without trailing slash (spec 1.1)."""
    mount = reverse("django_sylabs_library:version")[: -len("version")]
    return absolute_url(request, mount).rstrip("/")


def keystore_url(request: Any) -> str | None:
    """The keyserver's base URL, if our HKP views sit at the host root (the key client drops any
    path, spec 1.1); None otherwise."""
    try:
        path = reverse("django_sylabs_library:pks-lookup")
    except NoReverseMatch:
        return None
    if path != "/pks/lookup":
        return None
    return absolute_url(request, "/").rstrip("/")


# --- discovery and account --------------------------------------------------------------------


@doc.discovery
class DiscoveryView(LibraryView):
    """``/assets/config/config.prod.json``: a bare object of services (spec 3.1)."""

    authentication_classes: list[Any] = []
    rate_limited = False  # static and asked before every client operation, token or not

    def get(self, request: Any) -> Response:
        base = library_base_url(request)
        services: dict[str, Any] = {"libraryAPI": {"uri": base}, "tokenAPI": {"uri": base}}
        keystore = keystore_url(request)
        if keystore:
            services["keystoreAPI"] = {"uri": keystore}
        return Response(services)


@doc.version
class VersionView(LibraryView):
    """Never 401, whatever the token: the client would silently assume API v1 (spec 3.3)."""

    authentication_classes: list[Any] = []
    rate_limited = False  # static; without a token check every client would count as anonymous here

    def get(self, request: Any) -> Response:
        return data({"version": f"django-sylabs-library {__version__}", "apiVersion": API_VERSION})


@doc.token_status
class TokenStatusView(LibraryView):
    """``remote login`` stores the token only after a 200 here (spec 3.2)."""

    def get(self, request: Any) -> Response:
        user = self.user(request)
        if user is None:
            raise NotAuthenticated("Invalid Token")
        token = request.auth
        expires = getattr(token, "expires_at", None)
        return data(
            {
                "username": namespaces.user_entity_name(user),
                "status": "valid",
                "expiresAt": s.timestamp(expires) if expires else None,
            }
        )


@doc.current_user
class CurrentUserView(LibraryView):
    """``remote status`` identity line: a bare object (spec 3.4)."""

    def get(self, request: Any) -> Response:
        user = self.require_user(request)
        return Response(
            {
                "username": namespaces.user_entity_name(user),
                "email": getattr(user, "email", "") or "",
                "realname": user.get_full_name() if hasattr(user, "get_full_name") else "",
            }
        )


@doc.oci_redirect
class OciRedirectView(LibraryView):
    """Not a catch-all 200: any non-200 keeps Apptainer >= 1.2 on the Library API (spec 3.5)."""

    authentication_classes: list[Any] = []

    def get(self, request: Any) -> Response:
        raise NotFound("OCI-SIF is not offered by this library; use the Library API")


# --- entities, collections, containers --------------------------------------------------------


@doc.entity_list
class EntityListView(LibraryView):
    def post(self, request: Any) -> Response:
        user = self.require_user(request)
        body = read_json(request)
        entity = namespaces.create_entity(
            user, body.get("name"), body.get("description") or "", body.get("defaultprivate")
        )
        return data(s.entity_json(entity, []), status=201)


@doc.entity_detail
class EntityDetailView(LibraryView):
    def get(self, request: Any, name: str) -> Response:
        entity = namespaces.get_entity(name)
        user = self.user(request)
        entity = s.entities_for_json(Entity.objects.filter(pk=entity.pk), user).get()
        # size: bytes of the collections the caller can see (flows/usage.py); quota: 0 = unlimited
        size = entity_usage(user, entity, top=0).total
        return data(s.entity_json(entity, [c.pk for c in entity.collections.all()], size))


@doc.collection_list
class CollectionListView(LibraryView):
    def post(self, request: Any) -> Response:
        user = self.require_user(request)
        body = read_json(request)
        collection, created = namespaces.ensure_collection(
            user,
            body.get("entity"),
            body.get("name"),
            private=body.get("private"),
            description=body.get("description") or "",
        )
        if created:
            return data(s.collection_json(collection, []), status=201)
        existing = s.collections_for_json(Collection.objects.filter(pk=collection.pk)).get()
        return data(s.collection_with_containers(existing))


@doc.collection_detail
class CollectionDetailView(LibraryView):
    def get(self, request: Any, entity: str, collection: str) -> Response:
        found = namespaces.get_collection(self.user(request), entity, collection)
        found = s.collections_for_json(Collection.objects.filter(pk=found.pk)).get()
        return data(s.collection_with_containers(found))


@doc.container_list
class ContainerListView(LibraryView):
    def post(self, request: Any) -> Response:
        user = self.require_user(request)
        body = read_json(request)
        container, created = namespaces.ensure_container(
            user, body.get("collection"), body.get("name"), description=body.get("description") or ""
        )
        return data(self.serialise(container), status=201 if created else 200)

    @staticmethod
    def serialise(container: Container) -> dict[str, Any]:
        return s.container_json(s.containers_for_json(Container.objects.filter(pk=container.pk)).get())


@doc.container_detail
class ContainerDetailView(LibraryView):
    def get(self, request: Any, entity: str, collection: str, container: str) -> Response:
        found = namespaces.get_container(self.user(request), entity, collection, container)
        return data(ContainerListView.serialise(found))

    def put(self, request: Any, entity: str, collection: str, container: str) -> Response:
        user = self.require_user(request)
        found = namespaces.get_container(user, entity, collection, container)
        namespaces.update_container(user, found, read_json(request))
        return data(ContainerListView.serialise(found))


# --- images and tags --------------------------------------------------------------------------


def _image_json(image: Image) -> dict[str, Any]:
    return s.image_json(s.images_for_json(Image.objects.filter(pk=image.pk)).get())


def _arch(request: Any) -> str:
    value = request.query_params.get("arch", "")
    if not value:
        # Singularity 3.7.0 percent-encoded the '=', sending `arch%3Damd64` as a key (spec 9.2).
        for key in request.query_params:
            if key.startswith("arch="):
                return key[5:]
    return value


@doc.image_list
class ImageListView(LibraryView):
    def post(self, request: Any) -> Response:
        user = self.require_user(request)
        body = read_json(request)
        image, created = image_flows.ensure_image(
            user, body.get("container"), body.get("hash"), body.get("description") or ""
        )
        return data(_image_json(image), status=201 if created else 200)


@doc.image_detail
class ImageDetailView(LibraryView):
    def get(self, request: Any, ref: str) -> Response:
        image = image_flows.resolve_image(self.user(request), parse_ref(ref), _arch(request))
        return data(_image_json(image))

    def delete(self, request: Any, ref: str) -> Response:
        user = self.require_user(request)
        image = image_flows.delete_image(user, parse_ref(ref), _arch(request))
        return data({"status": "ok", "deleted": image.hash})


@doc.tags_v1
class TagsView(LibraryView):
    """``v1/tags/<containerID>`` (``{tag: id}``) and ``v2/tags/<containerID>`` (per arch)."""

    arch_aware = False

    def get(self, request: Any, container_id: str) -> Response:
        container = namespaces.container_by_id(self.user(request), container_id)
        return data(tags.tags_v2(container) if self.arch_aware else tags.tags_v1(container))

    def post(self, request: Any, container_id: str) -> Response:
        user = self.require_user(request)
        container = namespaces.container_by_id(user, container_id)
        body = read_json(request)
        arch = body.get("arch") if self.arch_aware else None
        if self.arch_aware and not arch:
            raise InvalidInput("Arch is required")
        tag = tags.set_tag(user, container, body.get("tag"), body.get("imageid"), arch)
        return data({"tag": tag.name, "arch": tag.arch, "imageID": str(tag.image_id)})


@doc.tags_v2
class ArchTagsView(TagsView):
    arch_aware = True


@doc.search
class SearchView(LibraryView):
    def get(self, request: Any) -> Response:
        user = self.user(request)
        params = request.query_params
        found = search.search(user, params.get("value"), _arch(request), params.get("signed"))
        # The results come joined (select_related) and in order; add what the JSON needs without refetching.
        s.prefetch_for_json(
            user,
            entities=found.entities,
            collections=found.collections,
            containers=found.containers,
            images=found.images,
        )
        fingerprints = sorted({f for i in found.images for f in (i.fingerprints or [])})
        known_keys = keys_for_fingerprints(fingerprints)
        return data(
            {
                "entity": [s.entity_with_collections(e) for e in found.entities],
                "collection": [s.collection_with_containers(c) for c in found.collections],
                "container": [s.container_json(c) for c in found.containers],
                "image": [s.image_json(i, known_keys) for i in found.images],
            }
        )


# --- downloads and uploads --------------------------------------------------------------------


@doc.imagefile
class ImageFileView(LibraryView):
    """``GET v1/imagefile/<ref>`` downloads; ``POST v1/imagefile/<id>`` is the v1 upload."""

    push_methods = ("POST",)  # the "push" rate limit

    def get(self, request: Any, ref: str) -> Any:
        user = self.user(request)
        image = image_flows.resolve_image(user, parse_ref(ref), _arch(request))
        if not image.uploaded or image.blob_id is None:
            raise NotFound(f"image {ref[:120]} not found")
        requested_range = request.META.get("HTTP_RANGE", "").replace(" ", "")
        if not requested_range or requested_range.startswith("bytes=0-"):
            image_flows.count_download(image)  # once per download, not per ranged part
        container = image.container
        tag = ref.rpartition(":")[2] if ":" in ref else "latest"
        filename = f"{container.name}_{tag if not tag.startswith('sha256.') else image.sha256_hex[:12]}.sif"
        raw = request._request
        mode = download_mode(raw)
        if mode == "presigned":
            return redirect_response(presigned_location(image.blob, filename), mode)
        if mode == "proxy":
            path = reverse("django_sylabs_library:download-target", kwargs={"token": proxy_token(image.blob, filename)})
            return redirect_response(absolute_url(request, path), mode)
        return blob_response(raw, image.blob, filename)

    def post(self, request: Any, ref: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, ref)
        raw = request._request
        uploads.receive_legacy(user, image, request_body(raw), content_length(raw))
        return data({"status": "ok"})


@doc.download_target
class DownloadTargetView(LibraryView):
    """The ``proxy`` download mode's 303 target: the signed token in the path is the credential,
    so any Authorization header (Apptainer 1.1 sends its token here) is ignored; Range honoured."""

    authentication_classes: list[Any] = []
    secret_in_path = True
    rate_limited = False  # a short-lived capability; limiting it would break concurrent downloads

    def get(self, request: Any, token: str) -> Any:
        blob, filename = blob_for_token(token)
        return blob_response(request._request, blob, filename, mode="proxy")


@doc.imagefile_v2
class ImageFileV2View(LibraryView):
    """``POST v2/imagefile/<id>``: a one-time upload URL for a single PUT (spec 5.3)."""

    push_methods = ("POST",)

    def post(self, request: Any, image_id: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, image_id)
        target = uploads.start_single(user, image, read_json(request))
        url = target.url or absolute_url(
            request, reverse("django_sylabs_library:upload-target", kwargs={"secret": target.secret})
        )
        return data({"uploadURL": url})


@doc.imagefile_complete
class ImageFileCompleteView(LibraryView):
    def put(self, request: Any, image_id: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, image_id)
        read_json(request)
        image = uploads.complete_single(user, image)
        return data(uploads.upload_summary(image))


@doc.multipart
class MultipartView(LibraryView):
    """``POST`` starts a multipart upload; ``PUT`` asks for one part's URL (spec 5.4)."""

    push_methods = ("POST",)

    def post(self, request: Any, image_id: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, image_id)
        body = read_json(request)
        if not library_settings.MULTIPART_ENABLED:
            # 404 is the client's signal to fall back to a single PUT.
            permissions.require_push(user, image.container.collection)
            raise NotFound("multipart uploads are disabled on this library")
        session = uploads.start_multipart(user, image, body)
        return data(
            {
                "uploadID": session.upload_id,
                "totalParts": session.total_parts,
                "partSize": session.part_size,
                "options": uploads.multipart_options(),
            }
        )

    def put(self, request: Any, image_id: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, image_id)
        target = uploads.start_part(user, image, read_json(request))
        url = target.url or absolute_url(
            request, reverse("django_sylabs_library:part-target", kwargs={"secret": target.secret})
        )
        return data({"presignedURL": url})


@doc.multipart_complete
class MultipartCompleteView(LibraryView):
    def put(self, request: Any, image_id: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, image_id)
        image = uploads.complete_multipart(user, image, read_json(request))
        return data(uploads.upload_summary(image))


@doc.multipart_abort
class MultipartAbortView(LibraryView):
    def put(self, request: Any, image_id: str) -> Response:
        user = self.require_user(request)
        image = image_flows.image_by_id(user, image_id)
        uploads.abort_multipart(user, image, read_json(request))
        return data({"status": "aborted"})


@doc.upload_target
class UploadTargetView(LibraryView):
    """The upload URL itself: no token, the secret in the path is the credential."""

    authentication_classes: list[Any] = []
    secret_in_path = True
    rate_limited = False  # single-use capabilities, issued by a counted request

    def put(self, request: Any, secret: str) -> Response:
        raw = request._request
        session = uploads.receive_single(secret, request_body(raw), content_length(raw))
        response = Response({"status": "ok"})
        response["ETag"] = f'"{session.expected_sha256}"'
        return response


@doc.part_target
class PartTargetView(LibraryView):
    authentication_classes: list[Any] = []
    secret_in_path = True
    rate_limited = False

    def put(self, request: Any, secret: str) -> Response:
        raw = request._request
        part = uploads.receive_part(secret, request_body(raw), content_length(raw))
        response = Response({"status": "ok", "partNumber": part.number})
        response["ETag"] = part.etag
        return response


def collapse_slashes(request: Any, rest: str = "") -> Any:
    """Serve ``//v1/...`` like ``/v1/...``: a remote URI advertised with a trailing slash makes
    the client build such paths (spec 1.1), and old Singularity clients send empty segments."""
    from django.urls import Resolver404, resolve

    path = re.sub("/{2,}", "/", request.path_info)
    try:
        match = resolve(path)
    except Resolver404:
        match = None
    if match is None or match.func is collapse_slashes_view:
        return UnknownEndpointView.as_view()(request, rest=rest)
    request.path_info = path
    return match.func(request, *match.args, **match.kwargs)


collapse_slashes_view = csrf_exempt(collapse_slashes)


@doc.not_documented
class UnknownEndpointView(LibraryView):
    """JSON 404 for any other path under v1/ and v2/, instead of the host site's HTML page."""

    authentication_classes: list[Any] = []

    def dispatch_any(self, request: Any, rest: str = "") -> Response:
        raise NotFound(f"no such endpoint: {request.path[:200]}")

    get = post = put = delete = patch = dispatch_any
