"""Rebuild a table's TableSpec (and so its Heading) from the database catalog.

The column comment carries the declared type as ``:type:comment``; columns
without a marker (foreign-key columns written by the reference client, native
types) get their type from the backend's reverse mapping of the SQL type.
"""

from __future__ import annotations

import re

from djframe.define.declare import tier_of
from djframe.errors import MissingTableError
from djframe.define.heading import Attribute
from djframe.define.spec import TableSpec
from djframe.define.types import parse_type

_MARKER = re.compile(r"^:([^:]+):(.*)$", re.S)
_TIMESTAMP_DEFAULT = re.compile(r"^(current_timestamp|now)\b", re.I)


def attribute_from_column(backend, col, lineage: str | None) -> Attribute:
    """One catalog column -> Attribute, reading the type marker from the comment."""
    marker = _MARKER.match(col.comment or "")
    if marker:
        core, comment = parse_type(marker.group(1), warn_native=False), marker.group(2)
    else:
        core, comment = backend.core_type_of(col.sql_type), col.comment or ""
    default, has_default, is_expr = _default(col)
    return Attribute(
        name=col.name, type=core, in_key=col.in_key, nullable=col.nullable,
        default=default, has_default=has_default or col.nullable, default_is_expression=is_expr,
        comment=comment, lineage=lineage, autoincrement=col.autoincrement,
        hidden=col.name.startswith("_"), sql_type=col.sql_type)


def _default(col) -> tuple[str | None, bool, bool]:
    """Catalog default text -> (literal, has_default, is expression)."""
    text = col.default
    if text is None or text.upper() == "NULL":
        return None, False, False
    if _TIMESTAMP_DEFAULT.match(text):
        return text.upper(), True, True
    m = re.match(r"^'((?:[^']|'')*)'(?:::.*)?$", text, re.S)
    if m:
        return m.group(1).replace("''", "'"), True, False
    return re.sub(r"::[\w\s\".]+$", "", text).strip("()"), True, False


def load_table_spec(backend, schema: str, table: str, *, foreign_keys=None, lineage=None) -> TableSpec:
    """Read one table's definition back from the catalog."""
    columns = backend.columns(schema, table)
    if not columns:
        raise MissingTableError(f"Table `{schema}`.`{table}` is not declared in the database. Declare it first "
                                "(its class under a dj.Schema), or check the names: schema.list_tables() lists "
                                "the tables there are.")
    if lineage is None:
        lineage = backend.read_lineage(schema)
    if foreign_keys is None:
        foreign_keys = backend.foreign_keys(schema)
    fks = tuple(fk for child, fk in foreign_keys if child == table)
    attributes = tuple(attribute_from_column(backend, c, lineage.get((table, c.name))) for c in columns)
    key = {a.name for a in attributes if a.in_key}
    fks = tuple(fk.__class__(fk.parent_schema, fk.parent_table, fk.attr_map,
                             nullable=any(attributes_by(attributes, c).nullable for c in fk.child_attributes),
                             in_key=set(fk.child_attributes) <= key) for fk in fks)
    return TableSpec(schema=schema, table_name=table, tier=tier_of(table), attributes=attributes,
                     foreign_keys=fks, indexes=tuple(backend.indexes(schema, table)),
                     comment=backend.table_comment(schema, table),
                     lineage={a.name: a.lineage for a in attributes if a.lineage})


def attributes_by(attributes, name) -> Attribute:
    return next(a for a in attributes if a.name == name)
