"""Fixtures for the plugin tests: installed packages, as the plugin manager finds them.

``site`` is a folder on ``sys.path`` where a test lays out what pip would have
installed — a module and its ``*.dist-info`` (metadata and entry points) — so
that ``importlib.metadata`` and pluggy's entry-point loading find the plugin for
real. (Building and pip-installing a real package is tested separately.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name


class Site:
    """A ``site-packages`` folder on ``sys.path`` for one test."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def install(
        self,
        dist: str,
        version: str = "1.0.0",
        *,
        modules: Mapping[str, str] = {},
        plugins: Mapping[str, str] = {},
        requires: Iterable[str] = (),
        summary: str = "",
    ) -> None:
        """Lay out distribution ``dist``: ``modules`` (name → source), its ``xrm.plugins``
        entry points (plugin name → module) and its ``Requires-Dist`` lines."""
        for name, source in modules.items():
            (self.root / f"{name}.py").write_text(source)
        info = self.root / f"{canonicalize_name(dist).replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
        lines += [f"Summary: {summary}"] if summary else []
        lines += [f"Requires-Dist: {r}" for r in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        if plugins:
            points = "".join(f"{name} = {module}\n" for name, module in plugins.items())
            (info / "entry_points.txt").write_text(f"[xrm.plugins]\n{points}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """An empty ``site-packages`` on ``sys.path``; its modules are forgotten afterwards."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield Site(root)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(root)):
            del sys.modules[name]
