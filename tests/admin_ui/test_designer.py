"""The entity designer in-process (SQLite and PostgreSQL): edge cases of the editor's forms.

Forms are filled as a browser would: :class:`Form` reads every input of the page's
form (hidden ones included), a test changes some and presses a button.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from httpx2 import Response

from tests.admin_ui.conftest import Admin

VEHICLE = {
    "x-xrm": {"name": "vehicle", "label": "Vehicle"},
    "properties": {
        "plate_no": {"type": "string", "maxLength": 12},
        "seats": {"type": "integer"},
    },
    "required": ["plate_no"],
}


class Form(HTMLParser):
    """The inputs of the form posting to ``action`` on a page, as a browser would send them."""

    def __init__(self, html: str, action: str) -> None:
        super().__init__()
        self.action = action
        self.fields: list[tuple[str, str]] = []
        self._inside = False
        self._select: str | None = None
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._inside = a.get("action") == self.action
        if not self._inside or ("name" not in a and tag != "option"):
            return
        if tag == "input":
            if a.get("type") != "checkbox":
                self.fields.append((a["name"], a.get("value", "")))
            elif "checked" in a:
                self.fields.append((a["name"], a.get("value") or "on"))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select is not None and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.fields.pop()
            self.fields.append((name, value + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def token_of(self, field: str) -> str:
        """The row token of the field now called ``field``."""
        return next(k.split(".")[1] for k, v in self.fields if k.endswith(".name") and v == field)

    def set(self, name: str, value: str) -> None:
        """Set (or add) input ``name``."""
        self.fields = [(k, v) for k, v in self.fields if k != name] + [(name, value)]

    def set_all(self, name: str, values: list[str]) -> None:
        """Set input ``name`` to several values (a multiple select)."""
        self.fields = [(k, v) for k, v in self.fields if k != name] + [(name, v) for v in values]

    def press(self, client: object, action: str) -> Response:
        """Submit with the button whose value is ``action``."""
        data: dict[str, list[str]] = {"action": [action]}
        for name, value in self.fields:
            data.setdefault(name, []).append(value)
        return client.post(self.action, data=data)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def designer(inprocess: Admin) -> Admin:
    """Signed in as admin, with a ``vehicle`` entity holding one record."""
    inprocess.xrm.metadata.define(VEHICLE)
    inprocess.xrm.records("vehicle").create({"plate_no": "XRM-1", "seats": 5})
    inprocess.sign_in()
    return inprocess


def editor(admin: Admin, entity: str = "vehicle") -> Form:
    page = admin.client.get(f"/admin/entities/{entity}/edit")
    assert page.status_code == 200, page.text
    return Form(page.text, f"/admin/entities/{entity}/edit")


def error_next_to(html: str, input_id: str) -> str:
    """The error shown next to input ``input_id`` (which must say it is invalid)."""
    assert re.search(
        rf'id="{input_id}"[^>]*aria-invalid="true" aria-describedby="{input_id}-error"', html
    )
    found = re.search(rf'<p class="field-error" id="{input_id}-error">([^<]*)</p>', html)
    assert found, f"no error next to {input_id}"
    return found.group(1)


def test_the_list_names_each_entity_with_owner_label_and_field_count(designer: Admin) -> None:
    page = designer.client.get("/admin/entities").text
    row = re.search(r'<a href="/admin/entities/vehicle">vehicle</a></td>(.*?)</tr>', page, re.S)
    assert row and "Vehicle" in row.group(1) and "custom" in row.group(1)
    assert re.search(r'<td class="num">2</td>', row.group(1))
    assert re.search(r'href="/admin/entities/user">user</a></td>\s*<td>[^<]*</td>\s*<td>core', page)


def test_renaming_a_field_keeps_its_values(designer: Admin) -> None:
    form = editor(designer)
    form.set(f"f.{form.token_of('plate_no')}.name", "plate")
    review = form.press(designer.client, "review")
    assert review.status_code == 200, review.text
    assert "rename field vehicle.plate_no to &#39;plate&#39; (values kept)" in review.text
    assert 'id="plan-safety">breaking' in review.text
    applied = Form(review.text, "/admin/entities/vehicle/edit").press(designer.client, "apply")
    assert applied.status_code == 303 and applied.headers["location"] == "/admin/entities/vehicle"
    definition = designer.xrm.metadata.get("vehicle")
    assert definition.field_names == ("plate", "seats")
    assert definition.field("plate").required and definition.field("plate").max_length == 12
    [record] = designer.xrm.records("vehicle").query().records
    assert record["plate"] == "XRM-1"


def test_a_user_without_the_customize_privilege_is_refused(inprocess: Admin) -> None:
    inprocess.xrm.metadata.define(VEHICLE)
    inprocess.sign_in("clerk")
    listed = inprocess.client.get("/admin/entities")  # reading is for all
    assert listed.status_code == 200 and "New entity" not in listed.text
    for path in (
        "/admin/entities/vehicle/edit",
        "/admin/entities/new",
        "/admin/entities/vehicle/drop",
    ):
        refused = inprocess.client.get(path)
        assert refused.status_code == 403
        assert "needs a role with the customize privilege" in refused.text
    token = inprocess.csrf("/admin/entities")
    data = {
        "csrf_token": token,
        "action": "apply",
        "schema": '{"x-xrm": {"name": "vehicle"}, "properties": {}}',
        "renames": "{}",
        "version": "1",
        "confirm": "on",
    }
    assert inprocess.client.post("/admin/entities/vehicle/edit", data=data).status_code == 403
    dropped = inprocess.client.post(
        "/admin/entities/vehicle/drop", data={"csrf_token": token, "confirm": "on"}
    )
    assert dropped.status_code == 403
    assert inprocess.xrm.metadata.get("vehicle").field_names == ("plate_no", "seats")


def with_new_field(admin: Admin) -> tuple[Form, str]:
    """The editor of ``vehicle`` after "Add field" (without htmx), and the new row's token."""
    form = editor(admin)
    added = Form(form.press(admin.client, "add_field").text, form.action)
    new = next(v for k, v in added.fields if k == "field" and (f"f.{v}.name", "") in added.fields)
    return added, new


#: (what to change, the input the error is next to, the message): "n" is a new field's
#: row, "seats" and "plate_no" the rows of those fields.
BAD_INPUT = [
    ({"seats.kind": "colour"}, "seats.kind", "unknown kind &#39;colour&#39;; the kinds are:"),
    ({"plate_no.max_length": "twelve"}, "plate_no.max_length", "&#39;twelve&#39; is not a whole"),
    ({"n.name": "plate_no"}, "n.name", "another field is already called &#39;plate_no&#39;"),
    ({"n.name": "colour", "n.kind": "choice"}, "n.choices", "a choice field needs enum"),
    ({"n.name": "owner", "n.kind": "lookup"}, "n.target", "a lookup needs x-xrm.target"),
    ({"n.name": "id"}, "n.name", "clashes with the system column"),
]


def test_bad_input_is_said_next_to_its_input_and_changes_nothing(designer: Admin) -> None:
    version = designer.xrm.metadata.entity_version("vehicle")
    for changes, where, message in BAD_INPUT:
        form, new = with_new_field(designer) if where.startswith("n.") else (editor(designer), "")
        tokens = {"n": new, "seats": form.token_of("seats"), "plate_no": form.token_of("plate_no")}
        for key, value in changes.items():
            row, attr = key.split(".")
            form.set(f"f.{tokens[row]}.{attr}", value)
        response = form.press(designer.client, "review")
        assert response.status_code == 422, changes
        row, attr = where.split(".")
        assert message in error_next_to(response.text, f"f-{tokens[row]}-{attr}"), changes
        assert 'role="alert"' in response.text
    assert designer.xrm.metadata.entity_version("vehicle") == version


def test_a_destructive_change_needs_the_confirmation(designer: Admin) -> None:
    form = editor(designer)
    review = form.press(designer.client, f"remove:{form.token_of('seats')}")
    review = Form(review.text, form.action).press(designer.client, "review")
    assert 'id="plan-safety">destructive' in review.text
    unconfirmed = Form(review.text, form.action).press(designer.client, "apply")
    assert unconfirmed.status_code == 422
    assert "Tick the box" in error_next_to(unconfirmed.text, "confirm")
    assert designer.xrm.metadata.get("vehicle").has_field("seats")
    confirmed = Form(unconfirmed.text, form.action)
    confirmed.set("confirm", "on")
    assert confirmed.press(designer.client, "apply").status_code == 303
    assert not designer.xrm.metadata.get("vehicle").has_field("seats")
    notice = designer.client.get("/admin/entities/vehicle").text
    assert "Dropped values were exported to" in notice


def test_a_change_made_meanwhile_by_someone_else_is_not_overwritten(designer: Admin) -> None:
    form = editor(designer)
    designer.xrm.metadata.define(
        {**VEHICLE, "properties": {**VEHICLE["properties"], "colour": {"type": "string"}}}
    )
    form.set(f"f.{form.token_of('seats')}.label", "Seat count")
    response = form.press(designer.client, "review")
    assert response.status_code == 409 and "Someone changed entity" in response.text
    assert designer.xrm.metadata.get("vehicle").field("seats").label == "Seats"


def test_creating_an_entity_checks_its_name_first(designer: Admin) -> None:
    token = designer.csrf("/admin/entities/new")
    taken = designer.client.post(
        "/admin/entities/new", data={"csrf_token": token, "name": "vehicle"}
    )
    assert taken.status_code == 422
    assert "already exists" in error_next_to(taken.text, "e-name")
    bad = designer.client.post(
        "/admin/entities/new", data={"csrf_token": token, "name": "Bad Name"}
    )
    assert bad.status_code == 422 and "bad name" in error_next_to(bad.text, "e-name")
    good = designer.client.post(
        "/admin/entities/new", data={"csrf_token": token, "name": "boat", "label": "Boat"}
    )
    assert good.status_code == 303
    assert good.headers["location"].startswith("/admin/entities/boat/edit?label=Boat")
    assert not designer.xrm.metadata.exists("boat")


def test_dropping_an_entity_needs_the_confirmation(designer: Admin) -> None:
    page = designer.client.get("/admin/entities/vehicle/drop")
    assert '<span class="badge destructive">destructive</span>' in page.text
    token = designer.csrf("/admin/entities/vehicle/drop")
    refused = designer.client.post("/admin/entities/vehicle/drop", data={"csrf_token": token})
    assert refused.status_code == 422 and designer.xrm.metadata.exists("vehicle")
    done = designer.client.post(
        "/admin/entities/vehicle/drop", data={"csrf_token": token, "confirm": "on"}
    )
    assert done.status_code == 303 and not designer.xrm.metadata.exists("vehicle")


def test_a_draft_that_cannot_be_read_changes_nothing(designer: Admin) -> None:
    token = designer.csrf("/admin/entities/vehicle/edit")
    version = designer.xrm.metadata.entity_version("vehicle")
    good = '{"x-xrm": {"name": "vehicle"}, "properties": {}}'
    for schema, renames, sent_version in [
        ("{not json", "{}", "1"),
        ('{"x-xrm": {"name": "vehicle"}, "properties": ["plate_no"]}', "{}", "1"),
        (good, '{"plate_no": 7}', "1"),
        (good, "{}", "one"),
    ]:
        data = {"csrf_token": token, "action": "apply", "confirm": "on"}
        data |= {"schema": schema, "renames": renames, "version": sent_version}
        response = designer.client.post("/admin/entities/vehicle/edit", data=data)
        assert response.status_code == 422 and "could not be read" in response.text, schema
    assert designer.xrm.metadata.entity_version("vehicle") == version


def test_reviewing_any_entity_unchanged_plans_nothing(inprocess: Admin) -> None:
    # Every kind the plugins use goes through the form and back without a change.
    for plugin in ("contacts", "sales"):
        inprocess.xrm.plugins.install(plugin)
    inprocess.sign_in()
    for definition in inprocess.xrm.metadata.entities():
        review = editor(inprocess, definition.name).press(inprocess.client, "review")
        assert review.status_code == 200, (definition.name, review.text)
        assert "Nothing would change" in review.text, definition.name


def test_lookups_to_several_entities_relationships_and_keys_are_applied(designer: Admin) -> None:
    form, new = with_new_field(designer)
    form.set(f"f.{new}.name", "keeper")
    form.set(f"f.{new}.kind", "polymorphic_lookup")
    form.set_all(f"f.{new}.targets", ["user", "team"])
    form.set(f"f.{new}.on_delete", "cascade")
    form = Form(form.press(designer.client, "add_field").text, form.action)
    anything = next(
        v for k, v in form.fields if k == "field" and (f"f.{v}.name", "") in form.fields
    )
    form.set(f"f.{anything}.name", "about")
    form.set(f"f.{anything}.kind", "polymorphic_lookup")
    form.set(f"f.{anything}.any_entity", "on")
    form = Form(form.press(designer.client, "add_relation").text, form.action)
    [relation] = [v for k, v in form.fields if k == "relation"]
    form.set(f"r.{relation}.name", "drivers")
    form.set(f"r.{relation}.target", "user")
    form = Form(form.press(designer.client, "add_key").text, form.action)
    [key] = [v for k, v in form.fields if k == "key"]
    form.set(f"k.{key}.fields", "plate_no")
    review = form.press(designer.client, "review")
    assert review.status_code == 200, review.text
    assert Form(review.text, form.action).press(designer.client, "apply").status_code == 303
    definition = designer.xrm.metadata.get("vehicle")
    keeper, about = definition.field("keeper"), definition.field("about")
    assert set(keeper.targets) == {"user", "team"} and keeper.on_delete.value == "cascade"
    assert about.any_entity
    assert definition.relationship("drivers").target == "user"
    assert [k.fields for k in definition.alternate_keys] == [("plate_no",)]


def test_a_plan_that_changed_since_it_was_read_is_shown_again_not_applied(
    designer: Admin,
) -> None:
    form = editor(designer)
    form.set(f"f.{form.token_of('plate_no')}.kind", "integer")
    review = Form(form.press(designer.client, "review").text, form.action)
    designer.xrm.records("vehicle").create({"plate_no": "XRM-2"})  # one more value to lose
    review.set("confirm", "on")
    changed = review.press(designer.client, "apply")
    assert changed.status_code == 409 and "The plan changed since you read it" in changed.text
    assert designer.xrm.metadata.get("vehicle").field("plate_no").kind.value == "string"
    again = Form(changed.text, form.action)
    again.set("confirm", "on")
    assert again.press(designer.client, "apply").status_code == 303
    assert designer.xrm.metadata.get("vehicle").field("plate_no").kind.value == "integer"
