"""SQLite: the embedded default, through the standard library.

SQLite has no schemas, so every DataJoint schema lives in one database file and
a table is named ``"<schema>.<table>"``; that keeps foreign keys between schemas
working (SQLite cannot reference a table in an attached database). Column
comments, which SQLite lacks, live in the catalog table ``"~djframe_comments"``;
schema names live in ``"~djframe_schemas"``. Types SQLite cannot hold exactly
(decimal, uint64, dates) are stored as text and cast back through the heading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import sqlite3
from itertools import chain
from operator import itemgetter

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from djframe import errors
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.backends.base import (TRANSIENT_POOL, Backend, ColumnInfo, shortest_float32_value, text_array,
                                    unify_chunks)
from djframe.backends.sqlite.dialect import UINT64_DIGITS, SQLiteDialect, catalog_default

FETCH_ROWS = 2048  # rows per fetchmany: small batches keep few Python tuples alive and stay in cache
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another process's transaction on the file
GROUP_ROWS = 32768  # rows per part of a fetched result (a Polars chunk each)
INGEST_ROWS = 4096  # rows converted to Python values at a time on insert (~2 MB of Python objects)


class SQLiteBackend(Backend):
    dialect = SQLiteDialect()

    def __init__(self, path: str):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
        self.conn.create_function("djf_md5", 1, _md5_text, deterministic=True)  # row digests (djframe.tables.stale)
        for statement in self.dialect.session_sql:
            self.conn.execute(statement)

    # ----- execution ----------------------------------------------------------------
    def execute(self, sql: str, params=None) -> int:
        try:
            cur = self.conn.execute(sql, params or ())
        except sqlite3.Error as e:
            raise self.translate_error(e, sql) from None
        return cur.rowcount

    def fetch_rows(self, sql: str, params=None) -> list[tuple]:
        try:
            return self.conn.execute(sql, params or ()).fetchall()
        except sqlite3.Error as e:
            raise self.translate_error(e, sql) from None

    def fetch_values(self, sql: str, params, attributes) -> list[tuple]:
        """A small result as the Python values of the attributes' Arrow types (what `from_storage`
        makes of a fetched column), converted row by row: text back to dates, decimals, uint64."""
        rows = self.fetch_rows(sql, params)
        converters = [_PYTHON_VALUE.get(a.type.storage.kind) for a in attributes]
        if not rows or not any(converters):
            return rows
        return [tuple(v if f is None or v is None else f(v, a) for v, f, a in zip(row, converters, attributes))
                for row in rows]

    def run_query(self, sql, args=()):
        try:
            cur = self.conn.execute(self.dialect.user_sql(sql), tuple(args or ()))
            names = _names(cur) or None
            return names, cur.fetchall() if names else [], cur.rowcount
        except sqlite3.Error as e:
            raise self.translate_error(e, sql) from None

    def fetch_parts(self, sql: str):
        """Fetched a small batch at a time (few Python tuples alive), in parts of GROUP_ROWS rows."""
        cur = self._cursor(sql)
        names = _names(cur)
        if not names:
            yield pa.table({})
            return
        empty = True
        for group in self._groups(cur, names, GROUP_ROWS, sql):
            empty = False
            yield group
        if empty:
            yield pa.Table.from_arrays([pa.nulls(0)] * len(names), names=names)

    def fetch_arrow(self, sql: str) -> pa.Table:
        """One table; a column whose parts came in different raw types is unified as within a part."""
        parts = list(self.fetch_parts(sql))
        if len(parts) == 1:
            return parts[0]
        return pa.Table.from_arrays([unify_chunks([c for part in parts for c in part.column(i).chunks])
                                     for i in range(parts[0].num_columns)], names=parts[0].column_names)

    def fetch_batches(self, sql: str, batch_rows: int = 65536):
        """Stream record batches of exactly `batch_rows` rows (the last may be short), each built
        from small fetches: memory stays at one batch."""
        cur = self._cursor(sql)
        names = _names(cur)
        for group in self._groups(cur, names, batch_rows, sql) if names else ():
            yield from group.to_batches()

    def _groups(self, cur, names, rows: int, sql: str):
        """Tables of exactly `rows` rows (the last may be short), built from small fetches."""
        pending, count = [[] for _ in names], 0
        for arrays in self._column_batches(cur, len(names), min(FETCH_ROWS, rows), sql, rows):
            for column, array in zip(pending, arrays):
                column.append(array)
            count += len(arrays[0])
            if count == rows:
                yield _group_table(pending, names)
                pending, count = [[] for _ in names], 0
        if count:
            yield _group_table(pending, names)

    def _cursor(self, sql: str) -> sqlite3.Cursor:
        """A cursor of its own, so a stream survives other statements on the connection."""
        try:
            cur = self.conn.cursor()
            cur.execute(sql)
        except sqlite3.Error as e:
            raise self.translate_error(e, sql) from None
        return cur

    def _column_batches(self, cur, width: int, size: int, sql: str, group: int = 0):
        """Arrow arrays, one per column, for each `fetchmany`; batches end exactly at multiples of
        `group` rows when given. Transposing with itemgetter is several times faster than zip(*rows)."""
        getters = [itemgetter(i) for i in range(width)]
        fetched = 0
        while True:
            want = min(size, group - fetched % group) if group else size
            try:
                rows = cur.fetchmany(want)
            except sqlite3.Error as e:
                raise self.translate_error(e, sql) from None
            if not rows:
                return
            fetched += len(rows)
            yield [_column_array(list(map(get, rows))) for get in getters]

    def begin_snapshot(self):
        self.execute(self.dialect.begin_snapshot_sql)

    def close(self):
        self.conn.close()

    def current_user(self) -> str:
        """An embedded database has no users: the operating-system user."""
        import getpass
        try:
            return getpass.getuser()
        except Exception:  # no user name in this environment
            return ""

    def translate_error(self, exc: Exception, context: str = "") -> Exception:
        msg = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            if "UNIQUE" in msg or "PRIMARY KEY" in msg:
                return errors.DuplicateError(f"Duplicate entry: {msg}")
            if "FOREIGN KEY" in msg:
                return errors.IntegrityError(f"Foreign key constraint failed: {msg}")
            if "NOT NULL" in msg:
                return errors.MissingAttributeError(f"Missing required value: {msg}")
            if "CHECK" in msg:
                return errors.InvalidValueError(f"Value out of the attribute's range: {msg}")
            return errors.IntegrityError(msg)
        if "no such table" in msg:
            return self.catalog_error(errors.MissingTableError(msg))
        if "no such column" in msg or "has no column named" in msg:
            return self.catalog_error(errors.UnknownAttributeError(msg))
        if "syntax error" in msg:
            return errors.QuerySyntaxError(f"{msg} in SQL: {context}")
        if "locked" in msg:
            return errors.QueryError(f"{msg} (another process holds a write lock on the SQLite file)")
        return errors.QueryError(f"{msg} in SQL: {context}")

    # ----- bulk write ---------------------------------------------------------------
    def to_storage(self, column: pa.Array, attribute: Attribute) -> pa.Array:
        kind = attribute.type.kind
        if kind == "uint64":
            text = pc.cast(column, pa.string())
            return pc.utf8_lpad(text, UINT64_DIGITS, "0")
        if kind == "bool":
            return pc.cast(column, pa.int8())
        if kind == "datetime":
            return datetime_text(column, attribute.type.args[0] if attribute.type.args else 0)
        if kind in ("date", "decimal") or pa.types.is_decimal(column.type) or pa.types.is_timestamp(column.type) \
                or pa.types.is_date(column.type):  # stored as text; the kernel's scratch goes back at once
            return pc.cast(column, pa.string(), memory_pool=TRANSIENT_POOL)
        return column

    def ingest(self, schema, table, data: pa.Table, *, skip_duplicates=False, replace=False,
               primary_key=()) -> int:
        d = self.dialect
        sql = d.insert_sql(schema, table, data.column_names, d.bound_row(data.num_columns),
                           d.conflict_clause(data.column_names, primary_key, skip_duplicates, replace))
        rows = zip(*(c.to_pylist() for c in data.columns)) if data.num_rows <= INGEST_ROWS else _python_rows(data)
        try:
            cur = self.conn.executemany(sql, rows)
        except sqlite3.Error as e:
            raise self.translate_error(e, sql) from None
        return cur.rowcount

    def insert_rows(self, schema, table, names, rows, conflict: str = "") -> int:
        """A few rows of plain values (insert1 in a make), bound: the statement text is then the same
        for every call, and sqlite3 keeps it compiled; literals made each one a new statement to parse
        (a quarter of a make's insert). The values are those the literals spelled (ints, floats, text)."""
        rows = list(rows)
        d = self.dialect
        sql = d.insert_sql(schema, table, names, ", ".join([d.bound_row(len(names))] * len(rows)), conflict)
        return self.execute(sql, [v for row in rows for v in row])

    # ----- fetch normalisation ------------------------------------------------------
    def from_storage(self, column, attribute):
        target = attribute.arrow_type
        if pa.types.is_null(column.type):
            return pa.chunked_array([pa.nulls(len(column), target)], target)
        if attribute.type.kind in ("uint64", "decimal") and pa.types.is_integer(column.type):
            column = column.cast(pa.string())
        return super().from_storage(column, attribute)

    # ----- schemas and catalog ------------------------------------------------------
    def list_schemas(self):
        return [r[0] for r in self.fetch_rows(self.dialect.list_schemas_sql)]

    def create_schema(self, schema):
        self.execute(self.dialect.create_schema_sql, (schema,))

    def drop_schema(self, schema):
        tables = self.list_tables(schema)
        with self.foreign_keys_paused():
            for t in tables:
                self.execute(self.dialect.drop_if_exists_sql(schema, t))
        self.execute(self.dialect.drop_schema_comments_sql, (schema,))
        self.execute(self.dialect.drop_schema_sql, (schema,))

    @contextlib.contextmanager
    def foreign_keys_paused(self):
        """Foreign-key checks off for a rebuild or a whole-schema drop (SQLite's prescribed way)."""
        self.execute(self.dialect.foreign_keys_off)
        try:
            yield
        finally:
            self.execute(self.dialect.foreign_keys_on)

    def list_tables(self, schema):
        prefix = schema + "."
        rows = self.fetch_rows(self.dialect.list_tables_sql, (len(prefix), prefix))
        return [r[0][len(prefix):] for r in rows]

    def _comments(self, schema, table) -> dict[str, str]:
        return dict(self.fetch_rows(self.dialect.comments_sql, (schema, table)))

    def columns(self, schema, table):
        comments = self._comments(schema, table)
        out = []
        for _, name, sql_type, notnull, default, pk in self.fetch_rows(self.dialect.table_info_sql(schema, table)):
            out.append(ColumnInfo(name=name, sql_type=sql_type.lower(), nullable=not notnull and not pk,
                                  default=catalog_default(default), comment=comments.get(name, ""), in_key=pk > 0))
        return out

    def table_comment(self, schema, table):
        return self._comments(schema, table).get("", "")

    def foreign_keys(self, schema):
        out = []
        for table in self.list_tables(schema):
            groups: dict[int, list] = {}
            for fk_id, _seq, parent, child_col, parent_col, *_ in self.fetch_rows(
                    self.dialect.foreign_key_list_sql(schema, table)):
                groups.setdefault(fk_id, []).append((parent, child_col, parent_col))
            for fk_id in sorted(groups, reverse=True):
                parent = groups[fk_id][0][0]
                parent_schema, _, parent_table = parent.partition(".")
                out.append((table, ForeignKeySpec(parent_schema, parent_table,
                                                  tuple((c, p) for _, c, p in groups[fk_id]))))
        return out

    def indexes(self, schema, table):
        out = []
        for _seq, name, unique, origin, _partial in self.fetch_rows(self.dialect.index_list_sql(schema, table)):
            if origin == "pk":
                continue
            cols = [r[2] for r in self.fetch_rows(self.dialect.index_info_sql(name))]
            out.append(IndexSpec(tuple(cols), bool(unique)))
        return out

    # ----- DDL ----------------------------------------------------------------------
    def create_table(self, spec: TableSpec):
        self.execute(self.dialect.create_sql(spec, self.dialect.full_name(spec.schema, spec.table_name)))
        self.execute_all(self.dialect.index_statements(spec))
        self._write_comments(spec)

    def _write_comments(self, spec: TableSpec):
        self.execute(self.dialect.delete_comments_sql, (spec.schema, spec.table_name))
        comments = [("", spec.comment)] + [(a.name, self.dialect.column_comment(a)) for a in spec.attributes]
        self.conn.executemany(self.dialect.insert_comment_sql,
                              [(spec.schema, spec.table_name, c, text) for c, text in comments])

    def alter_table(self, spec: TableSpec, *, drop=(), rename=(), add=(), modify=(), comment=None):
        """SQLite cannot change a column in place: build the table anew from `spec`, copy the rows
        over, and swap it in (foreign-key checks paused, as SQLite's documentation prescribes)."""
        statements, check = self.dialect.rebuild_statements(spec, rename, add, modify)
        with self.foreign_keys_paused(), self.transaction():
            self.execute_all(statements)
            self._write_comments(spec)
            if self.fetch_rows(check):
                name = self.dialect.full_name(spec.schema, spec.table_name)
                raise errors.IntegrityError(f"Altering {name} would break a foreign key.")

    def drop_table(self, schema, table):
        self._refuse_drop_of_referenced(schema, table)
        super().drop_table(schema, table)
        self.execute(self.dialect.delete_comments_sql, (schema, table))

    def _refuse_drop_of_referenced(self, schema, table):
        """SQLite drops a parent whose referencing tables are empty (its DROP only deletes the rows),
        leaving children that reference a missing table; refuse as PostgreSQL and MySQL do."""
        name = f"{schema}.{table}"
        children = [r[0] for r in self.fetch_rows(self.dialect.referencing_tables_sql, (name, name))]
        if children:
            q = self.dialect.quote
            raise errors.IntegrityError(f"Cannot drop {q(name)}: the table(s) "
                                        f"{', '.join(q(c) for c in sorted(children))} reference it.")


def _md5_text(text) -> str | None:
    """SQLite has no md5(): row digests of version records use this one."""
    if text is None:
        return None
    return hashlib.md5(text.encode() if isinstance(text, str) else bytes(text)).hexdigest()


def _decimal(value, attribute: Attribute) -> decimal.Decimal:
    return decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-attribute.type.args[1]))


_PYTHON_VALUE = {  # stored value -> the Python value of the attribute's Arrow type (None: as stored)
    "uint64": lambda v, a: int(v),
    "float32": lambda v, a: shortest_float32_value(v),
    "float64": lambda v, a: float(v),
    "bool": lambda v, a: bool(v),
    "decimal": _decimal,
    "date": lambda v, a: dt.date.fromisoformat(v),
    "datetime": lambda v, a: dt.datetime.fromisoformat(v),
}


def _names(cur: sqlite3.Cursor) -> list[str]:
    return [d[0] for d in cur.description or ()]


def _column_array(values: list) -> pa.Array:
    """Arrow array from one fetched column of one batch (built by Polars, which converts Python
    values fastest and refuses mixed types); mixed integers and reals become doubles (a computed
    column such as coalesce(real, 0)), any other mix becomes text."""
    try:
        return pl.Series(values=values).to_arrow()
    except (TypeError, pl.exceptions.PolarsError, OverflowError):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return text_array(values)


def _group_table(columns: list[list[pa.Array]], names: list[str]) -> pa.Table:
    return pa.Table.from_arrays([unify_chunks(batches).combine_chunks() for batches in columns], names=names)


def _python_rows(data: pa.Table):
    """Rows as Python tuples for executemany, converted one slice at a time (memory stays flat)."""
    return chain.from_iterable(zip(*(c.to_pylist() for c in batch.columns))
                               for batch in data.to_batches(INGEST_ROWS))


def datetime_text(column: pa.Array, precision: int) -> pa.Array:
    """Datetimes as sortable text with exactly `precision` fractional digits (the stored form)."""
    text = pc.cast(column.cast(pa.timestamp("us")), pa.string())
    return pc.utf8_slice_codeunits(text, 0, 19 + (precision + 1 if precision else 0))
