"""OpenAPI declarations for the Library API (drf-spectacular), kept out of ``views.py``.

The views are plain ``APIView``s that read raw JSON (``parsing.read_json``) and write the
client's shapes by hand (``serializers.py``), so drf-spectacular cannot guess anything. The
serializer classes below exist only to describe those shapes: request bodies with the types the
Go client sends (spec 2.7), the ``{"data": ...}`` answers (spec 2.2-2.5) and the error envelope
``{"error": {"code", "message"}}`` (spec 1.4). ``views.py`` applies the ``extend_schema_view``
decorators defined at the bottom; ``tests/test_schema.py`` and the schemathesis run
(``tests/integration/test_schemathesis.py``) check that they describe what the views do.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers as f

from ..refs import ARCH_RE, NAME_MAX_LENGTH, NAME_RE, SHA256_HASH_RE, TAG_MAX_LENGTH, TAG_RE

ID_PATTERN = r"^[0-9]+$"
HEX64_PATTERN = r"^[0-9a-f]{64}$"
HEX32_PATTERN = r"^[0-9a-f]{32}$"
TOKEN_ONLY_VIEWS = frozenset({"TokenStatusView", "CurrentUserView"})


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <token>`` (any case of the scheme word, spec 1.2)."""

    target_class = "django_sylabs_library.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        # Reads work without a token (anonymous pulls and searches, spec 1.2), except the two
        # account endpoints; every write needs one.
        anonymous = auto_schema.method == "GET" and type(auto_schema.view).__name__ not in TOKEN_ONLY_VIEWS
        return [{self.name: []}, {}] if anonymous else [{self.name: []}]

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from the token page or `manage.py sylabs_library_token`.",
        }


# --- the error envelope ---------------------------------------------------------------------


class ErrorDetailSerializer(f.Serializer):
    code = f.IntegerField(min_value=400, max_value=599, help_text="The HTTP status, repeated.")
    message = f.CharField(help_text="What went wrong, shown to the user by the client.")


class ErrorSerializer(f.Serializer):
    """Every 4xx/5xx of the Library API (``sylabs/json-resp``)."""

    error = ErrorDetailSerializer()


ERROR_TEXT = {
    304: "Not modified (``If-None-Match`` / ``If-Modified-Since`` matched); no body.",
    400: "Malformed request: bad JSON, wrong types, invalid names, tags, hashes or ids, a NUL in the URL.",
    401: "No valid token (missing where required, unknown, expired or revoked).",
    403: "Visible but not writable by the caller, or read-only / frozen.",
    404: "Missing, or private and not visible to the caller (never 403).",
    409: "Already exists, or conflicts with the upload's state.",
    410: "The upload URL or session expired or was already used.",
    413: "JSON body larger than ``MAX_JSON_BODY``, or image larger than ``MAX_IMAGE_SIZE``.",
    416: "The ``Range`` cannot be satisfied.",
    429: "Rate limited (opt-in); see ``Retry-After``.",
    507: "Not enough storage or over the entity's quota.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error answers in the envelope, one per status."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_TEXT[status]) for status in statuses}


EXISTING = "It already existed and the caller may push to it: a racing `apptainer push` does not fail."

# Every endpoint that authenticates answers 401 to a bad token, and may be rate limited.
READ_ERRORS = (400, 401, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 429)
UPLOAD_ERRORS = (*WRITE_ERRORS, 410, 507)


# --- the client's shapes (spec section 2) ---------------------------------------------------


def _id(help_text: str = "") -> f.CharField:
    return f.CharField(help_text=help_text or "An id: a string of digits.")


class BaseModelSerializer(f.Serializer):
    """The Go client's ``BaseModel`` fields: carried along, never read (spec 2.1)."""

    deleted = f.BooleanField()
    createdBy = f.CharField(allow_blank=True)
    createdAt = f.DateTimeField()
    updatedBy = f.CharField(allow_blank=True, required=False)
    updatedAt = f.DateTimeField()
    deletedAt = f.DateTimeField(allow_null=True)
    owner = f.CharField(required=False)


class EntitySerializer(BaseModelSerializer):
    id = _id()
    name = f.CharField()
    description = f.CharField(allow_blank=True)
    collections = f.ListField(child=f.CharField(), help_text="Ids of the collections the caller may see.")
    size = f.IntegerField(min_value=0)
    quota = f.IntegerField(min_value=0)
    defaultPrivate = f.BooleanField()
    customData = f.CharField(allow_blank=True)


class CollectionSerializer(BaseModelSerializer):
    id = _id()
    name = f.CharField()
    description = f.CharField(allow_blank=True)
    entity = _id("The entity's id.")
    entityName = f.CharField()
    containers = f.ListField(child=f.CharField())
    size = f.IntegerField(min_value=0)
    private = f.BooleanField()
    customData = f.CharField(allow_blank=True)


class ContainerSerializer(BaseModelSerializer):
    id = _id()
    name = f.CharField()
    description = f.CharField(allow_blank=True)
    fullDescription = f.CharField(allow_blank=True)
    collection = _id("The collection's id.")
    collectionName = f.CharField()
    entity = _id("The entity's id.")
    entityName = f.CharField()
    images = f.ListField(child=f.CharField(), help_text="Ids of the uploaded images.")
    imageTags = f.DictField(child=f.CharField(), help_text="Tag -> image id (default architecture).")
    archTags = f.DictField(
        child=f.DictField(child=f.CharField()), help_text="Architecture -> tag -> image id (spec 2.4)."
    )
    size = f.IntegerField(min_value=0)
    downloadCount = f.IntegerField(min_value=0)
    stars = f.IntegerField(min_value=0)
    private = f.BooleanField()
    readOnly = f.BooleanField()
    customData = f.CharField(allow_blank=True)


class SignerSerializer(f.Serializer):
    fingerprint = f.CharField()
    known = f.BooleanField(help_text="Whether this library's keyserver holds the key.")
    keyFingerprint = f.CharField(required=False)
    uploadedBy = f.CharField(required=False, allow_blank=True)
    userIds = f.ListField(child=f.CharField(), required=False)


class ImageSerializer(BaseModelSerializer):
    id = _id()
    hash = f.CharField(help_text="`sha256.<64 hex>`, the SHA-256 of the whole file.")
    description = f.CharField(allow_blank=True)
    container = _id("The container's id.")
    size = f.IntegerField(min_value=0, help_text="Exact size in bytes.")
    uploaded = f.BooleanField(help_text="True once the whole file is stored and its hash verified.")
    arch = f.CharField(allow_blank=True, allow_null=True)
    signed = f.BooleanField(allow_null=True)
    fingerprints = f.ListField(child=f.CharField())
    signers = f.ListField(child=SignerSerializer())
    labels = f.DictField(help_text="Labels from the SIF's metadata.")
    encrypted = f.BooleanField(allow_null=True)
    customData = f.CharField(allow_blank=True)
    entity = _id("The entity's id.")
    entityName = f.CharField()
    collection = _id("The collection's id.")
    collectionName = f.CharField()
    containerName = f.CharField()
    tags = f.ListField(child=f.CharField())
    containerDescription = f.CharField(allow_blank=True)
    containerStars = f.IntegerField(min_value=0)
    containerDownloads = f.IntegerField(min_value=0)


def envelope(name: str, data: Any) -> Any:
    """``{"data": <data>}`` as a named component."""
    return inline_serializer(name=name, fields={"data": data})


class UploadSummarySerializer(f.Serializer):
    quota = inline_serializer(
        name="Quota",
        fields={"quotaTotal": f.IntegerField(min_value=0), "quotaUsage": f.IntegerField(min_value=0)},
    )
    containerUrl = f.CharField(allow_blank=True)


class ServiceURISerializer(f.Serializer):
    uri = f.URLField()


EntityResponse = envelope("EntityResponse", EntitySerializer())
CollectionResponse = envelope("CollectionResponse", CollectionSerializer())
ContainerResponse = envelope("ContainerResponse", ContainerSerializer())
ImageResponse = envelope("ImageResponse", ImageSerializer())
UploadCompleteResponse = envelope("UploadCompleteResponse", UploadSummarySerializer())
TagSetResponse = envelope(
    "TagSetResponse",
    inline_serializer(name="TagSet", fields={"tag": f.CharField(), "arch": f.CharField(), "imageID": f.CharField()}),
)


# --- request bodies (spec 2.7; keys are matched case-insensitively, unknown keys ignored) ----


def _name(required: bool = True) -> f.RegexField:
    return f.RegexField(NAME_RE.pattern, max_length=NAME_MAX_LENGTH, required=required)


_id_field = f.RegexField(ID_PATTERN, max_length=18)
_description = f.CharField(max_length=10000, allow_blank=True, required=False)

EntityCreate = inline_serializer(
    name="EntityCreate",
    fields={
        "name": _name(),
        "description": _description,
        "defaultPrivate": f.BooleanField(required=False, allow_null=True),
    },
)
CollectionCreate = inline_serializer(
    name="CollectionCreate",
    fields={
        "entity": f.RegexField(ID_PATTERN, max_length=18, help_text="The entity's id."),
        "name": _name(),
        "description": _description,
        "private": f.BooleanField(
            required=False, allow_null=True, help_text="Ignored when false: the client always sends false."
        ),
    },
)
ContainerCreate = inline_serializer(
    name="ContainerCreate",
    fields={
        "collection": f.RegexField(ID_PATTERN, max_length=18, help_text="The collection's id."),
        "name": _name(),
        "description": _description,
    },
)
ContainerUpdate = inline_serializer(
    name="ContainerUpdate",
    fields={
        "readOnly": f.BooleanField(required=False),
        "description": _description,
        "fullDescription": _description,
    },
)
ImageCreate = inline_serializer(
    name="ImageCreate",
    fields={
        "container": f.RegexField(ID_PATTERN, max_length=18, help_text="The container's id."),
        "hash": f.RegexField(SHA256_HASH_RE.pattern),
        "description": _description,
    },
)
_tag = f.RegexField(TAG_RE.pattern, max_length=TAG_MAX_LENGTH)
_arch = f.RegexField(ARCH_RE.pattern, max_length=16)
ImageTag = inline_serializer(
    name="ImageTag",
    fields={"Tag": _tag, "ImageID": f.RegexField(ID_PATTERN, max_length=18)},
)
ArchImageTag = inline_serializer(
    name="ArchImageTag",
    fields={"Arch": _arch, "Tag": _tag, "ImageID": f.RegexField(ID_PATTERN, max_length=18)},
)
UploadImageRequest = inline_serializer(
    name="UploadImageRequest",
    fields={
        "filesize": f.IntegerField(min_value=0, max_value=2**63 - 1),
        "md5sum": f.RegexField(HEX32_PATTERN, required=False),
        "sha256sum": f.RegexField(HEX64_PATTERN, required=False),
    },
)
EmptyRequest = inline_serializer(name="UploadImageCompleteRequest", fields={})
MultipartStartRequest = inline_serializer(
    name="MultipartUploadStartRequest",
    fields={"filesize": f.IntegerField(min_value=0, max_value=2**63 - 1)},
)
UploadImagePartRequest = inline_serializer(
    name="UploadImagePartRequest",
    fields={
        "partSize": f.IntegerField(min_value=0, max_value=2**63 - 1),
        "uploadID": f.CharField(max_length=200),
        "partNumber": f.IntegerField(min_value=1, max_value=10000),
        "sha256sum": f.CharField(max_length=64, allow_blank=True, required=False),
    },
)
CompleteMultipartRequest = inline_serializer(
    name="CompleteMultipartUploadRequest",
    fields={
        "uploadID": f.CharField(max_length=200),
        "completedParts": f.ListField(
            child=inline_serializer(
                name="CompletedPart",
                fields={"partNumber": f.IntegerField(min_value=1, max_value=10000), "token": f.CharField()},
            )
        ),
    },
)
AbortMultipartRequest = inline_serializer(
    name="AbortMultipartUploadRequest", fields={"uploadID": f.CharField(max_length=200)}
)


def json_body(serializer: Any) -> dict[str, Any]:
    """The client sends these bodies with no Content-Type; they are read as JSON whatever it says."""
    return {"application/json": serializer}


# --- parameters -----------------------------------------------------------------------------

ARCH = OpenApiParameter(
    "arch",
    str,
    OpenApiParameter.QUERY,
    description="Architecture (Go GOARCH name, e.g. `amd64`); empty means the default. Always sent by the client.",
    pattern=r"^[a-z0-9_]{0,16}$",
)
REF = OpenApiParameter(
    "ref",
    str,
    OpenApiParameter.PATH,
    description="`[entity/][collection/]container[:tag|:sha256.<hex>]`; the tag defaults to `latest` (spec 1.7).",
    examples=[
        OpenApiExample("tag", value="alice/tools/samtools:latest"),
        OpenApiExample("hash", value="alice/tools/samtools:sha256." + "0" * 64),
        OpenApiExample("short", value="samtools"),
    ],
)
RANGE = OpenApiParameter(
    "Range",
    str,
    OpenApiParameter.HEADER,
    description="One byte range, `bytes=a-b`, `bytes=a-` or `bytes=-n`; answered 206 (416 when unsatisfiable).",
    required=False,
)


def id_param(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, str, OpenApiParameter.PATH, description=f"The {what}'s id (a string of digits).", pattern=ID_PATTERN
    )


def name_param(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, OpenApiParameter.PATH, description=f"The {what}'s name.")


IMAGE_ID = id_param("image_id", "image")
CONTAINER_ID = id_param("container_id", "container")
SECRET = OpenApiParameter(
    "secret", str, OpenApiParameter.PATH, description="The one-time capability issued by the start request."
)
DOWNLOAD_TOKEN = OpenApiParameter(
    "token", str, OpenApiParameter.PATH, description="The signed, expiring download token of the 303 answer."
)
LOCATION = OpenApiParameter(
    "Location",
    str,
    OpenApiParameter.HEADER,
    response=[303],
    description="Absolute URL of a range-capable copy of the file.",
)
ETAG = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=[200], description="The part token for `_multipart_complete`."
)
DOWNLOAD_HEADERS = [
    OpenApiParameter("Content-Range", str, OpenApiParameter.HEADER, response=[206], description="`bytes a-b/total`."),
]

BINARY = OpenApiTypes.BINARY


def download_responses() -> dict[Any, Any]:
    return {
        (200, "application/octet-stream"): OpenApiResponse(BINARY, description="The SIF file."),
        (206, "application/octet-stream"): OpenApiResponse(BINARY, description="The requested range."),
        304: OpenApiResponse(description=ERROR_TEXT[304]),
    }


# --- per-view declarations (applied in views.py) --------------------------------------------

TAG_LIBRARY = ["library"]
TAG_UPLOADS = ["uploads"]

discovery = extend_schema_view(
    get=extend_schema(
        summary="Discovery document",
        description="Bare object of services, fetched by `apptainer remote add/login` (spec 3.1).",
        auth=[],
        tags=["discovery"],
        responses={
            200: inline_serializer(
                name="Discovery",
                fields={
                    "libraryAPI": ServiceURISerializer(),
                    "tokenAPI": ServiceURISerializer(),
                    "keystoreAPI": ServiceURISerializer(required=False),
                },
            ),
            **errors(400),
        },
    )
)

version = extend_schema_view(
    get=extend_schema(
        summary="API version",
        description="Never 401, whatever the token (spec 3.3). `apiVersion` selects the v2 upload and tag paths.",
        auth=[],
        tags=["discovery"],
        responses={
            200: envelope(
                "VersionResponse",
                inline_serializer(name="VersionInfo", fields={"version": f.CharField(), "apiVersion": f.CharField()}),
            ),
            **errors(400),
        },
    )
)

token_status = extend_schema_view(
    get=extend_schema(
        summary="Token check",
        description="`remote login` stores the token only after a 200 (spec 3.2).",
        tags=["account"],
        responses={
            200: envelope(
                "TokenStatusResponse",
                inline_serializer(
                    name="TokenStatus",
                    fields={
                        "username": f.CharField(allow_null=True),
                        "status": f.CharField(),
                        "expiresAt": f.DateTimeField(allow_null=True),
                    },
                ),
            ),
            **errors(401, 429),
        },
    )
)

current_user = extend_schema_view(
    get=extend_schema(
        summary="Current user",
        description="`remote status` identity line; a bare object (spec 3.4).",
        tags=["account"],
        responses={
            200: inline_serializer(
                name="CurrentUser",
                fields={
                    "username": f.CharField(allow_null=True),
                    "email": f.CharField(allow_blank=True),
                    "realname": f.CharField(allow_blank=True),
                },
            ),
            **errors(401, 429),
        },
    )
)

oci_redirect = extend_schema_view(
    get=extend_schema(
        summary="OCI-SIF probe (always 404)",
        description="Any non-200 keeps Apptainer >= 1.2 on the Library API (spec 3.5).",
        auth=[],
        tags=["discovery"],
        parameters=[
            OpenApiParameter("accessTypes", str, OpenApiParameter.QUERY, description="`pull` or `pull,push`."),
            OpenApiParameter("mapped", str, OpenApiParameter.QUERY),
            OpenApiParameter("namespace", str, OpenApiParameter.QUERY, description="`entity/collection/container`."),
        ],
        responses=errors(400, 404),
    )
)

entity_list = extend_schema_view(
    post=extend_schema(
        summary="Create an entity",
        description="Users may create only their own entity; staff any (spec 4.1).",
        tags=TAG_LIBRARY,
        request=json_body(EntityCreate),
        responses={201: EntityResponse, **errors(*WRITE_ERRORS)},
    )
)

entity_detail = extend_schema_view(
    get=extend_schema(
        summary="Get an entity",
        description="404 makes the pushing client create it (spec 4.1).",
        tags=TAG_LIBRARY,
        parameters=[name_param("name", "entity")],
        responses={200: EntityResponse, **errors(*READ_ERRORS)},
    )
)

collection_list = extend_schema_view(
    post=extend_schema(
        summary="Create a collection",
        description="Privacy comes from the entity's `defaultPrivate`, not the always-false `private` (spec 4.2).",
        tags=TAG_LIBRARY,
        request=json_body(CollectionCreate),
        responses={
            201: CollectionResponse,
            200: OpenApiResponse(CollectionResponse, description=EXISTING),
            **errors(*WRITE_ERRORS),
        },
    )
)

collection_detail = extend_schema_view(
    get=extend_schema(
        summary="Get a collection",
        tags=TAG_LIBRARY,
        parameters=[name_param("entity", "entity"), name_param("collection", "collection")],
        responses={200: CollectionResponse, **errors(*READ_ERRORS)},
    )
)

container_list = extend_schema_view(
    post=extend_schema(
        summary="Create a container",
        tags=TAG_LIBRARY,
        request=json_body(ContainerCreate),
        responses={
            201: ContainerResponse,
            200: OpenApiResponse(ContainerResponse, description=EXISTING),
            **errors(*WRITE_ERRORS),
        },
    )
)

_container_path = [
    name_param("entity", "entity"),
    name_param("collection", "collection"),
    name_param("container", "container"),
]
container_detail = extend_schema_view(
    get=extend_schema(
        summary="Get a container",
        tags=TAG_LIBRARY,
        parameters=_container_path,
        responses={200: ContainerResponse, **errors(*READ_ERRORS)},
    ),
    put=extend_schema(
        summary="Update a container",
        description="`readOnly` freezes the whole container; descriptions can change. Other keys are ignored.",
        tags=TAG_LIBRARY,
        parameters=_container_path,
        request=json_body(ContainerUpdate),
        responses={200: ContainerResponse, **errors(*WRITE_ERRORS)},
    ),
)

image_list = extend_schema_view(
    post=extend_schema(
        summary="Create an image",
        description="Answers `uploaded: true` when the library already holds verified bytes with this hash that "
        "the caller may read (spec 4.4).",
        tags=TAG_LIBRARY,
        request=json_body(ImageCreate),
        responses={
            201: ImageResponse,
            200: OpenApiResponse(ImageResponse, description=EXISTING),
            **errors(*WRITE_ERRORS, 507),
        },
    )
)

image_detail = extend_schema_view(
    get=extend_schema(
        summary="Resolve a reference to an image",
        description="Tags resolve per architecture; hashes within the container regardless of `arch` (spec 4.4).",
        tags=TAG_LIBRARY,
        parameters=[REF, ARCH],
        responses={200: ImageResponse, **errors(*READ_ERRORS)},
    ),
    delete=extend_schema(
        summary="Delete an image",
        description="Answers 200 (the client treats 204 as an error).",
        tags=TAG_LIBRARY,
        parameters=[REF, ARCH],
        responses={
            200: envelope(
                "DeleteResponse",
                inline_serializer(name="Deleted", fields={"status": f.CharField(), "deleted": f.CharField()}),
            ),
            **errors(400, 401, 403, 404, 429),
        },
    ),
)

_tag_map = f.DictField(child=f.CharField(), help_text="Tag -> image id.")
tags_v1 = extend_schema_view(
    get=extend_schema(
        summary="Tags (default architecture)",
        tags=TAG_LIBRARY,
        parameters=[CONTAINER_ID],
        responses={200: envelope("TagMapResponse", _tag_map), **errors(*READ_ERRORS)},
    ),
    post=extend_schema(
        summary="Set or move a tag",
        description="Replace semantics; refused when the tag is frozen or the container read-only.",
        tags=TAG_LIBRARY,
        parameters=[CONTAINER_ID],
        request=json_body(ImageTag),
        responses={200: TagSetResponse, **errors(*WRITE_ERRORS)},
    ),
)

tags_v2 = extend_schema_view(
    get=extend_schema(
        summary="Tags per architecture",
        tags=TAG_LIBRARY,
        parameters=[CONTAINER_ID],
        responses={
            200: envelope("ArchTagMapResponse", f.DictField(child=f.DictField(child=f.CharField()))),
            **errors(*READ_ERRORS),
        },
    ),
    post=extend_schema(
        summary="Set or move a tag for an architecture",
        tags=TAG_LIBRARY,
        parameters=[CONTAINER_ID],
        request=json_body(ArchImageTag),
        responses={200: TagSetResponse, **errors(*WRITE_ERRORS)},
    ),
)

search = extend_schema_view(
    get=extend_schema(
        summary="Search",
        description="Names, descriptions and hashes of what the caller may see; `arch` or `signed` restrict the "
        "results to images (spec 4.6).",
        tags=TAG_LIBRARY,
        parameters=[
            OpenApiParameter("value", str, OpenApiParameter.QUERY, required=True, description="At least 3 characters."),
            OpenApiParameter(
                "arch",
                str,
                OpenApiParameter.QUERY,
                description="Comma-separated architectures.",
                pattern=r"^[a-z0-9_,]{0,64}$",
            ),
            OpenApiParameter("signed", str, OpenApiParameter.QUERY, enum=["true", "false"]),
        ],
        responses={
            200: envelope(
                "SearchResponse",
                inline_serializer(
                    name="SearchResults",
                    fields={
                        "entity": EntitySerializer(many=True),
                        "collection": CollectionSerializer(many=True),
                        "container": ContainerSerializer(many=True),
                        "image": ImageSerializer(many=True),
                    },
                ),
            ),
            **errors(400, 401, 429),
        },
    )
)

imagefile = extend_schema_view(
    get=extend_schema(
        summary="Download an image file",
        description="200 with the file, 206 for a range, or 303 to a range-capable URL (download mode) (spec 5.1).",
        tags=["downloads"],
        parameters=[REF, ARCH, RANGE, LOCATION, *DOWNLOAD_HEADERS],
        responses={
            **download_responses(),
            303: OpenApiResponse(description="See `Location`."),
            **errors(400, 401, 404, 416, 429),
        },
    ),
    post=extend_schema(
        summary="Legacy upload (v1)",
        description="`ref` is the image id; the body is the raw file with an exact `Content-Length` (spec 5.2).",
        tags=TAG_UPLOADS,
        parameters=[
            OpenApiParameter(
                "ref",
                str,
                OpenApiParameter.PATH,
                description="The image's id (a string of digits).",
                pattern=ID_PATTERN,
            )
        ],
        request={"application/octet-stream": BINARY},
        responses={
            200: envelope("StatusResponse", inline_serializer(name="Status", fields={"status": f.CharField()})),
            **errors(*UPLOAD_ERRORS),
        },
    ),
)

download_target = extend_schema_view(
    get=extend_schema(
        summary="Download target of the 303 (proxy mode)",
        description="The signed token in the path is the credential; any Authorization header is ignored.",
        auth=[],
        tags=["downloads"],
        parameters=[DOWNLOAD_TOKEN, RANGE, *DOWNLOAD_HEADERS],
        responses={**download_responses(), **errors(400, 404, 410, 416)},
    )
)

imagefile_v2 = extend_schema_view(
    post=extend_schema(
        summary="Start a single-part upload",
        description="Answers a one-time, expiring `uploadURL` for one PUT of the file (spec 5.3).",
        tags=TAG_UPLOADS,
        parameters=[IMAGE_ID],
        request=json_body(UploadImageRequest),
        responses={
            200: envelope(
                "UploadImageResponse", inline_serializer(name="UploadImage", fields={"uploadURL": f.URLField()})
            ),
            **errors(*UPLOAD_ERRORS),
        },
    )
)

imagefile_complete = extend_schema_view(
    put=extend_schema(
        summary="Finish a single-part upload",
        tags=TAG_UPLOADS,
        parameters=[IMAGE_ID],
        request=json_body(EmptyRequest),
        responses={200: UploadCompleteResponse, **errors(*UPLOAD_ERRORS)},
    )
)

multipart = extend_schema_view(
    post=extend_schema(
        summary="Start a multipart upload",
        description="404 when multipart uploads are disabled: the client then falls back to one PUT (spec 5.4).",
        tags=TAG_UPLOADS,
        parameters=[IMAGE_ID],
        request=json_body(MultipartStartRequest),
        responses={
            200: envelope(
                "MultipartUploadResponse",
                inline_serializer(
                    name="MultipartUpload",
                    fields={
                        "uploadID": f.CharField(),
                        "totalParts": f.IntegerField(min_value=0),
                        "partSize": f.IntegerField(min_value=1),
                        "options": f.DictField(child=f.CharField()),
                    },
                ),
            ),
            **errors(*UPLOAD_ERRORS),
        },
    ),
    put=extend_schema(
        summary="URL for one part",
        tags=TAG_UPLOADS,
        parameters=[IMAGE_ID],
        request=json_body(UploadImagePartRequest),
        responses={
            200: envelope(
                "UploadImagePartResponse",
                inline_serializer(name="UploadImagePart", fields={"presignedURL": f.URLField()}),
            ),
            **errors(*UPLOAD_ERRORS),
        },
    ),
)

multipart_complete = extend_schema_view(
    put=extend_schema(
        summary="Finish a multipart upload",
        description="Assembles the parts and verifies the whole file's SHA-256 against the image hash.",
        tags=TAG_UPLOADS,
        parameters=[IMAGE_ID],
        request=json_body(CompleteMultipartRequest),
        responses={200: UploadCompleteResponse, **errors(*UPLOAD_ERRORS)},
    )
)

multipart_abort = extend_schema_view(
    put=extend_schema(
        summary="Abort a multipart upload",
        tags=TAG_UPLOADS,
        parameters=[IMAGE_ID],
        request=json_body(AbortMultipartRequest),
        responses={
            200: envelope("AbortResponse", inline_serializer(name="Aborted", fields={"status": f.CharField()})),
            **errors(*UPLOAD_ERRORS),
        },
    )
)

_raw_upload = {"application/octet-stream": BINARY}
upload_target = extend_schema_view(
    put=extend_schema(
        summary="The upload URL (single PUT)",
        description="No token: the secret in the path is the credential. Single use, expiring (spec 5.3).",
        auth=[],
        tags=TAG_UPLOADS,
        parameters=[SECRET, ETAG],
        request=_raw_upload,
        responses={
            200: inline_serializer(name="UploadReceived", fields={"status": f.CharField()}),
            **errors(400, 404, 409, 410, 413, 507),
        },
    )
)

part_target = extend_schema_view(
    put=extend_schema(
        summary="A part URL (multipart)",
        description="No token: the secret in the path is the credential. The ETag is the part token.",
        auth=[],
        tags=TAG_UPLOADS,
        parameters=[SECRET, ETAG],
        request=_raw_upload,
        responses={
            200: inline_serializer(
                name="PartReceived", fields={"status": f.CharField(), "partNumber": f.IntegerField(min_value=1)}
            ),
            **errors(400, 404, 409, 410, 413, 507),
        },
    )
)

not_documented = extend_schema(exclude=True)
