"""The :class:`XRM` object: one database, its metadata and its records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from xrm_core.metadata.service import MetadataService
from xrm_core.records.service import RecordService
from xrm_core.storage.database import Database


class XRM:
    """Entry point of the Python API.

    >>> xrm = XRM.from_url("sqlite://")
    >>> plan = xrm.metadata.define({
    ...     "x-xrm": {"name": "contact"},
    ...     "properties": {"name": {"type": "string", "maxLength": 100}},
    ...     "required": ["name"],
    ... })
    >>> print(plan)
    [safe] create entity 'contact'
    >>> ada = xrm.records("contact").create({"name": "Ada"})
    >>> xrm.records("contact").get(ada["id"])["name"]
    'Ada'
    """

    def __init__(self, db: Database, *, export_dir: Path | str | None = None) -> None:
        self.db = db
        self.metadata = MetadataService(db, Path(export_dir or Path.cwd() / "xrm-exports"))

    @classmethod
    def from_url(
        cls, url: str, *, export_dir: Path | str | None = None, **engine_options: Any
    ) -> XRM:
        """Open (and prepare) the database at a SQLAlchemy URL.

        ``sqlite:///xrm.db`` is the embedded default; ``postgresql+psycopg://...``
        for production. ``export_dir`` receives values that schema changes drop.
        """
        return cls(Database.from_url(url, **engine_options), export_dir=export_dir)

    def records(self, entity: str) -> RecordService:
        """The record service of ``entity``; raises :class:`~xrm_core.errors.UnknownEntity`."""
        return RecordService(self.db, self.metadata, entity)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A unit of work: every record call inside commits or rolls back together."""
        with self.db.transaction() as conn:
            yield conn

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()
