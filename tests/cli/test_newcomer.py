"""A newcomer's first minutes: the README's first command, run as written, in a fresh venv.

The command is read from README.md, so the test follows the README. It runs in a
copy of the working tree (a fresh checkout, with nothing built), with two
adaptations for a machine without network: ``python3`` is this interpreter, and
the new virtual environment sees the packages of this one (through a ``.pth``
file) with pip told not to reach an index (``PIP_NO_INDEX``), so ``pip install
-e .`` installs xRM itself and finds its dependencies already there.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Left out of the copy: what a fresh checkout does not have.
NOT_CHECKED_OUT = (".git", ".venv", ".tox", "*_cache", "__pycache__", "*.egg-info", ".hypothesis")
NOT_CHECKED_OUT += ("*.db", "*.db-wal", "*.db-shm", "xrm-exports", "build", "dist")


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _first_command() -> list[list[str]]:
    """The README's first command, as its ``&&``-joined steps."""
    command = _readme_blocks()[0].strip()
    return [shlex.split(step) for step in command.split(" && ")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _see_these_packages(venv: Path) -> None:
    """Let ``venv`` import what this interpreter has installed, before its own packages."""
    asked = [
        str(venv / "bin" / "python"),
        "-c",
        "import sysconfig; print(sysconfig.get_path('purelib'))",
    ]
    site = Path(subprocess.run(asked, check=True, capture_output=True, text=True).stdout.strip())
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    # Before the venv's own site-packages (the first path under its prefix): the
    # setuptools that ensurepip put there is older than pyproject.toml asks for.
    line = (
        "import sys; i = next(n for n, p in enumerate(sys.path) if p.startswith(sys.prefix)); "
        f"sys.path[i:i] = {ours!r}"
    )
    (site / "_xrm_test_packages.pth").write_text(line + "\n")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the working tree, as a newcomer's fresh clone."""
    target = tmp_path / "xrm"
    shutil.copytree(ROOT, target, symlinks=True, ignore=shutil.ignore_patterns(*NOT_CHECKED_OUT))
    return target


@pytest.fixture
def served(checkout: Path) -> Iterator[tuple[str, str, str]]:
    """Run the README's first command; the address and token it printed, and the port."""
    create, install, serve = _first_command()
    assert create[:3] == ["python3", "-m", "venv"] and create[3] == ".venv"
    assert install[0] == ".venv/bin/pip" and serve[0] == ".venv/bin/xrm"
    port = str(_free_port())
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PIP_NO_INDEX": "1", "XRM_PORT": port}
    # Without an index, the build runs in this environment (its setuptools).
    env |= {"PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("XRM_DATABASE_URL", None)
    subprocess.run([sys.executable, *create[1:]], cwd=checkout, check=True, env=env)
    _see_these_packages(checkout / ".venv")
    subprocess.run(install, cwd=checkout, check=True, env=env, capture_output=True)
    process = subprocess.Popen(
        serve, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield _wait_until_serving(process)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


def _wait_until_serving(process: subprocess.Popen[str]) -> tuple[str, str, str]:
    assert process.stdout is not None and process.stderr is not None
    printed: list[str] = []
    for line in process.stdout:  # what it prints before serving
        printed.append(line)
        if line.strip().startswith("try:"):
            break
    text = "".join(printed)
    token = re.search(r"\(administrator\): (xrm_\S+)", text)
    assert token and printed[-1].strip().startswith("try: curl "), text
    tried = shlex.split(printed[-1])[-1]  # the address it suggests trying
    # uvicorn says when it accepts requests: wait for that line, not for time to pass.
    for line in process.stderr:
        if "Application startup complete" in line:
            break
    else:
        pytest.fail(f"the server stopped: {process.wait()}: {text}")
    return tried, token.group(1), text


@pytest.mark.slow
def test_the_readme_first_command_serves_demo_data_at_the_printed_address(
    served: tuple[str, str, str], checkout: Path
) -> None:
    url, token, printed = served
    port = url.split(":")[2].split("/")[0]

    assert printed.startswith(f"xRM is serving sqlite:///xrm.db at http://127.0.0.1:{port}/")
    assert (checkout / "xrm.db").exists()  # the default database, where the command ran
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10) as client:
        me = client.get(url, headers=headers)
        assert me.status_code == 200 and me.json()["username"] == "demo"
        assert client.get(url).status_code == 401
        # The README's tour, with the token it printed (on the port this test chose).
        tour = [line for line in _readme_blocks()[1].splitlines() if line.startswith("curl ")]
        assert tour, "no curl commands after the README's first command"
        for line in tour:
            address = shlex.split(line)[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            answer = client.get(address, headers=headers)
            assert answer.status_code == 200, (line, answer.text)
        _signs_in_to_the_admin_ui(client, url.split("/api/")[0], printed)


def _signs_in_to_the_admin_ui(client: httpx.Client, base: str, printed: str) -> None:
    """The admin UI's address and the demo password it printed let one sign in."""
    assert f"Admin UI: {base}/admin/" in printed
    password = re.search(r"user 'demo', password (\S+)", printed)
    assert password, printed
    form = client.get(f"{base}/admin/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text
    data = {"username": "demo", "password": password.group(1), "csrf_token": csrf.group(1)}
    signed_in = client.post(f"{base}/admin/login", data=data, follow_redirects=True)
    assert signed_in.status_code == 200 and "Dashboard" in signed_in.text
