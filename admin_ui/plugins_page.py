"""Plugins: installed and available ones; install, upgrade and uninstall, plan first.

Every change is shown as the plugin service's plan before anything is done —
each step with its safety — and is applied only when the administrator
submits that plan. An uninstall asks what to do with the plugin's data (keep,
export or drop); a plan that drops data needs the plugin's name typed to
confirm it. The form carries a digest of the plan shown: if the plan has
changed meanwhile (someone added records, another plugin arrived), the new
plan is shown instead of applying one nobody read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.version import Version
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.security_forms import is_manager
from admin_ui.web import Page, view
from xrm_core.api.problems import status_of
from xrm_core.errors import Problem, XRMError
from xrm_core.metadata.plan import Safety
from xrm_core.plugins.lifecycle import CORE_OWNER, DATA_CHOICES, PluginPlan, PluginService
from xrm_core.plugins.plans import DataChoice

#: The session key of the message shown once on the plugin list after a change.
NOTICE = "plugins_notice"
#: What each data choice of an uninstall does, as the page explains it.
DATA_HELP: Mapping[str, str] = {
    "keep": "Keep the entities, fields and roles with their data; they become yours "
    "(custom). Installing the plugin again takes them back.",
    "export": "Write every record of the plugin's entities to JSON Lines files, then drop "
    "everything the plugin added.",
    "drop": "Drop the plugin's entities, the fields it added to other entities and its "
    "roles (their values are still exported to the export folder first).",
}
RESTART = "Restart the server and workers for the plugin's handlers and actions to start."


def routes() -> list[BaseRoute]:
    """The plugin list and each operation's plan and confirmation."""
    return [
        Route("/plugins", view(plugin_list), methods=["GET"]),
        Route("/plugins/{name}/install", view(install), methods=["GET", "POST"]),
        Route("/plugins/{name}/upgrade", view(upgrade), methods=["GET", "POST"]),
        Route("/plugins/{name}/uninstall", view(uninstall), methods=["GET", "POST"]),
        Route("/plugins/{name}/enable", view(enable), methods=["POST"]),
        Route("/plugins/{name}/disable", view(disable), methods=["POST"]),
    ]


@dataclass(frozen=True)
class PluginRow:
    """One plugin as the list shows it."""

    name: str
    description: str
    #: The version this server has (None: installed here, but its package is gone).
    available: str | None
    #: The version installed in this database (None: not installed).
    installed: str | None
    enabled: bool
    dependencies: tuple[str, ...]

    @property
    def builtin(self) -> bool:
        """The core: installed by the system, never changed from here."""
        return self.name == CORE_OWNER

    @property
    def upgradable(self) -> bool:
        """Installed at an older version than the one this server has."""
        if self.available is None or self.installed is None:
            return False
        return Version(self.available) > Version(self.installed)


def plugin_rows(service: PluginService) -> list[PluginRow]:
    """Every plugin available to this server or installed in this database, by name."""
    available, installed = service.available(), service.installed()
    rows = []
    for name in sorted(set(available) | set(installed)):
        manifest, present = available.get(name), installed.get(name)
        needs = manifest.dependencies if manifest else present.dependencies if present else {}
        deps = tuple(f"{d} {s}".strip() for d, s in needs.items())
        rows.append(
            PluginRow(
                name=name,
                description=manifest.description if manifest else "",
                available=str(manifest.version) if manifest else None,
                installed=present.version if present else None,
                enabled=present.enabled if present else False,
                dependencies=deps,
            )
        )
    return rows


def plugin_list(page: Page) -> Response:
    """Installed and available plugins, with what can be done to each."""
    notice = page.request.session.pop(NOTICE, None)
    context = {
        "plugins": plugin_rows(page.xrm.plugins),
        "manager": is_manager(page),
        "notice": notice,
    }
    return page.render("plugins/list.html", context)


# -- install and upgrade -------------------------------------------------


def install(page: Page) -> Response:
    """GET: the plan of installing the plugin (and its missing dependencies); POST: apply it."""
    name = _name(page)
    service = page.xrm.plugins
    return _operation(
        page,
        "install",
        lambda: service.plan_install(name),
        lambda: service.install(name, confirm=True),
    )


def upgrade(page: Page) -> Response:
    """GET: the plan of upgrading the plugin to this server's version; POST: apply it."""
    name = _name(page)
    service = page.xrm.plugins
    return _operation(
        page,
        "upgrade",
        lambda: service.plan_upgrade(name),
        lambda: service.upgrade(name, confirm=True),
    )


def uninstall(page: Page) -> Response:
    """GET: the data choice, and the plan once chosen; POST: uninstall as chosen."""
    name = _name(page)
    query = page.request.query_params
    chosen = page.value("data") if page.form is not None else query.get("data", "")
    context: dict[str, Any] = {"operation": "uninstall", "name": name, "choices": DATA_HELP}
    if chosen not in DATA_CHOICES:
        # No default: nothing is planned until the administrator says what happens to the data.
        context["data"] = None
        if chosen:
            context["data_error"] = "Choose keep, export or drop."
        return _plan_page(page, context, 422 if chosen else 200)
    data: DataChoice = chosen
    context["data"] = data
    service = page.xrm.plugins
    return _operation(
        page,
        "uninstall",
        lambda: service.plan_uninstall(name, data=data),
        lambda: service.uninstall(name, data=data, confirm=True),
        context,
    )


def _operation(
    page: Page,
    operation: str,
    plan_of: Callable[[], PluginPlan],
    apply: Callable[[], PluginPlan],
    context: dict[str, Any] | None = None,
) -> Response:
    context = context or {"operation": operation, "name": _name(page)}
    try:
        plan = plan_of()
    except XRMError as error:
        return _plan_page(page, {**context, "error": error}, status_of(error))
    context |= {"plan": plan, "digest": digest(plan)}
    if page.form is None:
        return _plan_page(page, context)
    if page.value("digest") != context["digest"]:
        context["changed"] = True  # the plan read is not the plan now: show the new one
        return _plan_page(page, context, 409)
    destructive = plan.safety is Safety.DESTRUCTIVE
    if destructive and page.value("confirm_name").strip() != context["name"]:
        context["confirm_error"] = f"Type {context['name']} to confirm that data is dropped."
        return _plan_page(page, context, 422)
    try:
        done = apply()
    except XRMError as error:
        return _plan_page(page, {**context, "error": error}, status_of(error))
    page.request.session[NOTICE] = _summary(done)
    return page.redirect("/plugins")


def _plan_page(page: Page, context: dict[str, Any], status: int = 200) -> Response:
    error = context.get("error")
    if isinstance(error, XRMError):
        context["problems"] = [p for p in error.problems if isinstance(p, Problem)]
    template = "plugins/_plan.html" if page.htmx and page.form is None else "plugins/plan.html"
    return page.render(template, context, status=status)


def digest(plan: PluginPlan) -> str:
    """A fingerprint of what a plan does: the form sends back the one it showed."""
    text = json.dumps(plan.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _summary(plan: PluginPlan) -> dict[str, Any]:
    done = []
    for plugin, old, new in plan.plugins:
        if plan.operation == "uninstall":
            done.append(f"Uninstalled {plugin} {old}.")
        elif plan.operation == "upgrade":
            done.append(f"Upgraded {plugin} from {old} to {new}.")
        else:
            done.append(f"Installed {plugin} {new}.")
    if plan.operation != "uninstall":
        done.append(RESTART)
    return {"lines": done, "exports": list(plan.exports)}


# -- enable and disable --------------------------------------------------


def enable(page: Page) -> Response:
    """Let the plugin's handlers run again (in processes started after)."""
    return _switch(page, True)


def disable(page: Page) -> Response:
    """Stop the plugin's handlers (in processes started after); its data stays."""
    return _switch(page, False)


def _switch(page: Page, on: bool) -> Response:
    name = _name(page)
    service = page.xrm.plugins
    try:
        service.enable(name) if on else service.disable(name)
    except XRMError as error:
        context = {"plugins": plugin_rows(service), "manager": is_manager(page), "error": error}
        return page.render("plugins/list.html", context, status=status_of(error))
    word = "Enabled" if on else "Disabled"
    lines = [f"{word} {name}.", "Running servers and workers apply it when restarted."]
    page.request.session[NOTICE] = {"lines": lines, "exports": []}
    return page.redirect("/plugins")


def _name(page: Page) -> str:
    return str(page.request.path_params["name"])
