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
