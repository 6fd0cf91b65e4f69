"""Opt-in rate limits (api/throttling.py, docs/limits.md): off by default, 429 in the JSON envelope
with Retry-After, per user / per client IP, X-Forwarded-For only from trusted proxies, loopback
exempt, capability URLs never limited, and the system checks about the cache."""

from __future__ import annotations

import json

import pytest

from django_sylabs_library.checks import check_settings
from tests.conftest import assert_error, image_body, image_hash, make_sif
from tests.test_uploads import put_bytes, upload_url

OUTSIDE = "203.0.113.5"  # TEST-NET-3: an address outside every default exemption
OTHER = "198.51.100.7"
ANON_PATH = "v1/search?value=nothing"  # an ordinary anonymous request (200)


@pytest.fixture(autouse=True)
def counter_cache(settings):
    """A fresh local-memory cache per test for the counters."""
    caches = dict(settings.CACHES)
    caches["ratelimits"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": f"ratelimits-{id(settings)}",
    }
    settings.CACHES = caches
    from django.core.cache import caches as cache_handler

    cache = cache_handler["ratelimits"]
    cache.clear()
    yield
    cache.clear()


def limits(settings, **extra):
    settings.SYLABS_LIBRARY = {"RATE_LIMIT_CACHE": "ratelimits", **extra}


def statuses(api, n, path=ANON_PATH, **meta):
    return [api.get(path, **meta).status_code for _ in range(n)]


def test_off_by_default(anon_api):
    assert statuses(anon_api, 60, REMOTE_ADDR=OUTSIDE) == [200] * 60


def test_anon_limit_is_429_in_the_envelope_with_retry_after(anon_api, settings):
    limits(settings, RATE_LIMITS={"anon": "3/min"})
    assert statuses(anon_api, 3, REMOTE_ADDR=OUTSIDE) == [200] * 3
    response = anon_api.get(ANON_PATH, REMOTE_ADDR=OUTSIDE)
    body = assert_error(response, 429)
    assert "throttled" in body["error"]["message"].lower()
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another address has its own count.
    assert anon_api.get(ANON_PATH, REMOTE_ADDR=OTHER).status_code == 200


def test_version_and_discovery_are_never_limited(anon_api, alice_api, settings):
    """The client asks for them before every operation, and /version ignores tokens: counting them
    would make every user behind one address share the anonymous limit."""
    limits(settings, RATE_LIMITS={"anon": "1/min", "user": "1/min"})
    for api in (anon_api, alice_api):
        assert statuses(api, 5, "version", REMOTE_ADDR=OUTSIDE) == [200] * 5
        assert statuses(api, 5, "assets/config/config.prod.json", REMOTE_ADDR=OUTSIDE) == [200] * 5


def test_loopback_is_exempt_by_default_and_configurable(anon_api, settings):
    limits(settings, RATE_LIMITS={"anon": "2/min"})
    assert statuses(anon_api, 10, REMOTE_ADDR="127.0.0.1") == [200] * 10
    assert statuses(anon_api, 10, REMOTE_ADDR="::1") == [200] * 10
    limits(settings, RATE_LIMITS={"anon": "2/min"}, RATE_LIMIT_EXEMPT_NETWORKS=["10.0.0.0/8"])
    assert statuses(anon_api, 3, REMOTE_ADDR="127.0.0.1") == [200, 200, 429]
    assert statuses(anon_api, 5, REMOTE_ADDR="10.1.2.3") == [200] * 5


def test_forwarded_for_is_ignored_without_trusted_proxies(anon_api, settings):
    """A client cannot dodge its limit by inventing X-Forwarded-For addresses."""
    limits(settings, RATE_LIMITS={"anon": "2/min"})
    results = [
        anon_api.get(ANON_PATH, REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(4)
    ]
    assert results == [200, 200, 429, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(anon_api, settings):
    """Behind nginx on loopback, each client has its own count; the proxy's address exempts nobody,
    and an address the client prepends itself is ignored."""
    limits(settings, RATE_LIMITS={"anon": "2/min"}, RATE_LIMIT_NUM_PROXIES=1)
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    first = [
        anon_api.get(ANON_PATH, HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, {OUTSIDE}", **via_proxy).status_code
        for i in range(3)
    ]
    assert first == [200, 200, 429]
    assert anon_api.get(ANON_PATH, HTTP_X_FORWARDED_FOR=OTHER, **via_proxy).status_code == 200


def test_without_proxy_setting_a_proxy_on_loopback_limits_nobody(anon_api, settings):
    """The failure mode of a forgotten RATE_LIMIT_NUM_PROXIES: no limit, rather than one shared limit."""
    limits(settings, RATE_LIMITS={"anon": "2/min"})
    assert statuses(anon_api, 6, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDE) == [200] * 6


def test_users_are_counted_per_user_from_any_address(alice_api, bob_api, settings):
    limits(settings, RATE_LIMITS={"anon": "1/min", "user": "3/min"})
    path = "v1/token-status"
    got = [alice_api.get(path, REMOTE_ADDR=ip).status_code for ip in (OUTSIDE, OTHER, "192.0.2.1", "192.0.2.2")]
    assert got == [200, 200, 200, 429]  # the anon limit of 1 does not apply to alice
    assert bob_api.get(path, REMOTE_ADDR=OUTSIDE).status_code == 200


@pytest.fixture
def record(alice_api, pushed):
    container = alice_api.data("GET", "v1/containers/alice/tools/samtools")

    def make():
        data = make_sif(size=2048)
        created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container["id"]))
        return created, data

    return make


def test_push_limit_counts_upload_starts_only(alice_api, record, settings):
    limits(settings, RATE_LIMITS={"push": "2/hour"})
    meta = {"REMOTE_ADDR": OUTSIDE}
    first, data1 = record()
    second, data2 = record()
    third, data3 = record()
    assert alice_api.post(f"v1/imagefile/{first['id']}", raw=data1, **meta).status_code == 200
    started = alice_api.post(f"v2/imagefile/{second['id']}", {"filesize": len(data2)}, **meta)
    assert started.status_code == 200
    url = json.loads(started.content)["data"]["uploadURL"]
    response = alice_api.post(f"v2/imagefile/{third['id']}/_multipart", {"filesize": len(data3)}, **meta)
    assert_error(response, 429)
    assert int(response["Retry-After"]) > 60
    # Everything else goes on: the started upload completes, reads answer.
    assert put_bytes(alice_api, url, data2, **meta).status_code == 200
    assert alice_api.put(f"v2/imagefile/{second['id']}/_complete", {}, **meta).status_code == 200
    assert alice_api.get("v1/containers/alice/tools/samtools", **meta).status_code == 200


def test_upload_urls_are_never_limited(alice_api, anon_api, record, settings):
    """The PUT to an upload URL carries no token, so it would count as anonymous."""
    limits(settings, RATE_LIMITS={"anon": "1/hour", "user": "100/min"})
    created, data = record()
    url = upload_url(alice_api, created, data)
    assert statuses(anon_api, 1, REMOTE_ADDR=OUTSIDE) == [200]
    assert put_bytes(anon_api, url, data, REMOTE_ADDR=OUTSIDE).status_code == 200
    assert anon_api.get(ANON_PATH, REMOTE_ADDR=OUTSIDE).status_code == 429


def test_throttled_request_changes_nothing(alice_api, record, settings):
    limits(settings, RATE_LIMITS={"user": "1/min"})
    meta = {"REMOTE_ADDR": OUTSIDE}
    assert alice_api.get("v1/token-status", **meta).status_code == 200
    from django_sylabs_library.models import Image

    count = Image.objects.count()
    data = make_sif(size=2048)
    container = Image.objects.first().container_id
    response = alice_api.post("v1/images", image_body(image_hash(data), str(container)), **meta)
    assert_error(response, 429)
    assert Image.objects.count() == count
    assert json.loads(response.content)["error"]["code"] == 429


# --- system checks ---------------------------------------------------------------------------------


def check_ids():
    return sorted(m.id for m in check_settings())


def test_checks_validate_rate_settings(settings):
    limits(settings, RATE_LIMITS={"anon": "lots", "everyone": "1/s"})
    assert check_ids().count("django_sylabs_library.E022") == 2
    limits(settings, RATE_LIMITS={"anon": "1/s"}, RATE_LIMIT_NUM_PROXIES=-1, RATE_LIMIT_EXEMPT_NETWORKS=["nope"])
    assert {"django_sylabs_library.E024", "django_sylabs_library.E025"} <= set(check_ids())
    settings.SYLABS_LIBRARY = {"RATE_LIMITS": {"anon": "1/s"}, "RATE_LIMIT_CACHE": "missing"}
    assert "django_sylabs_library.E023" in check_ids()


def test_checks_warn_about_caches_that_are_not_shared(settings):
    limits(settings, RATE_LIMITS={"user": "100/min"})
    assert "django_sylabs_library.W021" in check_ids()  # LocMemCache: per process
    caches = dict(settings.CACHES)
    caches["ratelimits"] = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    settings.CACHES = caches
    assert "django_sylabs_library.W020" in check_ids()
    caches["ratelimits"] = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "ratelimits"}
    settings.CACHES = dict(caches)
    assert not {"django_sylabs_library.W020", "django_sylabs_library.W021"} & set(check_ids())
    # Rate limits off: the cache does not matter.
    settings.SYLABS_LIBRARY = {}
    caches["default"] = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    settings.CACHES = dict(caches)
    assert check_ids() == []
