"""xRM's fixtures reach any project through the ``pytest11`` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_project_outside_the_repository_gets_the_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_outside.py").write_text(
        "def test_it(xrm):\n"
        "    xrm.metadata.define({'x-xrm': {'name': 'thing'}, 'properties': {}})\n"
        "    assert xrm.records('thing').create({})['id']\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "sqlite"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 deselected" in done.stdout
