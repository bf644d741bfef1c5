"""Export: a self-contained, publishable copy of a pipeline's data as Parquet files.

Each Parquet file holds the rows in their *stored* form, typed by the heading
(query/frames.py writes it): integers keep their width, ``date`` is date32,
``datetime`` timestamp[us], ``decimal(p,s)`` decimal128(p,s), ``uuid`` its canonical
36-character text (readable by every Parquet tool; the Parquet UUID logical type is
not), ``json`` text, ``<blob>``/``<attach>`` their serialized bytes, store codecs their
JSON metadata text. Field metadata ``datajoint.type`` names the declared type, so a
reader knows which binary column is a blob. Rows are sorted by primary key, so the
same data gives the same files. The folder's layout and manifest: manifest.py;
loading it back: restore.py; the store objects: objects.py.

Which rows: the requested ones, the part rows of requested masters and, through
the one propagation engine (graph/restrict.py, toward ancestors), the parent rows
they reference, so the export restores on its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re

import pyarrow as pa

from djframe.errors import DataJointError
from djframe.graph.restrict import UP, TableRows, propagate, table_rows
from djframe.publish.manifest import MANIFEST, file_digest, progress_bar, read_manifest, verify_export
from djframe.publish.objects import copy_objects_out, join, put, store_columns
from djframe.publish.restore import restore
from djframe.query import nodes as n
from djframe.query.expression import QueryExpression
from djframe.query.frames import FORMAT, FORMAT_VERSION, filesystem, write_parquet, write_rows
from djframe.tables.table import EXPORTER

logger = logging.getLogger("djframe")

KEY_CHUNK = 250  # keys per restriction when fetching ancestor rows (SQLite limits expression depth)
UUID_ENCODING = "string"  # canonical RFC 4122 text, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

__all__ = ["export", "restore", "write_parquet", "read_manifest", "verify_export"]


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
    fs, root = filesystem(destination)
    _prepare_destination(fs, root, overwrite)
    main_schema = requested[0][0][0]
    entries, refs = [], {}
    with connection.snapshot() if snapshot else contextlib.nullcontext():  # one moment: the rows fit together
        selection = _select(connection, requested, ancestors=ancestors, parts=parts)
        order = connection.dependencies.topological(list(selection))
        for node in progress_bar(order, "export", progress):
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
        elif isinstance(item, QueryExpression):
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


def _single_table_query(expr) -> TableRows:
    """A query that only restricts one table: its rows, as a query on that table."""
    node = expr.node
    while isinstance(node, n.RestrictNode):
        node = node.child
    if not isinstance(node, n.TableNode) or node.heading.names != expr.heading.names:
        raise DataJointError("export() takes tables and restrictions of tables; this query projects, joins or "
                             "aggregates, so it is not one table's rows. Use write_parquet(query, path) for it.")
    return TableRows(expr.connection, (node.schema, node.table), expr.node)


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

    def because(self, reason) -> "_Rows":
        """Record why the table is exported (the manifest's ``selected``)."""
        if reason not in self.reasons:
            self.reasons.append(reason)
        return self


def _select(connection, requested, *, ancestors, parts) -> dict:
    """{node: _Rows}: the requested rows, the part rows of requested masters and, children
    first, the parent rows they reference. Ancestor rows are found through key values fetched
    from the children (PK and foreign-key columns only), so the SQL stays flat however deep the
    graph; they are then fetched in key chunks."""
    plan: dict = {}
    for node, expr in requested:
        rows = plan.setdefault(node, _Rows()).because("requested")
        rows.exprs = None if isinstance(expr.node, n.TableNode) or rows.whole else rows.exprs + [expr]
    if parts:
        _add_parts(connection, plan)
    selected: dict = {}  # node -> key and foreign-key columns of its selected rows, fetched once
    if ancestors:
        plan = propagate(connection, plan, UP, through=_referenced_keys(connection, selected), combine=_with_keys)
    for node, rows in plan.items():
        if node not in selected:
            _materialize(connection, node, rows, [])  # fixes the keys left to fetch
    return plan


def _add_parts(connection, plan):
    """The part rows of the selected master rows."""
    from djframe.query.universal import U
    for node in list(plan):
        master = plan[node]
        for part in _parts_of(connection.dependencies, node):
            rows = plan.setdefault(part, _Rows()).because(f"part of {_name(node)}")
            if master.whole:
                rows.exprs = None
            elif not rows.whole:
                combined = _combined(connection, node, master.exprs)
                rows.exprs.append(_table(connection, part).restrict(U(*combined.primary_key) & combined,
                                                                    semantic_check=False))


def _referenced_keys(connection, selected):
    """What an exported child passes to a parent through a foreign key: the parent's keys its
    selected rows reference (fetched once per child, with every foreign key's columns)."""
    deps = connection.dependencies

    def through(child, rows, fk):
        if _is_own_master(child, (fk.parent_schema, fk.parent_table), rows):
            return None
        if child not in selected:
            columns = [c for p, other in deps.edges_to_parents(child) if not _is_own_master(child, p, rows)
                       for c in other.child_attributes]
            selected[child] = _materialize(connection, child, rows, list(dict.fromkeys(columns)))
        keys = _unique(selected[child].select(fk.child_attributes).drop_null())
        return f"referenced by {_name(child)}", keys.rename_columns([dict(fk.attr_map)[c] for c in keys.column_names])
    return through


def _with_keys(node, rows, passed) -> "_Rows":
    """A table's rows with the keys its children reference (a whole table needs none)."""
    rows = rows if rows is not None else _Rows()
    if not rows.whole:
        for reason, keys in passed:
            rows.because(reason).keys.append(keys)
    return rows


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
    count = write_rows(sources, fs, join(root, rel), compression, "KEY", metadata, on_batch=on_batch)
    digest, size = file_digest(fs, join(root, rel))
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


# ===== small helpers ============================================================================
def _prepare_destination(fs, root, overwrite):
    """Refuse to mix two exports; with ``overwrite`` remove only what an export writes."""
    existing = [p for p in (MANIFEST, "tables", "objects") if fs.exists(join(root, p))]
    if existing and not overwrite:
        raise DataJointError(f"{root} already holds an export ({', '.join(existing)}). Choose an empty folder or "
                             "pass overwrite=True.")
    for p in existing:
        fs.rm(join(root, p), recursive=True)
    fs.makedirs(root, exist_ok=True)


def _table(connection, node):
    return table_rows(connection, node)


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


EXPORTER["export"] = export  # Table.export
