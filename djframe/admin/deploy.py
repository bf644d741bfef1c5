"""Deploy-time settings of an existing pipeline, safe to run on every release (idempotent).

``set_replica_identity`` prepares PostgreSQL tables for change data capture;
``add_prov_column`` gives Manual tables declared before ``provenance.capture``
was on their hidden ``_prov`` column. Both default to a dry run and report what
they did (or would do), including the statements, in the reference's keys.
"""

from __future__ import annotations

import dataclasses

from djframe.define.declare import PROVENANCE
from djframe.errors import DataJointError, TransactionError


def planned_statements(backend, change) -> list[str]:
    """The DDL ``change(backend)`` would run, without running it (transaction control left out)."""
    with backend.recording() as statements:
        change(backend)
    return [s for s in statements if not backend.dialect.is_transaction_control(s)]


def set_replica_identity(target, mode: str = "full", dry_run: bool = True) -> dict:
    """``ALTER TABLE ... REPLICA IDENTITY FULL|DEFAULT`` on a schema's tables or one table (PostgreSQL)."""
    mode = str(mode).lower()
    if mode not in ("default", "full"):
        raise DataJointError(f"Replica identity mode {mode!r} is not supported; use 'full' or 'default'.")
    connection, tables = target_tables(target)
    ddl = [connection.backend.replica_identity_sql(schema, table, mode) for schema, table in tables]
    if not dry_run:
        refuse_in_transaction(connection)
        for statement in ddl:
            connection.backend.execute(statement)
    return {"tables_analyzed": len(tables), "tables_modified": 0 if dry_run else len(tables), "ddl": ddl}


def add_prov_column(target, dry_run: bool = True) -> dict:
    """Add the hidden ``_prov`` json column to the Manual tables of ``target`` that lack it."""
    connection, tables = target_tables(target)
    backend = connection.backend
    manual = [(s, t) for s, t in tables if connection.table_spec(s, t).tier == "manual"]
    report = {"tables_analyzed": len(manual), "tables_modified": 0, "columns_added": 0, "ddl": [], "details": []}
    if not dry_run:
        refuse_in_transaction(connection)
    for schema, table in manual:
        spec = connection.table_spec(schema, table)
        name = f"{schema}.{table}"
        if any(a.name == PROVENANCE.name for a in spec.attributes):
            report["details"].append({"table": name, "status": "already_present"})
            continue
        wanted = dataclasses.replace(spec, attributes=spec.attributes + (PROVENANCE,))
        report["ddl"] += planned_statements(backend, lambda b: b.alter_table(wanted, add=[PROVENANCE]))
        if not dry_run:
            backend.alter_table(wanted, add=[PROVENANCE])
            connection.forget(schema)
            report["tables_modified"] += 1
            report["columns_added"] += 1
        report["details"].append({"table": name, "status": "pending" if dry_run else "added"})
    return report


def target_tables(target) -> tuple:
    """(connection, [(schema, table)]) of a Schema's tables (hidden ones excluded) or of one table."""
    from djframe.tables.schema import Schema
    if isinstance(target, Schema):
        return target.connection, [(target.database, t) for t in target.list_tables()]
    table = target() if isinstance(target, type) else target
    if not hasattr(table, "table_name") or not hasattr(table, "database"):
        raise DataJointError(f"Expected a Schema or a table, got {type(target).__name__}.")
    return table.connection, [(table.database, table.table_name)]


def refuse_in_transaction(connection) -> None:
    if connection.in_transaction:
        raise TransactionError("Deploy steps change table definitions; run them outside a transaction.")
