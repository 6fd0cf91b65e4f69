"""API tokens: stored hashed, expiry, revocation, last use; the /auth/tokens page; Bearer auth."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from django_sylabs_library.exceptions import InvalidInput, NotFound
from django_sylabs_library.flows.tokens import authenticate_token, create_token, revoke_token
from django_sylabs_library.models import Token, hash_secret
from tests.conftest import Api, assert_error


def every_stored_value():
    """Every value of every column of every table of the app and of users, as text."""
    models = [*apps.get_app_config("django_sylabs_library").get_models(), get_user_model()]
    for model in models:
        for row in model.objects.values_list():
            for value in row:
                yield str(value)


def test_tokens_are_stored_hashed(alice):
    token, raw = create_token(alice, "laptop")
    assert raw.startswith("sylib_")
    assert len(raw) > 30
    assert token.key_hash == hash_secret(raw) != raw
    assert token.key_prefix == raw[:12]
    assert not any(raw in value for value in every_stored_value())


def test_token_prefix_setting(alice, settings):
    settings.SYLABS_LIBRARY = {"TOKEN_PREFIX": "mylib_"}
    assert create_token(alice)[1].startswith("mylib_")


def test_many_named_tokens_per_user(alice, api):
    first = create_token(alice, "laptop")[1]
    second = create_token(alice, "cluster")[1]
    assert first != second
    for raw in (first, second):
        assert Api(Client(), raw).get("v1/token-status").status_code == 200
    assert sorted(Token.objects.filter(user=alice).values_list("name", flat=True)) == ["cluster", "laptop"]


def test_expired_token_is_401(alice):
    token, raw = create_token(alice, "old", expires_days=1)
    assert Api(Client(), raw).get("v1/token-status").status_code == 200
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Api(Client(), raw).get("v1/token-status")
    assert_error(response, 401)
    assert json.loads(response.content)["error"]["message"] == "Invalid Token"


def test_token_expiry_is_reported(alice):
    raw = create_token(alice, "soon", expires_days=3)[1]
    data = json.loads(Api(Client(), raw).get("v1/token-status").content)["data"]
    assert data["expiresAt"].endswith("Z")


def test_revoked_token_is_401(alice):
    token, raw = create_token(alice)
    revoke_token(alice, token.pk)
    assert_error(Api(Client(), raw).get("v1/token-status"), 401)
    assert_error(Api(Client(), raw).post("v1/collections", {"entity": "1", "name": "x"}), 401)


def test_inactive_users_tokens_are_refused(alice):
    raw = create_token(alice)[1]
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    assert_error(Api(Client(), raw).get("v1/token-status"), 401)


def test_a_user_cannot_revoke_someone_elses_token(alice, bob):
    token, raw = create_token(alice)
    with pytest.raises(NotFound):
        revoke_token(bob, token.pk)
    assert Api(Client(), raw).get("v1/token-status").status_code == 200


def test_last_used_is_recorded(alice):
    token, raw = create_token(alice)
    assert token.last_used_at is None
    Api(Client(), raw).get("v1/token-status")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    # Within the resolution the time is not rewritten (one write saved per request) ...
    Api(Client(), raw).get("v1/token-status")
    token.refresh_from_db()
    assert token.last_used_at == first
    # ... after it, it is.
    old = timezone.now() - timedelta(hours=1)
    Token.objects.filter(pk=token.pk).update(last_used_at=old)
    Api(Client(), raw).get("v1/token-status")
    token.refresh_from_db()
    assert token.last_used_at > old + timedelta(minutes=59)


def test_last_used_resolution_setting(alice, settings):
    settings.SYLABS_LIBRARY = {"TOKEN_LAST_USED_RESOLUTION_SECONDS": 0}
    token, raw = create_token(alice)
    authenticate_token(raw)
    token.refresh_from_db()
    first = token.last_used_at
    authenticate_token(raw)
    token.refresh_from_db()
    assert token.last_used_at > first


@pytest.mark.parametrize("raw", ["", "x" * 300, "sylib_unknown"])
def test_authenticate_token_rejects(raw, db):
    assert authenticate_token(raw) is None


@pytest.mark.parametrize(
    ("name", "days"), [("x" * 101, None), ("ok", 0), ("ok", -1), ("ok", 36501), ("ok", True), ("ok", 1.5)]
)
def test_create_token_validates(alice, name, days):
    with pytest.raises(InvalidInput):
        create_token(alice, name, days)
    assert not Token.objects.exists()


# --- the token page ---------------------------------------------------------------------------


def test_token_page_requires_login(client, db):
    response = client.get("/auth/tokens")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "next=/auth/tokens" in response["Location"]
    assert client.post("/auth/tokens", {"name": "x"}).status_code == 302
    assert not Token.objects.exists()


def test_token_page_lists_nothing_at_first(client, alice):
    client.force_login(alice)
    response = client.get("/auth/tokens")
    assert response.status_code == 200
    assert b"You have no tokens yet" in response.content
    assert b"alice" in response.content  # the entity name


def test_create_shows_the_token_once(client, alice):
    client.force_login(alice)
    response = client.post("/auth/tokens", {"name": "laptop", "expires_days": ""})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert b'data-testid="new-token"' in response.content
    match = re.search(rb'value="(sylib_[A-Za-z0-9_\-]+)"', response.content)
    assert match
    token = match.group(1).decode()
    assert Token.objects.get(user=alice).key_hash == hash_secret(token)
    # The token works against the API.
    status = Api(Client(), token).get("v1/token-status")
    assert json.loads(status.content)["data"]["username"] == "alice"
    # It is never shown again; the list shows its name and prefix.
    again = client.get("/auth/tokens")
    assert token.encode() not in again.content
    assert b"laptop" in again.content
    assert token[:12].encode() in again.content


def test_create_with_expiry(client, alice):
    client.force_login(alice)
    client.post("/auth/tokens", {"name": "short", "expires_days": "2"})
    token = Token.objects.get(user=alice)
    assert timedelta(days=1, hours=23) < token.expires_at - timezone.now() <= timedelta(days=2)


@pytest.mark.parametrize("form", [{"name": ""}, {"name": "x" * 101}, {"name": "ok", "expires_days": "0"}])
def test_create_with_a_bad_form_creates_nothing(client, alice, form):
    client.force_login(alice)
    response = client.post("/auth/tokens", form)
    assert response.status_code == 200
    assert b"not created" in response.content
    assert not Token.objects.exists()


def test_max_expiry_setting(client, alice, settings):
    settings.SYLABS_LIBRARY = {"TOKEN_MAX_EXPIRY_DAYS": 30}
    client.force_login(alice)
    client.post("/auth/tokens", {"name": "too-long", "expires_days": "31"})
    assert not Token.objects.exists()
    client.post("/auth/tokens", {"name": "default"})
    token = Token.objects.get()
    assert token.expires_at - timezone.now() <= timedelta(days=30)


def test_revoke_via_post(client, alice):
    token, raw = create_token(alice, "laptop")
    assert Api(Client(), raw).get("v1/token-status").status_code == 200
    client.force_login(alice)
    response = client.post(f"/auth/tokens/{token.pk}/revoke")
    assert response.status_code == 302
    assert response["Location"] == "/auth/tokens"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_error(Api(Client(), raw).get("v1/token-status"), 401)
    page = client.get("/auth/tokens")
    assert b"revoked" in page.content


def test_revoke_needs_post_and_login(client, alice):
    token, raw = create_token(alice)
    assert client.post(f"/auth/tokens/{token.pk}/revoke").status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(f"/auth/tokens/{token.pk}/revoke").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_cannot_revoke_another_users_token(client, alice, bob):
    token, raw = create_token(alice)
    client.force_login(bob)
    response = client.post(f"/auth/tokens/{token.pk}/revoke", follow=True)
    assert response.status_code == 200
    assert b"token not found" in response.content
    token.refresh_from_db()
    assert token.revoked_at is None
    assert Api(Client(), raw).get("v1/token-status").status_code == 200


def test_page_lists_only_own_tokens(client, alice, bob):
    create_token(alice, "alices-token")
    create_token(bob, "bobs-token")
    client.force_login(bob)
    page = client.get("/auth/tokens").content
    assert b"bobs-token" in page and b"alices-token" not in page


def test_navigation_links_the_token_page(client, alice):
    client.force_login(alice)
    assert b'href="/auth/tokens"' in client.get("/").content


def test_session_login_reads_and_csrf_protected_writes(alice):
    """A logged-in browser session may read the API; its unsafe calls need the CSRF token."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert json.loads(browser.get("/v1/token-status").content)["data"]["username"] == "alice"
    response = browser.post("/v1/collections", data='{"entity": "1", "name": "x"}', content_type="")
    assert_error(response, 403)
