"""A message for the page shown after a redirect (POST → 303 → GET), kept in the session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admin_ui.web import Page

#: One line of a flash: a label, a value, and a link (empty for none).
Line = tuple[str, str, str]


def flash(page: Page, message: str, lines: Sequence[Line] = (), *, problem: bool = False) -> None:
    """Show ``message`` (and ``lines``) on the next page this session opens."""
    page.request.session["flash"] = {
        "message": message,
        "lines": [list(line) for line in lines],
        "problem": problem,
    }


def take(page: Page) -> dict[str, Any] | None:
    """The message left for this page, once."""
    found = page.request.session.pop("flash", None)
    return found if isinstance(found, dict) else None
