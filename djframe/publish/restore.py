"""Restore: re-create an export in a target schema, all rows in one transaction.

Restoring declares the tables from the manifest's definitions (topological
order), copies the objects back, and loads all rows in one transaction. Object
paths move into the target schema's sections (see `objects`). The manifest is never
evaluated as Python: foreign-key references are looked up in its ``references`` map.
"""

from __future__ import annotations

import ast
import logging
import re

import pyarrow as pa
import pyarrow.parquet as pq

from djframe.errors import DataJointError, TransactionError
from djframe.publish.manifest import progress_bar, read_manifest, verify_export
from djframe.publish.objects import Relocation, copy_objects_in, join, objects_to_copy, relocated_json, store_map
from djframe.query.frames import BATCH_ROWS, filesystem
from djframe.write.insert import ingest

logger = logging.getLogger("djframe")


def restore(source, schema, *, objects_store=None, skip_duplicates=False, progress=None, connection=None) -> dict:
    """Re-create an export in ``schema`` (a schema name or Schema, or {source schema name: name or
    Schema} for multi-schema exports); return {table full name: rows loaded}.

    A schema given by name is reached through ``connection`` (default: ``dj.conn()``) and created
    if missing, once the export's checksums are verified.

    Checksums of every file are verified first: a mismatch raises naming the file and
    changes nothing. Missing tables are declared, objects copied into the store named in
    each record (or ``objects_store``: a store name, or {recorded name: store name}, which
    also rewrites the ``store`` in the rows' JSON), then all rows load in one transaction.
    If anything fails, the rows are rolled back, and the tables and objects this restore
    created are removed again.

    Objects land in the target schema's own sections of the store (``_hash/<schema>/...``,
    ``_schema/<schema>/...``) and the rows' JSON is rewritten to match, so the restored schema
    owns its objects, even in the store the source uses: the garbage collector of either schema
    leaves the other's alone.
    """
    fs, root = filesystem(source)
    manifest = read_manifest(source)
    connection = _target_connection(schema, connection)
    if connection.in_transaction:
        raise TransactionError("Cannot restore inside a transaction: restore declares tables, which would commit "
                               "it. Commit or cancel the transaction first; restore runs its own.")
    verify_export(source, manifest=manifest)  # before anything changes
    targets = _targets(manifest, schema, connection)
    connection = next(iter(targets.values())).connection
    relocate = Relocation(store_map(manifest, objects_store),
                           {name: target.database for name, target in targets.items()}, connection.config)
    entries = _restore_order(manifest)
    for e in entries:
        _check_existing(connection, e, targets)
    pending = objects_to_copy(fs, root, manifest, relocate)
    declared, written, loaded = [], [], {}
    try:
        for e in entries:
            if _declare(connection, e, targets):
                declared.append(e)
        copy_objects_in(fs, root, pending, written)
        with connection.transaction:
            for e in progress_bar(entries, "restore", progress):
                table = _target_table(connection, e, targets)
                loaded[table.full_table_name] = _load(fs, root, e, table, relocate, skip_duplicates)
    except BaseException as error:
        _undo(connection, declared, written, targets)
        if isinstance(error, DataJointError):
            raise type(error)(f"Restore from {source} failed; nothing was restored. {error}") from error
        if isinstance(error, Exception):
            raise DataJointError(f"Restore from {source} failed; nothing was restored: "
                                 f"{type(error).__name__}: {error}") from error
        raise
    connection.forget()
    return loaded


def _target_connection(schema, connection):
    """The connection a restore uses: that of the (first) target Schema, else the one given or dj.conn()."""
    from djframe.tables.schema import Schema
    given = list(schema.values()) if isinstance(schema, dict) else [schema]
    for target in given:
        _check_target_kind(target)
    for target in given:
        if isinstance(target, Schema) and target.connection is not None:
            return target.connection
    if connection is not None:
        return connection
    from djframe.connection import conn
    return conn()


def _as_schema(target, connection):
    """A target given by name becomes the Schema of that name (created if missing)."""
    from djframe.tables.schema import Schema
    _check_target_kind(target)
    return Schema(target, connection=connection) if isinstance(target, str) else target


def _check_target_kind(target):
    from djframe.tables.schema import Schema
    if not isinstance(target, (str, Schema)):
        raise DataJointError(f"restore() takes a target schema as a name or a dj.Schema, got "
                             f"{type(target).__name__} {target!r}; for several exported schemas pass "
                             "{exported schema name: name or Schema}.")


def _targets(manifest, schema, connection) -> dict:
    """{source schema name: target Schema}; one Schema (or name) takes every exported schema."""
    names = manifest["schemas"]
    if not isinstance(schema, dict):
        tables = [e["table"] for e in manifest["tables"]]
        clash = sorted({t for t in tables if tables.count(t) > 1})
        if clash:
            raise DataJointError(f"The export holds tables of several schemas with the same name(s) {clash}; pass "
                                 "schema={source schema name: target name or dj.Schema} to restore each into its "
                                 "own.")
        schema = _as_schema(schema, connection)
        return {n: schema for n in names}
    missing = [n for n in names if n not in schema]
    if missing:
        raise DataJointError(f"No target schema given for exported schema(s) {missing}; add them to the dict.")
    return {n: _as_schema(schema[n], connection) for n in names}


def _restore_order(manifest) -> list:
    """The manifest's tables, parents first (checked, not trusted)."""
    import networkx as nx
    graph = nx.DiGraph()
    by_node = {(e["schema"], e["table"]): e for e in manifest["tables"]}
    graph.add_nodes_from(by_node)
    for node, e in by_node.items():
        for fk in e["foreign_keys"]:
            if tuple(fk["parent"]) in by_node:
                graph.add_edge(tuple(fk["parent"]), node)
    try:
        return [by_node[n] for n in nx.lexicographical_topological_sort(graph, key=lambda n: f"{n[0]}.{n[1]}")]
    except nx.NetworkXUnfeasible:
        raise DataJointError("The export's foreign keys form a cycle; the manifest is damaged.") from None


def _target_table(connection, entry, targets):
    from djframe.tables.table import FreeTable
    return FreeTable(connection, targets[entry["schema"]].database, entry["table"])


def _check_existing(connection, entry, targets):
    """An existing target table must have the exported columns and primary key."""
    table = _target_table(connection, entry, targets)
    if not table.is_declared:
        return
    have = [(n, table.heading[n].in_key) for n in table.heading.names]
    want = [(c["name"], c["in_key"]) for c in entry["columns"]]
    if sorted(have) != sorted(want):
        raise DataJointError(f"{table.full_table_name} exists with a different heading than the exported table "
                             f"({sorted(have)} vs {sorted(want)}); nothing was restored. Restore into an empty "
                             "schema, or drop the table.")


def _declare(connection, entry, targets) -> bool:
    """Declare the table in its target schema unless it exists; True when declared."""
    from djframe.define.declare import parse_definition
    target = targets[entry["schema"]].database
    backend = connection.backend
    if backend.table_exists(target, entry["table"]):
        return False
    spec = parse_definition(entry["definition"], schema=target, table_name=entry["table"], tier=entry["tier"],
                            resolve=_resolver(connection, entry, targets), max_name_length=backend.max_name_length,
                            allow_new_pk_in_computed=True, add_job_metadata=bool(entry.get("job_metadata")))
    backend.declare(spec)
    connection.forget()
    return True


_REFERENCE = re.compile(r"^\s*(.+?)\s*(?:\.proj\s*\((.*)\))?\s*$", re.S)


def _resolver(connection, entry, targets):
    """Foreign-key references looked up in the manifest's ``references`` map (never evaluated)."""
    from djframe.define.declare import ParentRef

    def resolve(text: str):
        m = _REFERENCE.match(text)
        parent = entry["references"].get(m.group(1)) if m else None
        if parent is None:
            raise DataJointError(f"Foreign key reference `{text}` of {entry['full_name']} is not in the manifest's "
                                 "references; the manifest is damaged.")
        rename = {}
        if m.group(2) and m.group(2).strip():
            call = ast.parse(f"f({m.group(2)})", mode="eval").body
            rename = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        schema = targets[parent[0]].database if parent[0] in targets else parent[0]
        if not connection.backend.table_exists(schema, parent[1]):
            raise DataJointError(f"{entry['full_name']} references {schema}.{parent[1]}, which the export does not "
                                 "include and the target does not have. Restore or declare it first.")
        return ParentRef.from_spec(connection.table_spec(schema, parent[1]), rename)

    return resolve


def _load(fs, root, entry, table, relocate, skip_duplicates) -> int:
    """Insert the file's rows as stored (codec and JSON values are not encoded again)."""
    count = 0
    with fs.open(join(root, entry["file"]), "rb") as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS):
            data = _as_stored(pa.Table.from_batches([batch]), table, relocate)
            ingest(table, data, skip_duplicates=skip_duplicates)
            count += data.num_rows
    return count


RAW_KINDS = ("json", "codec")  # already in their stored form in the file


def _as_stored(data: pa.Table, table, relocate) -> pa.Table:
    """One batch of a table file, checked and converted like an insert; store JSON points at the restored objects."""
    from djframe.write.conform import conform
    heading = table.heading
    plain = [name for name in data.column_names if heading[name].type.kind not in RAW_KINDS]
    converted = conform(data.select(plain), heading, table.full_table_name, table.connection.backend, complete=False)
    columns = []
    for name in data.column_names:
        attr = heading[name]
        if attr.type.kind not in RAW_KINDS:
            columns.append(converted.column(name))
            continue
        column = data.column(name).combine_chunks().cast(attr.arrow_type)
        columns.append(relocated_json(column, relocate) if attr.type.kind == "codec" and attr.type.store is not None
                       else column)
    return pa.Table.from_arrays(columns, names=data.column_names)


def _undo(connection, declared, written, targets):
    """Remove what a failed restore created: objects, then tables (children first)."""
    if connection.in_transaction:
        connection.cancel_transaction()
    by_store: dict = {}
    for store, path in written:
        by_store.setdefault(id(store), (store, []))[1].append(path)
    for store, paths in by_store.values():
        try:
            store.remove_many(paths)
        except Exception as e:  # cleanup must not hide the restore's own error
            logger.warning("Could not remove %d restored object(s) from store %s: %s", len(paths), store.name, e)
    for entry in reversed(declared):
        try:
            _target_table(connection, entry, targets).drop_quick()
        except Exception as e:
            logger.warning("Could not drop %s after the failed restore: %s", entry["table"], e)
    connection.forget()
