"""Streamed import and export of records (CSV and JSON Lines), through the record service."""

from xrm_core.transfer.exporter import ExportResult, Exports
from xrm_core.transfer.formats import FORMATS, Format
from xrm_core.transfer.importer import DEFAULT_BATCH, Imports, Progress
from xrm_core.transfer.jobs import MODES, ImportJob, Mode, Rejection

__all__ = [
    "DEFAULT_BATCH",
    "FORMATS",
    "MODES",
    "ExportResult",
    "Exports",
    "Format",
    "ImportJob",
    "Imports",
    "Mode",
    "Progress",
    "Rejection",
]
