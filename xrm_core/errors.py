"""One hierarchy of errors for the whole core.

Every error has a stable ``code`` (interfaces map it to HTTP problem details,
GraphQL errors and CLI exit codes), a plain message, and, where the input was
at fault, a list of :class:`Problem` entries that point into that input with a
JSON pointer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located by a JSON pointer (RFC 6901)."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


#: Longer input is cut: a message names the culprit, it does not echo a whole payload.
SHOWN_LIMIT = 80


def shown(value: Any) -> str:
    """Caller input quoted in an error message: ``repr(value)``, cut to 80 characters.

    Never an error itself.
    """
    try:
        text = repr(value)
    except ValueError:
        # An int of more than 4300 digits has no text form unless asked for (CVE-2020-10735).
        return "<a number too large to show>"
    except RecursionError:
        return "<a value nested too deep to show>"
    return text if len(text) <= SHOWN_LIMIT else text[: SHOWN_LIMIT - 3] + "..."


def pointer(*parts: str | int) -> str:
    """Build a JSON pointer from path parts, escaping ``~`` and ``/``."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "".join("/" + p for p in escaped)


class XRMError(Exception):
    """Base of every error the core raises on purpose."""

    code = "xrm_error"

    def __init__(
        self,
        message: str,
        problems: Iterable[Problem] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.problems = tuple(problems)
        self.details = dict(details or {})
        super().__init__(message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"{self.message}\n{lines}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, shared by every interface."""
        return {
            "code": self.code,
            "message": self.message,
            "problems": [{"pointer": p.pointer, "message": p.message} for p in self.problems],
            **({"details": dict(self.details)} if self.details else {}),
        }


class DefinitionError(XRMError):
    """An entity definition is invalid; ``problems`` lists every fault."""

    code = "invalid_definition"


class UnknownEntity(XRMError):
    """No entity of that name is defined."""

    code = "unknown_entity"


class ConfirmationRequired(XRMError):
    """A plan loses data or breaks callers and was not confirmed."""

    code = "confirmation_required"


class RecordValidationError(XRMError):
    """A record does not satisfy its entity definition."""

    code = "invalid_record"


class QueryError(XRMError):
    """A filter, sort, field selection or aggregate is not valid for the entity."""

    code = "invalid_query"


class RecordNotFound(XRMError):
    """No record with that id exists."""

    code = "record_not_found"


class VersionConflict(XRMError):
    """The record changed since the caller read it (optimistic concurrency)."""

    code = "version_conflict"


class DuplicateRecord(XRMError):
    """A unique field or alternate key already holds that value."""

    code = "duplicate_record"


class BrokenReference(XRMError):
    """A lookup points at a record that does not exist."""

    code = "broken_reference"


class DeleteRestricted(XRMError):
    """A delete is blocked: by a relationship whose delete behaviour is restrict, or
    because the core finds the record by name (a built-in role)."""

    code = "delete_restricted"


class BulkError(XRMError):
    """An all-or-nothing bulk operation failed; nothing was written.

    ``problems`` point at the failing rows (``/3/email``).
    """

    code = "bulk_failed"


class AccessDenied(XRMError):
    """The caller lacks a privilege (or a field permission) for what it asked."""

    code = "access_denied"


class AuthenticationFailed(XRMError):
    """Credentials (a password, an API token) were wrong, expired or revoked."""

    code = "authentication_failed"


class TooManyAttempts(XRMError):
    """Repeated failed logins: try again after ``details['retry_after']`` seconds."""

    code = "too_many_attempts"


class PluginError(XRMError):
    """A plugin cannot be loaded, installed or used as it is."""

    code = "plugin_error"


class InvalidManifest(PluginError):
    """A plugin's manifest does not satisfy ``schemas/plugin-manifest.schema.json``.

    ``problems`` point into the manifest (``/dependencies/contacts``).
    """

    code = "invalid_manifest"


class InvalidHook(PluginError):
    """A plugin implements a hook that does not exist, or with the wrong arguments."""

    code = "invalid_hook"


class InvalidDeclaration(PluginError):
    """Something a plugin declares through a hook (a role, a subscriber, ...) is not valid."""

    code = "invalid_declaration"


class DuplicatePlugin(PluginError):
    """Two plugins have the same name."""

    code = "duplicate_plugin"


class MissingDependency(PluginError):
    """A plugin needs another plugin that is not installed."""

    code = "missing_dependency"


class PluginVersionConflict(PluginError):
    """A plugin needs a version of another plugin, or of the core, that is not the one present."""

    code = "plugin_version_conflict"


class DependencyCycle(PluginError):
    """Plugins depend on each other in a circle, so none can be installed first."""

    code = "dependency_cycle"


class UnknownPlugin(PluginError):
    """No plugin of that name is available (not found among installed packages)."""

    code = "unknown_plugin"


class PluginStateError(PluginError):
    """The plugin is not in a state for that: not installed, already installed, a downgrade."""

    code = "plugin_state"


class PluginInUse(PluginError):
    """Other installed (or enabled) plugins depend on it; ``details["plugins"]`` names them."""

    code = "plugin_in_use"


class OwnershipConflict(PluginError):
    """A plugin declares an entity, field or role that someone else owns."""

    code = "ownership_conflict"


class UnknownAction(XRMError):
    """No action of that name (``entity.name``) is registered."""

    code = "unknown_action"


class InvalidActionInput(XRMError):
    """An action's input does not satisfy its input model; ``problems`` point into it."""

    code = "invalid_action_input"


class InvalidActionOutput(PluginError):
    """An action's handler returned something its output model refuses (a plugin bug)."""

    code = "invalid_action_output"


class InvalidRequest(XRMError):
    """An API request's parameters or body are not what the endpoint takes.

    ``problems`` point at the culprit: into the JSON body (``/confirm``), or
    at a query parameter by its name (``/limit``).
    """

    code = "invalid_request"


class UploadInterrupted(XRMError):
    """An uploaded body ended before it was complete (the client went away).

    What an import committed before stays, and the import can be resumed.
    """

    code = "upload_interrupted"


class InvalidFile(XRMError):
    """A file to import or export cannot be used: unreadable, not UTF-8, a bad header.

    ``problems`` point at the culprit (``/header/2`` for the third column).
    """

    code = "invalid_file"


class ImportRejected(XRMError):
    """An all-or-nothing import found bad rows; nothing was written.

    ``details`` hold the import's ``import_id`` and the count of ``rejected`` rows;
    every bad row, with its reasons, is in the import's report.
    """

    code = "import_rejected"


class ImportStateError(XRMError):
    """An import cannot continue: finished, of another file, or continued elsewhere."""

    code = "import_state"
