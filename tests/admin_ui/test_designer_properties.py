"""The entity designer in-process (SQLite and PostgreSQL): field properties, entity settings
and many-to-many relationships changed in place.
"""

from __future__ import annotations

import pytest

from tests.admin_ui.conftest import Admin
from tests.admin_ui.test_designer import VEHICLE, Form, editor, error_next_to, with_new_field
from xrm_core.errors import RecordValidationError


@pytest.fixture
def vehicles(inprocess: Admin) -> Admin:
    """Signed in as admin, with a ``vehicle`` entity holding one record."""
    inprocess.xrm.metadata.define(VEHICLE)
    inprocess.xrm.records("vehicle").create({"plate_no": "XRM-1", "seats": 5})
    inprocess.sign_in()
    return inprocess


def untick(form: Form, name: str) -> None:
    """Untick checkbox ``name`` (a browser sends nothing for it then)."""
    form.fields = [(k, v) for k, v in form.fields if k != name]


def htmx(admin: Admin, form: Form, action: str) -> str:
    """What htmx gets when button ``action`` of ``form`` is pressed."""
    data: dict[str, list[str]] = {"action": [action]}
    for name, value in form.fields:
        data.setdefault(name, []).append(value)
    response = admin.client.post(form.action, data=data, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text
    return str(response.text).strip()


def apply(admin: Admin, form: Form) -> None:
    """Review ``form`` and apply its plan (confirmed when destructive)."""
    review = form.press(admin.client, "review")
    assert review.status_code == 200, review.text
    confirmed = Form(review.text, form.action)
    confirmed.set("confirm", "on")
    applied = confirmed.press(admin.client, "apply")
    assert applied.status_code == 303, applied.text


def test_field_properties_reach_the_definition_and_read_back(vehicles: Admin) -> None:
    form, new = with_new_field(vehicles)
    plate, seats = form.token_of("plate_no"), form.token_of("seats")
    for name, value in {
        f"f.{plate}.pattern": r"^[A-Z]{3}-\d+$",
        f"f.{plate}.min_length": "5",
        f"f.{plate}.default": "XRM-0",
        f"f.{plate}.description": "As on the registration",
        f"f.{seats}.default": "4",
        f"f.{seats}.maximum": "9",
        f"f.{seats}.secured": "on",
        f"f.{new}.name": "insured",
        f"f.{new}.kind": "boolean",
        f"f.{new}.default": "false",
    }.items():
        form.set(name, value)
    untick(form, f"f.{seats}.audited")
    apply(vehicles, form)

    definition = vehicles.xrm.metadata.get("vehicle")
    plate_no, seat_count = definition.field("plate_no"), definition.field("seats")
    assert (plate_no.pattern, plate_no.min_length, plate_no.default) == (
        r"^[A-Z]{3}-\d+$",
        5,
        "XRM-0",
    )
    assert definition.schema["properties"]["plate_no"]["description"] == "As on the registration"
    assert (seat_count.default, seat_count.maximum) == (4, 9)
    assert seat_count.secured and not seat_count.audited and plate_no.audited
    insured = definition.field("insured")
    assert insured.has_default and insured.default is False
    with pytest.raises(RecordValidationError) as rejected:
        vehicles.xrm.records("vehicle").create({"plate_no": "bad plate"})
    assert "pattern" in str(rejected.value.problems)
    created = vehicles.xrm.records("vehicle").create({"plate_no": "ABC-12"})
    assert (created["seats"], created["insured"]) == (4, False)
    shown = vehicles.client.get("/admin/entities/vehicle").text
    assert "matches ^[A-Z]{3}-\\d+$" in shown and "default: false" in shown
    # What was set reads back into the editor as it was typed: nothing to change.
    again = editor(vehicles).press(vehicles.client, "review")
    assert "Nothing would change" in again.text, again.text


#: (input of the row of plate_no or seats, or of a new field "n", value, the message next to it).
BAD_PROPERTIES = [
    ("plate_no.pattern", "[A-Z", "pattern is not a valid regular expression"),
    ("plate_no.pattern", "(?=A)B", "its rules cannot be applied"),
    ("plate_no.min_length", "-1", "is less than the minimum of 0"),
    ("plate_no.min_length", "some", "&#39;some&#39; is not a whole number"),
    ("seats.default", "2.5", "&#39;2.5&#39; is not a whole number"),
    ("seats.default", "20", "default is not valid"),
]


def test_bad_properties_are_said_next_to_their_input_and_change_nothing(
    vehicles: Admin,
) -> None:
    version = vehicles.xrm.metadata.entity_version("vehicle")
    for where, value, message in BAD_PROPERTIES:
        form = editor(vehicles)
        row, attr = where.split(".")
        token = form.token_of(row)
        form.set(f"f.{token}.maximum", "9")  # seats ≤ 9: a default of 20 does not fit
        form.set(f"f.{token}.{attr}", value)
        response = form.press(vehicles.client, "review")
        assert response.status_code == 422, where
        assert message in error_next_to(response.text, f"f-{token}-{attr}"), (where, value)
        assert (f"f.{token}.{attr}", value) in Form(response.text, form.action).fields  # kept
    form, new = with_new_field(vehicles)
    form.set(f"f.{new}.name", "colour")
    form.set(f"f.{new}.kind", "choice")
    form.set(f"f.{new}.choices", "red\nblue")
    form.set(f"f.{new}.default", "green")
    response = form.press(vehicles.client, "review")
    assert "default is not valid" in error_next_to(response.text, f"f-{new}-default")
    assert vehicles.xrm.metadata.entity_version("vehicle") == version


def test_the_audit_switch_is_applied_and_a_change_of_ownership_is_refused(
    vehicles: Admin,
) -> None:
    form = editor(vehicles)
    assert ("e.audit", "on") in form.fields and ("e.ownership", "user") in form.fields
    form.set("e.ownership", "organization")
    refused = form.press(vehicles.client, "review")
    assert refused.status_code == 422
    assert "ownership cannot change once defined" in error_next_to(refused.text, "e-ownership")
    form = Form(refused.text, form.action)
    form.set("e.ownership", "user")
    untick(form, "e.audit")
    apply(vehicles, form)
    assert not vehicles.xrm.metadata.get("vehicle").audited


def test_a_relationship_is_renamed_and_its_attributes_changed_with_its_links_kept(
    vehicles: Admin,
) -> None:
    xrm = vehicles.xrm
    xrm.metadata.define(
        {
            **VEHICLE,
            "x-xrm": {
                **VEHICLE["x-xrm"],
                "relationships": [
                    {
                        "name": "drivers",
                        "target": "user",
                        "attributes": {"since": {"type": "string", "format": "date"}},
                    }
                ],
            },
        }
    )
    [car] = xrm.records("vehicle").query().records
    driver = xrm.records("user").query().records[0]
    xrm.records("vehicle").link(car["id"], "drivers", driver["id"], {"since": "2024-05-01"})
    form = editor(vehicles)
    relation, since = form.token_of("drivers"), form.token_of("since")
    form.set(f"r.{relation}.name", "chauffeurs")
    form.set(f"a.{since}.label", "Driving since")
    fragment = htmx(vehicles, form, f"add_attribute:{relation}")  # the new row alone
    assert fragment.startswith('<fieldset class="field-row"') and "New attribute" in fragment
    assert f'name="r.{relation}.attribute"' in fragment and 'value="lookup"' not in fragment
    form = Form(form.press(vehicles.client, f"add_attribute:{relation}").text, form.action)
    [hours] = [v for k, v in form.fields if k == f"r.{relation}.attribute" and v != since]
    form.set(f"a.{hours}.name", "hours")
    form.set(f"a.{hours}.kind", "choice")
    refused = form.press(vehicles.client, "review")
    assert refused.status_code == 422
    assert "a choice field needs enum" in error_next_to(refused.text, f"a-{hours}-choices")
    assert "Attribute &#39;hours&#39; of relationship &#39;chauffeurs&#39;, choices" in refused.text
    form = Form(refused.text, form.action)
    form.set(f"a.{hours}.kind", "integer")
    form.set(f"a.{hours}.minimum", "0")
    form.set(f"r.{relation}.target", "team")  # the plan refuses: a relationship keeps its target
    refused = form.press(vehicles.client, "review")
    assert refused.status_code == 422
    # Said of the rename (the relationship's name) or of its target, as the core points.
    marked = [i for i in ("name", "target") if f'id="r-{relation}-{i}-error"' in refused.text]
    assert "keeps its target" in error_next_to(refused.text, f"r-{relation}-{marked[0]}")
    form = Form(refused.text, form.action)
    form.set(f"r.{relation}.target", "user")
    review = form.press(vehicles.client, "review")
    assert "rename relationship vehicle.drivers to &#39;chauffeurs&#39;" in review.text
    apply(vehicles, form)

    rel = xrm.metadata.get("vehicle").relationship("chauffeurs")
    assert [(a.name, a.label) for a in rel.attributes] == [
        ("since", "Driving since"),
        ("hours", "Hours"),
    ]
    [link] = xrm.records("vehicle").links(car["id"], "chauffeurs")
    assert str(link["since"]) == "2024-05-01" and link["hours"] is None
