"""The browsable API schema (drf-spectacular) at /api and /api/schema."""

from __future__ import annotations

import json

import pytest
import yaml
from drf_spectacular.validation import validate_schema


@pytest.fixture(scope="module")
def schema_response(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema?format=json")


def test_schema_page(client, db):
    response = client.get("/api")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"/api/schema" in response.content


def test_schema_is_valid_openapi(schema_response):
    assert schema_response.status_code == 200
    schema = json.loads(schema_response.content)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_schema_yaml_by_default(client, db):
    response = client.get("/api/schema")
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/version", "get"),
        ("/v1/token-status", "get"),
        ("/v1/entities", "post"),
        ("/v1/entities/{name}", "get"),
        ("/v1/collections", "post"),
        ("/v1/collections/{entity}/{collection}", "get"),
        ("/v1/containers", "post"),
        ("/v1/containers/{entity}/{collection}/{container}", "put"),
        ("/v1/images", "post"),
        ("/v1/images/{ref}", "delete"),
        ("/v1/tags/{container_id}", "post"),
        ("/v2/tags/{container_id}", "get"),
        ("/v1/search", "get"),
        ("/v1/imagefile/{ref}", "get"),
        ("/v2/imagefile/{image_id}", "post"),
        ("/v2/imagefile/{image_id}/_complete", "put"),
        ("/v2/imagefile/{image_id}/_multipart", "post"),
        ("/v2/imagefile/{image_id}/_multipart_complete", "put"),
        ("/v2/imagefile/{image_id}/_multipart_abort", "put"),
    ],
)
def test_schema_documents_every_endpoint(schema_response, path, method):
    schema = json.loads(schema_response.content)
    assert method in schema["paths"][path]


# --- the schema describes the real API (spec sections 3-5) ---------------------------------------


@pytest.fixture(scope="module")
def schema(schema_response):
    return json.loads(schema_response.content)


def _api_routes():
    """(OpenAPI path, method) for every Library API route, read from the URLconf itself."""
    from django.urls import URLPattern

    from django_sylabs_library.api import urls

    routes = []
    for pattern in urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or not hasattr(pattern.callback, "view_class"):
            continue  # the `//` collapsing function
        view = pattern.callback.view_class
        if view.__name__ == "UnknownEndpointView":
            continue  # the JSON 404 catch-all
        path = "/" + str(pattern.pattern)
        for converter in ("str:", "path:"):
            path = path.replace("<" + converter, "{")
        path = path.replace(">", "}")
        for method in ("get", "post", "put", "delete", "patch"):
            if hasattr(view, method):
                routes.append((path, method))
    return routes


def test_every_library_route_is_documented_and_nothing_else(schema):
    routes = _api_routes()
    assert len(routes) >= 30
    documented = {(path, method) for path, ops in schema["paths"].items() for method in ops if method != "parameters"}
    assert set(routes) == documented


def test_every_operation_documents_its_success_and_the_error_envelope(schema):
    envelope = schema["components"]["schemas"]["Error"]
    assert envelope["required"] == ["error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert detail["properties"]["code"]["type"] == "integer"
    assert detail["properties"]["message"]["type"] == "string"
    assert set(detail["required"]) == {"code", "message"}
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            statuses = {int(s) for s in op["responses"]}
            if path != "/v1/oci-redirect":  # deliberately never 200 (spec 3.5)
                assert statuses & {200, 201}, (path, method)
            errors = [s for s in statuses if s >= 400]
            if path not in ("/version", "/assets/config/config.prod.json"):
                assert errors, (path, method)
            for status in errors:
                content = op["responses"][str(status)]["content"]
                assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (path, status)


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/v1/entities", "post", {201, 400, 401, 403, 409, 413}),
        ("/v1/images/{ref}", "get", {200, 400, 401, 404}),
        ("/v1/images/{ref}", "delete", {200, 401, 403, 404}),
        ("/v1/imagefile/{ref}", "get", {200, 206, 303, 404, 416}),
        ("/v1/imagefile/{ref}", "post", {200, 400, 401, 403, 404, 413, 507}),
        ("/v2/imagefile/{image_id}", "post", {200, 400, 401, 403, 404, 413, 507}),
        ("/v2/imagefile/_upload/{secret}", "put", {200, 400, 404, 410, 413}),
        ("/v1/oci-redirect", "get", {404}),
    ],
)
def test_statuses_the_spec_names(schema, path, method, statuses):
    assert statuses <= {int(s) for s in schema["paths"][path][method]["responses"]}


def _body(schema, path, method):
    ref = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


@pytest.mark.parametrize(
    ("path", "method", "field", "expected"),
    [
        ("/v1/entities", "post", "name", {"type": "string", "maxLength": 64}),
        ("/v1/entities", "post", "defaultPrivate", {"type": "boolean"}),
        ("/v1/collections", "post", "entity", {"type": "string", "pattern": "^[0-9]+$"}),
        ("/v1/collections", "post", "private", {"type": "boolean"}),
        ("/v1/containers", "post", "collection", {"type": "string", "pattern": "^[0-9]+$"}),
        ("/v1/containers/{entity}/{collection}/{container}", "put", "readOnly", {"type": "boolean"}),
        ("/v1/images", "post", "hash", {"type": "string", "pattern": r"^sha256\.([0-9a-f]{64})$"}),
        ("/v1/tags/{container_id}", "post", "Tag", {"type": "string", "maxLength": 128}),
        ("/v1/tags/{container_id}", "post", "ImageID", {"type": "string", "pattern": "^[0-9]+$"}),
        ("/v2/tags/{container_id}", "post", "Arch", {"type": "string"}),
        ("/v2/imagefile/{image_id}", "post", "filesize", {"type": "integer", "minimum": 0}),
        ("/v2/imagefile/{image_id}", "post", "sha256sum", {"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        ("/v2/imagefile/{image_id}/_multipart", "post", "filesize", {"type": "integer", "minimum": 0}),
        ("/v2/imagefile/{image_id}/_multipart", "put", "partNumber", {"type": "integer", "minimum": 1}),
        ("/v2/imagefile/{image_id}/_multipart", "put", "uploadID", {"type": "string"}),
        ("/v2/imagefile/{image_id}/_multipart_complete", "put", "completedParts", {"type": "array"}),
        ("/v2/imagefile/{image_id}/_multipart_abort", "put", "uploadID", {"type": "string"}),
    ],
)
def test_request_bodies_have_the_types_the_client_sends(schema, path, method, field, expected):
    body = _body(schema, path, method)
    assert body["type"] == "object"
    prop = body["properties"][field]
    assert {k: prop.get(k) for k in expected} == expected


def test_required_request_fields(schema):
    assert set(_body(schema, "/v1/images", "post")["required"]) == {"container", "hash"}
    assert set(_body(schema, "/v2/tags/{container_id}", "post")["required"]) == {"Arch", "Tag", "ImageID"}
    assert set(_body(schema, "/v2/imagefile/{image_id}", "post")["required"]) == {"filesize"}


def test_uploads_take_raw_bytes(schema):
    for path, method in [
        ("/v1/imagefile/{ref}", "post"),
        ("/v2/imagefile/_upload/{secret}", "put"),
        ("/v2/imagefile/_part/{secret}", "put"),
    ]:
        content = schema["paths"][path][method]["requestBody"]["content"]
        assert content["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}


def _param(schema, path, method, name):
    return next(p for p in schema["paths"][path][method]["parameters"] if p["name"] == name)


def test_path_and_query_parameters(schema):
    ref = _param(schema, "/v1/images/{ref}", "get", "ref")
    assert ref["in"] == "path" and ref["required"] is True
    for path in ("/v1/images/{ref}", "/v1/imagefile/{ref}"):
        assert _param(schema, path, "get", "arch")["in"] == "query"
    assert _param(schema, "/v1/imagefile/{ref}", "get", "Range")["in"] == "header"
    value = _param(schema, "/v1/search", "get", "value")
    assert value["in"] == "query" and value["required"] is True
    assert set(_param(schema, "/v1/search", "get", "signed")["schema"]["enum"]) == {"true", "false"}
    for path in ("/v1/tags/{container_id}", "/v2/imagefile/{image_id}/_complete"):
        method = "get" if "tags" in path else "put"
        param = next(p for p in schema["paths"][path][method]["parameters"] if p["in"] == "path")
        assert param["schema"]["pattern"] == "^[0-9]+$"


def test_responses_are_the_client_shapes(schema):
    components = schema["components"]["schemas"]
    image = components["Image"]["properties"]
    assert image["size"]["type"] == "integer"
    assert image["uploaded"]["type"] == "boolean"
    assert image["id"]["type"] == "string"
    container = components["Container"]["properties"]
    assert container["archTags"]["additionalProperties"]["additionalProperties"]["type"] == "string"
    search = components["SearchResults"]["properties"]
    assert set(search) == {"entity", "collection", "container", "image"}
    ok = schema["paths"]["/v1/images/{ref}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert components[ok["$ref"].rsplit("/", 1)[1]]["properties"]["data"] == {"$ref": "#/components/schemas/Image"}
    download = schema["paths"]["/v1/imagefile/{ref}"]["get"]["responses"]
    assert "application/octet-stream" in download["200"]["content"]
    assert "Location" in download["303"]["headers"]


def test_security_bearer_token_and_anonymous_reads(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    paths = schema["paths"]
    assert {} in paths["/v1/images/{ref}"]["get"]["security"]
    assert {} in paths["/v1/search"]["get"]["security"]
    assert {} not in paths["/v1/token-status"]["get"]["security"]
    for path, method in [("/v1/entities", "post"), ("/v1/images/{ref}", "delete"), ("/v2/tags/{container_id}", "post")]:
        assert {"bearerAuth": []} in paths[path][method]["security"]
        assert {} not in paths[path][method]["security"]
    assert "security" not in paths["/v2/imagefile/_upload/{secret}"]["put"]


def test_schema_generates_without_warnings(db):
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    from django_sylabs_library.api.urls import urlpatterns

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator(patterns=[path("", include(urlpatterns))]).get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
