"""System checks of the app (django_sylabs_library.E0xx / W0xx) and the settings object."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from django_sylabs_library.checks import check_settings
from django_sylabs_library.conf import library_settings


def ids():
    return sorted(message.id for message in check_settings())


def test_the_test_settings_pass():
    assert ids() == []


def test_unknown_key_is_e001(settings):
    settings.SYLABS_LIBRARY = {"DEFAULT_PRIVAT": True}
    messages = check_settings()
    assert [m.id for m in messages] == ["django_sylabs_library.E001"]
    assert "DEFAULT_PRIVAT" in messages[0].msg


def test_unknown_key_raises_on_access(settings):
    settings.SYLABS_LIBRARY = {"NOPE": 1}
    with pytest.raises(ImproperlyConfigured, match="NOPE"):
        library_settings.DEFAULT_PRIVATE  # noqa: B018


def test_not_a_dict_is_e001(settings):
    settings.SYLABS_LIBRARY = ["DEFAULT_PRIVATE"]
    assert ids() == ["django_sylabs_library.E001"]


def test_missing_guardian_backend_is_w001(settings):
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert ids() == ["django_sylabs_library.W001"]


def test_missing_storage_alias_is_w002(settings):
    settings.SYLABS_LIBRARY = {"STORAGE_ALIAS": "elsewhere"}
    assert ids() == ["django_sylabs_library.W002"]


def test_bad_public_url_is_e002(settings):
    settings.SYLABS_LIBRARY = {"PUBLIC_URL": "containers.example.org"}
    assert ids() == ["django_sylabs_library.E002"]


@pytest.mark.parametrize("size", [1024, "64MiB", None])
def test_bad_part_size_is_e003(settings, size):
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": size}
    assert ids() == ["django_sylabs_library.E003"]


def test_settings_are_reread_when_changed(settings):
    assert library_settings.SEARCH_LIMIT == 100
    settings.SYLABS_LIBRARY = {"SEARCH_LIMIT": 5}
    assert library_settings.SEARCH_LIMIT == 5


def test_unknown_attribute_is_an_error():
    with pytest.raises(AttributeError):
        library_settings.NOT_A_SETTING  # noqa: B018


def test_manage_py_check_has_no_errors(db):
    call_command("check", "--fail-level", "ERROR")


def test_manage_py_check_has_no_warnings(db):
    call_command("check", "--fail-level", "WARNING")
