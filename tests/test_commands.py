"""Management commands: sylabs_library_token and sylabs_library_freeze."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from django_sylabs_library.models import Entity, Tag, Token
from tests.conftest import Api, PushError, assert_error, make_sif, push, seed


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_token_command_prints_a_working_token_last(alice):
    out, err = run("sylabs_library_token", "alice")
    raw = out.strip().splitlines()[-1]
    response = Api(Client(), raw).get("v1/token-status")
    assert response.status_code == 200
    assert json.loads(response.content)["data"]["username"] == "alice"
    token = Token.objects.get(user=alice)
    assert token.name == "cli" and token.expires_at is None
    assert "alice" in err


def test_token_command_name_and_expiry(alice):
    out, _ = run("sylabs_library_token", "alice", "--name", "ci", "--expires-days", "7")
    token = Token.objects.get(user=alice)
    assert token.name == "ci"
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert Api(Client(), out.strip().splitlines()[-1]).get("v1/token-status").status_code == 200


def test_token_command_creates_the_entity(alice):
    run("sylabs_library_token", "alice")
    assert Entity.objects.get(owner=alice).name == "alice"


def test_token_command_unknown_user(db):
    with pytest.raises(CommandError, match="--create-user"):
        run("sylabs_library_token", "nobody")
    assert not get_user_model().objects.filter(username="nobody").exists()


def test_token_command_create_user(db):
    out, _ = run("sylabs_library_token", "J.Smith@uni.edu", "--create-user")
    user = get_user_model().objects.get(username="J.Smith@uni.edu")
    assert not user.has_usable_password()
    raw = out.strip().splitlines()[-1]
    data = json.loads(Api(Client(), raw).get("v1/token-status").content)["data"]
    assert data["username"] == "j.smith-uni.edu"


def test_token_command_create_user_is_idempotent(alice):
    run("sylabs_library_token", "alice", "--create-user")
    run("sylabs_library_token", "alice", "--create-user")
    assert get_user_model().objects.filter(username="alice").count() == 1
    assert Token.objects.filter(user=alice).count() == 2


@pytest.mark.parametrize("days", ["0", "-3"])
def test_token_command_bad_expiry(alice, days):
    with pytest.raises(CommandError):
        run("sylabs_library_token", "alice", "--expires-days", days)
    assert not Token.objects.exists()


# --- freeze ----------------------------------------------------------------------------------


@pytest.fixture
def tagged(alice, alice_api):
    seed(alice, "alice/tools/samtools", make_sif(), tags=["latest", "v1"])
    seed(alice, "alice/tools/samtools", make_sif("arm64"), tags=["latest"])
    return alice_api


def test_freeze_and_unfreeze(tagged):
    out, _ = run("sylabs_library_freeze", "alice/tools/samtools:latest")
    assert "froze" in out
    assert set(Tag.objects.filter(name="latest").values_list("frozen", flat=True)) == {True}
    assert Tag.objects.get(name="v1").frozen is False
    with pytest.raises(PushError) as refused:
        push(tagged, "alice/tools/samtools", make_sif())
    assert_error(refused.value.response, 403)
    out, _ = run("sylabs_library_freeze", "--unfreeze", "alice/tools/samtools:latest")
    assert "unfroze" in out
    assert set(Tag.objects.filter(name="latest").values_list("frozen", flat=True)) == {False}
    push(tagged, "alice/tools/samtools", make_sif())


def test_freeze_one_arch(tagged):
    run("sylabs_library_freeze", "--arch", "arm64", "alice/tools/samtools:latest")
    assert Tag.objects.get(name="latest", arch="arm64").frozen is True
    assert Tag.objects.get(name="latest", arch="amd64").frozen is False


def test_freeze_is_case_insensitive_like_pulls(tagged):
    run("sylabs_library_freeze", "Alice/Tools/SamTools:v1")
    assert Tag.objects.get(name="v1").frozen is True


@pytest.mark.parametrize(
    "ref",
    [
        "alice/tools/samtools",  # no tag
        "tools/samtools:latest",  # not a full reference
        "samtools:latest",
        "alice/tools/nothing:latest",  # no such container
        "nobody/tools/samtools:latest",
        "alice/tools/samtools:nope",  # no such tag
        "alice/tools/samtools:bad tag",
        "a/b/c/d:latest",
        "",
    ],
)
def test_freeze_bad_refs(tagged, ref):
    with pytest.raises(CommandError):
        run("sylabs_library_freeze", ref)
    assert not Tag.objects.filter(frozen=True).exists()


def test_freeze_unknown_arch(tagged):
    with pytest.raises(CommandError):
        run("sylabs_library_freeze", "--arch", "ppc64le", "alice/tools/samtools:latest")
    assert not Tag.objects.filter(frozen=True).exists()
