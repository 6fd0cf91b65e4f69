"""The web interface in a real browser, with the real client driver pushing and pulling.

One scenario, step by step, as a user lives it: log in through allauth, create a token on
``/auth/tokens``, push with ``libconform`` (Apptainer's own library client), find the image on the
container page, copy the pull command and run it, freeze a tag and watch a push to it fail, make
the collection private and see it vanish for a second user, revoke the token and see the driver
refused. Every page is saved as a screenshot.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Shots:
    """Full-page screenshots, numbered in the order they are taken."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self.count = 0

    def __call__(self, page: Any, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def driver(binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"libconform {' '.join(args[:1])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(base + "/")


def test_push_browse_freeze_privacy_revoke(
    server: Any, browser: Any, libconform_bin: Path, screenshot_dir: Path, tmp_path: Path
) -> None:
    base = server.url
    shot = Shots(screenshot_dir, "scenario")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # 1. Log in through allauth, from the navigation.
    page.goto(base + "/")
    shot(page, "home-anonymous")
    page.get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    shot(page, "allauth-login")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-pw-1234")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(base + "/")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="My library").get_attribute("href") == "/e/alice/"
    shot(page, "home-logged-in")

    # 2. Create a token on the token page, reached from the navigation.
    nav.get_by_role("link", name="Tokens").click()
    page.wait_for_url(base + "/auth/tokens")
    page.get_by_label("Name").fill("browser-test")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").input_value()
    assert token.startswith("sylib_")
    host = urlsplit(base).netloc
    commands = page.get_by_test_id("commands-apptainer").inner_text()
    assert f"apptainer remote add --no-login --insecure mylib {host}" in commands
    shot(page, "token-created")
    driver(libconform_bin, "login", "--url", base, "--token", token)

    # 3. Push with the real client.
    sif = tmp_path / "hello.sif"
    driver(
        libconform_bin,
        "mksif",
        "--out",
        str(sif),
        "--size-mb",
        "1",
        "--label",
        "org.opencontainers.image.title=hello",
        "--seed",
        "1",
    )
    driver(libconform_bin, "push", "--url", base, "--token", token, str(sif), "library://alice/demo/hello:latest,v1")
    digest = sha256_of(sif)

    # 4. See it: my entity -> the collection -> the container page.
    page.goto(base + "/")
    assert "alice/demo/hello" in page.get_by_role("region", name="Recently pushed").inner_text()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My library").click()
    page.wait_for_url(base + "/e/alice/")
    assert page.locator("svg[role=img]").count() == 1  # storage chart
    shot(page, "entity")
    page.get_by_role("link", name="demo", exact=True).click()
    page.wait_for_url(base + "/e/alice/demo/")
    row = page.get_by_role("row", name=re.compile("hello"))
    assert "amd64" in row.inner_text() and "latest" in row.inner_text() and "v1" in row.inner_text()
    shot(page, "collection")
    page.get_by_role("link", name="hello", exact=True).first.click()
    page.wait_for_url(base + "/e/alice/demo/hello/")
    content = page.content()
    assert f"sha256.{digest}" in content
    assert "org.opencontainers.image.title" in content
    shot(page, "container")

    # 5. Copy the pull command from the page and run it.
    pull_command = page.locator("[data-command=apptainer-pull]").inner_text().strip()
    match = re.fullmatch(r"apptainer pull (?:--arch (\S+) )?(library://\S+)", pull_command)
    assert match, pull_command
    arch, ref = match.group(1) or "amd64", match.group(2)
    assert ref in ("library://alice/demo/hello:latest", "library://alice/demo/hello:v1")
    pulled = tmp_path / "pulled.sif"
    driver(libconform_bin, "pull", "--url", base, "--token", token, "--out", str(pulled), "--arch", arch, ref)
    assert sha256_of(pulled) == digest
    singularity = page.locator("[data-command=singularity-pull]").inner_text().strip()
    assert singularity == pull_command.replace("apptainer", "singularity", 1)
    assert "accepts no port" in page.get_by_test_id("shub-note").inner_text()

    # 6. Freeze the tag and watch a push to it fail.
    page.get_by_role("button", name="Freeze tag latest (amd64)").click()
    page.wait_for_url(base + "/e/alice/demo/hello/")
    assert "is frozen" in page.get_by_role("status").first.inner_text()
    shot(page, "container-tag-frozen")
    other = tmp_path / "other.sif"
    driver(libconform_bin, "mksif", "--out", str(other), "--size-mb", "1", "--seed", "2")
    refused = driver(
        libconform_bin,
        "push",
        "--url",
        base,
        "--token",
        token,
        str(other),
        "library://alice/demo/hello:latest",
        check=False,
    )
    assert refused.returncode != 0
    assert "frozen" in (refused.stdout + refused.stderr).lower()
    page.reload()
    assert f"sha256.{sha256_of(other)}" not in page.content()
    latest_row = page.locator("tr[data-tag=latest][data-arch=amd64]")
    assert digest[:12] in latest_row.inner_html() and "frozen" in latest_row.inner_text().lower()

    # 7. Make the collection private; it vanishes for a second user.
    page.goto(base + "/e/alice/demo/")
    page.get_by_role("link", name=re.compile("^Settings")).click()
    page.wait_for_url(base + "/e/alice/demo/-/settings/")
    page.get_by_label("Private: only owners and collaborators").check()
    page.get_by_role("button", name="Save visibility").click()
    page.wait_for_url(base + "/e/alice/demo/-/settings/")
    assert "is private" in page.get_by_role("status").first.inner_text()
    shot(page, "collection-settings-private")
    page.goto(base + "/e/alice/demo/-/delete/")
    shot(page, "collection-delete-refused-while-frozen")
    assert "cannot be deleted now" in page.content()

    bob_context = browser.new_context(viewport={"width": 1280, "height": 900})
    bob = bob_context.new_page()
    log_in(bob, base, "bob", "bob-pw-1234")
    assert "alice/demo" not in bob.content()
    shot(bob, "bob-home")
    response = bob.goto(base + "/e/alice/demo/")
    assert response.status == 404
    response = bob.goto(base + "/e/alice/demo/hello/")
    assert response.status == 404
    bob.goto(base + "/e/alice/")
    assert "demo" not in bob.locator("main").inner_text()
    shot(bob, "bob-alice-entity-without-private")
    bob.goto(base + "/search/?q=hello")
    assert "alice/demo" not in bob.content() and "Nothing matches" in bob.content()
    shot(bob, "bob-search")
    assert page.goto(base + "/e/alice/demo/").status == 200  # alice still sees it
    shot(page, "collection-private-owner-view")

    # 8. Revoke the token; the driver is refused.
    page.goto(base + "/auth/tokens")
    page.get_by_role("button", name="Revoke token browser-test").click()
    page.wait_for_url(base + "/auth/tokens")
    assert "revoked" in page.get_by_role("status").first.inner_text()
    shot(page, "token-revoked")
    denied = driver(libconform_bin, "login", "--url", base, "--token", token, check=False)
    assert denied.returncode != 0
    assert re.search(r"401|invalid token|unauthori", (denied.stdout + denied.stderr).lower())
    denied = driver(
        libconform_bin,
        "push",
        "--url",
        base,
        "--token",
        token,
        str(other),
        "library://alice/demo/hello:v2",
        check=False,
    )
    assert denied.returncode != 0
    bob_context.close()
    context.close()
    assert not server.server_errors(), server.server_errors()


def test_admin_pages(server: Any, browser: Any, screenshot_dir: Path, tmp_path: Path) -> None:
    """The admin as staff see it: lists, the user delete page explaining the library content."""
    base = server.url
    shot = Shots(screenshot_dir, "admin")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/admin/login/?next=/admin/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "root-pw-1234")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(base + "/admin/")
    for model in ("entity", "collection", "container", "image", "tag", "team", "token"):
        page.goto(f"{base}/admin/django_sylabs_library/{model}/")
        assert page.locator("#result_list, .paginator").count() >= 1
        shot(page, f"{model}-list")
    page.goto(base + "/admin/auth/user/")
    assert "Transfer or remove library content" in page.content()
    alice_id = page.get_by_role("link", name="alice", exact=True).get_attribute("href").rstrip("/").split("/")[-2]
    page.goto(f"{base}/admin/auth/user/{alice_id}/delete/")
    assert "Library content" in page.content() and "blocks the deletion" in page.content()
    shot(page, "user-delete-explains-content")
    context.close()


PAGES = [
    "/",
    "/search/?q=hello",
    "/e/alice/",
    "/e/alice/demo/",
    "/e/alice/demo/-/settings/",
    "/e/alice/demo/-/delete/",
    "/e/alice/demo/hello/",
    "/auth/tokens",
]

A11Y_CHECK = """() => {
  const problems = [];
  const root = document.querySelector('.sl-library') || document.body;
  const headings = [...root.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
  if (root.querySelectorAll('h1').length !== 1) problems.push('h1 count ' + root.querySelectorAll('h1').length);
  headings.forEach((level, i) => { if (i && level > headings[i - 1] + 1) problems.push('heading jumps to h' + level); });
  for (const el of root.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!labelled) problems.push('unlabelled ' + el.outerHTML.slice(0, 80));
  }
  for (const el of root.querySelectorAll('button, a')) {
    if (!(el.getAttribute('aria-label') || el.textContent.trim())) problems.push('nameless ' + el.outerHTML.slice(0, 80));
  }
  for (const svg of root.querySelectorAll('svg')) {
    if (svg.getAttribute('role') !== 'img' || !svg.getAttribute('aria-labelledby')) problems.push('svg without role/label');
  }
  return problems;
}"""


def test_pages_are_accessible_and_work_without_javascript(server: Any, browser: Any, screenshot_dir: Path) -> None:
    """Headings in order, labelled controls, named buttons, visible keyboard focus; JavaScript off.

    Uses the pages the scenario above created (same module, same server).
    """
    base = server.url
    shot = Shots(screenshot_dir, "nojs")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 800})
    page = context.new_page()
    log_in_without_js(page, base)
    for path in PAGES:
        response = page.goto(base + path)
        assert response.status == 200, path
        # the checks run in an isolated world, which still works with page scripts disabled
        problems = page.evaluate(A11Y_CHECK)
        assert not problems, (path, problems)
    page.goto(base + "/e/alice/demo/hello/")
    shot(page, "container")
    # keyboard: tab into the library's content and see a focus outline on each stop
    page.goto(base + "/e/alice/demo/-/settings/")
    seen = 0
    for _ in range(40):
        page.keyboard.press("Tab")
        state = page.evaluate(
            "() => { const e = document.activeElement; return [!!e.closest('.sl-library'), e.tagName,"
            " getComputedStyle(e).outlineStyle]; }"
        )
        if state[0]:
            seen += 1
            assert state[2] not in ("none", ""), state
            if state[1] == "BUTTON":
                break
    assert seen, "no focusable element in the library content"
    shot(page, "settings-keyboard-focus")
    context.close()


def log_in_without_js(page: Any, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-pw-1234")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(base + "/")
