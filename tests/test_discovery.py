"""Discovery document, /version, token-status, rbac/users/current, oci-redirect and the auth header
(spec sections 1.1, 1.2, 3)."""

from __future__ import annotations

import json

import pytest

from django_sylabs_library import API_VERSION
from tests.conftest import assert_error


def test_discovery_document_is_a_bare_object_of_services(anon_api):
    response = anon_api.get("assets/config/config.prod.json")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert "data" not in doc and "error" not in doc
    assert all(isinstance(value, dict) for value in doc.values())
    assert doc["libraryAPI"]["uri"] == "http://testserver"
    assert doc["tokenAPI"]["uri"] == "http://testserver"


def test_discovery_uses_public_url_without_trailing_slash(anon_api, settings):
    settings.SYLABS_LIBRARY = {"PUBLIC_URL": "https://containers.example.org/"}
    doc = json.loads(anon_api.get("assets/config/config.prod.json").content)
    assert doc["libraryAPI"]["uri"] == "https://containers.example.org"
    assert doc["tokenAPI"]["uri"] == "https://containers.example.org"


def test_discovery_ignores_a_bad_token(api):
    bad = api()
    bad.token = "not-a-token"
    assert bad.get("assets/config/config.prod.json").status_code == 200


def test_version(anon_api):
    response = anon_api.get("version")
    assert response.status_code == 200
    data = json.loads(response.content)
    assert set(data) == {"data"}
    assert data["data"]["apiVersion"] == API_VERSION == "2.0.0-alpha.2"
    assert isinstance(data["data"]["version"], str) and data["data"]["version"]


@pytest.mark.parametrize("scheme", ["BEARER", "Bearer", "bearer"])
def test_version_is_never_401_even_with_a_bad_token(api, scheme):
    client = api(scheme=scheme)
    client.token = "sylib_definitely-not-valid"
    response = client.get("version")
    assert response.status_code == 200
    assert json.loads(response.content)["data"]["apiVersion"] == API_VERSION


def test_version_with_a_valid_token(alice_api):
    assert alice_api.get("version").status_code == 200


@pytest.mark.parametrize("scheme", ["BEARER", "Bearer", "bearer", "bEaReR"])
def test_token_status_valid_in_any_scheme_case(api, alice, scheme):
    response = api(alice, scheme=scheme).get("v1/token-status")
    assert response.status_code == 200, response.content
    data = json.loads(response.content)["data"]
    assert data["username"] == "alice"


def test_token_status_reports_the_entity_name_not_the_username(api, user_factory):
    user = user_factory("J.Smith@uni.edu")
    data = json.loads(api(user).get("v1/token-status").content)["data"]
    assert data["username"] == "j.smith-uni.edu"


def test_token_status_invalid_token(api):
    client = api()
    client.token = "sylib_nope"
    response = client.get("v1/token-status")
    assert_error(response, 401)
    assert json.loads(response.content)["error"]["message"] == "Invalid Token"
    assert response["WWW-Authenticate"].lower().startswith("bearer")


def test_token_status_missing_token(anon_api):
    response = anon_api.get("v1/token-status")
    assert_error(response, 401)
    assert json.loads(response.content)["error"]["message"] == "Invalid Token"


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "BEARER "])
def test_malformed_bearer_header_is_401(anon_api, header):
    response = anon_api.get("v1/token-status", HTTP_AUTHORIZATION=header)
    assert_error(response, 401)


def test_other_auth_schemes_are_anonymous(anon_api, alice):
    # Basic auth is not ours: treated as no token (anonymous), so token-status says 401 and
    # anonymous endpoints keep working.
    assert_error(anon_api.get("v1/token-status", HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0LXB3"), 401)
    response = anon_api.get("v1/search?value=abc", HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0LXB3")
    assert response.status_code == 200


def test_invalid_token_on_an_anonymous_endpoint_is_401_not_anonymous(api):
    client = api()
    client.token = "sylib_wrong"
    assert_error(client.get("v1/search?value=abc"), 401)


def test_rbac_current_user_is_a_bare_object(alice_api):
    response = alice_api.get("v1/rbac/users/current")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert "data" not in body
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.org"
    assert "realname" in body


def test_rbac_current_user_anonymous_is_401(anon_api):
    assert_error(anon_api.get("v1/rbac/users/current"), 401)


@pytest.mark.parametrize(
    "query", ["", "?accessTypes=pull&mapped=1&namespace=a%2Fb%2Fc", "?accessTypes=pull%2Cpush&mapped=1&namespace=x"]
)
def test_oci_redirect_is_404_for_everyone(alice_api, anon_api, query):
    for client in (alice_api, anon_api):
        assert_error(client.get("v1/oci-redirect" + query), 404)


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("path", ["v1/nothing-here", "v2/images/x", "v1/entities/alice/extra/parts/here", "v1/"])
def test_unknown_endpoints_under_v1_v2_answer_json_404(alice_api, method, path):
    response = getattr(alice_api, method)(path)
    assert_error(response, 404)


def test_wrong_method_is_405_envelope(alice_api):
    assert_error(alice_api.delete("v1/entities/alice"), 405)
    assert_error(alice_api.post("version", {}), 405)


# Django's test client would read "//v1/..." as a URL with host "v1": set PATH_INFO directly.


def test_double_slash_paths_are_tolerated(alice_api, anon_api):
    """A URI advertised with a trailing slash makes the client send '//v1/...' (spec 1.1)."""
    response = alice_api.get("/", PATH_INFO="//v1/token-status")
    assert response.status_code == 200
    assert json.loads(response.content)["data"]["username"] == "alice"
    assert anon_api.get("/", PATH_INFO="//version").status_code == 200
    assert anon_api.get("/", PATH_INFO="///v1/search", QUERY_STRING="value=abc").status_code == 200
    assert_error(anon_api.get("/", PATH_INFO="//v1/token-status"), 401)


def test_double_slash_unknown_endpoint_is_json_404(anon_api):
    assert_error(anon_api.get("/", PATH_INFO="//v1/nothing-here"), 404)
