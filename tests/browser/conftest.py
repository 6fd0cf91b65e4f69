"""Browser tests: Playwright driving Debian's Chromium against the example project under gunicorn.

Marked ``integration`` (they run once in CI, not in the tox matrix). Chromium comes from
``apt-get install chromium`` (``scripts/run-tests.sh`` installs it); Playwright's own browser
downloads are never used (``CHROMIUM`` overrides the path). Screenshots of every page go to
``test-artifacts/screenshots/`` (``SYLABS_SCREENSHOT_DIR`` overrides it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server import REPO_ROOT, ExampleServer, build_driver, running_example_server

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(f"Chromium not found at {path}: apt-get install -y chromium (or set CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("SYLABS_SCREENSHOT_DIR") or REPO_ROOT / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def libconform_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$LIBCONFORM`` if set, else built from ``shared/conformance`` (as the integration tests do)."""
    given = os.environ.get("LIBCONFORM")
    if given:
        return Path(given)
    return build_driver(tmp_path_factory.mktemp("libconform-bin"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    with running_example_server(tmp_path_factory.mktemp("browser-server"), workers=2, threads=4) as running:
        running.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g; U = g(); "
            "U.objects.create_user('alice', 'alice@example.org', 'alice-pw-1234'); "
            "U.objects.create_user('bob', 'bob@example.org', 'bob-pw-1234'); "
            "U.objects.create_superuser('root', 'root@example.org', 'root-pw-1234')",
        )
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
