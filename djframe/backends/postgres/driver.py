"""PostgreSQL through ADBC: Arrow in (binary COPY), Arrow out.

One autocommit ADBC connection carries everything, so reads inside an explicit
``BEGIN`` see that transaction's writes. The table layout follows the reference
client (storage reference §3.3-§9): enum types ``"schema"."enum_<md5[:8]>"``
shared by value set, ``:type:comment`` markers via COMMENT ON COLUMN, FK
indexes named ``idx_<table>_<cols>``. PostgreSQL lacks 1-byte and unsigned
integers, so those get the next wider signed type plus a CHECK constraint
(uint64 becomes numeric(20,0)).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote as url_quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from djframe import errors
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import INTEGER_RANGES, CoreType, enum_text, parse_type
from djframe.backends.base import Backend, ColumnInfo

_SQL_TYPES = {
    "int8": "smallint", "uint8": "smallint", "int16": "smallint", "uint16": "integer", "int32": "integer",
    "uint32": "bigint", "int64": "bigint", "uint64": "numeric(20,0)", "float32": "real",
    "float64": "double precision", "bool": "boolean", "date": "date", "json": "jsonb", "uuid": "uuid",
    "bytes": "bytea", "text": "text",
}
_CHECKED = {"int8", "uint8", "uint16", "uint32", "uint64"}  # ranges narrower than the SQL type
_CORE_OF_SQL = {
    "smallint": "int16", "integer": "int32", "bigint": "int64", "real": "float32", "double precision": "float64",
    "boolean": "bool", "date": "date", "jsonb": "json", "json": "json", "uuid": "uuid", "bytea": "bytes",
    "text": "text", "timestamp without time zone": "datetime(6)",
}
_SQL_PATTERNS = (
    (re.compile(r"^numeric\((\d+),(\d+)\)$"), lambda m: f"decimal({m[1]},{m[2]})" if int(m[1]) <= 38 else None),
    (re.compile(r"^character varying\((\d+)\)$"), lambda m: f"varchar({m[1]})"),
    (re.compile(r"^character\((\d+)\)$"), lambda m: f"char({m[1]})"),
    (re.compile(r"^timestamp\((\d)\) without time zone$"), lambda m: f"datetime({m[1]})"),
)
_INVALID_VALUE = {"23514", "22003", "22P02", "22001", "22007", "22008", "22P03"}
_ERRORS = {
    "23505": errors.DuplicateError, "21000": errors.DuplicateError, "23503": errors.IntegrityError,
    "23502": errors.MissingAttributeError, "42703": errors.UnknownAttributeError,
    "42P01": errors.MissingTableError, "3F000": errors.MissingTableError, "42601": errors.QuerySyntaxError,
    "42501": errors.AccessError, "57P01": errors.LostConnectionError, "57P02": errors.LostConnectionError,
    "57P03": errors.LostConnectionError,
}
_UNHEX = np.zeros(256, np.uint8)
_UNHEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
_UNHEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), np.uint16)  # byte -> two hex digits
_UUID_GROUPS = ((0, 8), (9, 13), (14, 18), (19, 23), (24, 36))  # hex digit runs of the canonical text
_temp_names = itertools.count()
MAX_PARALLEL = 4  # connections one fetch may use at once
SAMPLE_PAGES = 400  # pages read to find where a large table's live rows are
SLICE_CACHE_SECONDS = 10.0
_NULL_DEFAULT = re.compile(r"^NULL(::[\w\s\".]+)?$", re.I)


class PostgresBackend(Backend):
    name = "postgresql"
    sqlglot_dialect = "postgres"
    max_name_length = 63
    no_limit = "ALL"
    needs_boolean_conditions = True

    def __init__(self, host="localhost", port=5432, user=None, password=None, database_name="postgres",
                 use_tls=None):
        self.where = f"{host or 'localhost'}:{port or 5432}/{database_name or 'postgres'}"
        auth = url_quote(user or "", safe="") + (":" + url_quote(password, safe="") if password else "")
        ssl = {True: "require", False: "disable"}.get(use_tls, "prefer")
        uri = (f"postgresql://{auth + '@' if auth else ''}{host or 'localhost'}:{port or 5432}/"
               f"{url_quote(database_name or 'postgres', safe='')}?sslmode={ssl}")
        self._uri, self._in_transaction, self._idle, self._slice_bounds = uri, False, [], {}
        self.conn = self._connect()

    def _connect(self):
        import adbc_driver_postgresql.dbapi as adbc

        try:
            return adbc.connect(self._uri, autocommit=True)
        except Exception as e:
            raise errors.LostConnectionError(f"Cannot connect to PostgreSQL at {self.where}: {_server_message(e)}") \
                from None

    # ----- literals -------------------------------------------------------------------
    def bool_literal(self, value: bool) -> str:
        return "TRUE" if value else "FALSE"

    def special_float_literal(self, value: float) -> str:
        text = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        return f"'{text}'::float8"

    def bytes_literal(self, value: bytes) -> str:
        return f"'\\x{value.hex()}'::bytea"

    def uuid_literal(self, value) -> str:
        return f"'{value}'::uuid"

    def typed_literal(self, value, attribute: Attribute) -> str:
        """PostgreSQL does not coerce across type families: bool needs TRUE/FALSE, strings need quotes."""
        kind = attribute.type.kind
        if value is None:
            return "NULL"
        if kind == "bool" and isinstance(value, (bool, int, np.integer)):
            return self.bool_literal(bool(value))
        if kind in ("char", "varchar", "enum", "text") and not isinstance(value, str):
            value = str(value)
        if kind == "enum" and value not in attribute.type.enum_values:
            return "ANY('{}')"  # matches nothing, as on MySQL; the enum type would reject the literal
        if kind in ("char", "varchar", "enum", "text"):
            return self.string_literal(value)
        return self.literal(value, attribute)

    # ----- execution --------------------------------------------------------------------
    def _run(self, sql: str, params, take, bulk=False):
        """Run one statement on the main connection; `take` reads the cursor before it closes.

        Only bulk fetches stream results through COPY: for small statements (BEGIN, existence
        checks, catalog reads) the driver's COPY path costs four times the round trip."""
        for attempt in (0, 1):
            try:
                with self.conn.cursor() as cur:
                    if not bulk:
                        cur.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
                    cur.execute(sql, params)
                    return take(cur)
            except Exception as e:
                error = self.translate_error(e, sql)
                if attempt or self._in_transaction or not isinstance(error, errors.LostConnectionError):
                    raise error from None
                self._reconnect()  # outside a transaction nothing is lost: run it again on a new session

    def _reconnect(self):
        """A new session after the server ended ours (restart, pg_terminate_backend, idle timeout)."""
        for side in self._idle:
            with contextlib.suppress(Exception):
                side.close()
        self._idle.clear()
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = self._connect()
        self.reconnects = getattr(self, "reconnects", 0) + 1

    def execute(self, sql: str, params=None) -> int:
        return self._run(sql, params, lambda cur: cur.rowcount)

    def fetch_rows(self, sql: str, params=None) -> list[tuple]:
        return self._run(sql, params, lambda cur: cur.fetchall())

    def param_marker(self, position: int) -> str:
        return f"${position + 1}"

    def run_query(self, sql, args=()):
        def take(cur):
            names = [d[0] for d in cur.description] if cur.description else None
            return names, cur.fetchall() if names else [], cur.rowcount
        return self._run(self.user_sql(sql), tuple(args) if args else None, take)

    def fetch_parts(self, sql: str):
        yield self._run(sql, None, lambda cur: _plain_table(cur.fetch_arrow_table()), bulk=True)

    json_casts = {"int": "bigint", "float": "double precision", "str": "text"}

    def json_path_sql(self, column: str, steps: tuple, cast: str) -> str:
        keys = ", ".join(self.string_literal(str(s)) for s in steps)  # an index is text too
        return f"CAST(jsonb_extract_path_text(({column})::jsonb, {keys}) AS {self.json_casts[cast]})"

    def replica_identity_sql(self, schema: str, table: str, mode: str) -> str:
        return f"ALTER TABLE {self.full_name(schema, table)} REPLICA IDENTITY {mode.upper()}"

    def begin(self):
        super().begin()
        self._in_transaction = True

    def begin_snapshot(self):
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # READ COMMITTED re-reads per statement
        self._in_transaction = True

    def commit(self):
        try:  # never re-run on a new session: the transaction died with the old one
            super().commit()
        finally:
            self._in_transaction = False

    def rollback(self):
        self._in_transaction = False
        super().rollback()

    def fetch_batches(self, sql: str, batch_rows: int = 65536):
        """Stream through COPY, which holds its connection until done: outside a transaction a side
        connection streams, so the caller may write while iterating; inside one the main connection
        must (to see the transaction's own writes) and other statements wait until the stream ends."""
        side = None if self._in_transaction else (self._idle.pop() if self._idle else self._connect())
        cur = (side or self.conn).cursor()
        try:
            try:
                cur.execute(sql)
                reader = cur.fetch_record_batch()
            except Exception as e:
                raise self.translate_error(e, sql) from None
            for batch in reader:
                yield from _plain_table(pa.Table.from_batches([batch])).to_batches(max_chunksize=batch_rows)
        finally:
            cur.close()
            if side is not None and not self._idle:
                self._idle.append(side)  # keep one for the next stream
            elif side is not None:
                side.close()

    # ----- parallel fetch of large tables ---------------------------------------------------
    parallel_min_pages = 4096  # 32 MB of table and
    parallel_min_rows = 200_000  # live rows: below these one stream is as fast as several

    def table_slices(self, schema, table, alias):
        """Ranges of the table's physical pages (TID range scans, PostgreSQL 14+), one per core, cut
        where a sample of its rows says they hold equal shares of the live rows (pages of dead rows
        would skew an even cut), for a table large enough that several streams beat one. Never inside
        a transaction: the slices are read on other connections, which could not see its writes."""
        parts = min(os.cpu_count() or 1, MAX_PARALLEL)
        if self._in_transaction or parts < 2 or self._server_version() < 140000:
            return None
        key = (schema, table, parts)
        cached = self._slice_bounds.get(key)
        if cached is None or time.monotonic() - cached[0] > SLICE_CACHE_SECONDS:
            cached = self._slice_bounds[key] = (time.monotonic(), self._page_bounds(schema, table, parts))
        bounds = cached[1]
        if not bounds:
            return None
        column = f"{alias}.ctid"
        terms = [f"{column} < '({bounds[0]},0)'::tid"]
        terms += [f"{column} >= '({lo},0)'::tid AND {column} < '({hi},0)'::tid" for lo, hi in zip(bounds, bounds[1:])]
        return terms + [f"{column} >= '({bounds[-1]},0)'::tid"]

    def _page_bounds(self, schema, table, parts) -> list[int]:
        """Page numbers cutting the table into `parts` slices of about equal live rows ([] if too small).
        Asked again after SLICE_CACHE_SECONDS: a stale answer is still correct (the last slice is open)."""
        name = self.string_literal(self.full_name(schema, table))
        pages = self.fetch_rows(f"SELECT pg_relation_size(to_regclass({name})) / current_setting('block_size')::int")
        pages = int(pages[0][0] or 0) if pages else 0
        if pages < self.parallel_min_pages:
            return []
        percent = min(100.0, 100.0 * SAMPLE_PAGES / pages)
        shares = ", ".join(str(i / parts) for i in range(1, parts))
        count, bounds = self.fetch_rows(
            f"SELECT count(*), percentile_disc(ARRAY[{shares}]) WITHIN GROUP (ORDER BY b) FROM (SELECT "
            f"(ctid::text::point)[0] AS b FROM {self.full_name(schema, table)} TABLESAMPLE SYSTEM ({percent})) s")[0]
        if count * 100.0 / percent < self.parallel_min_rows or not bounds:
            return []
        return sorted({int(b) for b in _float_array(bounds)} - {0})

    def _server_version(self) -> int:
        if not hasattr(self, "_version"):
            self._version = int(self.fetch_rows("SHOW server_version_num")[0][0])
        return self._version

    def fetch_split_parts(self, sqls):
        """Fetch the slices concurrently, one connection each, all reading one exported snapshot:
        together they are what a single SELECT would have returned at that moment."""
        if len(sqls) < 2 or self._in_transaction:
            yield from super().fetch_split_parts(sqls)
            return
        sides = [self._idle.pop() if self._idle else self._connect() for _ in sqls[1:]]
        conns, started, healthy = [self.conn, *sides], [], False
        try:
            self._begin_snapshot(conns, started)
            with ThreadPoolExecutor(len(conns)) as pool:
                tables = pool.map(lambda job: self._fetch_on(*job), zip(conns, sqls))
                yield from tables  # in order, each as soon as it is complete
            healthy = True
        except Exception as e:
            raise self.translate_error(e, sqls[0]) from None
        finally:
            for conn in started:
                with contextlib.suppress(Exception), conn.cursor() as cur:
                    cur.execute("COMMIT")
            for side in sides:  # kept for the next parallel fetch, unless something went wrong
                if healthy and len(self._idle) < MAX_PARALLEL:
                    self._idle.append(side)
                else:
                    with contextlib.suppress(Exception):
                        side.close()

    @staticmethod
    def _begin_snapshot(conns, started) -> str:
        """Open a read-only repeatable-read transaction on each connection, sharing the first's snapshot."""
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        with conns[0].cursor() as cur:
            cur.execute(begin)
            started.append(conns[0])
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
        for conn in conns[1:]:
            with conn.cursor() as cur:
                cur.execute(begin)
                started.append(conn)
                cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return snapshot

    @staticmethod
    def _fetch_on(conn, sql) -> pa.Table:
        with conn.cursor() as cur:
            cur.execute(sql)
            return _plain_table(cur.fetch_arrow_table())

    def close(self):
        for side in self._idle:
            side.close()
        self.conn.close()

    def translate_error(self, exc: Exception, context: str = "") -> Exception:
        if isinstance(exc, errors.DataJointError) or not hasattr(exc, "sqlstate"):
            return exc
        state, msg = exc.sqlstate or "", _server_message(exc)
        if state in _INVALID_VALUE:
            return errors.InvalidValueError(f"Value rejected by PostgreSQL: {msg}")
        if state.startswith("08") or "server closed the connection" in msg or "no connection" in msg:
            return errors.LostConnectionError(f"Lost the connection to PostgreSQL at {self.where}: {msg}")
        cls = _ERRORS.get(state)
        if cls is errors.QuerySyntaxError:
            return cls(f"{msg} in SQL: {context}")
        if cls is not None:
            return cls(msg)
        if state == "25P02":
            msg += " (an earlier statement in this transaction failed; the transaction must be rolled back)"
        return errors.QueryError(f"{msg} in SQL: {context}" if context else msg)

    def connection_id(self) -> int:
        return int(self.fetch_rows("SELECT pg_backend_pid()")[0][0])

    def server_now(self) -> str:
        return "LOCALTIMESTAMP"  # naive, like the timestamp columns it is compared with

    # ----- job queue ------------------------------------------------------------------------
    connection_id_sql = "pg_backend_pid()"
    claim_lock = " FOR UPDATE SKIP LOCKED"

    def fetch_returning(self, sql: str) -> pa.Table:
        return self._run(sql, None, lambda cur: _plain_table(cur.fetch_arrow_table()))

    def live_sessions(self) -> dict:
        """pg_stat_activity lists every backend to every user (start times only where permitted)."""
        return {int(pid): start for pid, start in
                self.fetch_rows("SELECT pid, backend_start::timestamp(3) FROM pg_stat_activity WHERE pid IS NOT NULL")}

    def row_digest_sql(self, qualifier: str, columns) -> str:
        """md5 of the row's text form (ROW(...)::text quotes and marks NULLs itself)."""
        return f"md5(ROW({', '.join(f'{qualifier}.{self.quote(c)}' for c in columns)})::text)"

    # ----- bulk write ---------------------------------------------------------------------
    def to_storage(self, column, attribute: Attribute):
        """Arrow types binary COPY writes straight into our column types."""
        t = attribute.type
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if t.kind == "uint64":
            return column.cast(pa.decimal128(20, 0))
        if t.kind == "uuid":
            return _uuid_from_text(column)
        if t.storage.kind == "json":  # json, and codecs whose chain ends in json
            return pa.ExtensionArray.from_storage(pa.json_(), column.cast(pa.string()))
        return column

    def conflict_clause(self, names, primary_key, skip_duplicates, replace) -> str:
        """skip_duplicates skips a clash on any unique key, as MySQL's ON DUPLICATE KEY does."""
        if skip_duplicates and not replace:
            return " ON CONFLICT DO NOTHING"
        return super().conflict_clause(names, primary_key, skip_duplicates, replace)

    def ingest(self, schema, table, data: pa.Table, *, skip_duplicates=False, replace=False,
               primary_key=()) -> int:
        """Binary COPY into the table, or into a temporary twin then INSERT ... ON CONFLICT;
        a small batch is one multi-row INSERT (COPY's setup costs more than it saves there)."""
        if not data.num_rows:
            return 0
        conflict = self.conflict_clause(data.column_names, primary_key, skip_duplicates, replace)
        if self.is_small_batch(data):
            return self.insert_values(schema, table, data, conflict)
        if not conflict:
            self._copy(data, table, schema)
            return data.num_rows
        temp = self.quote(f"~ingest_{next(_temp_names)}")
        cols = ", ".join(self.quote(c) for c in data.column_names)
        self.execute(f"CREATE TEMPORARY TABLE {temp} AS SELECT {cols} FROM {self.full_name(schema, table)} "
                     "WITH NO DATA")
        try:
            self._copy(data, temp[1:-1].replace('""', '"'), None)
            return self.execute(f"INSERT INTO {self.full_name(schema, table)} ({cols}) "
                                f"SELECT {cols} FROM {temp}{conflict}")
        finally:
            try:
                self.execute(f"DROP TABLE IF EXISTS {temp}")
            except errors.DataJointError:
                pass  # aborted transaction: the rollback removes the table

    def ingest_is_one_statement(self, data, skip_duplicates=False, replace=False) -> bool:
        return self.is_small_batch(data)

    def insert_select(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                      primary_key=()) -> int:
        """INSERT ... SELECT, casting enum columns via text: each schema has its own enum types."""
        enums = dict(self.fetch_rows(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"JOIN pg_type t ON t.oid = a.atttypid WHERE {self._relation(schema, table)} AND t.typtype = 'e'"))
        if not enums.keys() & set(names):
            return super().insert_select(schema, table, names, select_sql, skip_duplicates=skip_duplicates,
                                         replace=replace, primary_key=primary_key)
        cols = ", ".join(self.quote(c) for c in names)
        values = ", ".join(f"src.{self.quote(c)}::text::{enums[c]}" if c in enums else f"src.{self.quote(c)}"
                           for c in names)
        return self.execute(f"INSERT INTO {self.full_name(schema, table)} ({cols}) SELECT {values} "
                            f"FROM ({select_sql}) AS src" + self.conflict_clause(names, primary_key, skip_duplicates,
                                                                                 replace))

    def _copy(self, data: pa.Table, table: str, schema: str | None):
        try:
            with self.conn.cursor() as cur:
                if schema is None:
                    cur.adbc_ingest(table, data, mode="append", temporary=True)
                else:
                    cur.adbc_ingest(table, data, mode="append", db_schema_name=schema)
        except Exception as e:
            raise self.translate_error(e, f"COPY into {table}") from None

    # ----- fetch normalisation --------------------------------------------------------------
    def from_storage(self, column: pa.ChunkedArray, attribute: Attribute) -> pa.ChunkedArray:
        target = attribute.arrow_type
        if pa.types.is_null(column.type):
            return pa.chunked_array([pa.nulls(len(column), target)], target)
        if attribute.type.kind == "char":  # character(n) pads with spaces; MySQL and SQLite do not
            column = pc.utf8_rtrim(column.cast(pa.large_string()), characters=" ")
        if column.type == target:
            return column
        try:
            return column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if attribute.type.kind == "native":
                return column  # best effort for passthrough types
            raise

    # ----- schemas and catalog ------------------------------------------------------------
    def list_schemas(self):
        return [r[0] for r in self.fetch_rows(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%' ORDER BY nspname")]

    def schema_exists(self, schema):
        return bool(self.fetch_rows(f"SELECT 1 FROM pg_namespace WHERE nspname = {self.string_literal(schema)}"))

    def create_schema(self, schema):
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}")

    def drop_schema(self, schema):
        """DROP ... CASCADE, refused when it would reach into another schema (FKs, shared enum types)."""
        s = self.string_literal(schema)
        outside = self.fetch_rows(
            "SELECT DISTINCT n.nspname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = d.refobjid "
            f"JOIN pg_namespace tn ON tn.oid = t.typnamespace WHERE tn.nspname = {s} AND n.nspname <> {s} "
            "AND d.classid = 'pg_class'::regclass AND d.deptype = 'n' UNION "
            "SELECT DISTINCT n.nspname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class p ON p.oid = k.confrelid "
            f"JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE k.contype = 'f' AND pn.nspname = {s} "
            f"AND n.nspname <> {s}")
        if outside:
            raise errors.IntegrityError(
                f"Cannot drop schema `{schema}`: tables in schema(s) {sorted(r[0] for r in outside)} depend on "
                "it (foreign keys or enum types). Drop those schemas or tables first.")
        self.execute(f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE")

    def list_tables(self, schema):
        return [r[0] for r in self.fetch_rows(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {self.string_literal(schema)} AND c.relkind IN ('r', 'p') ORDER BY c.oid")]

    def table_exists(self, schema, table):
        return bool(self.fetch_rows(f"SELECT to_regclass({self.string_literal(self.full_name(schema, table))})")[0][0])

    def _relation(self, schema, table) -> str:
        """WHERE terms selecting one table in pg_class c / pg_namespace n."""
        return f"n.nspname = {self.string_literal(schema)} AND c.relname = {self.string_literal(table)}"

    def columns(self, schema, table):
        rows = self.fetch_rows(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum), "
            "COALESCE(a.attnum = ANY(pk.conkey), FALSE), a.attidentity <> '' "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p' "
            f"WHERE {self._relation(schema, table)} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")
        out = []
        for name, sql_type, nullable, default, comment, in_key, identity in rows:
            serial = identity or (default or "").startswith("nextval(")
            if default and _NULL_DEFAULT.match(default):
                default = None  # DEFAULT NULL on character(n) is stored as NULL::bpchar
            out.append(ColumnInfo(name=name, sql_type=sql_type, nullable=bool(nullable),
                                  default=None if serial else default, comment=comment or "",
                                  in_key=bool(in_key), autoincrement=bool(serial)))
        return out

    def table_comment(self, schema, table):
        rows = self.fetch_rows("SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
                               f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {self._relation(schema, table)}")
        return (rows[0][0] or "") if rows else ""

    def foreign_keys(self, schema):
        """Every FK of the schema's tables, column pairs in the parent's primary-key order."""
        rows = self.fetch_rows(
            "SELECT c.relname, k.oid, pn.nspname, p.relname, ca.attname, pa.attname "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace "
            "CROSS JOIN LATERAL unnest(k.conkey, k.confkey) WITH ORDINALITY AS u(child, parent, pos) "
            "JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = u.child "
            "JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = u.parent "
            "LEFT JOIN pg_constraint ppk ON ppk.conrelid = k.confrelid AND ppk.contype = 'p' "
            f"WHERE k.contype = 'f' AND n.nspname = {self.string_literal(schema)} "
            "ORDER BY c.oid, k.oid, array_position(ppk.conkey, u.parent), u.pos")
        out = []
        for (table, _oid, parent_schema, parent_table), group in itertools.groupby(rows, key=lambda r: r[:4]):
            pairs = tuple((r[4], r[5]) for r in group)
            out.append((table, ForeignKeySpec(parent_schema, parent_table, pairs)))
        return out

    def indexes(self, schema, table):
        """Secondary indexes, without the plain ones that only back a foreign key (created by declare)."""
        rows = self.fetch_rows(
            "SELECT i.indexrelid, i.indisunique, EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = i.indrelid "
            "AND f.contype = 'f' AND array_to_string(f.conkey, ' ') = i.indkey::text), "
            "a.attname, pg_get_indexdef(i.indexrelid, u.pos::int, TRUE) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, pos) "
            "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum AND u.attnum > 0 "
            f"WHERE {self._relation(schema, table)} AND NOT i.indisprimary ORDER BY i.indexrelid, u.pos")
        out = []
        for (_oid, unique, backs_fk), group in itertools.groupby(rows, key=lambda r: r[:3]):
            cols = tuple(name if name is not None else f"({expr})" for *_, name, expr in group)
            if unique or not backs_fk:
                out.append(IndexSpec(cols, bool(unique)))
        return out

    def core_type_of(self, sql_type: str) -> CoreType:
        text = sql_type.strip().lower()
        if text in _CORE_OF_SQL:
            return parse_type(_CORE_OF_SQL[text], warn_native=False)
        for pattern, convert in _SQL_PATTERNS:
            if (m := pattern.match(text)) and (core := convert(m)):
                return parse_type(core, warn_native=False)
        labels = self.fetch_rows("SELECT enumlabel FROM pg_enum WHERE enumtypid = "
                                 f"to_regtype({self.string_literal(sql_type)}) ORDER BY enumsortorder")
        if labels:
            values = tuple(r[0] for r in labels)
            return CoreType("enum", enum_text(values), values)
        return CoreType("native", text)

    # ----- DDL --------------------------------------------------------------------------------
    def enum_type_name(self, values) -> str:
        return "enum_" + hashlib.md5("_".join(sorted(values)).encode()).hexdigest()[:8]

    def column_type(self, t: CoreType, schema: str) -> str:
        if t.kind in _SQL_TYPES:
            return _SQL_TYPES[t.kind]
        if t.kind == "decimal":
            return f"numeric({t.args[0]},{t.args[1]})"
        if t.kind == "char":
            return f"character({t.length})"
        if t.kind == "varchar":
            return f"character varying({t.length})"
        if t.kind == "datetime":
            return f"timestamp({t.args[0] if t.args else 0})"
        if t.kind == "enum":
            return self.full_name(schema, self.enum_type_name(t.enum_values))
        if t.kind == "codec":
            return self.column_type(t.storage, schema)  # the core type ending the codec chain
        return t.text  # native passthrough, verbatim

    def ensure_enum(self, schema: str, values) -> None:
        """CREATE TYPE unless a type of that name exists (shared by every table with the same value set)."""
        name = self.enum_type_name(values)
        exists = self.fetch_rows("SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                                 f"WHERE n.nspname = {self.string_literal(schema)} "
                                 f"AND t.typname = {self.string_literal(name)}")
        if not exists:
            labels = ", ".join(self.string_literal(v) for v in values)
            self.execute(f"CREATE TYPE {self.full_name(schema, name)} AS ENUM ({labels})")

    def checks(self, a: Attribute) -> list[str]:
        if a.type.kind in _CHECKED:
            lo, hi = INTEGER_RANGES[a.type.kind]
            return [f"CHECK ({self.quote(a.name)} BETWEEN {lo} AND {hi})"]
        return []

    def parent_column_types(self, spec: TableSpec) -> dict[str, str]:
        """FK columns take the parent's exact SQL type (its enum type, its timestamp precision)."""
        out = {}
        for fk in spec.foreign_keys:
            types = dict(self.fetch_rows(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE {self._relation(fk.parent_schema, fk.parent_table)} AND a.attnum > 0"))
            out.update({child: types[parent] for child, parent in fk.attr_map if parent in types})
        return out

    def create_table(self, spec: TableSpec):
        inherited = self.parent_column_types(spec)
        for a in spec.attributes:
            if a.type.kind == "enum" and a.name not in inherited:
                self.ensure_enum(spec.schema, a.type.enum_values)
        lines = [" ".join([self.quote(a.name), inherited.get(a.name) or self.column_type(a.type, spec.schema),
                           self.default_clause(a, spec.schema), *self.checks(a)]) for a in spec.attributes]
        lines.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in spec.primary_key)})")
        lines += [self.fk_clause(fk) for fk in spec.foreign_keys]
        name = self.full_name(spec.schema, spec.table_name)
        self.execute(f"CREATE TABLE {name} (\n  " + ",\n  ".join(lines) + "\n)")
        used: set[str] = set()
        for index in _index_plan(spec):
            cols = ", ".join(c if c.startswith("(") else self.quote(c) for c in index.columns)
            index_name = _index_name(spec.table_name, index.columns, used)
            self.execute(f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {self.quote(index_name)} "
                         f"ON {name} ({cols})")
        self.execute(f"COMMENT ON TABLE {name} IS {self.string_literal(spec.comment or '')}")
        for a in spec.attributes:
            self.execute(f"COMMENT ON COLUMN {name}.{self.quote(a.name)} IS {self.string_literal(self.column_comment(a))}")
            self._store_uncompressed(name, a)

    def _store_uncompressed(self, name: str, a: Attribute):
        """Codec bytes (<blob>, <attach>) arrive compressed by the codec where that pays: EXTERNAL
        storage spares the server a second, futile compression of every large value (3x the insert)."""
        if a.type.kind == "codec" and a.type.storage.kind == "bytes":
            self.execute(f"ALTER TABLE {name} ALTER COLUMN {self.quote(a.name)} SET STORAGE EXTERNAL")

    # ----- ALTER (Table.alter) ------------------------------------------------------------------
    def column_definition(self, a: Attribute, schema: str) -> str:
        return " ".join([super().column_definition(a, schema), *self.checks(a)])

    def alter_add_column(self, spec: TableSpec, a: Attribute):
        if a.type.kind == "enum":
            self.ensure_enum(spec.schema, a.type.enum_values)
        super().alter_add_column(spec, a)
        self._store_uncompressed(self.full_name(spec.schema, spec.table_name), a)

    def alter_modify_column(self, spec: TableSpec, a: Attribute):
        """Convert through text (USING) and replace the column's CHECK ranges by the new type's."""
        if a.type.kind == "enum":
            self.ensure_enum(spec.schema, a.type.enum_values)
        col, sql_type = f"ALTER COLUMN {self.quote(a.name)}", self.column_type(a.type, spec.schema)
        for (check,) in self.fetch_rows(
                "SELECT k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
                f"WHERE {self._relation(spec.schema, spec.table_name)} AND k.contype = 'c' "
                f"AND a.attname = {self.string_literal(a.name)} AND k.conkey = ARRAY[a.attnum]"):
            self._alter(spec, f"DROP CONSTRAINT {self.quote(check)}")
        self._alter(spec, f"{col} DROP DEFAULT")  # an old default may not cast to the new type
        self._alter(spec, f"{col} TYPE {sql_type} USING {self.quote(a.name)}::text::{sql_type}")
        self._alter(spec, f"{col} {'DROP' if a.nullable else 'SET'} NOT NULL")
        default = self.default_expression(a, spec.schema)
        if default:
            self._alter(spec, f"{col} SET DEFAULT {default}")
        for check in self.checks(a):
            self._alter(spec, f"ADD {check}")
        self.alter_column_comment(spec, a)
        self._store_uncompressed(self.full_name(spec.schema, spec.table_name), a)

    def drop_table(self, schema, table):
        """DROP TABLE, then DROP TYPE (never CASCADE) for this schema's enum types nobody uses any more."""
        enums = self.fetch_rows(
            "SELECT DISTINCT t.typname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
            f"WHERE {self._relation(schema, table)} AND t.typtype = 'e' AND t.typnamespace = n.oid")
        super().drop_table(schema, table)
        for (type_name,) in enums:
            in_use = self.fetch_rows(
                "SELECT 1 FROM pg_depend d JOIN pg_type t ON t.oid = d.refobjid "
                "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE d.deptype = 'n' "
                f"AND n.nspname = {self.string_literal(schema)} AND t.typname = {self.string_literal(type_name)}")
            if not in_use:
                self.execute(f"DROP TYPE IF EXISTS {self.full_name(schema, type_name)}")


# ----- helpers ----------------------------------------------------------------------------------
def _server_message(exc: Exception) -> str:
    """The server's own words from an ADBC error, without the driver's prefix and SQLSTATE suffix."""
    text = re.sub(r"\.?\s*SQLSTATE: \w+\s*$", "", str(exc))
    text = re.sub(r"\s*Query was: .*$", "", text, flags=re.S)
    m = re.search(r"ERROR:\s+(.*)$", text, re.S)
    return (m.group(1) if m else text).strip()


def _index_plan(spec: TableSpec) -> list[IndexSpec]:
    """Declared indexes, plus one per foreign key not already led by the PK or another index (§3.3)."""
    plan = list(spec.indexes)
    covered = [tuple(spec.primary_key)] + [tuple(ix.columns) for ix in plan]
    for fk in sorted(spec.foreign_keys, key=lambda f: -len(f.attr_map)):
        cols = tuple(fk.child_attributes)
        if not any(c[:len(cols)] == cols for c in covered):
            plan.append(IndexSpec(cols))
            covered.append(cols)
    return plan


def _index_name(table: str, columns, used: set) -> str:
    """``idx_<table>_<cols>`` with the column part cut at 30 characters, made unique within the table."""
    cols = "_".join(re.sub(r"\W+", "_", c).strip("_") for c in columns)[:30]
    name = f"idx_{table}_{cols}"[:63]
    n = 1
    while name in used:
        n += 1
        name = f"idx_{table}_{cols}"[:60] + f"_{n}"
    used.add(name)
    return name


def _plain_table(table: pa.Table) -> pa.Table:
    """Replace the driver's extension types (numeric, uuid, jsonb, enums) by plain Arrow types."""
    if not any(isinstance(f.type, pa.BaseExtensionType) for f in table.schema):
        return table
    columns = [_plain_column(table.column(i), f) for i, f in enumerate(table.schema)]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _plain_column(column: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    t = field.type
    if not isinstance(t, pa.BaseExtensionType):
        return column
    storage = pa.chunked_array([c.storage for c in column.chunks], t.storage_type)
    if isinstance(t, pa.UuidType):
        return pa.chunked_array([_uuid_to_text(c) for c in storage.chunks], pa.string())
    if isinstance(t, pa.OpaqueType) and t.type_name == "numeric":
        return storage.cast(_numeric_type((field.metadata or {}).get(b"POSTGRESQL:typmod")))
    try:
        return storage.cast(pa.large_string())
    except pa.ArrowInvalid:
        return storage  # an unknown binary type: keep the bytes


def _float_array(value) -> list[float]:
    """A float8[] as ADBC returns it: a list, or the array's text form."""
    if isinstance(value, str):
        return [float(x) for x in value.strip("{}").split(",") if x]
    return [float(x) for x in value]


def _numeric_type(typmod: bytes | None) -> pa.DataType:
    """numeric(p,s) -> decimal128(p,s); numeric without a declared precision -> float64."""
    mod = int(typmod) if typmod else -1
    if mod < 4:
        return pa.float64()
    precision, scale = (mod - 4) >> 16, (mod - 4) & 0xFFFF
    return pa.decimal128(precision, scale) if precision <= 38 else pa.large_string()


def _uuid_to_text(storage: pa.Array) -> pa.Array:
    """16-byte UUIDs -> canonical lowercase text, vectorised with numpy."""
    n = len(storage)
    if n == 0:
        return pa.array([], pa.string())
    raw = np.frombuffer(storage.buffers()[1], np.uint8, count=16 * n, offset=16 * storage.offset).reshape(n, 16)
    pairs = _HEX_PAIRS[raw].view(np.uint8)  # (n, 32) hex digits
    chars = np.full((n, 36), ord("-"), np.uint8)
    for (lo, hi), start in zip(_UUID_GROUPS, (0, 8, 12, 16, 20)):
        chars[:, lo:hi] = pairs[:, start:start + hi - lo]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    text = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
    return pc.if_else(pc.is_valid(storage), text, pa.scalar(None, pa.string())) if storage.null_count else text


def _uuid_from_text(column: pa.Array) -> pa.Array:
    """Canonical UUID text -> the arrow.uuid extension that COPY writes as native uuid."""
    n = len(column)
    text = pc.fill_null(column.cast(pa.string()), "00000000-0000-0000-0000-000000000000")
    if n and not pc.all(pc.equal(pc.binary_length(text), 36)).as_py():
        raise errors.InvalidValueError("A uuid value is not in the canonical 36-character form.")
    offsets = np.frombuffer(text.buffers()[1], np.int32, count=n + 1, offset=4 * text.offset)
    chars = np.frombuffer(text.buffers()[2], np.uint8)[offsets[0]:offsets[0] + 36 * n].reshape(n, 36)
    digits = np.concatenate([chars[:, lo:hi] for lo, hi in _UUID_GROUPS], axis=1)
    nibbles = _UNHEX[digits]
    raw = ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).astype(np.uint8)
    storage = pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    if column.null_count:
        storage = pc.if_else(pc.is_valid(column), storage, pa.scalar(None, pa.binary(16)))
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)
