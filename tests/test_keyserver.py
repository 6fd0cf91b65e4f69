"""The HKP keyserver: /pks/add (token, ownership, e-mail rule, limits) and /pks/lookup."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pysequoia
import pytest

from django_sylabs_library.models import SigningKey
from tests.conftest import assert_error


def new_key(uid: str) -> tuple[str, str]:
    """(armored public key, fingerprint) of a fresh key."""
    cert = pysequoia.Tsk.generate(uid).extract_certificate()
    return str(cert), cert.fingerprint.lower()


def add(api: Any, keytext: str) -> Any:
    body = urllib.parse.urlencode({"keytext": keytext})
    return api.request("POST", "/pks/add", raw=body.encode(), content_type="application/x-www-form-urlencoded")


@pytest.fixture
def open_keyserver(settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False}


def test_add_requires_a_token(anon_api: Any, db: Any) -> None:
    armored, fp = new_key("Anon <anon@example.org>")
    assert_error(add(anon_api, armored), 401, "token")
    assert not SigningKey.objects.exists()


def test_add_refuses_an_invalid_token(api: Any, db: Any) -> None:
    armored, _ = new_key("Anon <anon@example.org>")
    client = api()
    client.token = "sylib_not-a-token"
    assert_error(add(client, armored), 401)
    assert not SigningKey.objects.exists()


def test_add_garbage_is_400(alice_api: Any, open_keyserver: None) -> None:
    assert_error(add(alice_api, "this is not a key\n"), 400, "OpenPGP")
    assert_error(add(alice_api, ""), 400, "keytext")
    assert not SigningKey.objects.exists()


def test_add_refuses_secret_keys(alice_api: Any, open_keyserver: None) -> None:
    tsk = pysequoia.Tsk.generate("Alice <alice@example.org>")
    assert_error(add(alice_api, str(tsk)), 400, "secret")
    assert not SigningKey.objects.exists()


def test_by_default_only_keys_with_verified_addresses(alice_api: Any, alice: Any) -> None:
    armored, _ = new_key("Someone <someone@example.org>")
    assert_error(add(alice_api, armored), 403, "verified e-mail")
    assert not SigningKey.objects.exists()
    alice.email = "alice@example.org"
    alice.save()
    armored, fp = new_key("Alice <alice@example.org>")
    response = add(alice_api, armored)
    assert response.status_code == 200, response.content
    assert fp.upper() in response.content.decode()
    assert SigningKey.objects.get(fingerprint=fp).uploaded_by == alice


def test_another_users_key_cannot_be_replaced(alice_api: Any, bob_api: Any, open_keyserver: None) -> None:
    armored, fp = new_key("Alice <alice@example.org>")
    assert add(alice_api, armored).status_code == 200
    assert_error(add(bob_api, armored), 403, "another user")
    # the owner may push it again (an update is merged, not duplicated)
    assert add(alice_api, armored).status_code == 200
    assert SigningKey.objects.filter(fingerprint=fp).count() == 1


def test_per_user_key_limit(alice_api: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False, "KEYSERVER_MAX_KEYS_PER_USER": 1}
    assert add(alice_api, new_key("One <one@example.org>")[0]).status_code == 200
    assert_error(add(alice_api, new_key("Two <two@example.org>")[0]), 403, "limit")
    assert SigningKey.objects.count() == 1


def test_key_text_size_limit(alice_api: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False, "KEYSERVER_MAX_KEY_BYTES": 100}
    assert_error(add(alice_api, new_key("Big <big@example.org>")[0]), 413)


@pytest.fixture
def stored_key(alice_api: Any, open_keyserver: None) -> dict[str, str]:
    armored, fp = new_key("Alice Example <alice.example@example.org>")
    assert add(alice_api, armored).status_code == 200
    key = SigningKey.objects.get(fingerprint=fp)
    return {
        "fp": fp,
        "key_id": fp[-16:],
        "armored": armored,
        "subkey_ids": list(key.key_ids.values_list("key_id", flat=True)),
    }


def lookup(api: Any, **params: str) -> Any:
    return api.get("/pks/lookup?" + urllib.parse.urlencode(params))


def test_get_by_fingerprint_returns_exactly_that_key(anon_api: Any, stored_key: dict[str, str]) -> None:
    response = lookup(anon_api, op="get", exact="on", search="0x" + stored_key["fp"])
    assert response.status_code == 200
    text = response.content.decode()
    assert text.count("BEGIN PGP PUBLIC KEY BLOCK") == 1
    certs = pysequoia.Cert.split_bytes(response.content)
    assert [c.fingerprint.lower() for c in certs] == [stored_key["fp"]]


@pytest.mark.parametrize("form", ["long", "short", "unpadded"])
def test_get_by_key_id(anon_api: Any, stored_key: dict[str, str], form: str) -> None:
    key_id = stored_key["key_id"]
    search = {"long": key_id, "short": key_id[-8:], "unpadded": key_id.lstrip("0")}[form]
    response = lookup(anon_api, op="get", exact="on", search="0x" + search)
    assert response.status_code == 200
    assert pysequoia.Cert.from_bytes(response.content).fingerprint.lower() == stored_key["fp"]


def test_get_by_subkey_id_and_zero_nibble_ids(anon_api: Any, stored_key: dict[str, str]) -> None:
    # verify asks by the key ID of whichever (sub)key signed, without leading zeros
    for key_id in stored_key["subkey_ids"]:
        response = lookup(anon_api, op="get", exact="on", search="0x" + key_id.lstrip("0"))
        assert response.status_code == 200, key_id
    from django_sylabs_library.models import SigningKeyId

    row = SigningKeyId.objects.first()
    row.key_id = "0" + row.key_id[1:]  # a 15-digit key ID once the zero is dropped
    row.save()
    response = lookup(anon_api, op="get", exact="on", search="0x" + row.key_id.lstrip("0"))
    assert response.status_code == 200


def test_unknown_key_is_404_in_the_envelope(anon_api: Any, stored_key: dict[str, str]) -> None:
    assert_error(lookup(anon_api, op="get", search="0x" + "ab" * 20), 404, "no matching keys")
    assert_error(lookup(anon_api, op="index", options="mr", search="nobody-at-all"), 404)


@pytest.mark.parametrize("term", ["alice.example@example.org", "Alice Example", "ALICE EXAMPLE"])
def test_machine_readable_index_by_email_and_name(anon_api: Any, stored_key: dict[str, str], term: str) -> None:
    response = lookup(anon_api, op="index", options="mr", fingerprint="on", search=term)
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0] == "info:1:1"
    pubs = [line for line in lines if line.startswith("pub:")]
    assert len(pubs) == 1
    fields = pubs[0].split(":")
    assert fields[1] == stored_key["fp"].upper()
    assert fields[2] == "22"  # EdDSA
    assert int(fields[4]) > 0  # creation time
    uids = [urllib.parse.unquote(line.split(":")[1]) for line in lines if line.startswith("uid:")]
    assert uids == ["Alice Example <alice.example@example.org>"]


def test_vindex_and_index_by_key_id(anon_api: Any, stored_key: dict[str, str]) -> None:
    for op in ("index", "vindex"):
        response = lookup(anon_api, op=op, options="mr", search="0x" + stored_key["key_id"].upper())
        assert response.status_code == 200
        assert f"pub:{stored_key['fp'].upper()}:" in response.content.decode()


def test_bad_lookups_are_400(anon_api: Any, db: Any) -> None:
    assert_error(lookup(anon_api, op="get"), 400, "search")
    assert_error(lookup(anon_api, op="stats", search="x"), 400, "op")
    assert_error(lookup(anon_api, op="index", search="ab"), 400)
    assert_error(lookup(anon_api, op="index", search="x" * 300), 400)
    assert anon_api.post("/pks/lookup").status_code == 405


def test_lookup_ignores_the_library_token(alice_api: Any, stored_key: dict[str, str]) -> None:
    # Apptainer sends its remote's token to the keyserver; look-ups must still work.
    assert lookup(alice_api, op="get", search="0x" + stored_key["fp"]).status_code == 200


def test_discovery_advertises_the_keystore(anon_api: Any, db: Any) -> None:
    config = anon_api.get("/assets/config/config.prod.json").json()
    assert config["keystoreAPI"] == {"uri": "http://testserver"}
