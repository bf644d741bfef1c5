"""Table: a declared base table — insert, delete, update1, drop, introspection.

The write path: rows in any form -> Arrow validated against the heading
(validate.py) -> codecs -> the backend's bulk ingest, all in one transaction.
"""

from __future__ import annotations

import copy
import logging

import pyarrow as pa

from .declare import to_camel_case
from .errors import DataJointError, DuplicateError, IntegrityError, MissingTableError, UnknownAttributeError
from .query import nodes as n
from .query.compile import Compiler
from .query.expression import QueryExpression
from .validate import conform, rows_to_arrow

logger = logging.getLogger("djframe")

# methods and properties that work on the class itself, as in DataJoint (Subject.insert1(...))
FORWARDED = (
    "key_source", "describe", "alter", "heading", "populate", "progress", "primary_key", "proj", "aggr",
    "aggregate", "join", "extend", "restrict", "to_dicts", "to_pandas", "to_polars", "to_arrow", "to_arrays",
    "keys", "fetch", "fetch1", "head", "tail", "descendants", "ancestors", "parts", "parents", "children",
    "insert", "insert1", "insert_dataframe", "update1", "validate", "drop", "drop_quick", "delete",
    "delete_quick", "iter_batches", "make_sql", "preview", "full_table_name", "table_name", "database",
    "connection", "jobs", "export",
)


class _ClassAccess:
    """Descriptor: accessed on the class, binds to a fresh instance (DataJoint's class-level API)."""

    def __init__(self, attribute):
        self.attribute = attribute

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, cls):
        if obj is None:
            obj = cls()
        if isinstance(self.attribute, property):
            return self.attribute.__get__(obj, cls)
        return self.attribute.__get__(obj, cls)


class TableMeta(type):
    """Query operators on table classes: ``Subject & key``, ``Session * Subject``."""

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
            raise DataJointError(f"Table class {type(self).__name__} is not bound to a schema; decorate it with "
                                 "@schema first.")
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

    @property
    def _node(self) -> n.Node:
        if self._restricted_node is not None:
            return self._restricted_node
        return n.TableNode(self.heading, self.database, self.table_name)

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
            restricted = copy.copy(self)
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
        """Insert rows (dicts, tuples, numpy, pandas, Polars, Arrow, or a query) in one transaction."""
        self._check_direct_insert(allow_direct_insert)
        if isinstance(rows, QueryExpression) or isinstance(rows, type) and issubclass(rows, Table):
            return self._insert_from_query(rows() if isinstance(rows, type) else rows, replace,
                                           skip_duplicates, ignore_extra_fields)
        if _is_path(rows):
            import pyarrow.csv as csv
            rows = csv.read_csv(str(rows))
        name = self.full_table_name
        table = rows_to_arrow(rows, self.heading, name, ignore_extra_fields=ignore_extra_fields)
        if not table.num_rows:
            return
        self._check_primary_key_given(table.column_names)
        data = conform(table, self.heading, name, self.connection.backend)
        self._ingest(data, replace=replace, skip_duplicates=skip_duplicates)

    def _ingest(self, data: pa.Table, replace=False, skip_duplicates=False):
        backend = self.connection.backend
        stored = pa.table({c: backend.to_storage(data.column(c), self.heading[c]) for c in data.column_names})
        try:
            with self.connection.atomic():
                backend.ingest(self.database, self.table_name, stored, skip_duplicates=skip_duplicates,
                               replace=replace, primary_key=self.primary_key)
        except DuplicateError as e:
            raise DuplicateError(self._duplicate_message(data, e)) from None
        except IntegrityError as e:
            raise IntegrityError(self._missing_parent_message(data, e)) from None

    def _check_direct_insert(self, allow_direct_insert):
        if self.tier in ("imported", "computed") and not allow_direct_insert \
                and not getattr(self.connection, "_populating", False):
            raise DataJointError(f"Direct inserts into the auto-populated table {self.full_table_name} are not "
                                 "allowed outside make(). Run populate(), or pass allow_direct_insert=True.")

    def _check_primary_key_given(self, names):
        missing = [k for k in self.primary_key if k not in names and not self.heading[k].autoincrement]
        if missing:
            raise DataJointError(f"Cannot insert into {self.full_table_name}: primary-key attribute(s) {missing} "
                                 "not given. Every row needs its full primary key.")

    def _duplicate_message(self, data: pa.Table, error) -> str:
        """Name the duplicated key: within the batch, or already in the table."""
        key = [k for k in self.primary_key if k in data.column_names]
        text = f"Duplicate entry in {self.full_table_name}"
        try:
            import polars as pl
            frame = pl.from_arrow(data.select(key))
            dup = frame.filter(frame.is_duplicated())
            if len(dup):
                return f"{text}: key {dup.row(0, named=True)} appears twice in the inserted rows. " \
                       "To ignore duplicate entries, set skip_duplicates=True."
            existing = self.proj() & frame.to_dicts()[:1000]
            first = existing.keys(limit=1)
            if first:
                return f"{text}: key {first[0]} already exists. To ignore duplicate entries in insert, " \
                       "set skip_duplicates=True."
        except Exception:  # the message must not hide the original error
            pass
        return f"{text} (a unique index value already exists): {error}"

    def _missing_parent_message(self, data: pa.Table, error) -> str:
        for fk in self.spec.foreign_keys:
            if not all(c in data.column_names for c in fk.child_attributes):
                continue
            parent = FreeTable(self.connection, fk.parent_schema, fk.parent_table)
            rows = data.select(fk.child_attributes).to_pylist()
            wanted = [{p: r[c] for c, p in fk.attr_map} for r in rows if None not in r.values()]
            found = {tuple(k.values()) for k in (parent & wanted[:1000]).keys()} if wanted else set()
            for r in wanted:
                if tuple(r[p] for p in fk.parent_attributes) not in found:
                    return (f"Cannot insert into {self.full_table_name}: the parent {parent.full_table_name} has no "
                            f"row {r}. Insert the parent row first (foreign key {fk.child_attributes}).")
        return f"Foreign key constraint failed on {self.full_table_name}: {error}"

    def _insert_from_query(self, query, replace, skip_duplicates, ignore_extra_fields):
        names = [x for x in query.heading.names if x in self.heading.names]
        extra = [x for x in query.heading.names if x not in self.heading.names]
        if extra and not ignore_extra_fields:
            raise UnknownAttributeError(f"Cannot insert into {self.full_table_name} from the query: attribute(s) "
                                        f"{extra} not in the table heading. Project them away or pass "
                                        "ignore_extra_fields=True.")
        self._check_primary_key_given(names)
        select = Compiler(self.connection.backend).sql(query._node, names)
        backend = self.connection.backend
        with self.connection.atomic():
            backend.insert_select(self.database, self.table_name, names, select,
                                  skip_duplicates=skip_duplicates, replace=replace, primary_key=self.primary_key)

    def insert_dataframe(self, df, index_as_pk=None, **insert_kwargs):
        """Insert a pandas DataFrame; its index is used as the primary key when it matches."""
        names = [x for x in df.index.names if x is not None]
        if index_as_pk is None:
            index_as_pk = set(names) == set(self.primary_key)
        if index_as_pk:
            if set(names) != set(self.primary_key):
                raise DataJointError(f"The frame's index {names} is not the primary key {self.primary_key}.")
            df = df.reset_index()
        else:
            df = df.reset_index(drop=True)
        self.insert(df, **insert_kwargs)

    def validate(self, rows, *, ignore_extra_fields=False):
        """Check rows against the heading without writing; returns a ValidationResult."""
        from .errors import DataJointError as Error
        try:
            table = rows_to_arrow(rows, self.heading, self.full_table_name, ignore_extra_fields=ignore_extra_fields)
            self._check_primary_key_given(table.column_names)
            conform(table, self.heading, self.full_table_name, self.connection.backend)
            return ValidationResult(True, [], table.num_rows)
        except Error as e:
            return ValidationResult(False, [(None, None, str(e))], 0)

    # ----- update ----------------------------------------------------------------------------
    def update1(self, row: dict):
        """Change secondary attributes of one existing row, identified by its full primary key."""
        if not isinstance(row, dict):
            raise DataJointError("update1 takes a dict with the full primary key and the attributes to change.")
        missing = [k for k in self.primary_key if k not in row]
        if missing:
            raise DataJointError(f"update1 on {self.full_table_name} needs the full primary key; missing {missing}.")
        unknown = [k for k in row if k not in self.heading.names]
        if unknown:
            raise UnknownAttributeError(f"update1 on {self.full_table_name}: attribute(s) {unknown} not in the "
                                        f"heading ({', '.join(self.heading.names)}).")
        key = {k: row[k] for k in self.primary_key}
        changes = {k: v for k, v in row.items() if k not in self.primary_key}
        target = self & key
        if len(target) != 1:
            raise DataJointError(f"Update can only be applied to one existing entry: no row of "
                                 f"{self.full_table_name} has key {key}.")
        if not changes:
            return
        data = conform(rows_to_arrow([row], self.heading, self.full_table_name), self.heading,
                       self.full_table_name, self.connection.backend, complete=False)
        backend = self.connection.backend
        values = {c: backend.to_storage(data.column(c), self.heading[c])[0].as_py() for c in changes}
        _, where = Compiler(backend).where_sql(target._node)
        with self.connection.atomic():
            try:
                backend.update(self.database, self.table_name, values, where)
            except IntegrityError as e:
                raise IntegrityError(f"update1 on {self.full_table_name} violates a foreign key: {e}") from None

    # ----- delete ----------------------------------------------------------------------------
    def delete_quick(self, get_count=False):
        """Delete the restricted rows with one statement: no cascade, no prompt."""
        backend = self.connection.backend
        name, where = Compiler(backend).where_sql(self._node)
        count = backend.execute(f"DELETE FROM {name}" + (f" WHERE {where}" if where else ""))
        return count if get_count else None

    def delete(self, transaction=True, prompt=None, part_integrity="enforce"):
        """Delete the restricted rows and everything that depends on them (one transaction)."""
        from .delete import cascade_delete
        return cascade_delete(self, transaction=transaction, prompt=prompt, part_integrity=part_integrity)

    # ----- drop ------------------------------------------------------------------------------
    def drop_quick(self):
        """Drop this table only (fails if other tables reference it)."""
        backend = self.connection.backend
        if not self.is_declared:
            logger.info("Table %s does not exist; nothing to drop.", self.full_table_name)
            return
        backend.drop_table(self.database, self.table_name)
        backend.delete_lineage(self.database, self.table_name)
        self.connection.forget()
        logger.info("Dropped table %s", self.full_table_name)

    def drop(self, prompt=None, part_integrity="enforce"):
        """Drop this table and every table that depends on it, leaves first."""
        from .delete import cascade_drop
        cascade_drop(self, prompt=prompt, part_integrity=part_integrity)

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
        if primary is not None:
            edges = [(c, fk) for c, fk in edges
                     if set(fk.child_attributes) <= set(self.connection.table_spec(*c).primary_key) == primary]
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
        from .declare import render_definition
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
            from .connection import conn
            connection, schema_or_full_name = conn(), connection
        if table is None:
            schema_or_full_name, table = _split_full_name(schema_or_full_name)
        self._connection = connection
        self.database = schema_or_full_name
        self._table_name = table
        from .declare import tier_of
        self.tier = tier_of(table)

    @property
    def class_name(self):
        return to_camel_case(self.table_name)


def _split_full_name(full_name: str) -> tuple[str, str]:
    text = full_name.replace("`", '"')
    if '"' in text:
        parts = [p for p in text.split('"') if p not in ("", ".")]
    else:
        parts = text.split(".", 1)
    if len(parts) != 2:
        raise DataJointError(f"Cannot parse table name {full_name!r}; use 'schema.table'.")
    return parts[0], parts[1]


def _is_path(obj) -> bool:
    import pathlib
    return isinstance(obj, pathlib.PurePath)


class ValidationResult:
    """Outcome of Table.validate: truthy when every row is valid."""

    def __init__(self, is_valid, errors, rows_checked):
        self.is_valid, self.errors, self.rows_checked = is_valid, errors, rows_checked

    def __bool__(self):
        return self.is_valid

    def summary(self) -> str:
        if self.is_valid:
            return f"{self.rows_checked} row(s) valid"
        return "\n".join(msg for _, _, msg in self.errors)

    def raise_if_invalid(self):
        if not self.is_valid:
            raise DataJointError(self.summary())

