"""xRM core: entities declared as JSON Schema, stored as real tables, one record service."""

from xrm_core.errors import (
    AccessDenied,
    AuthenticationFailed,
    BrokenReference,
    BulkError,
    ConfirmationRequired,
    DefinitionError,
    DeleteRestricted,
    DuplicateRecord,
    Problem,
    QueryError,
    RecordNotFound,
    RecordValidationError,
    TooManyAttempts,
    UnknownEntity,
    VersionConflict,
    XRMError,
)
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, OnDelete
from xrm_core.metadata.plan import Plan, Safety, Step
from xrm_core.records.filters import And, Condition, Not, Or, where
from xrm_core.records.results import BulkResult, DeleteReport, Page, RowResult
from xrm_core.records.service import RecordService
from xrm_core.security.caller import Caller
from xrm_core.security.explain import Explanation
from xrm_core.xrm import XRM

__version__ = "0.1.0"

__all__ = [
    "XRM",
    "AccessDenied",
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
    "DuplicateRecord",
    "EntityDefinition",
    "Explanation",
    "FieldDefinition",
    "Kind",
    "Not",
    "OnDelete",
    "Or",
    "Page",
    "Plan",
    "Problem",
    "QueryError",
    "RecordNotFound",
    "RecordService",
    "RecordValidationError",
    "RowResult",
    "Safety",
    "Step",
    "TooManyAttempts",
    "UnknownEntity",
    "VersionConflict",
    "XRMError",
    "__version__",
    "where",
]
