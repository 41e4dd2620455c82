"""Webhooks: subscriptions, their deliveries and delivery log, and replay.

Creating a webhook (or rotating its secret) answers with a page showing the
new secret — the only time it is ever shown. That page is the answer to the
POST itself rather than a redirect: the secret is never put in a URL or in
the session cookie to survive one. Every other change redirects (POST, 303,
GET) with a notice kept in the session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.web import Page, view
from xrm_core.errors import XRMError
from xrm_core.events.outbox import Status
from xrm_core.events.webhooks import InvalidWebhook, Webhook
from xrm_core.xrm import XRM

#: The session key of the message shown once after a change.
NOTICE = "webhooks_notice"
#: Deliveries and attempts shown on a webhook's page.
LOG_SIZE = 100
STATUSES: tuple[Status, ...] = get_args(Status)


def routes() -> list[BaseRoute]:
    """The webhook list (and creation), each webhook's page and its changes."""
    return [
        Route("/webhooks", view(webhook_list), methods=["GET"]),
        Route("/webhooks", view(create), methods=["POST"]),
        Route("/webhooks/{name}", view(webhook_page), methods=["GET"]),
        Route("/webhooks/{name}", view(update), methods=["POST"]),
        Route("/webhooks/{name}/delete", view(delete), methods=["POST"]),
        Route("/webhooks/{name}/rotate", view(rotate), methods=["POST"]),
        Route("/webhooks/{name}/replay", view(replay), methods=["POST"]),
    ]


def webhook_list(page: Page) -> Response:
    """Every webhook, and the form to create one."""
    return _list_page(page, {}, {}, 200)


def _list_page(
    page: Page, given: Mapping[str, Any], errors: Mapping[str, str], status: int
) -> Response:
    context = {
        "hooks": page.xrm.webhooks.list(),
        "given": _shown({"active": True, **given}),
        "errors": errors,
        "entities": _entities(page.xrm),
        "notice": page.request.session.pop(NOTICE, None),
    }
    return page.render("webhooks/list.html", context, status=status)


def create(page: Page) -> Response:
    """Create a webhook; the answer shows its secret, once."""
    given = _form(page)
    try:
        hook = page.xrm.webhooks.create(
            given["name"],
            given["url"],
            given["events"],
            entity=given["entity"] or None,
            active=given["active"],
        )
    except InvalidWebhook as error:
        return _list_page(page, given, placed(error), 422)
    return page.render("webhooks/secret.html", {"hook": hook, "created": True}, status=201)


def webhook_page(page: Page) -> Response:
    """A webhook: its settings (to edit), its deliveries and the delivery log."""
    return _hook_page(page, page.xrm.webhooks.get(_name(page)), {}, {}, 200)


def _hook_page(
    page: Page, hook: Webhook, given: Mapping[str, Any], errors: Mapping[str, str], status: int
) -> Response:
    service = page.xrm.webhooks
    chosen = page.request.query_params.get("status", "")
    shown = next((s for s in STATUSES if s == chosen), None)
    defaults = {
        "url": hook.url,
        "events": ", ".join(hook.events),
        "entity": hook.entity or "",
        "active": hook.active,
        "version": str(hook.version),
    }
    context = {
        "hook": hook,
        "given": _shown({**defaults, **given}),
        "errors": errors,
        "entities": _entities(page.xrm),
        "status": shown or "",
        "statuses": STATUSES,
        "deliveries": service.deliveries(hook.name, status=shown, limit=LOG_SIZE),
        "attempts": service.attempts(hook.name, limit=LOG_SIZE),
        "notice": page.request.session.pop(NOTICE, None),
    }
    return page.render("webhooks/detail.html", context, status=status)


def update(page: Page) -> Response:
    """Save the webhook's URL, patterns, entity and whether it is active."""
    service = page.xrm.webhooks
    hook = service.get(_name(page))
    given = _form(page)
    if given["version"] != str(hook.version):
        message = (
            "Someone changed this webhook after you opened it, so nothing was saved. "
            "Here it is as saved now."
        )
        return _hook_page(page, hook, {}, {"form": message}, 409)
    try:
        service.update(
            hook.name,
            url=given["url"],
            events=given["events"],
            entity=given["entity"] or None,
            active=given["active"],
        )
    except InvalidWebhook as error:
        return _hook_page(page, hook, given, placed(error), 422)
    return _done(page, f"Saved webhook {hook.name}.", f"/webhooks/{hook.name}")


def delete(page: Page) -> Response:
    """Delete the webhook with its deliveries and their log (once the box is ticked)."""
    service = page.xrm.webhooks
    hook = service.get(_name(page))
    if page.value("confirm") != "yes":
        errors = {"confirm": "Tick the box to delete the webhook and its delivery log."}
        return _hook_page(page, hook, {}, errors, 422)
    service.delete(hook.name)
    return _done(page, f"Deleted webhook {hook.name} and its deliveries.", "/webhooks")


def rotate(page: Page) -> Response:
    """Give the webhook a new secret; the answer shows it, once."""
    hook = page.xrm.webhooks.update(_name(page), rotate_secret=True)
    return page.render("webhooks/secret.html", {"hook": hook, "created": False})


def replay(page: Page) -> Response:
    """Send deliveries again: the ones ticked, or every dead one."""
    name = _name(page)
    chosen = page.values("delivery_id") if page.value("which") == "chosen" else None
    if chosen is not None and not chosen:
        message = "Tick the deliveries to send again, or replay every dead one."
        return _hook_page(page, page.xrm.webhooks.get(name), {}, {"replay": message}, 422)
    count = page.xrm.webhooks.replay(name, chosen)
    plural = "delivery" if count == 1 else "deliveries"
    message = f"{count} {plural} put back to be sent again by the worker."
    return _done(page, message, f"/webhooks/{name}")


def placed(error: XRMError) -> dict[str, str]:
    """Each problem's message under the form field it is about (``form`` for the rest)."""
    fields: dict[str, str] = {}
    for problem in error.problems:
        found = re.match(r"^/(name|url|events|entity|active)\b", problem.pointer)
        field = found.group(1) if found else "form"
        fields[field] = (fields.get(field, "") + " " + problem.message).strip()
    if not fields:
        fields["form"] = error.message
    return fields


def _form(page: Page) -> dict[str, Any]:
    return {
        "name": page.value("name").strip(),
        "url": page.value("url").strip(),
        # Patterns are separated by commas or spaces: "contact.*, *.created".
        "events": [p for p in re.split(r"[\s,]+", page.value("events")) if p],
        "entity": page.value("entity").strip(),
        "active": page.value("active") == "yes",
        "version": page.value("version"),
    }


def _shown(given: Mapping[str, Any]) -> dict[str, Any]:
    events = given.get("events", "")
    return {**given, "events": events if isinstance(events, str) else ", ".join(events)}


def _done(page: Page, message: str, path: str) -> Response:
    page.request.session[NOTICE] = message
    return page.redirect(path)


def _entities(xrm: XRM) -> list[str]:
    return sorted(d.name for d in xrm.metadata.entities())


def _name(page: Page) -> str:
    return str(page.request.path_params["name"])
