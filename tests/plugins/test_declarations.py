"""Declarations refuse bad values when a plugin builds them, pointing at the attribute."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from xrm_core.errors import InvalidDeclaration
from xrm_core.plugins import (
    Action,
    AdminPanel,
    EntityExtension,
    Migration,
    RolePrivilege,
    RoleSpec,
    Subscriber,
)


class Empty(BaseModel):
    pass


def handler(*args: Any) -> Empty:
    """Does nothing."""
    return Empty()


def refused(build: Any) -> dict[str, str]:
    with pytest.raises(InvalidDeclaration) as caught:
        build()
    assert caught.value.code == "invalid_declaration"
    return {p.pointer: p.message for p in caught.value.problems}


@pytest.mark.parametrize(
    ("pattern", "event", "matches"),
    [
        ("contact.created", "contact.created", True),
        ("contact.created", "contact.updated", False),
        ("contact.*", "contact.created", True),
        ("contact.*", "contact", False),
        ("contact.*", "contact_role.created", False),
        ("*.created", "account.created", True),
        ("*.created", "sales.opportunity.created", True),
        ("*.created", "account.updated", False),
        ("sales.*", "sales.opportunity.won", True),
        ("sales.*.won", "sales.opportunity.won", True),
        ("sales.*.won", "sales.won", False),
        ("*", "anything.at.all", True),
    ],
)
def test_event_patterns_match_whole_segments(pattern: str, event: str, matches: bool) -> None:
    assert Subscriber("s", "after", pattern, handler).matches(event) is matches


def test_a_subscriber_filters_by_entity_and_fields() -> None:
    subscriber = Subscriber(
        "notify", "after", "*.updated", handler, entity="contact", fields={"email"}, order=-5
    )
    assert subscriber.fields == frozenset({"email"})
    assert subscriber.order == -5


def test_a_bad_subscriber_lists_every_problem() -> None:
    assert refused(
        lambda: Subscriber("Notify", "later", "contact.cre*", None, fields=["email"], order="1")  # type: ignore[arg-type]
    ) == {
        "/name": "bad subscriber name 'Notify': use lower snake_case, starting with a letter, "
        "at most 40 characters",
        "/stage": "unknown stage 'later'; one of validate, before, after, committed",
        "/event": "bad event pattern 'contact.cre*': dot-separated snake_case names or '*' "
        "(contact.*, *.created)",
        "/handler": "must be callable",
        "/fields": "fields filter only with an entity",
        "/order": "must be an integer",
    }


def test_a_role_takes_cells_or_tuples() -> None:
    role = RoleSpec("Sales Manager", "", [("lead", "read", "organization")])
    assert role.privileges == (RolePrivilege("lead", "read", "organization"),)
    assert (
        RoleSpec("Auditor", privileges=[("*", "read", "organization")]).privileges[0].entity == "*"
    )


def test_a_bad_role_is_refused_at_its_cell() -> None:
    assert refused(lambda: RolePrivilege("lead", "approve", "team")) == {
        "/privilege": "unknown privilege 'approve'; one of create, read, update, delete, "
        "assign, share",
        "/scope": "unknown scope 'team'; one of none, own, business_unit, subtree, organization",
    }
    assert refused(
        lambda: RoleSpec("Clerk", privileges=[("lead", "read", "own"), ("lead", "read", "subtree")])
    ) == {"/privileges/1": "'read' on 'lead' is given twice"}
    assert refused(lambda: RoleSpec(" ")) == {"/name": "a role name is 1 to 160 characters"}
    assert refused(lambda: RoleSpec("Clerk", privileges=[("lead", "read")])) == {  # type: ignore[list-item]
        "/privileges": "('lead', 'read') is not (entity, privilege, scope)"
    }


def test_an_extension_adds_fields_and_relationships() -> None:
    extension = EntityExtension(
        "account",
        {"credit_limit": {"x-xrm": {"kind": "money"}}},
        ["credit_limit"],
        [{"name": "partners", "target": "partner"}],
    )
    assert extension.required == ("credit_limit",)


def test_a_bad_extension_is_refused() -> None:
    assert refused(lambda: EntityExtension("Account")) == {
        "/entity": "bad entity name 'Account': use lower snake_case, starting with a letter, "
        "at most 40 characters",
        "": "an extension adds at least one field or relationship",
    }
    assert refused(
        lambda: EntityExtension(
            "account",
            {"Score": {}, "rank": "high"},  # type: ignore[dict-item]
            ("tier",),
            ({"name": "deals"},),
        )
    ) == {
        "/properties/Score": "bad field name 'Score': use lower snake_case, starting with a "
        "letter, at most 40 characters",
        "/properties/rank": "must be a field schema",
        "/required/0": "required field 'tier' is not added here",
        "/relationships/0/target": "bad target entity None: use lower snake_case, starting "
        "with a letter, at most 40 characters",
    }
    assert refused(lambda: EntityExtension.from_dict({"entity": "account", "fields": {}})) == {
        "/fields": "unknown key 'fields'"
    }
    assert refused(lambda: EntityExtension.from_dict({"properties": {}})) == {
        "": "missing required key 'entity'"
    }


def test_an_action_needs_models_a_handler_and_a_known_privilege() -> None:
    action = Action("lead", "qualify", Empty, Empty, handler, privilege="assign")
    assert (action.qualified_name, action.privilege) == ("lead.qualify", "assign")
    assert refused(lambda: Action("lead", "Qualify", dict, Empty(), None, "approve")) == {  # type: ignore[arg-type]
        "/name": "bad action name 'Qualify': use lower snake_case, starting with a letter, "
        "at most 40 characters",
        "/input_model": "must be a pydantic model class",
        "/output_model": "must be a pydantic model class",
        "/handler": "must be callable",
        "/privilege": "unknown privilege 'approve'; one of create, read, update, delete, "
        "assign, share",
    }


def test_a_bad_admin_panel_is_refused() -> None:
    assert refused(lambda: AdminPanel("Pipeline", "", "pipeline.html", entity="Lead")) == {  # type: ignore[arg-type]
        "/name": "bad panel name 'Pipeline': use lower snake_case, starting with a letter, "
        "at most 40 characters",
        "/title": "must not be empty",
        "/endpoint": "must be callable",
        "/entity": "bad entity name 'Lead': use lower snake_case, starting with a letter, "
        "at most 40 characters",
    }


@pytest.mark.parametrize("migration_id", ["0001_split_names", "2.0.0-move-notes", "a"])
def test_migration_ids_are_file_name_like(migration_id: str) -> None:
    assert Migration(migration_id, "after", handler).id == migration_id


def test_a_bad_migration_is_refused() -> None:
    assert refused(lambda: Migration("Split Names", "during", "run")) == {  # type: ignore[arg-type]
        "/id": "bad migration id 'Split Names': lower case, digits, _ . -",
        "/phase": "unknown phase 'during'; before or after",
        "/handler": "must be callable",
    }
    assert refused(lambda: Migration("m" * 101, "before", handler)) == {
        "/id": "at most 100 characters"
    }


def test_declarations_are_frozen() -> None:
    role = RoleSpec("Clerk")
    with pytest.raises(AttributeError):
        role.name = "Boss"  # type: ignore[misc]
