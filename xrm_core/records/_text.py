"""Caller input quoted in error messages: short, and never an error itself."""

from __future__ import annotations

from typing import Any

#: Longer input is cut: a message names the culprit, it does not echo a whole payload.
LIMIT = 80


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`LIMIT` characters."""
    try:
        text = repr(value)
    except ValueError:
        # An int of more than 4300 digits has no text form unless asked for (CVE-2020-10735).
        return "<a number too large to show>"
    except RecursionError:
        return "<a value nested too deep to show>"
    return text if len(text) <= LIMIT else text[: LIMIT - 3] + "..."
