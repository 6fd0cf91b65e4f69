"""Fixtures for the unit tests: users, tokens, an API client that talks like the Go library client,
and ``push()``, which replays ``apptainer push`` request by request (spec section 8.3).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from django_sylabs_library import API_VERSION
from django_sylabs_library.flows.tokens import create_token
from django_sylabs_library.models import Image
from tests.sifdata import SIF_ARCH_CODES, make_sif  # noqa: F401 - re-exported for the tests

ZERO_TIME = "0001-01-01T00:00:00Z"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_hash(data: bytes) -> str:
    return "sha256." + sha256_hex(data)


def body_of(response: Any) -> bytes:
    """The bytes of a (possibly streaming) response.

    Consuming ``streaming_content`` closes the file: the test client wraps it so that the close
    happens with ``close_old_connections`` disconnected. Never call ``response.close()`` again
    here: that sends ``request_finished`` once more, which closes the test's database connection
    (PostgreSQL then fails every later query of the test).
    """
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def assert_error(response: Any, status: int, contains: str | None = None) -> dict[str, Any]:
    """The response is ``status`` with the client's error envelope and a useful message."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == status, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip(), body
    if contains is not None:
        assert contains.lower() in message.lower(), message
    return body


def blob_files(storage_dir: Path) -> list[Path]:
    """Files stored as blobs in the image storage (uploads in progress excluded)."""
    root = storage_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- the Go client's bodies (spec section 2.7) ---------------------------------------------------

_BASE = {"deleted": False, "createdBy": "", "createdAt": ZERO_TIME, "updatedAt": ZERO_TIME, "deletedAt": ZERO_TIME}


def entity_body(name: str) -> dict[str, Any]:
    return {
        **_BASE,
        "id": "",
        "name": name,
        "description": "No description",
        "collections": None,
        "size": 0,
        "quota": 0,
        "defaultPrivate": False,
        "customData": "",
    }


def collection_body(name: str, entity_id: str) -> dict[str, Any]:
    return {
        **_BASE,
        "id": "",
        "name": name,
        "description": "No description",
        "entity": entity_id,
        "containers": None,
        "size": 0,
        "private": False,
        "customData": "",
    }


def container_body(name: str, collection_id: str) -> dict[str, Any]:
    return {
        **_BASE,
        "id": "",
        "name": name,
        "description": "No description",
        "fullDescription": "",
        "collection": collection_id,
        "images": None,
        "imageTags": None,
        "archTags": None,
        "size": 0,
        "downloadCount": 0,
        "stars": 0,
        "private": False,
        "readOnly": False,
        "customData": "",
    }


def image_body(hash_: str, container_id: str, description: str = "") -> dict[str, Any]:
    return {
        **_BASE,
        "id": "",
        "hash": hash_,
        "description": description,
        "container": container_id,
        "size": 0,
        "uploaded": False,
        "customData": "",
        "containerStars": 0,
        "containerDownloads": 0,
    }


# --- the API client ------------------------------------------------------------------------------


class Api:
    """Django's test client speaking like the Go library client.

    JSON bodies are sent raw with no Content-Type (spec 1.3); the token goes in
    ``Authorization: <scheme> <token>`` (``BEARER`` like LC 1.2/1.3 by default).
    """

    def __init__(self, client: Client, token: str | None = None, scheme: str = "BEARER", user: Any = None) -> None:
        self.client = client
        self.token = token
        self.scheme = scheme
        self.user = user

    def _headers(self, token: Any, extra: dict[str, str] | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        token = self.token if token is ... else token
        if token:
            headers["HTTP_AUTHORIZATION"] = f"{self.scheme} {token}"
        headers.update(extra or {})
        return headers

    @staticmethod
    def _path(path: str) -> str:
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return path if path.startswith("/") else "/" + path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        content_type: str = "",
        token: Any = ...,
        **extra: str,
    ) -> Any:
        headers = self._headers(token, extra)
        path = self._path(path)
        if method == "GET":
            return self.client.get(path, **headers)
        data: bytes | str = b""
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body)
        return self.client.generic(method, path, data, content_type=content_type, **headers)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def data(
        self, method: str, path: str, body: Any = None, status: int | Iterable[int] = (200, 201), **kw: Any
    ) -> Any:
        """``data`` of a successful enveloped answer (asserts the status)."""
        response = self.request(method, path, body, **kw)
        statuses = (status,) if isinstance(status, int) else tuple(status)
        assert response.status_code in statuses, (method, path, response.status_code, response.content[:500])
        return json.loads(response.content)["data"]


@pytest.fixture
def user_factory(db: Any, django_user_model: Any) -> Callable[..., Any]:
    counter = itertools.count(1)

    def make(username: str | None = None, **fields: Any) -> Any:
        if username is None:
            username = f"user{next(counter)}"
        password = fields.pop("password", "secret-pw")
        return django_user_model.objects.create_user(username=username, password=password, **fields)

    return make


@pytest.fixture
def token_for(db: Any) -> Callable[..., str]:
    def make(user: Any, name: str = "test", expires_days: int | None = None) -> str:
        return create_token(user, name, expires_days)[1]

    return make


@pytest.fixture
def api(db: Any, token_for: Callable[..., str]) -> Callable[..., Api]:
    """``api(user)``: a client with a fresh token for ``user``; ``api()``: anonymous."""

    def make(user: Any = None, scheme: str = "BEARER") -> Api:
        token = token_for(user) if user is not None else None
        return Api(Client(), token, scheme=scheme, user=user)

    return make


@pytest.fixture
def alice(user_factory: Callable[..., Any]) -> Any:
    return user_factory("alice", email="alice@example.org")


@pytest.fixture
def bob(user_factory: Callable[..., Any]) -> Any:
    return user_factory("bob")


@pytest.fixture
def alice_api(api: Callable[..., Api], alice: Any) -> Api:
    return api(alice)


@pytest.fixture
def bob_api(api: Callable[..., Api], bob: Any) -> Api:
    return api(bob)


@pytest.fixture
def anon_api(api: Callable[..., Api]) -> Api:
    return api()


@pytest.fixture(autouse=True)
def image_storage(settings: Any, tmp_path: Path) -> Path:
    """Each test stores its blobs (and uploads in progress) under its own ``tmp_path``."""
    location = tmp_path / "images"
    location.mkdir()
    storages = dict(settings.STORAGES)
    storages["sylabs_library"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(location)},
    }
    settings.STORAGES = storages
    settings.SYLABS_LIBRARY = {}
    return location


# --- push, exactly as the client does it -----------------------------------------------------------


class PushError(AssertionError):
    def __init__(self, step: str, response: Any) -> None:
        self.step = step
        self.response = response
        super().__init__(f"{step}: {response.status_code} {response.content[:300]!r}")


def _split_push_ref(ref: str) -> tuple[str, str, str]:
    path = ref.removeprefix("library://").strip("/")
    parts = path.split("/")
    assert len(parts) == 3, "push refs are entity/collection/container"
    return parts[0], parts[1], parts[2]


def _json(response: Any) -> Any:
    return json.loads(response.content)


def push(
    api: Api,
    ref: str,
    data: bytes,
    arch: str = "amd64",
    tags: Iterable[str] = ("latest",),
    *,
    description: str = "",
    upload: str = "v2",
    tag_api: str = "v2",
) -> dict[str, Any]:
    """Replay ``apptainer push file library://ref:tags`` and return the image JSON at the end.

    Raises ``PushError`` (with the failing step and response) on the first refused request.
    ``upload`` is ``v2`` (single PUT, the client's path for files up to 64 MiB) or ``v1`` (the
    legacy raw body); ``tag_api`` ``v2`` (with Arch) or ``v1``.
    """
    entity, collection, container = _split_push_ref(ref)
    digest = sha256_hex(data)
    hash_ = "sha256." + digest

    def ok(step: str, response: Any, statuses: tuple[int, ...] = (200,)) -> Any:
        if response.status_code not in statuses:
            raise PushError(step, response)
        return _json(response)["data"] if response.content else None

    # 1. entity
    response = api.get(f"v1/entities/{entity}")
    if response.status_code == 404:
        ent = ok("create entity", api.post("v1/entities", entity_body(entity)), (200, 201))
    else:
        ent = ok("get entity", response)
    # 2. collection
    response = api.get(f"v1/collections/{entity}/{collection}")
    if response.status_code == 404:
        col = ok("create collection", api.post("v1/collections", collection_body(collection, ent["id"])), (200, 201))
    else:
        col = ok("get collection", response)
    # 3. container
    response = api.get(f"v1/containers/{entity}/{collection}/{container}")
    if response.status_code == 404:
        con = ok("create container", api.post("v1/containers", container_body(container, col["id"])), (200, 201))
    else:
        con = ok("get container", response)
    # 4. image
    image_path = f"v1/images/{entity}/{collection}/{container}:{hash_}?arch={arch}"
    response = api.get(image_path)
    if response.status_code == 404:
        img = ok("create image", api.post("v1/images", image_body(hash_, con["id"], description)), (200, 201))
    else:
        img = ok("get image", response)
    # 5. upload unless the library has the bytes already
    if not img["uploaded"]:
        version = ok("version", api.get("version"))
        assert version["apiVersion"] == API_VERSION
        if upload == "v1":
            ok("legacy upload", api.post(f"v1/imagefile/{img['id']}", raw=data))
        else:
            started = ok(
                "start upload",
                api.post(
                    f"v2/imagefile/{img['id']}",
                    {"filesize": len(data), "sha256sum": digest, "md5sum": hashlib.md5(data).hexdigest()},
                ),
                (200, 201),
            )
            url = started["uploadURL"]
            assert url.startswith("http://testserver/"), url
            put = api.put(url, raw=data, content_type="application/octet-stream", token=None)
            if put.status_code != 200:
                raise PushError("upload PUT", put)
            ok("complete upload", api.put(f"v2/imagefile/{img['id']}/_complete", {}), (200, 204))
    # 6. tags
    ok("version", api.get("version"))
    if tag_api == "v2":
        ok("get tags", api.get(f"v2/tags/{con['id']}"))
        for tag in tags:
            ok("set tag", api.post(f"v2/tags/{con['id']}", {"Arch": arch, "Tag": tag, "ImageID": img["id"]}))
    else:
        ok("get tags", api.get(f"v1/tags/{con['id']}"))
        for tag in tags:
            ok("set tag", api.post(f"v1/tags/{con['id']}", {"Tag": tag, "ImageID": img["id"]}))
    return ok("get image", api.get(image_path))


def seed(
    user: Any,
    ref: str,
    data: bytes,
    arch: str | None = None,
    tags: Iterable[str] = ("latest",),
    *,
    private: bool | None = None,
) -> Image:
    """A pushed image without the HTTP round trips: the same flows ``push()`` reaches through the
    API (entity, collection, container, image, a verified v1-style upload, tags), called directly.

    For fixtures that need data in place; tests of the push itself use ``push()``. ``arch`` None
    tags for the SIF's own architecture (``DEFAULT_ARCH`` when it names none).
    """
    from django_sylabs_library.flows import images as image_flows
    from django_sylabs_library.flows import namespaces, uploads
    from django_sylabs_library.flows import tags as tag_flows
    from django_sylabs_library.models import Collection, Container, Entity

    entity_name, collection_name, container_name = _split_push_ref(ref)
    own = namespaces.ensure_user_entity(user)
    entity = Entity.objects.filter(name=entity_name).first()
    if entity is None:
        entity = Entity.objects.create(name=entity_name, owner=user, description=entity_name)
    assert entity == own or entity.owner_id == user.pk or user.is_superuser, "seed into an entity the user owns"
    collection = Collection.objects.filter(entity=entity, name=collection_name).first()
    if collection is None:
        collection = namespaces.create_collection(user, entity.pk, collection_name, private=private)
    container = Container.objects.filter(collection=collection, name=container_name).first()
    if container is None:
        container = namespaces.create_container(user, collection.pk, container_name)
    image = Image.objects.filter(container=container, hash=image_hash(data)).first()
    if image is None:
        image = image_flows.create_image(user, container.pk, image_hash(data))
    if not image.uploaded:
        image = uploads.receive_legacy(user, image, io.BytesIO(data).read, len(data))
    image.refresh_from_db()
    for tag in tags:
        tag_flows.set_tag(user, container, tag, image.pk, arch)
    return image


@pytest.fixture
def pushed(alice: Any, alice_api: Api) -> dict[str, Any]:
    """One image alice pushed to alice/tools/samtools:latest (amd64), with its bytes."""
    data = make_sif("amd64")
    image = seed(alice, "alice/tools/samtools", data)
    return {
        "image": alice_api.data("GET", f"v1/images/alice/tools/samtools:{image.hash}?arch=amd64"),
        "data": data,
        "ref": "alice/tools/samtools",
    }
