"""``datajoint.lineage``: read and write a schema's ``~lineage`` rows (storage doc §9.1).

The reference's function API over the backend's lineage calls; writes drop the
connection's cached table headings of that schema, so the next heading shows them.
"""

from __future__ import annotations

from djframe.backends.base import LINEAGE_TABLE


def lineage_table_exists(connection, database: str) -> bool:
    return connection.backend.table_exists(database, LINEAGE_TABLE)


def ensure_lineage_table(connection, database: str) -> None:
    connection.backend.execute(connection.backend.lineage_table_spec(database))


def get_schema_lineages(connection, database: str) -> dict[str, str]:
    """``{"schema.table.attribute": lineage}`` for every row of the schema."""
    return {f"{database}.{t}.{a}": v for (t, a), v in connection.backend.read_lineage(database).items()}


def get_table_lineages(connection, database: str, table_name: str) -> dict[str, str]:
    """``{attribute: lineage}`` of one table (an empty dict when it has none)."""
    return {a: v for (t, a), v in connection.backend.read_lineage(database).items() if t == table_name}


def get_lineage(connection, database: str, table_name: str, attribute_name: str) -> str | None:
    return get_table_lineages(connection, database, table_name).get(attribute_name)


def insert_lineages(connection, database: str, entries) -> None:
    """Add or replace rows given as ``(table_name, attribute_name, lineage)``."""
    by_table: dict[str, dict[str, str]] = {}
    for table, attribute, lineage in entries:
        by_table.setdefault(table, {})[attribute] = lineage
    for table, rows in by_table.items():
        connection.backend.write_lineage(database, table, {**get_table_lineages(connection, database, table),
                                                            **rows})
    connection.forget(database)


def delete_table_lineages(connection, database: str, table_name: str) -> None:
    connection.backend.delete_lineage(database, table_name)
    connection.forget(database)


def rebuild_schema_lineage(connection, database: str) -> None:
    """Recompute the schema's rows from the foreign keys in the catalog (upstream schemas first)."""
    from djframe.tables.schema import Schema
    Schema(database, connection=connection, create_schema=False).rebuild_lineage()
    connection.forget(database)


__all__ = ["delete_table_lineages", "ensure_lineage_table", "get_lineage", "get_schema_lineages",
           "get_table_lineages", "insert_lineages", "lineage_table_exists", "rebuild_schema_lineage"]
