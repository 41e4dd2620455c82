"""An installed admin UI has every template and static file (not only a checkout does)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import admin_ui

ROOT = Path(__file__).parents[2]


def test_the_package_data_globs_take_every_template_and_static_file() -> None:
    # A wheel holds only the files these globs match: a template in a folder they miss
    # would be absent from every installation, and its page a server error.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["admin_ui"]
    package = Path(admin_ui.__file__).parent
    shipped = {p for pattern in globs for p in package.glob(pattern) if p.is_file()}
    needed = {
        p
        for folder in ("templates", "static")
        for p in (package / folder).rglob("*")
        if p.is_file()
    }
    assert needed - shipped == set()
