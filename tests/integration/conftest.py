"""Fixtures for the integration tests: the conformance driver and the example project under gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import ExampleServer, build_driver, running_example_server

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything in this folder needs gunicorn and Go: mark it even if a module forgets to.
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def libconform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``libconform`` binary, built from ``shared/conformance`` into a temp dir once per session."""
    return build_driver(tmp_path_factory.mktemp("libconform-bin"))


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    """The example project under gunicorn (2 workers x 4 threads) with a fresh data dir / database."""
    # The keys group pushes throwaway keys whose e-mail addresses nobody verified.
    env = {"SYLABS_EXAMPLE_KEYSERVER_ANY_EMAIL": "1"}
    with running_example_server(tmp_path_factory.mktemp("example-server"), env=env) as server:
        yield server
