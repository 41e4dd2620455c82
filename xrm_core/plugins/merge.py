"""Three-way merges: a plugin's new declarations over what the database has now.

An upgrade must not undo an administrator's work. Each merge takes three
versions of a thing: what the plugin shipped last time (*base*), what the
database holds now (*current*: the plugin's work plus everyone else's) and what
the plugin ships now (*new*). Part by part (each field, relationship, index,
annotation, privilege cell):

- the plugin changed it (new differs from base): the plugin's new version wins;
- the plugin left it as it was but the database differs: the database's stays
  (an administrator changed it);
- the plugin dropped it: it goes, unless the plugin never had it (then it is
  someone else's: an administrator's field, another plugin's extension) or the
  database changed it since (an administrator has made it theirs);
- the plugin added it: it comes.

Without a base (a first install), everything the plugin ships wins and
everything else in the database stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Doc = Mapping[str, Any]

#: ``x-xrm`` lists whose items are merged one by one, by their ``name``.
_NAMED_LISTS = ("relationships", "indexes", "alternate_keys")
_ABSENT = object()


def merge_entity(base: Doc | None, current: Doc | None, new: Doc) -> dict[str, Any]:
    """An entity definition: ``new`` merged over ``current`` from ``base`` (all normalized)."""
    if current is None:
        return dict(new)
    base = base or {}
    out = _merge_keys(base, current, new, skip=("properties", "required", "x-xrm"))
    out["properties"] = merge_named(
        base.get("properties", {}), current.get("properties", {}), new.get("properties", {})
    )
    out["required"] = merge_set(
        base.get("required", ()), current.get("required", ()), new.get("required", ())
    )
    out["required"] = [name for name in out["required"] if name in out["properties"]]
    if not out["required"]:
        del out["required"]
    base_x, new_x = base.get("x-xrm", {}), new.get("x-xrm", {})
    current_x = current.get("x-xrm", {})
    xrm = _merge_keys(base_x, current_x, new_x, skip=_NAMED_LISTS)
    for key in _NAMED_LISTS:
        merged = merge_named(
            _by_name(base_x.get(key, ())),
            _by_name(current_x.get(key, ())),
            _by_name(new_x.get(key, ())),
        )
        if merged:
            xrm[key] = list(merged.values())
    out["x-xrm"] = xrm
    return out


def extend_entity(base: Doc | None, current: Doc, new: Doc) -> dict[str, Any]:
    """An entity definition with an extension applied: ``new`` over ``current`` from ``base``.

    Extensions are ``{"properties", "required", "relationships"}`` documents;
    only the parts they name are touched.
    """
    base = base or {}
    out = dict(current)
    out["properties"] = merge_named(
        base.get("properties", {}), current.get("properties", {}), new.get("properties", {})
    )
    required = merge_set(
        base.get("required", ()), current.get("required", ()), new.get("required", ())
    )
    out["required"] = [name for name in required if name in out["properties"]]
    if not out["required"]:
        out.pop("required")
    xrm = dict(current.get("x-xrm", {}))
    relationships = merge_named(
        _by_name(base.get("relationships", ())),
        _by_name(xrm.get("relationships", ())),
        _by_name(new.get("relationships", ())),
    )
    xrm.pop("relationships", None)
    if relationships:
        xrm["relationships"] = list(relationships.values())
    out["x-xrm"] = xrm
    return out


def merge_named(base: Doc, current: Doc, new: Doc) -> dict[str, Any]:
    """Named parts (fields, relationships): current's order first, then new's additions."""
    out: dict[str, Any] = {}
    for name, value in current.items():
        if name in new:
            out[name] = pick(base.get(name, _ABSENT), value, new[name])
        elif name not in base or value != base[name]:
            out[name] = value  # never the plugin's, or an administrator's since
    for name, value in new.items():
        out.setdefault(name, value)
    return out


def merge_set(base: Iterable[str], current: Iterable[str], new: Iterable[str]) -> list[str]:
    """Members (required fields): the plugin's additions and removals over current's."""
    base_set, new_list = set(base), list(new)
    out = [m for m in current if m in new_list or m not in base_set]
    out += [m for m in new_list if m not in base_set and m not in out]
    return out


def pick(base: Any, current: Any, new: Any) -> Any:
    """One part: the database's when only it changed since ``base``, else the plugin's."""
    if base is not _ABSENT and new == base and current != base:
        return current
    return new


def _merge_keys(base: Doc, current: Doc, new: Doc, *, skip: Iterable[str]) -> dict[str, Any]:
    skipped = set(skip)
    out: dict[str, Any] = {}
    for key in [*current, *(k for k in new if k not in current)]:
        if key in skipped:
            continue
        if key in new:
            out[key] = pick(base.get(key, _ABSENT), current.get(key, _ABSENT), new[key])
            if out[key] is _ABSENT:
                del out[key]  # an administrator removed it and the plugin did not change it
        elif key not in base or current[key] != base[key]:
            out[key] = current[key]
    return out


def _by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {item["name"]: item for item in items if isinstance(item, Mapping) and "name" in item}
