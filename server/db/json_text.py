"""Matching a JSON column by its text, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from piccolo.columns.combination import WhereRaw


def names_in(json_column: str, value: str) -> WhereRaw:
    """The JSON in ``json_column`` (``table.column``) holds ``value`` as one of its strings:
    an alert's ``userId`` or ``assigneeIds``, a notification's recipients, an audit event's
    detail. Ids are unique strings, so their quoted text matches on both engines without
    parsing each row's JSON; the column is scanned, which only a rare act (a person's export
    or erasure) may. As a selected value (``.querystring.as_alias(...)``) it is the match's
    truth for each row."""
    return WhereRaw(f"CAST({json_column} AS TEXT) LIKE {{}}", f'%"{value}"%')
