"""Webhooks and plugins over HTTP, for administrators.

``/api/v1/webhooks/...`` manages webhooks through ``xrm.webhooks`` and
``/api/v1/plugins/...`` installs, upgrades and uninstalls plugins through
``xrm.plugins`` (plan first; a plan that drops data answers 409 with the plan
until it is confirmed). The services refuse every caller but administrators.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xrm_core.api import inputs
from xrm_core.api.endpoint import Call, endpoint
from xrm_core.api.metadata import with_plan
from xrm_core.api.service_spec import admin_paths as openapi_paths
from xrm_core.errors import ConfirmationRequired
from xrm_core.events.outbox import Status
from xrm_core.events.webhook_delivery import Webhook
from xrm_core.events.webhooks import KEEP
from xrm_core.plugins.lifecycle import DATA_CHOICES, PluginPlan

_HOOK = "/v1/webhooks/{name}"
_PLUGIN = "/v1/plugins/{name}"
_CREATE = ("name", "url", "events", "entity", "secret", "active")
_CHANGE = ("url", "events", "entity", "secret", "active", "rotate_secret")
_STATUSES: tuple[Status, ...] = ("pending", "delivered", "dead")
_OPERATIONS = ("install", "upgrade", "uninstall")

__all__ = ["openapi_paths", "routes"]


def routes() -> list[BaseRoute]:
    """The webhook and plugin endpoints."""
    return [
        Route("/v1/webhooks", endpoint(list_webhooks), methods=["GET"]),
        Route("/v1/webhooks", endpoint(create_webhook, status=201), methods=["POST"]),
        Route(_HOOK, endpoint(get_webhook), methods=["GET"]),
        Route(_HOOK, endpoint(change_webhook), methods=["PATCH"]),
        Route(_HOOK, endpoint(delete_webhook), methods=["DELETE"]),
        Route(_HOOK + "/replay", endpoint(replay_webhook), methods=["POST"]),
        Route(
            _HOOK + "/deliveries",
            endpoint(list_deliveries, query=("status", "limit")),
            methods=["GET"],
        ),
        Route(
            _HOOK + "/attempts",
            endpoint(list_attempts, query=("delivery_id", "limit")),
            methods=["GET"],
        ),
        Route("/v1/plugins", endpoint(list_plugins), methods=["GET"]),
        Route(
            _PLUGIN + "/plan", endpoint(plan_plugin, query=("operation", "data")), methods=["GET"]
        ),
        Route(_PLUGIN + "/install", endpoint(install_plugin), methods=["POST"]),
        Route(_PLUGIN + "/upgrade", endpoint(upgrade_plugin), methods=["POST"]),
        Route(_PLUGIN + "/uninstall", endpoint(uninstall_plugin), methods=["POST"]),
        Route(_PLUGIN + "/enable", endpoint(enable_plugin), methods=["POST"]),
        Route(_PLUGIN + "/disable", endpoint(disable_plugin), methods=["POST"]),
    ]


# -- webhooks --------------------------------------------------------------------


def list_webhooks(call: Call) -> dict[str, Any]:
    """Every webhook, by name (secrets are never shown again)."""
    return {"items": [_hook(h) for h in call.xrm.webhooks.list()], "next_cursor": None}


def create_webhook(call: Call) -> dict[str, Any]:
    """Create a webhook: 201 with its ``secret``, shown this once."""
    body = inputs.body_object(call.body, _CREATE, required=("name", "url", "events"))
    hook = call.xrm.webhooks.create(
        body["name"],
        body["url"],
        body["events"],
        entity=body.get("entity"),
        secret=body.get("secret"),
        active=body.get("active", True),
    )
    call.headers["Location"] = f"/api/v1/webhooks/{hook.name}"
    return _hook(hook)


def get_webhook(call: Call) -> dict[str, Any]:
    """One webhook (without its secret)."""
    return _hook(call.xrm.webhooks.get(call.params["name"]))


def change_webhook(call: Call) -> dict[str, Any]:
    """Change what the body names (``"entity": null`` removes the filter); a new secret is shown."""
    body = inputs.body_object(call.body, _CHANGE)
    hook = call.xrm.webhooks.update(
        call.params["name"],
        url=body.get("url"),
        events=body.get("events"),
        entity=body.get("entity", KEEP),
        active=body.get("active"),
        secret=body.get("secret"),
        rotate_secret=inputs.member(body, "rotate_secret", bool, False),
    )
    return _hook(hook)


def delete_webhook(call: Call) -> Response:
    """Delete a webhook with its deliveries: 204."""
    call.xrm.webhooks.delete(call.params["name"])
    return Response(status_code=204)


def replay_webhook(call: Call) -> dict[str, Any]:
    """Deliver again every dead delivery, or those of ``delivery_ids``; how many."""
    body = inputs.body_object(call.body, ("delivery_ids",))
    ids = body.get("delivery_ids")
    if ids is not None and not isinstance(ids, list):
        raise inputs.refuse("/delivery_ids", "must be a list of delivery ids")
    return {"replayed": call.xrm.webhooks.replay(call.params["name"], ids)}


def list_deliveries(call: Call) -> dict[str, Any]:
    """The webhook's deliveries, oldest first; ``?status=`` pending, delivered or dead."""
    status = inputs.text(call.request, "status")
    if status is not None:
        status = inputs.choice(call.request, "status", _STATUSES, "pending")
    limit = inputs.number(call.request, "limit", 100, 1, 1000)
    found = call.xrm.webhooks.deliveries(call.params["name"], status=status, limit=limit)  # type: ignore[arg-type]
    return {"items": found, "next_cursor": None}


def list_attempts(call: Call) -> dict[str, Any]:
    """The delivery log: every attempt (of ``?delivery_id=``), with its outcome."""
    limit = inputs.number(call.request, "limit", 100, 1, 1000)
    delivery = inputs.text(call.request, "delivery_id")
    found = call.xrm.webhooks.attempts(call.params["name"], delivery_id=delivery, limit=limit)
    return {"items": found, "next_cursor": None}


def _hook(hook: Webhook) -> dict[str, Any]:
    shown = dataclasses.asdict(hook)
    if hook.secret is None:
        del shown["secret"]
    return shown


# -- plugins ---------------------------------------------------------------------


def list_plugins(call: Call) -> dict[str, Any]:
    """Plugins available to the server and installed in the database, with their versions."""
    service = call.xrm.plugins
    available, installed = service.available(), service.installed()
    items = []
    for name in sorted({*available, *installed}):
        manifest, present = available.get(name), installed.get(name)
        items.append(
            {
                "name": name,
                "description": manifest.description if manifest else "",
                "available_version": str(manifest.version) if manifest else None,
                "installed_version": present.version if present else None,
                "enabled": present.enabled if present else None,
                "dependencies": {k: str(v) for k, v in manifest.dependencies.items()}
                if manifest
                else {},
            }
        )
    return {"items": items, "next_cursor": None}


def plan_plugin(call: Call) -> dict[str, Any]:
    """What ``?operation=`` install, upgrade or uninstall (with ``?data=``) would do."""
    name, service = call.params["name"], call.xrm.plugins
    operation = inputs.choice(call.request, "operation", _OPERATIONS, "install")
    if operation == "install":
        return service.plan_install(name).to_dict()
    if operation == "upgrade":
        return service.plan_upgrade(name).to_dict()
    data = inputs.choice(call.request, "data", DATA_CHOICES, "")
    return service.plan_uninstall(name, data=data).to_dict()  # type: ignore[arg-type]


def install_plugin(call: Call) -> Any:
    """Install a plugin and the dependencies it lacks; ``confirm`` a plan that drops data."""
    confirm = _confirm(call, ("confirm",))
    return _applied(call, lambda: call.xrm.plugins.install(call.params["name"], confirm=confirm))


def upgrade_plugin(call: Call) -> Any:
    """Upgrade a plugin to the server's version, keeping administrators' changes."""
    confirm = _confirm(call, ("confirm",))
    return _applied(call, lambda: call.xrm.plugins.upgrade(call.params["name"], confirm=confirm))


def uninstall_plugin(call: Call) -> Any:
    """Uninstall a plugin; ``data`` keep, export (to the server's export folder) or drop."""
    body = inputs.body_object(call.body, ("data", "confirm"), required=("data",))
    confirm = inputs.member(body, "confirm", bool, False)
    service, name = call.xrm.plugins, call.params["name"]
    return _applied(call, lambda: service.uninstall(name, data=body["data"], confirm=confirm))


def enable_plugin(call: Call) -> dict[str, Any]:
    """Let a disabled plugin run again (servers and workers apply it when restarted)."""
    call.xrm.plugins.enable(call.params["name"])
    return {"name": call.params["name"], "enabled": True}


def disable_plugin(call: Call) -> dict[str, Any]:
    """Stop a plugin's subscribers, rules and actions (when restarted); its data stays."""
    call.xrm.plugins.disable(call.params["name"])
    return {"name": call.params["name"], "enabled": False}


def _confirm(call: Call, allowed: tuple[str, ...]) -> bool:
    body = inputs.body_object(call.body, allowed)
    return inputs.member(body, "confirm", bool, False)


def _applied(call: Call, run: Any) -> Any:
    try:
        plan: PluginPlan = run()
    except ConfirmationRequired as error:
        return with_plan(call, error)
    return plan.to_dict()
