"""The browser test harness: a real Nexus server and Debian's chromium driven by Playwright.

* ``nexus``: one server for the whole ``tests/web`` package: ``nexus migrate``, ``nexus seed`` and
  ``nexus serve`` as subprocesses on a free port with a temporary ``NEXUS_HOME``, serving the
  built web app (``web/dist``, or ``NEXUS_WEB_DIST`` when set). Its administrator signs up through
  the API at start; ``nexus.make_user(role)`` adds users of any role.
* ``fresh_nexus``: a second server for one test that has no user yet (the first-run screen).
* ``browser``: headless chromium (``/usr/bin/chromium``, never a downloaded browser).
* ``open_page(server, email=None)``: a new browser context on ``server``, signed in as ``email``
  when given; ``page`` is an administrator's page on ``nexus``. Every page's final state is saved
  as ``test-artifacts/screenshots/<test name>.png`` (also when the test failed), and its console
  errors go to ``test-artifacts/console/<test name>.log``.

The Playwright *sync* API marks its own event loop as running between calls, so nothing in this
package may be ``async``; the browser and servers are package-scoped, so they are stopped before
the asyncio tests of the packages after this one run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser_support import (
    ACTION_TIMEOUT_MS,
    ARTIFACTS,
    CHROMIUM,
    CONSOLE_LOGS,
    EXPECT_TIMEOUT_MS,
    LAUNCH_ARGS,
    PASSWORD,
    SCREENSHOTS,
    VIEWPORT,
    NexusServer,
    PageFactory,
    ProviderStub,
    start_server,
    web_dist,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def built_web() -> Path:
    dist = web_dist()
    if not (dist / "index.html").is_file():
        message = (
            f"the web app is not built ({dist}/index.html is missing): run `make web` "
            "(`make test` builds it before pytest)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"BROWSER TESTS SKIPPED: {message}")
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make browser-deps` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"BROWSER TESTS SKIPPED: {message}")
    return dist


@pytest.fixture(scope="package")
def provider_stub() -> Iterator[ProviderStub]:
    stub = ProviderStub()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture(scope="package")
def nexus(built_web: Path, provider_stub: ProviderStub) -> Iterator[NexusServer]:
    home = Path(tempfile.mkdtemp(prefix="nexus-web-"))
    server = start_server(home, NEXUS_OPENAI_BASE_URL=provider_stub.base_url)
    try:
        server.sign_up_admin()
        yield server
    finally:
        server.stop()
        keep = ARTIFACTS / "server.log"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log, keep)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def fresh_nexus(built_web: Path, tmp_path: Path) -> Iterator[NexusServer]:
    """An instance nobody has signed up on yet."""
    server = start_server(tmp_path / "home")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def playwright_driver(built_web: Path) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    try:
        with sync_playwright() as driver:
            yield driver
    finally:
        # The sync API marks its loop as this thread's running loop between calls and leaves
        # it so after stopping; the asyncio tests after this package need the thread free.
        if asyncio._get_running_loop() is not None:
            asyncio._set_running_loop(None)


@pytest.fixture(scope="package")
def browser(playwright_driver: Any) -> Iterator[Any]:
    launched = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
    )
    try:
        yield launched
    finally:
        launched.close()


def artifact_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_")


@pytest.fixture
def open_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[PageFactory]:
    """``open_page(server, email=None)`` → a page on ``server`` (signed in as ``email``)."""
    opened: list[tuple[Any, Any, list[str]]] = []

    def open_(server: NexusServer, email: str | None = None) -> Any:
        context = browser.new_context(base_url=server.url, viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        errors: list[str] = []
        if email is not None:
            signed = context.request.post(
                "/api/v1/auth/login", data={"email": email, "password": PASSWORD}
            )
            assert signed.ok, signed.text()
        page = context.new_page()
        page.on(
            "console",
            lambda msg: (
                errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        opened.append((context, page, errors))
        return page

    yield open_

    name = artifact_name(request.node)
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    CONSOLE_LOGS.mkdir(parents=True, exist_ok=True)
    for index, (context, page, errors) in enumerate(opened):
        suffix = "" if index == 0 else f"-{index + 1}"
        try:
            if not page.is_closed():
                page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True)
        except Exception as exc:  # a crashed page still lets the other artefacts be saved
            errors.append(f"screenshot failed: {exc}")
        if failed:
            errors.insert(0, f"test failed at {page.url if not page.is_closed() else '?'}")
        if errors:
            (CONSOLE_LOGS / f"{name}{suffix}.log").write_text("\n".join(errors) + "\n")
        context.close()


@pytest.fixture
def page(open_page: PageFactory, nexus: NexusServer) -> Any:
    """The administrator's page on the shared server."""
    assert nexus.admin_email is not None
    return open_page(nexus, nexus.admin_email)
