"""Schema upgrades for tables declared before a feature existed (the reference's ``dj.migrate`` names).

``add_job_metadata_columns`` gives Imported/Computed tables the hidden ``_job_*``
columns that ``jobs.add_job_metadata`` adds at declaration; ``rebuild_lineage``
recomputes ``~lineage`` from the foreign keys. Both default to a dry run. The
0.14-to-2.0 converters of the reference (blob markers, external tables) are not
provided: djframe reads only 2.x layouts.
"""

from __future__ import annotations

import dataclasses

from djframe.define.declare import JOB_METADATA
from djframe.admin.deploy import planned_statements, refuse_in_transaction, target_tables

__all__ = ["add_job_metadata_columns", "rebuild_lineage"]


def add_job_metadata_columns(target, dry_run: bool = True) -> dict:
    """Add the missing ``_job_start_time``, ``_job_duration``, ``_job_version`` columns to the
    Imported and Computed (master) tables of a schema, or to one table."""
    connection, tables = target_tables(target)
    backend = connection.backend
    auto = [(s, t) for s, t in tables if connection.table_spec(s, t).tier in ("imported", "computed")]
    report = {"tables_analyzed": len(auto), "tables_modified": 0, "columns_added": 0, "details": []}
    if not dry_run:
        refuse_in_transaction(connection)
    for schema, table in auto:
        spec = connection.table_spec(schema, table)
        have = {a.name for a in spec.attributes}
        missing = [a for a in JOB_METADATA if a.name not in have]
        entry = {"table": f"{schema}.{table}", "columns_added": 0}
        report["details"].append(entry)
        if not missing:
            entry["status"] = "already_migrated"
            continue
        wanted = dataclasses.replace(spec, attributes=spec.attributes + tuple(missing))
        entry["sql_statements"] = planned_statements(backend, lambda b: b.alter_table(wanted, add=missing))
        if dry_run:
            entry["status"] = "pending"
            continue
        backend.alter_table(wanted, add=missing)
        connection.forget(schema)
        entry.update(status="migrated", columns_added=len(missing))
        report["tables_modified"] += 1
        report["columns_added"] += len(missing)
    return report


def rebuild_lineage(schema, dry_run: bool = True) -> dict:
    """Recompute the schema's ``~lineage`` rows from its foreign keys."""
    lineage = schema.computed_lineage()
    report = {"tables_analyzed": len(lineage), "lineage_entries": sum(map(len, lineage.values()))}
    if dry_run:
        return {**report, "status": "dry_run"}
    refuse_in_transaction(schema.connection)
    schema.rebuild_lineage()
    return {**report, "status": "rebuilt"}
