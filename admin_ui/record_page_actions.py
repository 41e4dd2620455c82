"""A record's actions as buttons: ``xrm.actions.list(entity)``, each run as the user.

An action without input is one button; one with input opens a small form
generated from its input schema (text, number, date, checkbox). The input is
handed to ``xrm.actions.run`` as typed — the action's own model validates it,
and its problems come back next to their inputs. A run that succeeds leaves its
result for the record page shown next; one that fails changed nothing and says why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin_ui.record_form import problems_by_field
from admin_ui.record_page_flash import Line, flash
from admin_ui.web import Page, view
from xrm_core.api.problems import status_of
from xrm_core.errors import InvalidActionInput, RecordNotFound, UnknownAction, XRMError
from xrm_core.metadata.definition import humanize
from xrm_core.xrm import XRM

#: How much of an action's result the page shows (the rest is in the audit and the API).
SHOWN_LINES, SHOWN_CHARS = 20, 160
_INPUTS = {"integer": "number", "number": "number", "boolean": "checkbox"}
_FORMATS = {"date": "date", "date-time": "datetime-local"}


@dataclass
class ActionInput:
    """One input of an action's form."""

    name: str
    label: str
    input: str
    required: bool = False
    description: str = ""
    value: Any = ""
    error: str | None = None


@dataclass
class ActionForm:
    """One action of the record, as its button (and form, when it takes input)."""

    name: str
    label: str
    description: str
    inputs: list[ActionInput] = field(default_factory=list)
    #: What went wrong at the last run (shown with the form open).
    error: str | None = None
    open: bool = False


@dataclass(frozen=True)
class ActionState:
    """An action's form as last submitted, with what was wrong with it."""

    name: str
    message: str
    errors: Mapping[str, str]
    values: Mapping[str, Any]


ShowPage = Callable[[Page, ActionState, int], Response]


def routes(one: str, show: ShowPage) -> list[BaseRoute]:
    """Running an action on the record at ``one``; ``show`` renders the page on a refusal."""

    def run(page: Page) -> Response:
        return run_action(page, show)

    run.__doc__ = run_action.__doc__
    return [Route(one + "/actions/{action}", view(run), methods=["POST"])]


def action_forms(xrm: XRM, entity: str, state: ActionState | None = None) -> list[ActionForm]:
    """The record actions of ``entity``, with the state of one just refused."""
    forms = []
    for registered in xrm.actions.list(entity):
        if registered.on != "record":
            continue
        action = registered.action
        form = ActionForm(
            action.qualified_name,
            humanize(action.name),
            action.description,
            inputs_of(registered.input_schema),
        )
        if state is not None and state.name == form.name:
            form.error, form.open = state.message, True
            for given in form.inputs:
                given.value = state.values.get(given.name, given.value)
                given.error = state.errors.get(given.name)
        forms.append(form)
    return forms


def inputs_of(schema: Mapping[str, Any]) -> list[ActionInput]:
    """The inputs of an action's form, from its input model's JSON Schema."""
    required = set(schema.get("required", ()))
    inputs = []
    for name, prop in schema.get("properties", {}).items():
        shape = _non_null(prop)
        kind = _FORMATS.get(shape.get("format", "")) or _INPUTS.get(shape.get("type", ""), "text")
        default = prop.get("default")
        value: Any = ("on" if default else "") if kind == "checkbox" else default or ""
        inputs.append(
            ActionInput(
                name,
                prop.get("title") or humanize(name),
                kind,
                name in required,
                prop.get("description", ""),
                value,
            )
        )
    return inputs


def _non_null(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    """``anyOf: [X, {"type": "null"}]`` (pydantic's optional) → X."""
    for option in prop.get("anyOf", ()):
        if isinstance(option, Mapping) and option.get("type") != "null":
            return option
    return prop


def read_input(inputs: list[ActionInput], page: Page) -> dict[str, Any]:
    """The action's input from the form: empty inputs left out (the model's default
    applies), checkboxes as booleans, the rest as typed (the model converts it)."""
    data: dict[str, Any] = {}
    for given in inputs:
        if given.input == "checkbox":
            data[given.name] = bool(page.value(given.name))
            continue
        text = page.value(given.name).strip()
        if text:
            data[given.name] = text
    return data


def run_action(page: Page, show: ShowPage) -> Response:
    """Run one of the record's actions with the form's input; show the result or the error."""
    entity = str(page.request.path_params["entity"])
    rid = page.request.path_params["id"]
    name = str(page.request.path_params["action"])
    registered = page.xrm.actions.get(name)
    if registered.action.entity != entity or registered.on != "record":
        raise UnknownAction(f"{entity} records have no action {name!r}")
    inputs = inputs_of(registered.input_schema)
    data = read_input(inputs, page)
    texts = {
        i.name: ("on" if data.get(i.name) else "") if i.input == "checkbox" else page.value(i.name)
        for i in inputs
    }
    try:
        output = page.xrm.actions.run(name, rid, data)
    except RecordNotFound:
        raise
    except InvalidActionInput as error:
        errors, loose = problems_by_field(error.problems, [i.name for i in inputs])
        message = "; ".join([error.message, *loose])
        return show(page, ActionState(name, message, errors, texts), status_of(error))
    except XRMError as error:
        message = "; ".join([error.message, *map(str, error.problems)])
        return show(page, ActionState(name, message, {}, texts), status_of(error))
    label = humanize(registered.action.name)
    flash(page, f"{label}: done.", result_lines(page.xrm, output.model_dump(mode="json")))
    return page.redirect(f"/records/{entity}/{rid}")


def result_lines(xrm: XRM, result: Mapping[str, Any]) -> list[Line]:
    """An action's output as lines; an ``<entity>_id`` links to that record."""
    lines = []
    for key, value in result.items():
        link = ""
        entity = key.removesuffix("_id")
        if key != entity and value and xrm.metadata.exists(entity):
            try:
                link = f"/admin/records/{entity}/{uuid.UUID(str(value))}"
            except ValueError:
                link = ""
        lines.append((humanize(key), _shown(value), link))
    return lines[:SHOWN_LINES]


def _shown(value: Any) -> str:
    # The result travels in the session cookie (browsers keep 4 KB): long values are cut.
    if value is None:
        return "—"
    if isinstance(value, list):
        return f"{len(value)} item(s)"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
