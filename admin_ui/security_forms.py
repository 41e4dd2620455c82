"""What every security page shares: the administrator gate, whole lists, errors, link forms.

Security pages change who may do what, so each one first asks the security
service whether the signed-in user is an administrator (the same test the
service applies to ``create_user`` and ``create_role``) and refuses plainly
otherwise. Forms catch the input errors the services raise and show each
problem next to the field its JSON pointer names. A record's page that links it with
others (a team's members, a profile's users) lists them with :func:`link_sections`
and takes the forms through :func:`link_routes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.web import Page, view
from xrm_core.errors import (
    AccessDenied,
    BrokenReference,
    DeleteRestricted,
    DuplicateRecord,
    Problem,
    RecordNotFound,
    RecordValidationError,
    VersionConflict,
    XRMError,
)
from xrm_core.records.results import Record
from xrm_core.records.service import RecordService
from xrm_core.security.auth import MAX_PASSWORD, MIN_PASSWORD

#: Errors that mean "the input was wrong": shown on the form, which is sent back (422).
INPUT_ERRORS = (
    RecordValidationError,
    DuplicateRecord,
    BrokenReference,
    RecordNotFound,
    DeleteRestricted,
    VersionConflict,
)

#: A record's page shown again with a form's error: (page, extra context, status).
SentBack = Callable[[Page, dict[str, Any], int], Response]
#: The relationships a page edits: name -> (title, linked entity, the field naming its records).
Links = Mapping[str, tuple[str, str, str]]

REFUSAL = (
    "Managing security needs an administrator role (such as System Administrator). "
    "Ask an administrator to make this change, or to give you such a role."
)


def is_manager(page: Page) -> bool:
    """Whether the signed-in user may manage security and plugins: an administrator."""
    caller = page.xrm.caller
    return caller is not None and page.xrm.security.is_administrator(caller)


def require_manager(page: Page) -> None:
    """Refuse (403, nothing done) unless the signed-in user may manage security."""
    if not is_manager(page):
        raise AccessDenied(REFUSAL)


def every(
    service: RecordService, *, filter: Any = None, order: Iterable[str] = ("id",)
) -> list[Record]:
    """Every record ``service`` shows matching ``filter``, page after page."""
    found: list[Record] = []
    cursor: str | None = None
    while True:
        page = service.query(filter=filter, order=list(order), limit=1000, cursor=cursor)
        found += page.records
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def field_errors(error: XRMError) -> dict[str, str]:
    """Problems by field: ``/username`` -> ``username``; deeper pointers keep their path."""
    errors: dict[str, str] = {}
    for problem in error.problems:
        key = problem.pointer.strip("/") or "_"
        errors.setdefault(key, problem.message)
    return errors


def failed(error: XRMError) -> dict[str, Any]:
    """The template context of a form sent back: the summary and the errors by field."""
    return {"error": error.message, "errors": field_errors(error)}


def check_password(password: str) -> None:
    """Refuse a password the authenticator would refuse, before anything is written."""
    if password and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise RecordValidationError(
            "the password is not acceptable",
            [Problem("/password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")],
        )


def ids(page: Page, name: str, known: Iterable[Any]) -> list[uuid.UUID]:
    """The ids ticked in a repeated field, each one of ``known`` (else an error at ``/name``)."""
    allowed = {str(k) for k in known}
    chosen = page.values(name)
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise RecordValidationError(
            f"unknown {name}: {', '.join(unknown)}", [Problem(f"/{name}", "unknown choice")]
        )
    return [uuid.UUID(v) for v in chosen]


def path_id(page: Page, name: str) -> uuid.UUID:
    """The id in the URL (``{name}``); a malformed one is a missing record."""
    raw = str(page.request.path_params[name])
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise RecordNotFound(f"there is no record with id {raw!r}") from None


def tree(units: Iterable[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """Business units in tree order with their depth (the root at 0), siblings by name."""
    children: dict[Any, list[Mapping[str, Any]]] = {}
    for unit in units:
        children.setdefault(unit["parent"], []).append(unit)
    ordered: list[tuple[int, Mapping[str, Any]]] = []

    def walk(parent: Any, depth: int) -> None:
        for unit in sorted(children.get(parent, []), key=lambda u: str(u["name"]).lower()):
            ordered.append((depth, unit))
            walk(unit["id"], depth + 1)

    walk(None, 0)
    return ordered


def names(records: Iterable[Mapping[str, Any]], field: str = "name") -> dict[Any, str]:
    """Record id -> its name, for showing lookups."""
    return {r["id"]: str(r[field]) for r in records}


@dataclass(frozen=True)
class LinkSection:
    """One relationship on a record's page: the records linked and those that may be."""

    name: str
    title: str
    #: The field naming the linked records (``username``, ``name``).
    label: str
    linked: list[Record]
    others: list[Record]


def link_sections(page: Page, entity: str, record_id: uuid.UUID, links: Links) -> list[LinkSection]:
    """Each relationship in ``links`` of ``entity``'s record ``record_id``, in that order."""
    lists = []
    for name, (title, target, label) in links.items():
        linked = {item["target_id"] for item in page.xrm.records(entity).links(record_id, name)}
        everyone = every(page.xrm.records(target), order=[label])
        lists.append(
            LinkSection(
                name,
                title,
                label,
                [r for r in everyone if r["id"] in linked],
                [r for r in everyone if r["id"] not in linked],
            )
        )
    return lists


def link_routes(
    base: str, id_name: str, entity: str, links: Links, sent_back: SentBack
) -> list[BaseRoute]:
    """The forms that link ``entity``'s record at ``{base}/{id_name}`` with another, and unlink.

    ``POST {base}/{id}/{link}`` links the form's ``target`` through ``link`` (one of
    ``links``; another is a 404), ``.../remove`` unlinks it; both go back to the
    record's page, or show it again through ``sent_back`` with the error (422).
    """

    def change(page: Page, *, add: bool) -> Response:
        require_manager(page)
        record_id = path_id(page, id_name)
        link = str(page.request.path_params["link"])
        if link not in links:
            return page.render("error.html", {"message": "There is no such page."}, status=404)
        records = page.xrm.records(entity)
        try:
            (records.link if add else records.unlink)(record_id, link, page.value("target"))
        except INPUT_ERRORS as error:
            return sent_back(page, failed(error), 422)
        return page.redirect(f"{base}/{record_id}")

    def add_link(page: Page) -> Response:
        return change(page, add=True)

    def remove_link(page: Page) -> Response:
        return change(page, add=False)

    path = f"{base}/{{{id_name}}}/{{link}}"
    return [
        Route(path, view(add_link), methods=["POST"]),
        Route(path + "/remove", view(remove_link), methods=["POST"]),
    ]
