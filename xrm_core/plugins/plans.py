"""Plugin plans: what an install, upgrade or uninstall would do, step by step.

Each step says which plugin it is for and how risky it is (``safe``, ``breaking``,
``destructive``), as schema plans do; a destructive plan needs confirming.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from xrm_core.errors import ConfirmationRequired, Problem, pointer
from xrm_core.metadata.plan import Safety, Step
from xrm_core.plugins.planning import Declared

Operation = Literal["install", "upgrade", "uninstall", "enable", "disable"]
#: What uninstalling does with the plugin's data.
DataChoice = Literal["keep", "export", "drop"]
DATA_CHOICES: tuple[DataChoice, ...] = get_args(DataChoice)


@dataclass(frozen=True)
class PluginStep:
    """One step of a plugin plan, with how risky it is."""

    plugin: str
    action: str
    safety: Safety
    description: str
    entity: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "plugin": self.plugin,
            "action": self.action,
            "safety": str(self.safety),
            "description": self.description,
            "entity": self.entity,
            "field": self.field,
        }


@dataclass(frozen=True)
class PluginPlan:
    """What an operation does to which plugins; ``applied`` once it has been done."""

    operation: Operation
    #: (name, version before or None, version after or None), in the order handled.
    plugins: tuple[tuple[str, str | None, str | None], ...]
    steps: tuple[PluginStep, ...]
    applied: bool = False
    #: Files holding data the operation exported or dropped (dropped data is exported first).
    exports: tuple[str, ...] = ()

    @property
    def safety(self) -> Safety:
        """The riskiest step's class."""
        return max((s.safety for s in self.steps), default=Safety.SAFE)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "operation": self.operation,
            "plugins": [{"name": n, "from": a, "to": b} for n, a, b in self.plugins],
            "safety": str(self.safety),
            "applied": self.applied,
            "steps": [s.to_dict() for s in self.steps],
            "exports": list(self.exports),
        }

    def __str__(self) -> str:
        head = ", ".join(
            f"{self.operation} {n}" + (f" {a} -> {b}" if a and b else f" {b or a}")
            for n, a, b in self.plugins
        )
        lines = [head] + [f"  [{s.safety}] {s.plugin}: {s.description}" for s in self.steps]
        return "\n".join(lines)


def require_confirmation(plan: PluginPlan, confirm: bool) -> None:
    if plan.safety is Safety.DESTRUCTIVE and not confirm:
        raise ConfirmationRequired(
            "this plan drops data; confirm it to go ahead (dropped values are exported)",
            [
                Problem(pointer(s.plugin, s.entity or "", s.field or ""), s.description)
                for s in plan.steps
                if s.safety is Safety.DESTRUCTIVE
            ],
            {"plan": plan.to_dict()},
        )


def nothing_to_do(plan: PluginPlan) -> bool:
    """An upgrade to the version installed, with no step: nothing to write, not even history."""
    return (
        plan.operation == "upgrade" and not plan.steps and all(a == b for _, a, b in plan.plugins)
    )


def migration_steps(plugin: Declared, ran: set[str], phase: str) -> list[PluginStep]:
    when = "before" if phase == "before" else "after"
    return [
        PluginStep(
            plugin.name,
            "run_migration",
            Safety[m.safety.upper()],
            f"run data migration {m.id!r} {when} the schema changes"
            + (f": {m.description}" if m.description else ""),
        )
        for m in plugin.migrations
        if m.phase == phase and m.id not in ran
    ]


def extension_steps(entity: str, batch: Sequence[Declared]) -> list[PluginStep]:
    """What other plugins of the batch add to an entity created with their additions."""
    steps = []
    for plugin in batch:
        ext = plugin.extensions.get(entity, {})
        for name in ext.get("properties", {}):
            description = f"add field {entity}.{name}"
            steps.append(
                PluginStep(plugin.name, "add_field", Safety.SAFE, description, entity, name)
            )
        for rel in ext.get("relationships", ()):
            description = f"add relationship {entity}.{rel['name']} to {rel['target']!r}"
            steps.append(
                PluginStep(plugin.name, "add_relationship", Safety.SAFE, description, entity)
            )
    return steps


def schema_step(plugin: str, step: Step) -> PluginStep:
    return PluginStep(plugin, step.action, step.safety, step.description, step.entity, step.field)


def owner_of_step(step: Step, batch: Sequence[Declared], metadata: Any) -> str:
    """Which plugin of the batch a schema step is for (the extender, for an added field)."""
    for plugin in reversed(batch):
        ext = plugin.extensions.get(step.entity, {})
        names = set(ext.get("properties", {})) | {r["name"] for r in ext.get("relationships", ())}
        if step.field in names:
            return plugin.name
    for plugin in batch:
        if step.entity in plugin.entities or step.entity in plugin.base("entities"):
            return plugin.name
    return batch[-1].name if batch else str(metadata.owner(step.entity))


def plan_of(plan: PluginPlan, plugin: str) -> dict[str, Any]:
    doc = plan.to_dict()
    doc["steps"] = [s for s in doc["steps"] if s["plugin"] == plugin]
    return doc
