"""SQLite: the embedded default, through the standard library.

SQLite has no schemas, so every DataJoint schema lives in one database file and
a table is named ``"<schema>.<table>"``; that keeps foreign keys between schemas
working (SQLite cannot reference a table in an attached database). Column
comments, which SQLite lacks, live in the catalog table ``"~djframe_comments"``;
schema names live in ``"~djframe_schemas"``. Types SQLite cannot hold exactly
(decimal, uint64, dates) are stored as text and cast back through the heading.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
import sqlite3
from itertools import chain
from operator import itemgetter

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from djframe import errors
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import INTEGER_RANGES, CoreType, parse_type
from djframe.backends.base import Backend, ColumnInfo, text_array, unify_chunks

SCHEMAS = "~djframe_schemas"
COMMENTS = "~djframe_comments"
UINT64_DIGITS = 20
FETCH_ROWS = 2048  # rows per fetchmany: small batches keep few Python tuples alive and stay in cache
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another process's transaction on the file
GROUP_ROWS = 32768  # rows per part of a fetched result (a Polars chunk each)
INGEST_ROWS = 65536  # rows converted to Python values at a time on insert
_NOW = re.compile(r"^CURRENT_TIMESTAMP(?:\((\d)\))?$", re.I)
_NOW_EXPRESSION = re.compile(r"^\(?substr\(strftime\('%Y-%m-%d %H:%M:%f', 'now'\) \|\| '000', 1, (\d+)\)\)?$")


class SQLiteBackend(Backend):
    name = "sqlite"
    sqlglot_dialect = "sqlite"
    max_name_length = 64
    supports_nan = False  # SQLite stores NaN as NULL, silently

    def __init__(self, path: str):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.create_function("djf_md5", 1, _md5_text, deterministic=True)  # row digests (djframe.tables.stale)
        self.conn.execute("PRAGMA case_sensitive_like = ON")  # LIKE matches case as PostgreSQL and MySQL do
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f'CREATE TABLE IF NOT EXISTS "{SCHEMAS}" (name TEXT PRIMARY KEY)')
        self.conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{COMMENTS}" (schema_name TEXT, table_name TEXT, '
            "column_name TEXT, comment TEXT, PRIMARY KEY (schema_name, table_name, column_name))")

    # ----- identifiers ------------------------------------------------------------
    def full_name(self, schema: str, table: str) -> str:
        return self.quote(f"{schema}.{table}")

    bound_key_kinds = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "varchar", "char"})

    def row_digest_sql(self, qualifier: str, columns) -> str:
        return "djf_" + super().row_digest_sql(qualifier, columns)

    def special_float_literal(self, value: float) -> str:
        if value != value:
            raise errors.DataJointError("SQLite cannot store or compare NaN; use NULL instead.")
        return "9e999" if value > 0 else "-9e999"

    def typed_literal(self, value, attribute: Attribute) -> str:
        if attribute.type.kind == "datetime" and isinstance(value, (str, dt.datetime)):
            return self._datetime_literal(value, attribute)
        if attribute.type.kind == "uint64" and value is not None:
            return self.string_literal(str(int(value)).zfill(UINT64_DIGITS))
        if attribute.type.kind == "bool" and value is not None:
            return "1" if value else "0"
        if attribute.type.kind == "decimal" and isinstance(value, (int, float, decimal.Decimal, str)):
            try:  # stored as text with exactly `scale` digits
                exact = decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-attribute.type.args[1]))
            except decimal.InvalidOperation:
                return self.literal(value, attribute)
            return self.string_literal(str(exact)) if exact == decimal.Decimal(str(value)) else "NULL"
        return self.literal(value, attribute)

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

    def param_marker(self, position: int) -> str:
        return "?"

    def run_query(self, sql, args=()):
        try:
            cur = self.conn.execute(self.user_sql(sql), tuple(args or ()))
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

    def begin(self):
        """BEGIN IMMEDIATE: a transaction takes the write lock first, so two processes writing the file
        (populate workers) wait for each other instead of failing to upgrade a read lock."""
        self.execute("BEGIN IMMEDIATE")

    def begin_snapshot(self):
        self.execute("BEGIN")  # deferred: in WAL mode its first read fixes the snapshot, and writers go on

    def close(self):
        self.conn.close()

    def current_user(self) -> str:
        """An embedded database has no users: the operating-system user."""
        import getpass
        try:
            return getpass.getuser()
        except Exception:  # no user name in this environment
            return ""

    now_sql = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
    clock_ms_sql = "strftime('%Y-%m-%d %H:%M:%f', 'now')"  # a claim is one UPDATE: the write lock serializes it

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
            return errors.MissingTableError(msg)
        if "no such column" in msg:
            return errors.UnknownAttributeError(msg)
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
        if kind in ("date", "decimal") or pa.types.is_decimal(column.type):
            return pc.cast(column, pa.string())
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            return pc.cast(column, pa.string())
        return column

    def ingest(self, schema, table, data: pa.Table, *, skip_duplicates=False, replace=False,
               primary_key=()) -> int:
        cols = ", ".join(self.quote(c) for c in data.column_names)
        marks = ", ".join("?" * data.num_columns)
        sql = f"INSERT INTO {self.full_name(schema, table)} ({cols}) VALUES ({marks})"
        sql += self.conflict_clause(data.column_names, primary_key, skip_duplicates, replace)
        rows = zip(*(c.to_pylist() for c in data.columns)) if data.num_rows <= INGEST_ROWS else _python_rows(data)
        try:
            cur = self.conn.executemany(sql, rows)
        except sqlite3.Error as e:
            raise self.translate_error(e, sql) from None
        return cur.rowcount

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
        return [r[0] for r in self.fetch_rows(f'SELECT name FROM "{SCHEMAS}" ORDER BY name')]

    def create_schema(self, schema):
        self.execute(f'INSERT OR IGNORE INTO "{SCHEMAS}" (name) VALUES (?)', (schema,))

    def drop_schema(self, schema):
        tables = self.list_tables(schema)
        self.execute("PRAGMA foreign_keys = OFF")
        try:
            for t in tables:
                self.execute(f"DROP TABLE IF EXISTS {self.full_name(schema, t)}")
        finally:
            self.execute("PRAGMA foreign_keys = ON")
        self.execute(f'DELETE FROM "{COMMENTS}" WHERE schema_name = ?', (schema,))
        self.execute(f'DELETE FROM "{SCHEMAS}" WHERE name = ?', (schema,))

    def list_tables(self, schema):
        prefix = schema + "."
        rows = self.fetch_rows("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
                               (len(prefix), prefix))
        return [r[0][len(prefix):] for r in rows]

    def _comments(self, schema, table) -> dict[str, str]:
        rows = self.fetch_rows(f'SELECT column_name, comment FROM "{COMMENTS}" '
                               "WHERE schema_name = ? AND table_name = ?", (schema, table))
        return dict(rows)

    def columns(self, schema, table):
        comments = self._comments(schema, table)
        out = []
        for _, name, sql_type, notnull, default, pk in self.fetch_rows(
                f"PRAGMA table_info({self.full_name(schema, table)})"):
            out.append(ColumnInfo(name=name, sql_type=sql_type.lower(), nullable=not notnull and not pk,
                                  default=_catalog_default(default), comment=comments.get(name, ""), in_key=pk > 0))
        return out

    def _datetime_literal(self, value, attribute: Attribute) -> str:
        """The stored text of a datetime; a value finer than the column's precision keeps all six
        digits and so matches nothing, as on the other backends."""
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                return self.string_literal(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        digits = attribute.type.args[0] if attribute.type.args else 0
        text = value.isoformat(sep=" ", timespec="microseconds")
        exact = value.microsecond % 10 ** (6 - digits) == 0
        return self.string_literal(text[:19 + (digits + 1 if digits else 0)] if exact else text)

    def table_comment(self, schema, table):
        return self._comments(schema, table).get("", "")

    def foreign_keys(self, schema):
        out = []
        for table in self.list_tables(schema):
            groups: dict[int, list] = {}
            for fk_id, _seq, parent, child_col, parent_col, *_ in self.fetch_rows(
                    f"PRAGMA foreign_key_list({self.full_name(schema, table)})"):
                groups.setdefault(fk_id, []).append((parent, child_col, parent_col))
            for fk_id in sorted(groups, reverse=True):
                parent = groups[fk_id][0][0]
                parent_schema, _, parent_table = parent.partition(".")
                out.append((table, ForeignKeySpec(parent_schema, parent_table,
                                                  tuple((c, p) for _, c, p in groups[fk_id]))))
        return out

    def indexes(self, schema, table):
        out = []
        for _seq, name, unique, origin, _partial in self.fetch_rows(
                f"PRAGMA index_list({self.full_name(schema, table)})"):
            if origin == "pk":
                continue
            cols = [r[2] for r in self.fetch_rows(f"PRAGMA index_info({self.quote(name)})")]
            out.append(IndexSpec(tuple(cols), bool(unique)))
        return out

    def core_type_of(self, sql_type: str) -> CoreType:
        sql_type = sql_type.lower()
        if sql_type in ("integer", "int"):
            return parse_type("int64")
        if sql_type == "real":
            return parse_type("float64")
        if sql_type == "blob":
            return parse_type("bytes")
        return parse_type(sql_type or "text", warn_native=False)

    # ----- DDL ----------------------------------------------------------------------
    def column_type(self, t: CoreType, schema: str) -> str:
        if t.kind == "uint64":
            return "TEXT"
        if t.is_integer or t.kind == "bool":
            return "INT"  # not INTEGER: a one-column INTEGER PRIMARY KEY would alias the rowid
        if t.kind in ("float32", "float64"):
            return "REAL"
        if t.kind == "codec":
            return self.column_type(t.storage, schema)
        if t.kind == "bytes":
            return "BLOB"
        if t.kind == "native":
            return t.text.upper()
        return "TEXT"

    def checks(self, a: Attribute) -> list[str]:
        """CHECK constraints that give SQLite the range and length rules of the core type."""
        q, t = self.quote(a.name), a.type
        if t.is_integer and t.kind != "uint64":
            lo, hi = INTEGER_RANGES[t.kind]
            return [f"CHECK ({q} BETWEEN {lo} AND {hi})"]
        if t.kind == "bool":
            return [f"CHECK ({q} IN (0, 1))"]
        if t.kind == "varchar":
            return [f"CHECK (length({q}) <= {t.length})"]
        if t.kind == "char":
            return [f"CHECK (length({q}) <= {t.length})"]
        if t.kind == "enum":
            return [f"CHECK ({q} IN ({', '.join(self.string_literal(v) for v in t.enum_values)}))"]
        return []

    def column_definition(self, a: Attribute, schema: str) -> str:
        return " ".join([super().column_definition(a, schema), *self.checks(a)])

    def timestamp_default(self, text: str) -> str:
        """SQLite's CURRENT_TIMESTAMP has whole seconds; finer precision comes from strftime('%f')."""
        m = _NOW.match(text)
        digits = int(m.group(1) or 0) if m else 0
        if not digits:
            return "CURRENT_TIMESTAMP"
        return f"(substr(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', 1, {20 + digits}))"

    def _create_sql(self, spec: TableSpec, name: str) -> str:
        lines = [self.column_definition(a, spec.schema) for a in spec.attributes]
        lines.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in spec.primary_key)})")
        lines += [self.fk_clause(fk) for fk in spec.foreign_keys]
        return f"CREATE TABLE {name} (\n  " + ",\n  ".join(lines) + "\n)"

    def create_table(self, spec: TableSpec):
        self.execute(self._create_sql(spec, self.full_name(spec.schema, spec.table_name)))
        self._create_indexes(spec)
        self._write_comments(spec)

    def _create_indexes(self, spec: TableSpec):
        name = self.full_name(spec.schema, spec.table_name)
        for i, index in enumerate(spec.indexes):
            cols = ", ".join(c if c.startswith("(") else self.quote(c) for c in index.columns)
            index_name = self.quote(f"{spec.schema}.{spec.table_name}.idx{i}")
            self.execute(f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {index_name} ON {name} ({cols})")

    def _write_comments(self, spec: TableSpec):
        self.execute(f'DELETE FROM "{COMMENTS}" WHERE schema_name = ? AND table_name = ?',
                     (spec.schema, spec.table_name))
        comments = [("", spec.comment)] + [(a.name, self.column_comment(a)) for a in spec.attributes]
        self.conn.executemany(f'INSERT OR REPLACE INTO "{COMMENTS}" VALUES (?, ?, ?, ?)',
                              [(spec.schema, spec.table_name, c, text) for c, text in comments])

    @staticmethod
    def _copy_expression(a: Attribute | None, column: str) -> str:
        """A modified column's stored text in the canonical form of its new type (see to_storage)."""
        if a is None:
            return column
        kind = a.type.kind
        if kind == "datetime":
            digits = a.type.args[0] if a.type.args else 0
            length = 19 + (digits + 1 if digits else 0)
            return (f"CASE WHEN instr({column}, '.') THEN substr({column} || '000000', 1, {length}) "
                    f"ELSE substr({column} || '.000000', 1, {length}) END")
        if kind == "uint64":
            return f"CASE WHEN typeof({column}) = 'integer' THEN printf('%020d', {column}) ELSE {column} END"
        if kind == "decimal":
            return f"CASE WHEN {column} IS NULL THEN NULL ELSE printf('%.{a.type.args[1]}f', {column}) END"
        return column

    def alter_table(self, spec: TableSpec, *, drop=(), rename=(), add=(), modify=(), comment=None):
        """SQLite cannot change a column in place: build the table anew from `spec`, copy the rows
        over, and swap it in (foreign-key checks paused, as SQLite's documentation prescribes)."""
        old_name = {new: old for old, new in rename}
        added = {a.name for a in add}
        copied = [a.name for a in spec.attributes if a.name not in added]
        name = self.full_name(spec.schema, spec.table_name)
        temp = self.full_name(spec.schema, f"~alter~{spec.table_name}")
        self.execute("PRAGMA foreign_keys = OFF")
        try:
            self.begin()
            try:
                self.execute(self._create_sql(spec, temp))
                modified = {a.name: a for a in modify}
                sources = [self._copy_expression(modified.get(c), self.quote(old_name.get(c, c))) for c in copied]
                self.execute(f"INSERT INTO {temp} ({', '.join(self.quote(c) for c in copied)}) SELECT "
                             f"{', '.join(sources)} FROM {name}")
                self.execute(f"DROP TABLE {name}")
                self.execute(f"ALTER TABLE {temp} RENAME TO {self.quote(f'{spec.schema}.{spec.table_name}')}")
                self._create_indexes(spec)
                self._write_comments(spec)
                if self.fetch_rows(f"PRAGMA foreign_key_check({name})"):
                    raise errors.IntegrityError(f"Altering {name} would break a foreign key.")
            except BaseException:
                self.rollback()
                raise
            self.commit()
        finally:
            self.execute("PRAGMA foreign_keys = ON")

    def drop_table(self, schema, table):
        self._refuse_drop_of_referenced(schema, table)
        super().drop_table(schema, table)
        self.execute(f'DELETE FROM "{COMMENTS}" WHERE schema_name = ? AND table_name = ?', (schema, table))


    def _refuse_drop_of_referenced(self, schema, table):
        """SQLite drops a parent whose referencing tables are empty (its DROP only deletes the rows),
        leaving children that reference a missing table; refuse as PostgreSQL and MySQL do."""
        name = f"{schema}.{table}"
        children = [r[0] for r in self.fetch_rows(
            "SELECT DISTINCT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND f.\"table\" = ? AND m.name != ?", (name, name))]
        if children:
            raise errors.IntegrityError(f"Cannot drop {self.quote(name)}: the table(s) "
                                        f"{', '.join(self.quote(c) for c in sorted(children))} reference it.")


def _md5_text(text) -> str | None:
    """SQLite has no md5(): row digests of version records use this one."""
    if text is None:
        return None
    return hashlib.md5(text.encode() if isinstance(text, str) else bytes(text)).hexdigest()


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


def _catalog_default(text):
    """Our strftime expression for CURRENT_TIMESTAMP(n) reads back as CURRENT_TIMESTAMP(n)."""
    m = _NOW_EXPRESSION.match(text or "")
    return f"CURRENT_TIMESTAMP({int(m.group(1)) - 20})" if m else text
