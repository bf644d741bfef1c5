"""Table: a declared base table — insert, delete, update1, drop, introspection.

The write path: rows in any form -> Arrow validated against the heading
(validate.py) -> codecs -> the backend's bulk ingest, all in one transaction.
"""

from __future__ import annotations

import warnings
import logging
from collections.abc import Mapping

from djframe.define.declare import to_camel_case
from djframe.write.provenance import captures
from djframe.errors import (DataJointError, DuplicateError, IntegrityError, InvalidValueError, MissingAttributeError,
                     MissingTableError, UnknownAttributeError)
from djframe.graph.delete import check_schema_change
from djframe.query import nodes as n
from djframe.query.compile import Compiler
from djframe.query.expression import QueryExpression
from djframe.write import explain as write_errors
from djframe.write.conform import conform, plain_rows, rows_to_arrow
from djframe.write.insert import (check_primary_key_given, insert_defaults, insert_from_query, insert_plain,
                                  insert_rows)

logger = logging.getLogger("djframe")
# dj.export reads and declares tables, so it sits above them; djframe.publish.export registers itself
# here when djframe is imported, and Table.export calls it
EXPORTER: dict = {}
KEY_CHECK_BATCH = 256  # keys whose existence one query checks (skip_duplicates with store codecs)

# methods and properties that work on the class itself, as in DataJoint (Subject.insert1(...))
FORWARDED = (
    "key_source", "describe", "alter", "heading", "populate", "progress", "primary_key", "proj", "aggr",
    "aggregate", "join", "extend", "restrict", "to_dicts", "to_pandas", "to_polars", "to_arrow", "to_arrays",
    "keys", "fetch", "fetch1", "head", "tail", "descendants", "ancestors", "parts", "parents", "children",
    "insert", "insert1", "insert_dataframe", "update1", "validate", "drop", "drop_quick", "delete",
    "delete_quick", "iter_batches", "make_sql", "preview", "full_table_name", "table_name", "database",
    "connection", "jobs", "export", "staged_insert1", "to_parquet", "stale",
)


class _ClassAccess:
    """Descriptor: accessed on the class, binds to a fresh instance (DataJoint's class-level API)."""

    def __init__(self, attribute):
        self.attribute = attribute

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, cls):
        if obj is not None:  # an instance (the hot path: every query touches heading, connection, ...)
            return self.attribute.__get__(obj, cls)
        if cls._connection is None and cls.__module__.split(".")[0] == "djframe":
            return self.attribute  # the library's own tier classes are never bound (help(), inspect)
        return self.attribute.__get__(cls(), cls)


class TableMeta(type):
    """Query operators on table classes: ``Subject & key``, ``Session * Subject``.

    ``len``, ``bool``, ``in`` and iteration on the class are those of its rows, as on an
    instance, so ``if Subject:`` asks the database: code that checks whether a table class
    was given must say ``is not None``. A class not bound to a schema (the tiers themselves,
    a class before ``@schema``) has no rows to ask about: ``len``, ``in`` and iteration raise,
    while ``bool`` stays True as for any class, because the standard library tests classes
    that way (``help(dj.Manual)``, ``pydoc``).
    """

    def __and__(cls, other):
        return cls() & other

    def __sub__(cls, other):
        return cls() - other

    def __mul__(cls, other):
        return cls() * other

    def __rmul__(cls, other):
        return other * cls()

    def __add__(cls, other):
        return cls() + other

    def __xor__(cls, other):
        return cls() ^ other

    def __matmul__(cls, other):
        return cls() @ other

    def __iter__(cls):
        return iter(cls())

    def __len__(cls):
        return len(cls())

    def __bool__(cls):
        return cls._connection is None or bool(cls())

    def __contains__(cls, item):
        """``key in Subject`` restricts, as on an instance (without it Python would compare whole rows)."""
        return item in cls()


class Table(QueryExpression, metaclass=TableMeta):
    """A base table in a schema. Subclassed by the tiers; also used bare as FreeTable."""

    definition = ""
    tier = "manual"
    _table_name: str | None = None
    database: str | None = None
    _connection = None
    _node_for_class = True
    declaration_context: dict | None = None

    def __init__(self):
        """Table instances carry no state of their own: class attributes bind them to a schema."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _forward_to_instances(cls)

    # ----- identity ---------------------------------------------------------------------------
    @property
    def connection(self):
        if self._connection is None:
            raise DataJointError(f"Table class {type(self).__name__} is not properly configured: it is not bound "
                                 "to an activated schema; decorate it with @schema (and activate the schema) first.")
        return self._connection

    @property
    def table_name(self) -> str:
        return self._table_name

    @property
    def full_table_name(self) -> str:
        return self.connection.backend.full_name(self.database, self.table_name)

    @property
    def class_name(self) -> str:
        return type(self).__name__

    _restricted_node = None
    _table_node = None  # the last TableNode built, kept while the catalog hands out the same heading

    @property
    def _node(self) -> n.Node:
        if self._restricted_node is not None:
            return self._restricted_node
        heading, node = self.heading, self._table_node
        if node is None or node.heading is not heading or node.schema != self.database \
                or node.table != self.table_name:  # after DDL (Connection.forget) the heading is a new object
            node = n.TableNode(heading, self.database, self.table_name)
            type(self)._table_node = node  # on the class: `Subject & key` makes a new instance every time
        return node

    @property
    def spec(self):
        return self.connection.table_spec(self.database, self.table_name)

    @property
    def heading(self):
        return self.spec.heading

    @property
    def is_declared(self) -> bool:
        return self.connection.backend.table_exists(self.database, self.table_name)

    def _derive(self, node):
        """A restriction of a base table stays a Table (so delete, update1 and populate work on it)."""
        if isinstance(node, n.RestrictNode):
            restricted = object.__new__(type(self))  # copy.copy without its reduce protocol (per-call path)
            restricted.__dict__.update(self.__dict__)
            restricted._restricted_node = node
            return restricted
        return QueryExpression(node, self.connection)

    def _describe_self(self):
        return self.full_table_name

    # ----- insert ----------------------------------------------------------------------------
    def insert1(self, row, **kwargs):
        """Insert one row given as a dict, a tuple in heading order, or a numpy record."""
        self.insert((row,), **kwargs)

    def insert(self, rows, replace=False, skip_duplicates=False, ignore_extra_fields=False,
               allow_direct_insert=None, chunk_size=None):
        """Insert rows (dicts, tuples, numpy, pandas, Polars, Arrow, a CSV path, or a query).

        All rows land or none does: one transaction (a savepoint inside the caller's),
        even when ``chunk_size`` splits the rows into several statements.
        """
        if self.connection.query_cache is not None:  # (the message's table name costs more than the check)
            self.connection.refuse_while_caching(f"insert into {self.full_table_name}")
        self._check_direct_insert(allow_direct_insert)
        if isinstance(rows, QueryExpression) or isinstance(rows, type) and issubclass(rows, QueryExpression):
            if chunk_size is not None:
                raise DataJointError(f"chunk_size is not supported when inserting into {self.full_table_name} from a "
                                     "query: the copy runs inside the database in one statement. Remove chunk_size.")
            return insert_from_query(self, rows() if isinstance(rows, type) else rows, replace,
                                           skip_duplicates, ignore_extra_fields)
        if _is_path(rows):
            import pyarrow.csv as csv
            rows = csv.read_csv(str(rows))
        if _all_empty_dicts(rows):
            return insert_defaults(self, len(rows))
        heading = self.heading
        provenance = captures(heading, self.connection)
        if not (replace or skip_duplicates or heading.has_codecs or provenance):
            plain = plain_rows(rows, heading, self.connection.backend)
            if plain is not None:
                return insert_plain(self, *plain, rows)
        insert_rows(self, rows, replace=replace, skip_duplicates=skip_duplicates,
                    ignore_extra_fields=ignore_extra_fields, chunk_size=chunk_size, provenance=provenance)

    def export(self, destination, **kwargs) -> dict:
        """Export this table's rows (with the ancestors they reference, their parts and their stored
        objects) to a folder of Parquet files and a manifest; `djframe.restore` loads it back."""
        return EXPORTER["export"](self, destination, **kwargs)

    def keys_exist(self, keys: list) -> list[bool]:
        """For each full primary-key dict, whether the table has it (one query per KEY_CHECK_BATCH keys)."""
        backend = self.connection.backend
        compiler = Compiler(backend)
        flags: list[bool] = []
        for start in range(0, len(keys), KEY_CHECK_BATCH):
            sql = compiler.keys_exist_sql(self.database, self.table_name, self.heading,
                                          keys[start:start + KEY_CHECK_BATCH])
            flags += [bool(v) for v in backend.fetch_rows(sql)[0]]
        return flags

    @property
    def staged_insert1(self):
        """``with T.staged_insert1 as staged:`` write <object@> values in place, then insert the row."""
        from djframe.write.staged import StagedInsert
        return StagedInsert(self, check_allowed=lambda: self._check_direct_insert(None))

    def _check_direct_insert(self, allow_direct_insert):
        if self.tier in ("imported", "computed") and not allow_direct_insert \
                and not getattr(self.connection, "_populating", False):
            raise DataJointError(f"Direct inserts into the auto-populated table {self.full_table_name} are not "
                                 "allowed outside make(). Run populate(), or pass allow_direct_insert=True.")

    def insert_dataframe(self, df, index_as_pk=None, **insert_kwargs):
        """Insert a pandas DataFrame; its index is used as the primary key when it matches."""
        if type(df).__module__.split(".")[0] != "pandas" or not hasattr(df, "reset_index"):
            raise DataJointError(f"insert_dataframe into {self.full_table_name} requires a pandas DataFrame, got "
                                 f"{type(df).__name__}. Use insert() for other kinds of rows.")
        names = [x for x in df.index.names if x is not None]
        if index_as_pk is None:
            index_as_pk = set(names) == set(self.primary_key)
        if index_as_pk:
            if set(names) != set(self.primary_key):
                raise DataJointError(f"The frame's index names {names} do not match the primary key "
                                     f"{self.primary_key} of {self.full_table_name}. Set the index to the key "
                                     "(df.set_index([...])) or pass index_as_pk=False.")
            df = df.reset_index()
        else:
            df = df.reset_index(drop=True)
        self.insert(df, **insert_kwargs)

    def validate(self, rows, *, ignore_extra_fields=False):
        """Check rows against the heading without writing; returns a ValidationResult listing, when rows
        are invalid, each bad row with its error (the whole batch is checked at once while it is valid)."""
        error = self._first_error(rows, ignore_extra_fields)
        if error is None:
            return ValidationResult(True, [], _row_count(rows))
        if not isinstance(rows, (list, tuple)) or len(rows) > VALIDATE_ROW_BY_ROW:
            return ValidationResult(False, [(None, error.attribute, str(error))], _row_count(rows))
        errors = []
        for i, row in enumerate(rows):
            bad = self._first_error([row], ignore_extra_fields)
            if bad is not None:
                errors.append((i, bad.attribute, str(bad)))
        return ValidationResult(False, errors or [(None, error.attribute, str(error))], len(rows))

    def _first_error(self, rows, ignore_extra_fields):
        """The DataJointError inserting ``rows`` would raise before writing, or None (with ``.attribute``)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                table = rows_to_arrow(rows, self.heading, self.full_table_name, ignore_extra_fields=ignore_extra_fields)
            check_primary_key_given(self, table.column_names)
            from djframe.codecs import validating
            with validating(self):  # encode, but write nothing to object stores
                conform(table, self.heading, self.full_table_name, self.connection.backend)
            return None
        except DataJointError as e:
            e.attribute = next((n for n in self.heading.names if f".{n} " in str(e) or f"[{n!r}" in str(e)), None)
            return e

    # ----- update ----------------------------------------------------------------------------
    def update1(self, row: dict):
        """Change secondary attributes of one existing row, identified by its full primary key.

        None resets an attribute to its default (NULL if nullable); foreign keys are checked.
        """
        name = self.full_table_name
        self.connection.refuse_while_caching(f"update {name}")
        if not isinstance(row, Mapping):
            raise InvalidValueError(f"update1 on {name} takes a dict, got {type(row).__name__} {row!r}. Pass a dict "
                                    "with the full primary key and the attributes to change.")
        if self._restricted_node is not None:
            raise DataJointError(f"update1 cannot be applied to a restricted table ({name}); call it on the table "
                                 "itself and give the full primary key in the dict.")
        unknown = [k for k in row if k not in self.heading.names]
        if unknown:
            raise UnknownAttributeError(f"update1 on {name}: attribute(s) {unknown} not in the heading "
                                        f"({', '.join(self.heading.names)}). Check the attribute names.")
        missing = [k for k in self.primary_key if k not in row]
        if missing:
            raise MissingAttributeError(f"update1 on {name} needs the full primary key; {missing} not given. Add "
                                        "them to the dict.")
        key = {k: row[k] for k in self.primary_key}
        changes = [k for k in row if k not in self.primary_key]
        data = conform(rows_to_arrow([key], self.heading, name), self.heading, name, self.connection.backend,
                       complete=False)
        target = self & data.to_pylist()[0]
        if len(target) != 1:
            raise DataJointError(f"Update can only be applied to one existing entry: no row of {name} has key "
                                 f"{key}. Insert the row first, or correct the key.")
        if changes:
            self._update(target, row, changes)

    def _update(self, target, row, changes):
        from djframe.codecs import store_writes
        name, backend = self.full_table_name, self.connection.backend
        with store_writes(self):
            data = conform(rows_to_arrow([row], self.heading, name), self.heading, name, backend, complete=False)
            values = {c: backend.to_storage(data.column(c), self.heading[c])[0].as_py() for c in changes}
            _, where = Compiler(backend).where_sql(target._node)
            try:
                with self.connection.atomic():
                    backend.update(self.database, self.table_name, values, where)
            except IntegrityError as e:
                raise IntegrityError(write_errors.missing_parent_message(self, data, e, verb="update")) from None
            except DuplicateError as e:
                raise DuplicateError(write_errors.duplicate_message(self, data, e, update=True)) from None

    # ----- delete ----------------------------------------------------------------------------
    def delete_quick(self, get_count=False):
        """Delete the restricted rows with one statement: no cascade, no prompt."""
        self.connection.refuse_while_caching(f"delete from {self.full_table_name}")
        backend = self.connection.backend
        statement = Compiler(backend).delete(self._node)
        try:
            with self.connection.atomic():
                count = backend.execute(statement)
        except IntegrityError:
            raise IntegrityError(f"Cannot delete from {self.full_table_name}: rows of {', '.join(self.children())} "
                                 "still reference the rows to delete. Use delete() to delete them together with "
                                 "their dependents, or delete the dependent rows first.") from None
        return count if get_count else None

    def delete(self, transaction=True, prompt=None, part_integrity="enforce", **legacy):
        """Delete the restricted rows and everything that depends on them (one transaction)."""
        from djframe.graph.delete import cascade_delete
        self.connection.refuse_while_caching(f"delete from {self.full_table_name}")
        return cascade_delete(self, transaction=transaction, prompt=prompt, part_integrity=part_integrity, **legacy)

    # ----- drop and alter --------------------------------------------------------------------
    def drop_quick(self):
        """Drop this table only (fails if other tables reference it)."""
        check_schema_change(self, "drop")
        backend = self.connection.backend
        if not self.is_declared:
            logger.info("Table %s does not exist; nothing to drop.", self.full_table_name)
            return
        try:
            backend.drop_table(self.database, self.table_name)
        except IntegrityError:
            self.connection.reload_dependencies()
            referencing = ", ".join(n for n in self.children() if n != self.full_table_name) or "other tables"
            raise IntegrityError(f"Cannot drop {self.full_table_name}: {referencing} reference it. Use drop() to "
                                 "drop it together with its dependents.") from None
        backend.delete_lineage(self.database, self.table_name)
        self.connection.forget()
        logger.info("Dropped table %s", self.full_table_name)

    def drop(self, prompt=None, part_integrity="enforce"):
        """Drop this table and every table that depends on it, leaves first (listed before it asks)."""
        from djframe.graph.delete import cascade_drop
        cascade_drop(self, prompt=prompt, part_integrity=part_integrity)

    def alter(self, prompt=True, context=None):
        """Bring the table in line with its changed ``definition``: secondary attributes and comments."""
        from djframe.tables.alter import alter_table
        alter_table(self, prompt=prompt, context=context)


    # ----- introspection ---------------------------------------------------------------------
    @property
    def _graph_node(self):
        return (self.database, self.table_name)

    def _names(self, nodes, as_objects):
        if as_objects:
            return [FreeTable(self.connection, s, t) for s, t in nodes]
        return [self.connection.backend.full_name(s, t) for s, t in nodes]

    def parents(self, primary=None, as_objects=False, foreign_key_info=False):
        edges = self.connection.dependencies.edges_to_parents(self._graph_node)
        edges = [(p, fk) for p, fk in edges if primary is None or fk.in_key == primary]
        return self._edge_info(edges, as_objects, foreign_key_info)

    def children(self, primary=None, as_objects=False, foreign_key_info=False):
        edges = self.connection.dependencies.edges_to_children(self._graph_node)
        edges = [(c, fk) for c, fk in edges if primary is None or fk.in_key == primary]
        return self._edge_info(edges, as_objects, foreign_key_info)

    def _edge_info(self, edges, as_objects, foreign_key_info):
        names = self._names([e[0] for e in edges], as_objects)
        if not foreign_key_info:
            return names
        return [(name, {"primary": fk.in_key, "attr_map": dict(fk.attr_map), "aliased": fk.aliased,
                        "multi": True}) for name, (_, fk) in zip(names, edges)]

    def ancestors(self, as_objects=False):
        return self._names(self.connection.dependencies.ancestors(self._graph_node), as_objects)

    def descendants(self, as_objects=False):
        return self._names(self.connection.dependencies.descendants(self._graph_node), as_objects)

    def parts(self, as_objects=False):
        prefix = self.table_name + "__"
        nodes = [(s, t) for s, t in self.connection.dependencies.children(self._graph_node)
                 if s == self.database and t.startswith(prefix)]
        return self._names(nodes, as_objects)

    def describe(self, context=None, printout=False):
        from djframe.define.declare import render_definition
        deps = self.connection.dependencies
        names = {}
        for parent, _ in deps.edges_to_parents(self._graph_node):
            names[parent] = to_camel_case(parent[1]) if parent[0] == self.database else \
                f"{parent[0]}.{to_camel_case(parent[1])}"
        text = render_definition(self.spec, names)
        if printout:
            print(text)
        return text

    def __repr__(self):
        if self._connection is None:
            return f"<unbound table class {type(self).__name__}>"
        try:
            return super().__repr__()
        except MissingTableError:
            return f"<table {self.full_table_name} (not declared)>"


def _forward_to_instances(cls):
    """Make the FORWARDED methods and properties usable on the class itself."""
    import inspect
    for name in FORWARDED:
        try:
            value = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        if isinstance(value, property) or inspect.isfunction(value):
            setattr(cls, name, _ClassAccess(value))


_forward_to_instances(Table)


class FreeTable(Table):
    """A table addressed by name, with no class: ``FreeTable(conn, "schema.table")``."""

    def __init__(self, connection=None, schema_or_full_name=None, table=None):
        if isinstance(connection, str) and schema_or_full_name is None:
            from djframe.connection import conn
            connection, schema_or_full_name = conn(), connection
        if table is None:
            schema_or_full_name, table = _split_full_name(schema_or_full_name)
        self._connection = connection
        self.database = schema_or_full_name
        self._table_name = table
        from djframe.define.declare import tier_of
        self.tier = tier_of(table)

    @property
    def class_name(self):
        return to_camel_case(self.table_name)

    def __repr__(self):
        """Says what it is (a table with no class), then the usual preview."""
        return f"FreeTable({self.full_table_name})\n" + super().__repr__()


def _split_full_name(full_name: str) -> tuple[str, str]:
    text = full_name.replace("`", '"')
    if '"' in text:
        parts = [p for p in text.split('"') if p not in ("", ".")]
        if len(parts) == 1:  # SQLite names a schema's table as one identifier, "schema.table"
            parts = parts[0].split(".", 1)
    else:
        parts = text.split(".", 1)
    if len(parts) != 2:
        raise DataJointError(f"Cannot parse table name {full_name!r}; use 'schema.table'.")
    return parts[0], parts[1]


def _is_path(obj) -> bool:
    import pathlib
    return isinstance(obj, pathlib.PurePath)


class ValidationResult:
    """Outcome of Table.validate: truthy when every row is valid; ``errors`` holds
    (row index or None, attribute or None, message) for each problem found."""

    SHOWN = 10  # errors listed by summary()

    def __init__(self, is_valid, errors, rows_checked):
        self.is_valid, self.errors, self.rows_checked = is_valid, errors, rows_checked

    def __bool__(self):
        return self.is_valid

    def __repr__(self):
        return f"ValidationResult({self.summary().splitlines()[0]})"

    def summary(self) -> str:
        if self.is_valid:
            return f"Validation passed: {self.rows_checked} rows checked"
        lines = [f"Validation failed: {len(self.errors)} error(s) in {self.rows_checked} rows checked"]
        for row, attribute, message in self.errors[:self.SHOWN]:
            where = "  " + (f"Row {row}" if row is not None else "Rows") + (f", {attribute}" if attribute else "")
            lines.append(f"{where}: {message}")
        if len(self.errors) > self.SHOWN:
            lines.append(f"  ... and {len(self.errors) - self.SHOWN} more errors")
        return "\n".join(lines)

    def raise_if_invalid(self):
        if not self.is_valid:
            raise DataJointError(self.summary())


VALIDATE_ROW_BY_ROW = 10_000  # invalid batches up to this size are checked row by row to list every bad row


def _all_empty_dicts(rows) -> bool:
    return isinstance(rows, (list, tuple)) and bool(rows) and all(isinstance(r, dict) and not r for r in rows)


def _row_count(rows) -> int:
    try:
        return len(rows)
    except TypeError:
        return 0
