"""xRM core: entities declared as JSON Schema, stored as real tables, one record service."""

from xrm_core.errors import (
    AccessDenied,
    AuthenticationFailed,
    BrokenReference,
    BulkError,
    ConfirmationRequired,
    DefinitionError,
    DeleteRestricted,
    DependencyCycle,
    DuplicatePlugin,
    DuplicateRecord,
    InvalidDeclaration,
    InvalidHook,
    InvalidManifest,
    MissingDependency,
    PluginError,
    PluginVersionConflict,
    Problem,
    QueryError,
    RecordNotFound,
    RecordValidationError,
    TooManyAttempts,
    UnknownEntity,
    VersionConflict,
    XRMError,
)
from xrm_core.events.model import Event, Proposal, Subscriber
from xrm_core.hookspecs import hookimpl
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, OnDelete
from xrm_core.metadata.plan import Plan, Safety, Step
from xrm_core.plugins import (
    Action,
    AdminPanel,
    EntityExtension,
    Manifest,
    Migration,
    RolePrivilege,
    RoleSpec,
)
from xrm_core.records.filters import And, Condition, Not, Or, where
from xrm_core.records.results import BulkResult, DeleteReport, Page, RowResult
from xrm_core.records.service import RecordService
from xrm_core.security.caller import Caller
from xrm_core.security.explain import Explanation
from xrm_core.security.predicates import Rule
from xrm_core.version import __version__
from xrm_core.xrm import XRM

__all__ = [
    "XRM",
    "AccessDenied",
    "Action",
    "AdminPanel",
    "And",
    "AuthenticationFailed",
    "BrokenReference",
    "BulkError",
    "BulkResult",
    "Caller",
    "Condition",
    "ConfirmationRequired",
    "DefinitionError",
    "DeleteReport",
    "DeleteRestricted",
    "DependencyCycle",
    "DuplicatePlugin",
    "DuplicateRecord",
    "EntityDefinition",
    "EntityExtension",
    "Event",
    "Explanation",
    "FieldDefinition",
    "InvalidDeclaration",
    "InvalidHook",
    "InvalidManifest",
    "Kind",
    "Manifest",
    "Migration",
    "MissingDependency",
    "Not",
    "OnDelete",
    "Or",
    "Page",
    "Plan",
    "PluginError",
    "PluginVersionConflict",
    "Problem",
    "Proposal",
    "QueryError",
    "RecordNotFound",
    "RecordService",
    "RecordValidationError",
    "RolePrivilege",
    "RoleSpec",
    "RowResult",
    "Rule",
    "Safety",
    "Step",
    "Subscriber",
    "TooManyAttempts",
    "UnknownEntity",
    "VersionConflict",
    "XRMError",
    "__version__",
    "hookimpl",
    "where",
]
