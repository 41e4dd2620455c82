"""Take the admin guide's screenshots: ``python docs/admin-ui/screenshots.py``.

Starts ``xrm serve --demo`` on a scratch SQLite file, signs in as the demo
administrator in Debian's Chromium (driven by Playwright) and saves each main
screen as ``docs/admin-ui/images/<name>.png`` at 1280 px wide.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

IMAGES = Path(__file__).parent / "images"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CHROMIUM_ARGS += ["--disable-component-update", "--disable-sync", "--no-first-run"]


def screens(page: Page) -> list[tuple[str, str]]:
    """(image name, path) of each screen; some paths are found on the pages themselves."""
    page.goto("/admin/records/account")
    account = page.locator("table a[href^='/admin/records/account/']").first
    record = account.get_attribute("href") or "/admin/records/account"
    page.goto("/admin/security/roles")
    role = page.get_by_role("link", name="Salesperson").get_attribute("href") or "/admin/security"
    return [
        ("dashboard", "/admin/"),
        ("entities", "/admin/entities"),
        ("entity", "/admin/entities/account"),
        ("designer", "/admin/entities/account/edit"),
        ("records", "/admin/records/account"),
        ("record", record),
        ("security", "/admin/security"),
        ("roles", "/admin/security/roles"),
        ("matrix", role),
        ("plugins", "/admin/plugins"),
        ("audit", "/admin/audit"),
        ("webhooks", "/admin/webhooks"),
    ]


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        port = _free_port()
        command = [sys.executable, "-c", "from xrm_core.cli import main; main()", "serve"]
        command += ["--demo", "--port", str(port), "--db", f"sqlite:///{scratch}/xrm.db"]
        server = subprocess.Popen(
            command, cwd=scratch, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            password = _password(server)
            _shoot(f"http://127.0.0.1:{port}", password)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


def _shoot(base: str, password: str) -> None:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto("/admin/login")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/admin/$"))
        for name, path in screens(page):
            page.goto(path)
            page.screenshot(path=IMAGES / f"{name}.png")
            print(f"{name}: {path}")
        browser.close()


def _password(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None and server.stderr is not None
    password = None
    for line in server.stdout:
        found = re.search(r"user 'demo', password (\S+)", line)
        if found:
            password = found.group(1)
            break
    for line in server.stderr:  # uvicorn says when it accepts requests
        if password and "Application startup complete" in line:
            return password
    raise SystemExit("xrm serve stopped before it was ready")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
