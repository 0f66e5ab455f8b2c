"""The one error type of the data pipeline: always names the file, and the line and field when known."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad or missing input data. ``str(e)`` reads ``<file>:<line>: <field>: <message>``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field = path, line, field
        where = str(path) if path is not None else ""
        if line is not None:
            where += f":{line}"
        prefix = ": ".join(p for p in (where, f"field {field!r}" if field else "") if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
