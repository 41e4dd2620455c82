"""What the entity designer's pages share: labels, access, notices, fresh definitions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.web import Page, PageHandler, view
from xrm_core.errors import AccessDenied
from xrm_core.metadata.definition import Kind
from xrm_core.metadata.plan import Plan

#: How each kind is offered in the editor.
KIND_LABELS = {
    Kind.STRING: "Text (one line)",
    Kind.TEXT: "Text (long)",
    Kind.INTEGER: "Whole number",
    Kind.DECIMAL: "Decimal number",
    Kind.MONEY: "Money",
    Kind.BOOLEAN: "Yes / no",
    Kind.DATE: "Date",
    Kind.DATETIME: "Date and time",
    Kind.EMAIL: "Email address",
    Kind.PHONE: "Phone number",
    Kind.URL: "Web address",
    Kind.CHOICE: "Choice list",
    Kind.MULTI_CHOICE: "Choice list (several)",
    Kind.JSON: "JSON",
    Kind.LOOKUP: "Lookup",
    Kind.POLYMORPHIC_LOOKUP: "Lookup (several entities)",
}
#: The kinds a relationship's link attribute may have (no lookups in link tables).
ATTRIBUTE_KIND_LABELS = {
    k: v for k, v in KIND_LABELS.items() if k not in (Kind.LOOKUP, Kind.POLYMORPHIC_LOOKUP)
}
ON_DELETE_LABELS = {
    "set_null": "Clear the lookup",
    "restrict": "Refuse the delete",
    "cascade": "Delete this record too",
}
NOTICE_KEY = "designer_notice"
REFUSED = (
    "Changing entity definitions needs a role with the customize privilege. "
    "Ask an administrator to grant it."
)


def fresh(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A page that reads the definitions in force first (one small query).

    Pages elsewhere may see another process's change up to a second late; the
    designer must not: a draft is made from, and checked against, the latest.
    """

    def run(page: Page) -> Response:
        page.xrm.metadata.refresh()
        return handler(page)

    run.__name__, run.__doc__ = handler.__name__, handler.__doc__
    return view(run)


def may_customize(page: Page) -> bool:
    """Whether the signed-in user may change entity definitions."""
    caller = page.xrm.caller
    return caller is not None and page.xrm.security.may_customize(caller)


def require_customizer(page: Page) -> None:
    """Raise :class:`AccessDenied` unless the user may change entity definitions."""
    if not may_customize(page):
        raise AccessDenied(REFUSED)


def exports_note(plan: Plan) -> str:
    """Where an applied plan exported the values it dropped (empty when none)."""
    if not plan.exports:
        return ""
    return "Dropped values were exported to: " + ", ".join(plan.exports)


def set_notice(page: Page, message: str) -> None:
    """Keep ``message`` for the page the redirect goes to."""
    page.request.session[NOTICE_KEY] = message.strip()


def take_notice(page: Page) -> str:
    """The notice kept for this page, once."""
    return str(page.request.session.pop(NOTICE_KEY, "") or "")
