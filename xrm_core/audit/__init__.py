"""The audit log: every change of a record or a definition, with who, when and what before.

Importing this package adds the ``xrm_audit`` table to the core's tables, so
the metadata service creates it with the others.
"""

from xrm_core.audit.log import (
    METADATA_OPERATIONS,
    RECORD_OPERATIONS,
    AuditEntry,
    AuditLog,
    AuditWriter,
    audit_table,
)
from xrm_core.audit.view import AuditView

__all__ = [
    "METADATA_OPERATIONS",
    "RECORD_OPERATIONS",
    "AuditEntry",
    "AuditLog",
    "AuditView",
    "AuditWriter",
    "audit_table",
]
