"""Parquet export and restore: a self-contained, publishable copy of a pipeline's data.

Layout of an export folder (local path or fsspec URL)::

    manifest.json                       format version, tables, objects, checksums
    tables/<table>.parquet              one file per table of the first source's schema
    tables/<schema>/<table>.parquet     tables of other schemas (ancestors)
    objects/<store>/<path>              store objects the exported rows reference

Each Parquet file holds the rows in their *stored* form, typed by the heading:
integers keep their width, ``date`` is date32, ``datetime`` timestamp[us],
``decimal(p,s)`` decimal128(p,s), ``uuid`` its canonical 36-character text
(readable by every Parquet tool; the Parquet UUID logical type is not), ``json``
text, ``<blob>``/``<attach>`` their serialized bytes, store codecs their JSON
metadata text. Field metadata ``datajoint.type`` names the declared type, so a
reader knows which binary column is a blob. Rows are sorted by primary key, so
the same data gives the same files.

Restoring declares the tables from the manifest's definitions (topological
order), copies the objects back, and loads all rows in one transaction. Object
paths move into the target schema's sections (see `export_objects`). The manifest is never evaluated as
Python: foreign-key references are looked up in its ``references`` map.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import hashlib
import json
import logging
import re

import pyarrow as pa
import pyarrow.parquet as pq

from djframe.errors import DataJointError, TransactionError
from djframe.publish.objects import (Relocation, copy_objects_in, copy_objects_out, join, make_parent, object_file,
                             objects_to_copy, put, relocated_json, store_columns, store_map)

logger = logging.getLogger("djframe")

FORMAT = "djframe-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BATCH_ROWS = 65536
KEY_CHUNK = 250  # keys per restriction when fetching ancestor rows (SQLite limits expression depth)
UUID_ENCODING = "string"  # canonical RFC 4122 text, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

__all__ = ["export", "restore", "write_parquet", "read_manifest", "verify_export"]


# ===== public API ================================================================================
def export(source, destination, *, restriction=None, ancestors=True, parts=True, objects=True,
           compression="zstd", overwrite=False, progress=None, snapshot=True) -> dict:
    """Write ``source`` (a Schema, a table class/instance, a restricted table, or a list of them)
    as Parquet files plus ``manifest.json`` under ``destination``; return the manifest.

    ``restriction`` is applied to every requested table (``table & restriction``; a dict
    restricts only the tables that have its attributes). ``ancestors``: also export the
    parent rows the exported rows reference, so the export restores on its own. ``parts``:
    export the part rows of exported master rows. ``objects``: copy referenced store
    objects into ``objects/``. ``progress``: a tqdm bar over tables (None: when on a terminal).
    ``snapshot``: read every table in one transaction, so rows committed meanwhile by others are
    in no file. Free on PostgreSQL and SQLite; on MySQL the rows then come through the session
    (about 4 s per million rows) instead of connectorx, which cannot join a transaction:
    ``snapshot=False`` is fast when nothing writes during the export.
    """
    requested = _requested(source, restriction)
    connection = requested[0][1].connection
    fs, root = _filesystem(destination)
    _prepare_destination(fs, root, overwrite)
    main_schema = requested[0][0][0]
    entries, refs = [], {}
    with connection.snapshot() if snapshot else contextlib.nullcontext():  # one moment: the rows fit together
        selection = _select(connection, requested, ancestors=ancestors, parts=parts)
        order = connection.dependencies.topological(list(selection))
        for node in _progress(order, "export", progress):
            entry, found = _export_table(connection, node, selection[node], fs, root, main_schema, compression,
                                         collect_objects=objects)
            entries.append(entry)
            for key, where in found.items():
                refs.setdefault(key, where)
    exported = {(e["schema"], e["table"]) for e in entries}
    missing = sorted({tuple(fk["parent"]) for e in entries for fk in e["foreign_keys"]} - exported)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "djframe_version": _version(), "source_backend": connection.backend.name,
        "schemas": sorted({e["schema"] for e in entries}),
        "standalone": not missing, "external_parents": [f"{s}.{t}" for s, t in missing],
        "uuid_encoding": UUID_ENCODING, "objects_included": bool(objects),
        "tables": entries, "objects": copy_objects_out(refs, fs, root, connection.config) if objects else [],
    }
    put(fs, join(root, MANIFEST), json.dumps(manifest, indent=1, default=str).encode())  # last: marks done
    logger.info("Exported %d table(s) to %s", len(entries), destination)
    return manifest


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
    fs, root = _filesystem(source)
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
            for e in _progress(entries, "restore", progress):
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


def write_parquet(expr, path, *, decode=False, compression="zstd", order_by="KEY", **kwargs) -> str:
    """Write one query's result to a Parquet file (``QueryExpression.to_parquet``).

    ``decode=False``: the stored form, typed as in an export (blobs as bytes, store codecs
    as JSON text). ``decode=True``: what ``to_polars()`` gives, so uniform ``<blob>`` arrays
    become fixed-size list columns; values Parquet cannot hold (ragged blobs, object refs)
    raise. Further keyword arguments go to ``pyarrow.parquet.ParquetWriter``.
    """
    from djframe.query.universal import as_expression
    expr = as_expression(expr, "write_parquet source")
    fs, full = _filesystem(path)
    if decode:
        _write_decoded(expr, fs, full, compression, order_by, kwargs)
    else:
        _write_rows([expr], fs, full, compression, order_by, metadata={}, writer_args=kwargs)
    return str(path)


def read_manifest(source) -> dict:
    """The manifest of an export folder, checked for format and version."""
    fs, root = _filesystem(source)
    try:
        manifest = json.loads(fs.cat_file(join(root, MANIFEST)))
    except FileNotFoundError:
        raise DataJointError(f"{source} has no {MANIFEST}: it is not a djframe export, or the export did not "
                             "finish. Export again.") from None
    except ValueError as e:
        raise DataJointError(f"{join(root, MANIFEST)} is not valid JSON ({e}); the export is damaged.") from None
    if manifest.get("format") != FORMAT:
        raise DataJointError(f"{source} is not a djframe export (format {manifest.get('format')!r}).")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise DataJointError(f"{source} has export format version {manifest['format_version']}, newer than this "
                             f"djframe reads ({FORMAT_VERSION}). Upgrade djframe.")
    return manifest


def verify_export(source, *, manifest=None) -> None:
    """Check every table file and object of an export against the manifest's SHA-256 sums."""
    fs, root = _filesystem(source)
    manifest = manifest or read_manifest(source)
    files = [(e["file"], e["sha256"], e["bytes"]) for e in manifest["tables"]]
    files += [(object_file(o), o["sha256"], o["size"]) for o in manifest.get("objects", ())]
    for rel, digest, size in files:
        full = join(root, rel)
        try:
            found, length = _digest(fs, full)
        except FileNotFoundError:
            raise DataJointError(f"Export file {full} is missing; the export is incomplete. Export again or copy "
                                 "the file back.") from None
        if found != digest or length != size:
            raise DataJointError(f"Export file {full} fails its checksum (SHA-256 {found}, {length} bytes; the "
                                 f"manifest records {digest}, {size} bytes). It was modified or damaged after the "
                                 "export; nothing was restored. Restore from an intact copy.")


# ===== which rows of which tables ===============================================================
def _requested(source, restriction) -> list:
    """[((schema, table), rows expression)] for each requested table."""
    from djframe.tables.schema import Schema
    from djframe.tables.table import FreeTable, Table
    items = source if isinstance(source, (list, tuple)) else [source]
    out = []
    for item in items:
        if isinstance(item, Schema):
            exprs = [FreeTable(item.connection, item.database, t) for t in item.list_tables()]
        elif isinstance(item, type) and issubclass(item, Table):
            exprs = [item()]
        elif isinstance(item, Table):
            exprs = [item]
        elif hasattr(item, "_node"):
            exprs = [_single_table_query(item)]
        else:
            raise DataJointError(f"Cannot export {type(item).__name__} {item!r}: give a Schema, a table, a "
                                 "restricted table, or a list of them.")
        for expr in exprs:
            rows = expr if restriction is None else expr & restriction
            out.append(((expr.database, expr.table_name), rows))
    if not out:
        raise DataJointError("Nothing to export: the source has no tables.")
    return out


def _single_table_query(expr):
    """A query that only restricts one table: its rows, as a query on that table."""
    from djframe.query import nodes as n
    from djframe.tables.table import FreeTable
    node = expr._node
    while isinstance(node, n.RestrictNode):
        node = node.child
    if not isinstance(node, n.TableNode) or node.heading.names != expr.heading.names:
        raise DataJointError("export() takes tables and restrictions of tables; this query projects, joins or "
                             "aggregates, so it is not one table's rows. Use write_parquet(query, path) for it.")
    table = FreeTable(expr.connection, node.schema, node.table)
    table._restricted_node = expr._node if expr._node is not node else None
    return table


class _Rows:
    """The rows of one table to export: query expressions (None: the whole table) and, for
    ancestors, key sets taken from the rows that reference them (Arrow tables of the key)."""

    def __init__(self):
        self.exprs: list | None = []
        self.keys: list = []
        self.reasons: list = []
        self.extra = None  # after `_materialize`: the keys not covered by `exprs`

    @property
    def whole(self) -> bool:
        return self.exprs is None


def _select(connection, requested, *, ancestors, parts) -> dict:
    """{node: _Rows}: the requested rows, the part rows of requested masters and, children
    first, the parent rows they reference. Ancestor rows are found through key values fetched
    from the children (PK and foreign-key columns only), so the SQL stays flat however deep the
    graph; they are then fetched in key chunks."""
    from djframe.query.universal import U
    deps = connection.dependencies
    plan: dict = {}

    def rows_of(node, reason) -> _Rows:
        rows = plan.setdefault(node, _Rows())
        if reason not in rows.reasons:
            rows.reasons.append(reason)
        return rows

    for node, expr in requested:
        rows = rows_of(node, "requested")
        whole = getattr(expr, "_restricted_node", 1) is None
        rows.exprs = None if whole or rows.whole else rows.exprs + [expr]
    if parts:
        for node in list(plan):
            master = plan[node]
            for part in _parts_of(deps, node):
                rows = rows_of(part, f"part of {_name(node)}")
                if master.whole:
                    rows.exprs = None
                elif not rows.whole:
                    combined = _combined(connection, node, master.exprs)
                    rows.exprs.append(_table(connection, part).restrict(U(*combined.primary_key) & combined,
                                                                        semantic_check=False))
    closure = set(plan)
    if ancestors:
        for node in list(plan):
            closure.update(deps.ancestors(node))
    for node in reversed(deps.topological(closure)):
        if node not in plan:
            continue
        rows = plan[node]
        edges = [(p, fk) for p, fk in deps.edges_to_parents(node) if ancestors and not _is_own_master(node, p, rows)]
        fk_columns = list(dict.fromkeys(c for _, fk in edges for c in fk.child_attributes))
        selected = _materialize(connection, node, rows, fk_columns)
        for parent, fk in edges:
            if parent in plan and plan[parent].whole:
                continue
            keys = _unique(selected.select(fk.child_attributes).drop_null())
            keys = keys.rename_columns([dict(fk.attr_map)[c] for c in keys.column_names])
            rows_of(parent, f"referenced by {_name(node)}").keys.append(keys)
    return plan


def _is_own_master(node, parent, rows) -> bool:
    """A part selected only through its master adds no master rows."""
    return all(r == f"part of {_name(parent)}" for r in rows.reasons)


def _materialize(connection, node, rows: _Rows, columns: list) -> pa.Table:
    """Fix ``rows.extra`` (keys not covered by the expressions) and return the selected rows'
    key and ``columns`` (None-filled when whole and no columns are needed)."""
    table = _table(connection, node)
    key = table.primary_key
    names = list(dict.fromkeys(key + columns))
    if rows.whole:
        return _fetch(_distinct(columns, table), columns) if columns else pa.table({})
    if not (rows.keys or columns):
        return pa.table({})
    parts = [_fetch(_combined(connection, node, rows.exprs), names)] if rows.exprs else []
    if rows.keys and key:
        wanted = _unique(pa.concat_tables([k.select(key) for k in rows.keys]))
        if parts:
            wanted = _antijoin(wanted, parts[0].select(key), key)
        rows.extra = _sorted(wanted, key)
        parts += [_fetch(chunk, names) for chunk in _by_keys(table, rows.extra)]
    elif rows.keys:  # a singleton table: its one row
        rows.exprs = None
        return _fetch(table, names)
    return pa.concat_tables(parts) if parts else pa.table({n: [] for n in names})


def _distinct(names, table):
    from djframe.query.universal import U
    return U(*names) & table


def _fetch(expr, names) -> pa.Table:
    from djframe.query.fetch import fetch_table
    return fetch_table(expr, names)


def _by_keys(table, keys: pa.Table):
    """``table`` restricted to successive chunks of ``keys`` (each an OR of key equalities)."""
    for start in range(0, keys.num_rows, KEY_CHUNK):
        yield table.restrict(keys.slice(start, KEY_CHUNK).to_pylist(), semantic_check=False)


def _unique(table: pa.Table) -> pa.Table:
    import polars as pl
    if not table.num_columns:
        return table
    return pl.from_arrow(table).unique(maintain_order=True).to_arrow().cast(table.schema)


def _antijoin(left: pa.Table, right: pa.Table, key) -> pa.Table:
    import polars as pl
    return pl.from_arrow(left).join(pl.from_arrow(right), on=key, how="anti").to_arrow().cast(left.schema)


def _sorted(table: pa.Table, key) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in key]) if table.num_rows else table


def _combined(connection, node, exprs):
    """One expression for the union of several restrictions of a table (OR of key semijoins)."""
    from djframe.query.universal import U
    table = _table(connection, node)
    if exprs is None:
        return table
    if len(exprs) == 1:
        return exprs[0]
    key = table.primary_key
    if not key:
        return table
    return table.restrict([U(*key) & r for r in exprs], semantic_check=False)


def _parts_of(deps, node) -> list:
    prefix = node[1] + "__"
    return [c for c in deps.children(node) if c[0] == node[0] and c[1].startswith(prefix)
            and "__" not in c[1][len(prefix):]]


# ===== writing tables ===========================================================================
def _export_table(connection, node, rows: _Rows, fs, root, main_schema, compression, collect_objects):
    """Write one table's file; return its manifest entry and the objects its rows reference."""
    from djframe.define.declare import class_ref, render_definition
    spec = connection.table_spec(*node)
    rel = f"tables/{node[1]}.parquet" if node[0] == main_schema else f"tables/{node[0]}/{node[1]}.parquet"
    definition = render_definition(spec, {})
    references = {class_ref(fk, spec, {}): [fk.parent_schema, fk.parent_table] for fk in spec.foreign_keys}
    metadata = {"datajoint.table": _name(node), "datajoint.tier": spec.tier, "datajoint.definition": definition,
                "datajoint.format": f"{FORMAT}/{FORMAT_VERSION}"}
    object_columns = store_columns(spec.heading) if collect_objects else {}
    found: dict = {}

    def on_batch(batch):
        for name, codec in object_columns.items():
            for value in batch.column(name).to_pylist():
                if value is not None:
                    for path, store in codec.referenced_paths(value):
                        found.setdefault((store or "", path), _name(node))

    table = _table(connection, node)
    if rows.whole:
        sources = [table]
    else:
        sources = [_combined(connection, node, rows.exprs)] if rows.exprs else []
        sources += list(_by_keys(table, rows.extra)) if rows.extra is not None else []
        sources = sources or [table.restrict(False)]
    count = _write_rows(sources, fs, join(root, rel), compression, "KEY", metadata, on_batch=on_batch)
    digest, size = _digest(fs, join(root, rel))
    entry = {
        "schema": node[0], "table": node[1], "full_name": connection.backend.full_name(*node),
        "class_name": _class_name(node[1]), "tier": spec.tier, "comment": spec.comment,
        "definition": definition, "references": references,
        "job_metadata": any(a.name == "_job_start_time" for a in spec.attributes),
        "primary_key": spec.primary_key,
        "columns": [{"name": a.name, "type": a.type.text, "in_key": a.in_key, "nullable": a.nullable,
                     "parquet": str(a.arrow_type)} for a in spec.attributes if not a.hidden],
        "foreign_keys": [{"parent": [fk.parent_schema, fk.parent_table], "attr_map": dict(fk.attr_map),
                          "nullable": fk.nullable, "unique": fk.unique, "in_key": fk.in_key}
                         for fk in spec.foreign_keys],
        "complete": rows.whole, "selected": rows.reasons,
        "rows": count, "file": rel, "bytes": size, "sha256": digest,
    }
    return entry, found


def _write_rows(exprs: list, fs, full, compression, order_by, metadata, on_batch=None, writer_args=None) -> int:
    """Stream the stored rows of queries on one table (typed by its heading) into one Parquet
    file, each query's rows in key order."""
    from djframe.query.compile import Compiler, order_spec
    from djframe.query.fetch import normalize
    heading, backend = exprs[0].heading, exprs[0].connection.backend
    names = heading.names
    order = order_spec(order_by) if order_by and (order_by != "KEY" or heading.primary_key) else ()
    sqls = [Compiler(backend).sql(expr._node, names, order) for expr in exprs]
    schema, writer, count = None, None, 0
    make_parent(fs, full)
    with fs.open(full, "wb") as out:
        try:
            for raw in (batch for sql in sqls for batch in backend.fetch_batches(sql, BATCH_ROWS)):
                table = normalize(pa.Table.from_batches([raw]), heading, names, backend)
                if schema is None:
                    schema = _annotated_schema(table.schema, heading, metadata)
                    writer = pq.ParquetWriter(out, schema, compression=compression, **(writer_args or {}))
                table = table.cast(schema)
                writer.write_table(table)
                count += table.num_rows
                if on_batch is not None:
                    on_batch(table)
            if writer is None:  # no rows: the file still carries the columns and their types
                schema = _annotated_schema(heading.arrow_schema(names), heading, metadata)
                writer = pq.ParquetWriter(out, schema, compression=compression, **(writer_args or {}))
        finally:
            if writer is not None:
                writer.close()
    return count


def _annotated_schema(schema: pa.Schema, heading, metadata: dict) -> pa.Schema:
    """Field metadata ``datajoint.type`` / ``datajoint.key``; attributes that cannot be NULL as required columns."""
    fields = []
    for f in schema:
        attr = heading[f.name]
        fields.append(pa.field(f.name, f.type, nullable=attr.nullable,
                               metadata={"datajoint.type": attr.type.text,
                                         "datajoint.key": "true" if attr.in_key else "false"}))
    return pa.schema(fields, metadata=metadata or None)


def _write_decoded(expr, fs, full, compression, order_by, writer_args):
    import polars as pl
    frame = expr.to_polars(order_by=order_by if order_by != "KEY" or expr.primary_key else None)
    bad = [n for n, t in frame.schema.items() if t == pl.Object]
    if bad:
        raise DataJointError(f"Cannot write decoded column(s) {bad} to Parquet: they hold Python objects (ragged "
                             "or non-array blobs, object references). Write the stored form with decode=False, "
                             "or project the column(s) away.")
    table = frame.to_arrow()
    schema = _annotated_schema(table.schema, expr.heading, {"datajoint.format": f"{FORMAT}/{FORMAT_VERSION}"})
    make_parent(fs, full)
    with fs.open(full, "wb") as out:
        pq.write_table(table.cast(schema), out, compression=compression, **writer_args)


# ===== restore ==================================================================================
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
    from djframe.write.conform import conform
    heading, backend = table.heading, table.connection.backend
    raw_kinds = ("json", "codec")
    count = 0
    with fs.open(join(root, entry["file"]), "rb") as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS):
            data = pa.Table.from_batches([batch])
            plain = [n for n in data.column_names if heading[n].type.kind not in raw_kinds]
            converted = conform(data.select(plain), heading, table.full_table_name, backend, complete=False)
            columns = []
            for name in data.column_names:
                attr = heading[name]
                if attr.type.kind in raw_kinds:
                    column = data.column(name).combine_chunks().cast(attr.arrow_type)
                    if attr.type.kind == "codec" and attr.type.store is not None:
                        column = relocated_json(column, relocate)
                else:
                    column = converted.column(name)
                columns.append(column)
            table._ingest(pa.Table.from_arrays(columns, names=data.column_names), skip_duplicates=skip_duplicates)
            count += data.num_rows
    return count


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


# ===== small helpers ============================================================================
def _filesystem(location):
    """(fsspec filesystem, path within it) of a local path or URL."""
    import fsspec
    fs, path = fsspec.core.url_to_fs(str(location))
    return fs, path.rstrip("/") if len(path) > 1 else path


def _prepare_destination(fs, root, overwrite):
    """Refuse to mix two exports; with ``overwrite`` remove only what an export writes."""
    existing = [p for p in (MANIFEST, "tables", "objects") if fs.exists(join(root, p))]
    if existing and not overwrite:
        raise DataJointError(f"{root} already holds an export ({', '.join(existing)}). Choose an empty folder or "
                             "pass overwrite=True.")
    for p in existing:
        fs.rm(join(root, p), recursive=True)
    fs.makedirs(root, exist_ok=True)


def _digest(fs, full) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with fs.open(full, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _progress(items, what, enabled):
    from tqdm.auto import tqdm
    return tqdm(items, desc=what, unit="table", disable=None if enabled is None else not enabled, leave=False)


def _table(connection, node):
    from djframe.tables.table import FreeTable
    return FreeTable(connection, *node)


def _name(node) -> str:
    return f"{node[0]}.{node[1]}"


def _class_name(table: str) -> str:
    from djframe.define.declare import to_camel_case
    return ".".join(to_camel_case(p) for p in re.sub(r"^[#_]+", "", table).split("__"))


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("djframe")
    except Exception:  # running from a source tree
        return "0.1.0"
