"""Explain a write the database refused: which key is duplicated, which parent is missing.

The database reports a constraint violation in its own words (and MySQL,
PostgreSQL and SQLite all differ); these helpers look at the rows that were
being written, after the transaction has been rolled back, and name the table,
the attributes and the values, with what to do about it.
"""

from __future__ import annotations

import pyarrow as pa

from djframe.errors import DataJointError
from djframe.query.expression import base_table

_PROBE = 250  # rows looked up per query when searching for the offending one
_PROBES = 8  # queries at most: the search explains an error, it must not outlast it


def duplicate_message(table, data: pa.Table, error, *, update=False) -> str:
    """The duplicated primary key or unique-index value: within the rows, or already stored.

    ``update``: the row itself is stored, so only unique indexes can collide.
    """
    text = f"Duplicate entry in {table.full_table_name}"
    try:
        found = _find_duplicate(table, data, update)
    except DataJointError:  # the search must not hide the original error
        found = None
    if found is None:
        return f"{text}: {error}. Check the primary key and the unique indexes of the table."
    what, value, stored = found
    if not stored:
        return (f"{text}: {what} {value} appears twice in the rows being written. Remove one of them"
                + (", or pass skip_duplicates=True to keep the first." if what == "key" else "."))
    if what == "key":
        return (f"{text}: key {value} already exists. To ignore duplicate entries in insert, set "
                "skip_duplicates=True (or replace=True to overwrite the stored row).")
    return f"{text}: {what} value {value} is already used by another row. Use a different value: the index allows " \
        "each value once."


def _find_duplicate(table, data, update):
    """(what, value, already stored) of the first clash, or None."""
    for columns, what in list(_unique_column_sets(table, data))[update:]:
        found = _repeated(data, columns)
        if found is not None:
            return what, found, False
        found = _stored(table, data, columns)
        if found is not None:
            return what, found, True
    return None


def _unique_column_sets(table, data):
    """The primary key, then each unique index, restricted to what the rows give."""
    yield table.primary_key, "key"
    for index in table.spec.indexes:
        if index.unique and all(c in data.column_names for c in index.columns):
            yield list(index.columns), f"unique index ({', '.join(index.columns)})"


def _repeated(data: pa.Table, columns):
    import polars as pl
    if not columns or not all(c in data.column_names for c in columns):
        return None
    frame = pl.from_arrow(data.select(columns)).drop_nulls()
    dup = frame.filter(frame.is_duplicated())
    return dup.row(0, named=True) if len(dup) else None


def _stored(table, data: pa.Table, columns):
    if not columns or not all(c in data.column_names for c in columns):
        return None
    source = table.proj(*[c for c in columns if c not in table.primary_key])
    for chunk in _distinct_chunks(data, columns):
        hits = (source & chunk).to_dicts(limit=1)
        if hits:
            return {c: hits[0][c] for c in columns}
    return None


def _distinct_chunks(data: pa.Table, columns):
    """The distinct non-null value combinations of `columns`, as lists of dicts to restrict by (the first
    _PROBES chunks only)."""
    import polars as pl
    rows = pl.from_arrow(data.select(columns)).drop_nulls().unique(maintain_order=True).to_dicts()
    for start in range(0, min(len(rows), _PROBE * _PROBES), _PROBE):
        yield rows[start:start + _PROBE]


def missing_parent_message(table, data: pa.Table, error, verb="insert into") -> str:
    """The first row whose foreign key finds no parent row."""
    try:
        found = _find_orphan(table, data)
    except DataJointError:  # the search must not hide the original error
        found = None
    if found is None:
        return (f"Cannot {verb} {table.full_table_name}: a foreign key has no matching parent row ({error}). Insert "
                "the parent rows first.")
    parent, row, fk = found
    return (f"Cannot {verb} {table.full_table_name}: the parent table {parent} has no row {row} "
            f"(foreign key {fk.child_attributes}). Insert the parent row first, or correct the value.")


def _find_orphan(table, data):
    """(parent table's full name, parent key, foreign key) of the first row without a parent, or None."""
    for fk in table.spec.foreign_keys:
        if not all(c in data.column_names for c in fk.child_attributes):
            continue
        parent = base_table(table.connection, fk.parent_schema, fk.parent_table)
        renamed = data.select(fk.child_attributes).rename_columns(fk.parent_attributes)
        for chunk in _distinct_chunks(renamed, fk.parent_attributes):
            found = {tuple(k[p] for p in fk.parent_attributes) for k in (parent & chunk).keys()}
            for r in chunk:
                if tuple(r[p] for p in fk.parent_attributes) not in found:
                    return table.connection.backend.full_name(fk.parent_schema, fk.parent_table), r, fk
    return None


def query_duplicate_message(table, query, error) -> str:
    """INSERT ... SELECT hit a stored key: name the first one."""
    try:
        key = (table.proj() & query.proj()).keys(limit=1)
    except Exception:  # a query that cannot be matched semantically: fall back to the server's words
        key = []
    where = f"key {key[0]} already exists" if key else f"the rows collide with stored ones ({error})"
    return (f"Duplicate entry in {table.full_table_name} when inserting from a query: {where}. Pass "
            "skip_duplicates=True to skip such rows, or restrict the query.")
