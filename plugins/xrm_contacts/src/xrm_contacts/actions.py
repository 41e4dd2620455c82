"""The plugin's actions: timeline, find_duplicates and merge, served to every interface."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field
from xrm_core import Action, ActionContext

from xrm_contacts.duplicates import Duplicate, find_duplicates
from xrm_contacts.merge import MergeReport, merge
from xrm_contacts.timeline import TimelineItem, timeline


class TimelineInput(BaseModel):
    """How many of the newest items to return."""

    limit: int = Field(50, ge=1, le=500)


class TimelineOutput(BaseModel):
    """A record's timeline, newest first."""

    items: list[TimelineItem]


class FindDuplicatesInput(BaseModel):
    """How many possible duplicates to return at most."""

    limit: int = Field(10, ge=1, le=100)


class FindDuplicatesOutput(BaseModel):
    """Records that look like this one, best matches first, with the reasons."""

    duplicates: list[Duplicate]


class MergeInput(BaseModel):
    """The record to merge into this one (it is deleted)."""

    duplicate: uuid.UUID


def _timeline(context: ActionContext, record_id: uuid.UUID | None, data: Any) -> TimelineOutput:
    assert record_id is not None  # a record action always has one
    items = timeline(context.xrm, context.action.entity, record_id, limit=data.limit)
    return TimelineOutput(items=items)


def _find(context: ActionContext, record_id: uuid.UUID | None, data: Any) -> FindDuplicatesOutput:
    record = context.record()
    found = find_duplicates(
        context.xrm, context.action.entity, record, exclude=record["id"], limit=data.limit
    )
    return FindDuplicatesOutput(duplicates=found)


def _merge(context: ActionContext, record_id: uuid.UUID | None, data: Any) -> MergeReport:
    assert record_id is not None
    return merge(context.xrm, context.action.entity, record_id, data.duplicate)


def timeline_action(entity: str) -> Action:
    """The ``<entity>.timeline`` action; another plugin may declare it for its own entities."""
    return Action(
        entity,
        "timeline",
        TimelineInput,
        TimelineOutput,
        _timeline,
        privilege="read",
        description="The record's activities and audited changes, newest first.",
    )


def actions() -> list[Action]:
    """Every action the contacts plugin declares."""
    declared = [timeline_action(e) for e in ("account", "contact", "activity")]
    for entity in ("account", "contact"):
        declared.append(
            Action(
                entity,
                "find_duplicates",
                FindDuplicatesInput,
                FindDuplicatesOutput,
                _find,
                privilege="read",
                description=f"Other {entity}s with the same email or phone, or a similar name.",
            )
        )
        declared.append(
            Action(
                entity,
                "merge",
                MergeInput,
                MergeReport,
                _merge,
                privilege="update",
                description=(
                    f"Merge another {entity} into this one: what points at it moves here, "
                    "empty fields are filled from it, then it is deleted."
                ),
            )
        )
    return declared
