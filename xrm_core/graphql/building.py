"""Making Strawberry types at run time, from metadata rather than from class statements.

Strawberry reads types from Python classes; metadata arrives as data. A
:class:`Draft` is a bare class that fields are added to one by one (GraphQL
names that are Python keywords, such as ``in``, get an escaped attribute), and
that becomes a Strawberry object or input type when :meth:`Draft.finish` is
called. Types may refer to each other before they are finished: Strawberry
resolves annotations when the schema is built.

Resolvers are ordinary functions whose annotations are set here
(:func:`annotate`), because the types of their arguments and results exist
only once the metadata is read. Strawberry's types are dynamic, so this module
and its callers speak of them as ``Any``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types.unset import UNSET

from xrm_core.graphql.names import python_name, unescape


class Draft:
    """A GraphQL object or input type under construction."""

    def __init__(self, name: str, description: str | None = None) -> None:
        self.name = name
        self.description = description
        self.annotations: dict[str, Any] = {}
        # The class Strawberry will read: annotations are filled in by add().
        self.cls: Any = type(name, (), {"__annotations__": self.annotations})
        self.finished = False
        self.fields = 0

    def add(
        self,
        name: str,
        annotation: Any = None,
        *,
        resolver: Callable[..., Any] | None = None,
        description: str | None = None,
    ) -> None:
        """Add the field ``name``: a value of ``annotation``, or what ``resolver`` returns.

        Input fields default to unset, so that "not given" and ``null`` differ.
        """
        attribute = python_name(name)
        if resolver is not None:
            field = strawberry.field(resolver=resolver, name=name, description=description)
        else:
            self.annotations[attribute] = annotation
            field = strawberry.field(name=name, default=UNSET, description=description)
        setattr(self.cls, attribute, field)
        self.fields += 1

    def finish(self, *, input: bool = False) -> Any:
        """The class as a Strawberry type (an input type with ``input``)."""
        if not self.finished:
            wrap = strawberry.input if input else strawberry.type
            self.cls = wrap(self.cls, name=self.name, description=self.description)
            self.finished = True
        return self.cls


def annotate(function: Callable[..., Any], returns: Any, **arguments: Any) -> Callable[..., Any]:
    """``function`` (taking ``root``, ``info`` and ``arguments``) with its annotations set."""
    function.__annotations__ = {
        "root": Any,
        "info": strawberry.Info,
        **arguments,
        "return": returns,
    }
    return function


def list_of(item: Any) -> Any:
    """The annotation of a list of ``item`` (a type made at run time)."""
    return list[item]


def make_enum(name: str, values: tuple[str, ...], description: str | None = None) -> Any:
    """A GraphQL enum whose values are ``values`` (each a valid enum value name)."""
    members = enum.Enum(name, {v: v for v in values})  # type: ignore[misc]  # functional API
    return strawberry.enum(members, name=name, description=description)


def given(value: Any) -> dict[str, Any]:
    """The fields set on an input object, by GraphQL name (unset ones left out)."""
    return {
        unescape(attribute): item
        for attribute, item in vars(value).items()
        if item is not UNSET and not attribute.startswith("_")
    }


def plain(value: Any) -> Any:
    """An input value with enum members replaced by their values (lists too)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
