"""Checks shared by everything plugins and the core declare (names, refusals)."""

from __future__ import annotations

import re

from xrm_core.errors import InvalidDeclaration, Problem

MAX_NAME = 40  # the same limit as entity and field names
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def is_name(value: object) -> bool:
    """True when ``value`` is a valid entity, field or plugin name (lower snake_case)."""
    return isinstance(value, str) and len(value) <= MAX_NAME and bool(_NAME.fullmatch(value))


def name_problems(where: str, value: object, what: str) -> list[Problem]:
    """A problem at ``where`` unless ``value`` is a valid name."""
    if is_name(value):
        return []
    return [
        Problem(
            where,
            f"bad {what} {value!r}: use lower snake_case, starting with a letter, "
            f"at most {MAX_NAME} characters",
        )
    ]


def refuse(what: str, problems: list[Problem]) -> None:
    """Raise :class:`InvalidDeclaration` for ``what`` when there are problems."""
    if problems:
        raise InvalidDeclaration(f"invalid {what}", problems)
