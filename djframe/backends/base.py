"""The Backend protocol: the one place a SQL dialect and a driver meet.

A backend executes statements, fetches Arrow, bulk-ingests Arrow, reads the
catalog and writes DDL. Everything above it speaks in TableSpecs, query nodes
and Arrow tables. Dialect differences are small overrides of this base class.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import re
import uuid
from dataclasses import dataclass

import pyarrow as pa

from djframe.errors import DataJointError, InvalidValueError
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import CoreType

LINEAGE_TABLE = "~lineage"


def _as_uuid(value, attribute) -> uuid.UUID:
    """A restriction's value for a uuid attribute: a UUID, its text or its 16 bytes."""
    try:
        if isinstance(value, (bytes, bytearray)) and len(value) == 16:
            return uuid.UUID(bytes=bytes(value))
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise InvalidValueError(f"Cannot compare the uuid attribute `{attribute.name}` with {value!r}: it is not a UUID. "
                            "Give a uuid.UUID or its text, e.g. '6ba7b810-9dad-11d1-80b4-00c04fd430c8'.")


def path_text(steps) -> str:
    """The SQL/JSON path of JSON path ``steps``: ``$.a.b[0].c`` (keys are identifiers, indices ints)."""
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the catalog reports it, before type reconstruction."""

    name: str
    sql_type: str
    nullable: bool
    default: str | None  # the catalog's default expression text, None if none
    comment: str
    in_key: bool
    autoincrement: bool = False


class Backend:
    """Base class of the three backends; subclasses override what differs."""

    name = "base"
    sqlglot_dialect = ""
    max_name_length = 64
    supports_unsigned = False
    supports_nan = True
    needs_boolean_conditions = False  # True where WHERE wants a boolean, not a number (PostgreSQL)
    supports_inf = True
    # the query compiler keeps a derived table on the right of a LEFT JOIN from being merged into the
    # outer query (LIMIT <none>) when the server then evaluates it wrongly
    materialize_outer_right = False

    # ----- identifiers and literals -------------------------------------------------
    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def full_name(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def string_literal(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def literal(self, value, attribute: Attribute | None = None) -> str:
        """An escaped SQL literal for a Python value, typed by the attribute when known."""
        if value is None:
            return "NULL"
        if attribute is not None and attribute.type.kind == "uuid" and not isinstance(value, uuid.UUID):
            return self.uuid_literal(_as_uuid(value, attribute))
        if isinstance(value, bool):
            return self.bool_literal(value)
        if isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return self.special_float_literal(value)
            return repr(value)
        if isinstance(value, uuid.UUID):
            return self.uuid_literal(value)
        if isinstance(value, dt.datetime):
            return self.string_literal(value.isoformat(sep=" "))
        if isinstance(value, (dt.date, dt.time)):
            return self.string_literal(value.isoformat())
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.bytes_literal(bytes(value))
        if isinstance(value, (dict, list)):
            return self.string_literal(json.dumps(value))
        return self.string_literal(str(value))

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    def uuid_literal(self, value: uuid.UUID) -> str:
        return self.string_literal(str(value))

    def bytes_literal(self, value: bytes) -> str:
        return "X'" + value.hex() + "'"

    def special_float_literal(self, value: float) -> str:
        raise DataJointError(f"The {self.name} backend cannot compare with the float value {value}.")

    def typed_literal(self, value, attribute: Attribute) -> str:
        """Literal for comparing against a stored column (backends override storage quirks)."""
        return self.literal(value, attribute)

    # ----- execution (drivers) -------------------------------------------------------
    def execute(self, sql: str, params=None) -> int:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def fetch_parts(self, sql: str):  # pragma: no cover - abstract
        """The result as it arrives: one or more Arrow tables of the same columns (at least one; an
        empty result is one empty table). The caller converts each part before the next is fetched,
        so the raw form of a large result is never held whole next to its converted form."""
        raise NotImplementedError("abstract")

    def fetch_arrow(self, sql: str) -> pa.Table:
        """The whole result as one Arrow table (parts whose raw types differ are promoted)."""
        parts = list(self.fetch_parts(sql))
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")

    def table_slices(self, schema: str, table: str, alias: str) -> list[str] | None:
        """WHERE terms cutting a large table into disjoint slices fetched in parallel, or None
        (the default: one stream)."""
        return None

    def fetch_split_parts(self, sqls: list[str]):
        """The parts of several SELECTs over disjoint slices of one table (see table_slices)."""
        for sql in sqls:
            yield from self.fetch_parts(sql)

    def fetch_batches(self, sql: str, batch_rows: int = 65536):
        """Stream a result as Arrow record batches (default: one table, sliced)."""
        yield from self.fetch_arrow(sql).to_batches(max_chunksize=batch_rows)

    def fetch_rows(self, sql: str, params=None) -> list[tuple]:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    # ----- raw SQL from user code (Connection.query) ------------------------------------------
    def param_marker(self, position: int) -> str:
        """The driver's placeholder for the ``position``-th (0-based) bound argument."""
        return "%s"

    def user_sql(self, sql: str) -> str:
        """User SQL written for the reference's drivers (``%s`` placeholders, ``%%`` for a percent sign,
        both anywhere in the text, as pymysql and psycopg2 format them) in this driver's style."""
        count = iter(range(1 << 30))
        return re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else self.param_marker(next(count)), sql)

    def run_query(self, sql: str, args=()) -> tuple[list[str] | None, list[tuple], int]:
        """(column names or None when the statement returns no rows, rows, row count) of one statement."""
        raise NotImplementedError("abstract")  # pragma: no cover

    @contextlib.contextmanager
    def recording(self):
        """The statements a change would execute, collected instead of executed (dry runs of deploy
        steps); reads still run."""
        statements: list[str] = []
        self.execute = lambda sql, params=None: statements.append(sql) or 0
        try:
            yield statements
        finally:
            del self.execute

    json_casts = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}

    def json_path_sql(self, column: str, steps: tuple, cast: str) -> str:
        """A scalar inside a json column (SQL NULL when missing or null), cast to int, float or text.
        The default is SQLite's json_extract; steps are identifiers (checked by the parser)."""
        return f"CAST(json_extract({column}, {self.string_literal(path_text(steps))}) AS {self.json_casts[cast]})"

    def replica_identity_sql(self, schema: str, table: str, mode: str) -> str:
        raise DataJointError(f"REPLICA IDENTITY is a PostgreSQL table setting (for change data capture); the "
                             f"{self.name} backend has none.")

    def begin(self):
        self.execute("BEGIN")

    def begin_snapshot(self):
        """A transaction whose reads all see the database as it was when it began."""
        self.begin()

    def commit(self):
        self.execute("COMMIT")

    def rollback(self):
        self.execute("ROLLBACK")

    def savepoint(self, name: str):
        """Savepoints make one write inside a caller's transaction all-or-nothing."""
        self.execute(f"SAVEPOINT {name}")

    def rollback_to_savepoint(self, name: str):
        self.execute(f"ROLLBACK TO SAVEPOINT {name}")

    def release_savepoint(self, name: str):
        self.execute(f"RELEASE SAVEPOINT {name}")

    now_sql = "SELECT LOCALTIMESTAMP(6)"

    def ping(self):
        """A round trip to the server; raises when the connection is gone."""
        self.fetch_rows("SELECT 1")

    def server_time(self) -> dt.datetime:
        """The server's clock as a naive datetime, for CURRENT_TIMESTAMP defaults filled in client-side."""
        value = self.fetch_rows(self.now_sql)[0][0]
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def close(self):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def translate_error(self, exc: Exception, context: str = "") -> Exception:
        """Map a driver exception to a DataJointError (or return it unchanged)."""
        return exc

    # ----- bulk write ---------------------------------------------------------------
    def to_storage(self, column: pa.Array, attribute: Attribute) -> pa.Array:
        """Convert a validated Arrow column into what this backend stores."""
        return column

    def ingest(self, schema: str, table: str, data: pa.Table, *, skip_duplicates=False,
               replace=False, primary_key=()) -> int:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    small_batch_rows = 200  # below this a multi-row INSERT beats the bulk path's setup
    small_batch_bytes = 1 << 20

    def is_small_batch(self, data: pa.Table) -> bool:
        return data.num_rows <= self.small_batch_rows and data.nbytes <= self.small_batch_bytes

    def ingest_is_one_statement(self, data: pa.Table, skip_duplicates=False, replace=False) -> bool:
        """True when `ingest` writes `data` with a single statement (atomic without a transaction)."""
        return False

    def insert_values(self, schema, table, data: pa.Table, conflict: str = "") -> int:
        """One INSERT ... VALUES with escaped literals: a single round trip for a few rows."""
        if not data.num_columns:
            target = self.full_name(schema, table)
            return sum(self.execute(f"INSERT INTO {target} DEFAULT VALUES") for _ in range(data.num_rows))
        rows = zip(*(column.to_pylist() for column in data.columns))
        return self.insert_rows(schema, table, data.column_names, rows, conflict)

    def insert_default_row(self, schema, table) -> int:
        """One row of nothing but defaults (auto_increment, NULL, CURRENT_TIMESTAMP)."""
        return self.execute(f"INSERT INTO {self.full_name(schema, table)} DEFAULT VALUES")

    def insert_rows(self, schema, table, names, rows, conflict: str = "") -> int:
        """INSERT ... VALUES of Python values already in their stored form (escaped literals)."""
        cols = ", ".join(self.quote(c) for c in names)
        values = ", ".join("(" + ", ".join(map(self.literal, row)) + ")" for row in rows)
        return self.execute(f"INSERT INTO {self.full_name(schema, table)} ({cols}) VALUES {values}{conflict}")

    def conflict_clause(self, names, primary_key, skip_duplicates, replace) -> str:
        """ON CONFLICT clause (PostgreSQL and SQLite spelling) for skip_duplicates / replace.

        skip_duplicates skips a clash on any unique key, as MySQL's ON DUPLICATE KEY does; replace
        overwrites the row with the same primary key (a clash on a unique index still raises).
        """
        if not (skip_duplicates or replace) or not primary_key:
            return ""
        others = [n for n in names if n not in primary_key]
        if replace and others:
            target = ", ".join(self.quote(k) for k in primary_key)
            sets = ", ".join(f"{self.quote(n)} = excluded.{self.quote(n)}" for n in others)
            return f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        return " ON CONFLICT DO NOTHING"

    def insert_select(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                      primary_key=()) -> int:
        """INSERT ... SELECT: copy a query's rows into a table entirely inside the database."""
        cols = ", ".join(self.quote(c) for c in names)
        sql = (f"INSERT INTO {self.full_name(schema, table)} ({cols}) SELECT * FROM ({select_sql}) AS src WHERE 1 = 1"
               + self.conflict_clause(names, primary_key, skip_duplicates, replace))
        return self.execute(sql)

    def update(self, schema, table, values: dict, where: str, heading=None) -> int:
        """UPDATE ... SET; with the heading, values are written in each column's stored form."""
        literal = (lambda c, v: self.typed_literal(v, heading[c])) if heading is not None else \
            (lambda c, v: self.literal(v))
        sets = ", ".join(f"{self.quote(c)} = {literal(c, v)}" for c, v in values.items())
        return self.execute(f"UPDATE {self.full_name(schema, table)} SET {sets}" + (f" WHERE {where}" if where else ""))

    # ----- fetch normalisation ------------------------------------------------------
    def from_storage(self, column: pa.ChunkedArray, attribute: Attribute) -> pa.ChunkedArray:
        """Convert a fetched column into the heading's Arrow type."""
        target = attribute.arrow_type
        if column.type == target:
            return column
        return column.cast(target)

    # ----- schemas and catalog ------------------------------------------------------
    def list_schemas(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def schema_exists(self, schema: str) -> bool:
        return schema in self.list_schemas()

    def create_schema(self, schema: str):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def drop_schema(self, schema: str):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def list_tables(self, schema: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def table_exists(self, schema: str, table: str) -> bool:
        return table in self.list_tables(schema)

    def columns(self, schema: str, table: str) -> list[ColumnInfo]:  # pragma: no cover
        raise NotImplementedError("abstract")

    def table_comment(self, schema: str, table: str) -> str:  # pragma: no cover
        raise NotImplementedError("abstract")

    def foreign_keys(self, schema: str) -> list[tuple[str, ForeignKeySpec]]:  # pragma: no cover
        """Every FK of every table in `schema`, as (child table, spec)."""
        raise NotImplementedError("abstract")

    def indexes(self, schema: str, table: str) -> list[IndexSpec]:  # pragma: no cover
        raise NotImplementedError("abstract")

    def core_type_of(self, sql_type: str) -> CoreType:  # pragma: no cover - abstract
        """Core type for a column that carries no `:type:` comment marker."""
        raise NotImplementedError("abstract")

    # ----- DDL ----------------------------------------------------------------------
    def column_type(self, t: CoreType, schema: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def create_table(self, spec: TableSpec):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def declare(self, spec: TableSpec):
        """Create the table and its ~lineage rows together (transactional DDL where the server has it)."""
        self.begin()
        try:
            self.create_table(spec)
            self.write_lineage(spec.schema, spec.table_name, spec.lineage)
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def drop_table(self, schema: str, table: str):
        self.execute(f"DROP TABLE {self.full_name(schema, table)}")

    def column_definition(self, a: Attribute, schema: str) -> str:
        """One column of CREATE TABLE / ADD COLUMN (without its comment)."""
        return f"{self.quote(a.name)} {self.column_type(a.type, schema)} {self.default_clause(a, schema)}"

    # ----- ALTER (secondary attributes and comments only) ---------------------------------
    def alter_table(self, spec: TableSpec, *, drop=(), rename=(), add=(), modify=(), comment=None):
        """Apply the changes of Table.alter in one transaction (where DDL is transactional).

        `spec` is the table as it will be; drop: names; rename: (old, new) pairs;
        add / modify: Attributes; comment: the new table comment or None.
        """
        self.begin()
        try:
            for name in drop:
                self.alter_drop_column(spec, name)
            for old, new in rename:
                self.alter_rename_column(spec, old, new)
            for a in add:
                self.alter_add_column(spec, a)
            for a in modify:
                self.alter_modify_column(spec, a)
            if comment is not None:
                self.alter_table_comment(spec, comment)
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def _alter(self, spec: TableSpec, clause: str):
        self.execute(f"ALTER TABLE {self.full_name(spec.schema, spec.table_name)} {clause}")

    def alter_add_column(self, spec: TableSpec, a: Attribute):
        self._alter(spec, f"ADD COLUMN {self.column_definition(a, spec.schema)}")
        self.alter_column_comment(spec, a)

    def alter_drop_column(self, spec: TableSpec, name: str):
        self._alter(spec, f"DROP COLUMN {self.quote(name)}")

    def alter_rename_column(self, spec: TableSpec, old: str, new: str):
        self._alter(spec, f"RENAME COLUMN {self.quote(old)} TO {self.quote(new)}")

    def alter_modify_column(self, spec: TableSpec, a: Attribute):
        """Standard SQL (PostgreSQL's spelling): type, NULL-ability, default and comment in turn."""
        col = f"ALTER COLUMN {self.quote(a.name)}"
        self._alter(spec, f"{col} TYPE {self.column_type(a.type, spec.schema)}")
        self._alter(spec, f"{col} {'DROP' if a.nullable else 'SET'} NOT NULL")
        default = self.default_expression(a, spec.schema)
        self._alter(spec, f"{col} SET DEFAULT {default}" if default else f"{col} DROP DEFAULT")
        self.alter_column_comment(spec, a)

    def default_expression(self, a: Attribute, schema: str) -> str | None:
        """The DEFAULT expression of a column, or None when it has none."""
        if a.nullable:
            return "NULL"
        if not a.has_default or a.default is None:
            return None
        return self.timestamp_default(a.default) if a.default_is_expression else self.default_literal(a, schema)

    def alter_column_comment(self, spec: TableSpec, a: Attribute):
        self.execute(f"COMMENT ON COLUMN {self.full_name(spec.schema, spec.table_name)}.{self.quote(a.name)} "
                     f"IS {self.string_literal(self.column_comment(a))}")

    def alter_table_comment(self, spec: TableSpec, comment: str):
        self.execute(f"COMMENT ON TABLE {self.full_name(spec.schema, spec.table_name)} "
                     f"IS {self.string_literal(comment)}")

    def default_clause(self, a: Attribute, schema: str) -> str:
        """NOT NULL / DEFAULT clause of a column definition."""
        if a.nullable:
            return "DEFAULT NULL"
        default = self.default_expression(a, schema)
        return f"NOT NULL DEFAULT {default}" if default else "NOT NULL"

    def timestamp_default(self, text: str) -> str:
        return text

    def default_literal(self, a: Attribute, schema: str) -> str:
        if a.type.kind == "bool":
            return self.bool_literal(a.default in ("1", "true", "True"))
        if a.type.is_numeric and a.type.kind != "bool":
            return self.string_literal(a.default)
        return self.string_literal(a.default)

    def fk_clause(self, fk: ForeignKeySpec) -> str:
        cols = ", ".join(self.quote(c) for c in fk.child_attributes)
        parent_cols = ", ".join(self.quote(p) for p in fk.parent_attributes)
        return (f"FOREIGN KEY ({cols}) REFERENCES {self.full_name(fk.parent_schema, fk.parent_table)} "
                f"({parent_cols}) ON UPDATE CASCADE ON DELETE RESTRICT")

    def column_comment(self, a: Attribute) -> str:
        """The `:type:comment` marker that records the declared type for every client."""
        return f":{a.type.text}:{a.comment}" if a.type.kind != "native" else a.comment

    # ----- the ~lineage table ---------------------------------------------------------
    def lineage_table_spec(self, schema: str) -> str:
        q = self.quote
        return (f"CREATE TABLE IF NOT EXISTS {self.full_name(schema, LINEAGE_TABLE)} ("
                f"{q('table_name')} varchar(64) NOT NULL, {q('attribute_name')} varchar(64) NOT NULL, "
                f"{q('lineage')} varchar(255) NOT NULL, PRIMARY KEY ({q('table_name')}, {q('attribute_name')}))")

    def write_lineage(self, schema: str, table: str, lineage: dict[str, str]):
        """Replace the ~lineage rows of one table."""
        self.execute(self.lineage_table_spec(schema))
        name = self.full_name(schema, LINEAGE_TABLE)
        self.execute(f"DELETE FROM {name} WHERE {self.quote('table_name')} = {self.string_literal(table)}")
        if lineage:
            values = ", ".join(
                f"({self.string_literal(table)}, {self.string_literal(a)}, {self.string_literal(v)})"
                for a, v in lineage.items())
            self.execute(f"INSERT INTO {name} ({self.quote('table_name')}, {self.quote('attribute_name')}, "
                         f"{self.quote('lineage')}) VALUES {values}")

    def read_lineage(self, schema: str) -> dict[tuple[str, str], str]:
        if not self.table_exists(schema, LINEAGE_TABLE):
            return {}
        rows = self.fetch_rows(f"SELECT {self.quote('table_name')}, {self.quote('attribute_name')}, "
                               f"{self.quote('lineage')} FROM {self.full_name(schema, LINEAGE_TABLE)}")
        return {(t, a): v for t, a, v in rows}

    def delete_lineage(self, schema: str, table: str):
        if self.table_exists(schema, LINEAGE_TABLE):
            self.execute(f"DELETE FROM {self.full_name(schema, LINEAGE_TABLE)} "
                         f"WHERE {self.quote('table_name')} = {self.string_literal(table)}")

    def limit_clause(self, limit, offset) -> str:
        text = f"LIMIT {self.no_limit if limit is None else int(limit)}"
        return text + (f" OFFSET {int(offset)}" if offset else "")

    no_limit = "-1"

    # ----- small query helpers used by the table layer --------------------------------
    def count(self, sql_from: str) -> int:
        return int(self.fetch_rows(f"SELECT COUNT(*) FROM {sql_from}")[0][0])

    def server_now(self) -> str:
        return "CURRENT_TIMESTAMP"

    def connection_id(self) -> int:
        return 0

    current_user_sql = "SELECT CURRENT_USER"

    def current_user(self) -> str:
        """The database user this connection acts as (recorded with each reserved job)."""
        return str(self.fetch_rows(self.current_user_sql)[0][0])

    # ----- job queue: claiming and liveness (jobs.py) -------------------------------------------
    connection_id_sql = "0"  # this session's id, as the server reports it in its session list
    clock_ms_sql = "LOCALTIMESTAMP(3)"  # the server clock at the queue columns' precision
    random_sql = "RANDOM()"
    claim_lock = ""  # the clause that lets concurrent claimers pass over each other's rows

    def job_order_sql(self, order: str, key_columns) -> str:
        """ORDER BY of a claim: priority first, then 'original' (oldest, then key), 'reverse' or 'random'."""
        priority = self.quote("priority")
        if order == "random":
            return f"{priority}, {self.random_sql}"
        direction = " DESC" if order == "reverse" else ""
        return ", ".join([priority] + [self.quote(c) + direction for c in ("scheduled_time", *key_columns)])

    def claim_set_sql(self, values: dict, heading) -> str:
        """SET of a claim: the worker's values, the server's clock and this session's id."""
        sets = [f"{self.quote(c)} = {self.typed_literal(v, heading[c])}" for c, v in values.items()]
        sets += [f"{self.quote('reserved_time')} = {self.clock_ms_sql}",
                 f"{self.quote('connection_id')} = {self.connection_id_sql}"]
        return ", ".join(sets)

    def claim_jobs(self, schema, table, key_columns, where: str, order_sql: str, limit: int, values: dict,
                   heading) -> pa.Table:
        """Reserve up to `limit` jobs matching `where` in ONE statement, so concurrent workers never
        race for a row: the raw key columns (and connection_id) of the jobs this session now holds."""
        name = self.full_name(schema, table)
        keys = ", ".join(self.quote(c) for c in key_columns)
        pick = (f"SELECT {keys} FROM {name} WHERE {self.due_now_sql(where)} ORDER BY {order_sql} LIMIT {int(limit)}"
                f"{self.claim_lock}")
        return self.fetch_returning(f"UPDATE {name} SET {self.claim_set_sql(values, heading)} WHERE ({keys}) IN "
                                    f"({pick}) RETURNING {keys}, {self.claimed_columns_sql()}")

    def claimed_columns_sql(self) -> str:
        """What a claim returns after the key: the holder, and what orders the claimed jobs."""
        return ", ".join(self.quote(c) for c in ("connection_id", "priority", "scheduled_time"))

    def due_now_sql(self, where: str) -> str:
        """`where` and: scheduled by now, on the server's clock (no round trip to read it)."""
        return f"{where} AND {self.quote('scheduled_time')} <= {self.clock_ms_sql}"

    def delete_where(self, schema, table, where: str) -> int:
        """One DELETE (atomic by itself: no transaction around it); the number of rows deleted."""
        return self.execute(f"DELETE FROM {self.full_name(schema, table)} WHERE {where}")

    def fetch_returning(self, sql: str) -> pa.Table:
        """The rows of a writing statement (UPDATE ... RETURNING), raw."""
        return self.fetch_arrow(sql)

    def live_sessions(self) -> dict | None:
        """{session id: start time or None} of every session the server has now; None when the
        server cannot tell (an embedded database), or cannot show all of them to this user."""
        return None

    # ----- version records of made rows (djframe.tables.stale) ---------------------------------------------
    def row_digest_sql(self, qualifier: str, columns) -> str:
        """The md5 (hex text) of one row's `columns`, NULL-safe and in the given order."""
        values = " || ',' || ".join(f"quote({qualifier}.{self.quote(c)})" for c in columns)
        return f"md5({values or repr('')})"

    def digest_list_sql(self, digests) -> str:
        """The digests as one text, comma-separated, a missing one (NULL) as '-'."""
        return "(" + " || ',' || ".join(f"COALESCE({d}, '-')" for d in digests) + ")" if digests else "''"

    def version_select(self, target: tuple, columns, parents, where: str = "", constants=None, keys=(),
                       record: tuple | None = None, record_columns=()) -> str:
        """SELECT per row of `target` (restricted by `where`, written on its full name): its `keys`,
        the `constants`, ``_dj_witness`` (the digest of its `columns`), ``_dj_upstream`` (the digest of
        each parent's referenced row: (schema, table, columns, [(child attr, parent attr)]) each), and,
        with `record`, the record table's `record_columns` of the same key as ``_dj_recorded_<name>``."""
        name, q = self.full_name(*target), self.quote
        out = [f"{name}.{q(k)} AS {q(k)}" for k in keys]
        out += [f"{self.literal(v)} AS {q(c)}" for c, v in (constants or {}).items()]
        out.append(f"{self.row_digest_sql(name, columns)} AS {q('_dj_witness')}")
        digests = []
        for i, (schema, table, parent_columns, attr_map) in enumerate(parents):
            alias = q(f"_dj_p{i}")
            match = " AND ".join(f"{alias}.{q(pa)} = {name}.{q(ch)}" for ch, pa in attr_map)
            digests.append(f"(SELECT {self.row_digest_sql(alias, parent_columns)} FROM {self.full_name(schema, table)} "
                           f"AS {alias} WHERE {match})")
        out.append(f"{self.digest_list_sql(digests)} AS {q('_dj_upstream')}")
        source = name
        if record is not None:
            rec = q("_dj_r")
            source += (f" LEFT JOIN {self.full_name(*record)} AS {rec} ON "
                       + " AND ".join(f"{rec}.{q(k)} = {name}.{q(k)}" for k in keys))
            out += [f"{rec}.{q(c)} AS {q('_dj_recorded_' + c)}" for c in record_columns]
        return f"SELECT {', '.join(out)} FROM {source}" + (f" WHERE {where}" if where else "")

    bound_key_kinds: frozenset = frozenset()  # key types passed as bound parameters (see key_condition)

    def key_condition(self, qualifier: str, key: dict, heading) -> tuple[str, list]:
        """(``qualifier.attr = value AND ...``, parameters) for the key's attributes in `heading`: values
        of `bound_key_kinds` as parameters (the statement text then repeats, so a driver's cache of
        prepared statements serves every key), others as literals in their stored form."""
        terms, params = [], []
        for k, v in key.items():
            if k not in heading.names:
                continue
            attribute = heading[k]
            if attribute.type.kind in self.bound_key_kinds and isinstance(v, (int, str)) and not isinstance(v, bool):
                terms.append(f"{qualifier}.{self.quote(k)} = {self.param_marker(len(params))}")
                params.append(v)
            else:
                terms.append(f"{qualifier}.{self.quote(k)} = {self.typed_literal(v, attribute)}")
        return " AND ".join(terms) or "1 = 1", params

    def upsert_select(self, schema, table, names, select_sql, primary_key, params=None) -> int:
        """INSERT ... SELECT that replaces rows of the same primary key, in one statement (the
        select must not read `table` itself)."""
        cols = ", ".join(self.quote(c) for c in names)
        return self.execute(f"INSERT INTO {self.full_name(schema, table)} ({cols}) SELECT * FROM ({select_sql}) AS src "
                            "WHERE 1 = 1" + Backend.conflict_clause(self, names, primary_key, False, True), params)


# ----- parts of a result whose raw types differ ---------------------------------------------------
_TEXT = {pa.string(), pa.large_string()}
_BYTES = _TEXT | {pa.binary(), pa.large_binary()}


def unify_chunks(chunks: list) -> pa.ChunkedArray:
    """One column from chunks of different types (NULL-only chunks, integers in one chunk and reals
    in the next: SQLite values carry their own storage class), promoting as Arrow infers a mix of
    such values; any other mix becomes text."""
    target = _common_type({c.type for c in chunks} - {pa.null()})
    if target is not None:
        try:
            return pa.chunked_array([c if c.type == target else c.cast(target) for c in chunks], target)
        except pa.ArrowInvalid:  # an integer too large for an exact double
            pass
    return pa.chunked_array([text_array(c.to_pylist()) for c in chunks], pa.large_string())


def _common_type(types: set) -> pa.DataType | None:
    """The type pa.array gives values of all these types; None when only text holds them."""
    if len(types) <= 1:
        return types.pop() if types else pa.null()
    if types <= {pa.int64(), pa.float64()}:
        return pa.float64()
    if types <= _TEXT:
        return pa.large_string()
    return pa.large_binary() if types <= _BYTES else None


def text_array(values) -> pa.Array:
    """Values of any kind as text (the last resort for a column of mixed types)."""
    return pa.array([None if v is None else str(v) for v in values], pa.large_string())
