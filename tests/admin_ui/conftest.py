"""The admin UI's fixtures: a live ``xrm serve`` and Debian's Chromium driven by Playwright.

One server per test worker (session scope) on a fresh SQLite file, with the
``contacts`` and ``sales`` plugins installed with a little demo data and users
made beforehand through the services: ``admin`` (System Administrator) and
``clerk`` (Basic User). Tests share the server, so each names what it creates
uniquely (:func:`unique`). Every test gets a fresh browser context: no cookies.

The browser is the system's Chromium (``/usr/bin/chromium``, Debian's package,
installed by ``.ci/run``); Playwright never downloads one.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from starlette.testclient import TestClient

from xrm_core import XRM
from xrm_core.api.app import create_app
from xrm_core.demo.plugins import load_plugins
from xrm_core.settings import Settings

CHROMIUM = os.environ.get("XRM_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium's own calls home are refused by a closed network, many at a time: switch them off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = {"admin": "admin-password-1", "clerk": "clerk-password-1"}
#: Argon2 at its cheapest, for the in-process tests (the live server keeps the defaults).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
#: How many accounts (and so on) each plugin's demo data makes for the UI tests.
DEMO_SIZE = 5


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests driving the browser are marked: ``-m browser`` runs them alone."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class Server:
    """A live ``xrm serve`` for the admin UI tests."""

    url: str
    database_url: str

    def xrm(self) -> XRM:
        """The server's database, opened in this process (to check what a page did)."""
        return XRM.from_url(self.database_url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _prepare(database_url: str) -> None:
    opened = XRM.from_url(database_url)
    try:
        xrm = opened.as_system("admin UI tests")
        xrm.security.install()
        load_plugins(xrm, DEMO_SIZE)
        for name, role in (("admin", "System Administrator"), ("clerk", "Basic User")):
            user_id = xrm.security.create_user(name, roles=[role])
            xrm.auth.set_password(user_id, PASSWORD[name])
    finally:
        opened.close()


@pytest.fixture(scope="session")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``xrm serve`` on a prepared SQLite file; stopped at the end of the session."""
    folder = tmp_path_factory.mktemp("admin-ui")
    database_url = f"sqlite:///{folder}/xrm.db"
    _prepare(database_url)
    port = _free_port()
    command = [sys.executable, "-c", "from xrm_core.cli import main; main()", "serve"]
    command += ["--db", database_url, "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XRM_SECRET_KEY": "admin-ui-tests"}
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        # uvicorn says when it accepts requests: wait for that line, not for time to pass.
        for line in process.stderr:
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"xrm serve stopped: {process.wait()}")
        yield Server(f"http://127.0.0.1:{port}", database_url)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


# Playwright's sync API keeps an asyncio loop running in this thread while it is open,
# and asyncio.run() refuses to start under it: the driver and browser last one module, so
# that tests of other modules (run by the same worker) never meet it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser, admin_server: Server) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at 1280 px, based at the server."""
    fresh = browser.new_context(base_url=admin_server.url, viewport={"width": 1280, "height": 900})
    fresh.set_default_timeout(10_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in a fresh profile, signed out."""
    return context.new_page()


def sign_in(page: Page, username: str = "admin", password: str | None = None) -> None:
    """Sign in through the sign-in form, as a person would."""
    page.goto("/admin/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or PASSWORD[username])
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def admin(page: Page) -> Page:
    """A page signed in as ``admin`` (System Administrator), on the dashboard."""
    sign_in(page, "admin")
    return page


@pytest.fixture
def clerk(page: Page) -> Page:
    """A page signed in as ``clerk`` (Basic User), on the dashboard."""
    sign_in(page, "clerk")
    return page


@dataclass(frozen=True)
class Admin:
    """The app in-process (httpx), its database in the system context, the users' passwords."""

    client: TestClient
    xrm: XRM

    def sign_in(self, username: str = "admin") -> None:
        """Sign the client in through the form, CSRF token and all."""
        response = self.client.post(
            "/admin/login",
            data={"username": username, "password": PASSWORD[username], "csrf_token": self.csrf()},
        )
        assert response.status_code == 303, response.text

    def csrf(self, path: str = "/admin/login") -> str:
        """The CSRF token a page of the session carries."""
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.client.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)


@pytest.fixture
def inprocess(db_url: str, tmp_path: Path) -> Iterator[Admin]:
    """The admin UI in-process on an empty database (SQLite and PostgreSQL), not signed in."""
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports")
    # Seconds of argon2 per test otherwise (hashing two passwords, checking one at sign-in).
    xrm.password_hasher = CHEAP_HASHER
    system = xrm.as_system("tests")
    system.security.install()
    for name, role in (("admin", "System Administrator"), ("clerk", "Basic User")):
        system.auth.set_password(system.security.create_user(name, roles=[role]), PASSWORD[name])
    settings = Settings(database_url=db_url, secret_key="tests")  # type: ignore[arg-type]
    app = create_app(xrm, settings=settings)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    with client:
        yield Admin(client, system)


def htmx_ready(page: Page) -> None:
    """Wait until htmx drives the page: loaded, no request under way, all swaps settled.

    Call it before acting on an element with ``hx-*`` attributes, both after a
    navigation and after an htmx swap. A click that follows a link returns once the
    new page is committed, while htmx (a deferred script) may not have wired the page
    yet: a change made then is lost and a click falls back to a plain request. An
    htmx request shows as ``htmx-request`` from the click that starts it to its swap.
    """
    busy = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"
    page.wait_for_function(
        f"document.readyState === 'complete' && !!window.htmx && !document.querySelector({busy!r})"
    )


_counter = itertools.count()


def unique(prefix: str) -> str:
    """A name no other test on this server uses (tests share one server)."""
    return f"{prefix}_{os.getpid()}_{next(_counter)}"
