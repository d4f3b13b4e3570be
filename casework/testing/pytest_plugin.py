"""pytest fixtures that start real services (see casework/testing/README.md).

Enable with `pytest_plugins = ["casework.testing.pytest_plugin"]` in the repository's top-level conftest.py.
A missing service skips the test on a developer machine but fails it when CI is true, so CI can never go
green by silently skipping the tests that matter.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from casework.testing import services

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

T = TypeVar("T")

SERVICE_FIXTURES = frozenset(
    {"postgres_server", "postgres_url", "dovecot", "redis", "smtp_sink", "browser", "page"}
)
BROWSER_FIXTURES = frozenset({"browser", "page"})
ARTIFACTS_DIR = "test-artifacts"
PAGE_TIMEOUT_MS = 10_000

_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require_service(name: str, service: AbstractContextManager[T]) -> Iterator[T]:
    """Enter a service context manager for a fixture: `yield from require_service("IMAP", ...)`.

    ServiceUnavailable becomes a skip locally and a failure in CI; a service that is installed but
    fails to start is always an error, because that is a bug rather than a missing package.
    """
    with contextlib.ExitStack() as stack:
        try:
            value = stack.enter_context(service)
        except services.ServiceUnavailable as exc:
            if in_ci():
                pytest.fail(
                    f"{name} is required in CI (CI={os.environ.get('CI')}): {exc.reason}", pytrace=False
                )
            pytest.skip(f"{name} unavailable: {exc.reason}")
        yield value


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; repeated here so the plugin works under --strict-markers anywhere.
    config.addinivalue_line(
        "markers", "service: needs a real external service (IMAP, SMTP, PostgreSQL, Chromium)"
    )
    config.addinivalue_line("markers", "browser: Playwright browser test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Marked from the fixtures a test really uses (directly or through other fixtures), so
    # `-m "not service"` gives a fast run without anyone remembering to decorate tests.
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SERVICE_FIXTURES:
            item.add_marker(pytest.mark.service)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # Kept on the item so the `page` fixture can tell, during teardown, whether the test failed.
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[services.PostgresCluster]:
    """A throwaway PostgreSQL cluster per xdist worker; tests share it, so use unique names in it."""
    yield from require_service("PostgreSQL", services.postgres_cluster())


@pytest.fixture(scope="session")
def postgres_url(postgres_server: services.PostgresCluster) -> str:
    return postgres_server.url


@pytest.fixture
def dovecot() -> Iterator[services.DovecotServer]:
    """A fresh Dovecot per test (start-up is a few ms), so every test gets empty mailboxes.

    Users: support@example.test / secret. Tests needing other users call services.dovecot_server().
    """
    yield from require_service("Dovecot IMAP", services.dovecot_server())


@pytest.fixture
def redis() -> Iterator[services.RedisServer]:
    """A private Redis for the RQ task relay (casework/core/relay.py), fresh per test (starts in ms)."""
    yield from require_service("Redis", services.redis_server())


@pytest.fixture
def smtp_sink() -> Iterator[services.SmtpSink]:
    yield from require_service("SMTP sink (aiosmtpd)", services.smtp_sink())


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # The sync Playwright API runs an event loop in this thread, and Django then refuses ORM calls
    # from it (SynchronousOnlyOperation) in live-server tests unless this is set.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from require_service("Chromium", services.chromium_browser())
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context (no shared cookies); a failing test leaves a screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    # `expect(...)` has its own timeout (5 s), which a loaded CI machine with two test processes and the
    # chaos rounds beside them can exceed; give assertions the same budget as actions.
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        reports = request.node.stash.get(_reports_key, {})
        if "call" in reports and reports["call"].failed:
            _save_screenshot(new_page, request)
        context.close()


def _save_screenshot(page: Page, request: pytest.FixtureRequest) -> None:
    directory = Path(request.config.rootpath) / ARTIFACTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")[:200]
    path = directory / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:  # a crashed page must not hide the original failure
        print(f"could not save screenshot for {request.node.nodeid}: {exc}")
    else:
        print(f"screenshot of the failed page: {path}")
