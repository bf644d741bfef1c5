"""PostgreSQL through ADBC: Arrow in (binary COPY), Arrow out.

One autocommit ADBC connection carries everything, so reads inside an explicit
``BEGIN`` see that transaction's writes. The statements and the table layout
are the dialect's (dialect.py).
"""

from __future__ import annotations

import contextlib
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
from djframe.define.types import CoreType
from djframe.backends.base import Backend, ColumnInfo, ingest_batches, shortest_float32, single_array
from djframe.backends.postgres.dialect import PostgresDialect

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
    dialect = PostgresDialect()

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

    def fetch_values(self, sql: str, params, attributes) -> list[tuple]:
        """A small result without COPY (four times the round trip for one row), as the Python values
        of the attributes' Arrow types: what the frames path holds before decoding."""
        raw = self._run(sql, params or None, lambda cur: _plain_table(cur.fetch_arrow_table()))
        columns = []
        for i, attribute in enumerate(attributes):
            column = self.from_storage(raw.column(i), attribute)
            if column.type == pa.float32():  # the shortest text of the stored value, as rows show it
                column = shortest_float32(column)
            columns.append(column.to_pylist())
        return list(zip(*columns))

    def run_query(self, sql, args=()):
        def take(cur):
            names = [d[0] for d in cur.description] if cur.description else None
            return names, cur.fetchall() if names else [], cur.rowcount
        return self._run(self.dialect.user_sql(sql), tuple(args) if args else None, take)

    def fetch_parts(self, sql: str):
        yield self._run(sql, None, lambda cur: _plain_table(cur.fetch_arrow_table()), bulk=True)

    def begin(self):
        super().begin()
        self._in_transaction = True

    def begin_snapshot(self):
        self.execute(self.dialect.begin_snapshot_sql)
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
        return self.dialect.page_slices(alias, bounds) if bounds else None

    def _page_bounds(self, schema, table, parts) -> list[int]:
        """Page numbers cutting the table into `parts` slices of about equal live rows ([] if too small).
        Asked again after SLICE_CACHE_SECONDS: a stale answer is still correct (the last slice is open)."""
        pages = self.fetch_rows(self.dialect.page_count_sql(schema, table))
        pages = int(pages[0][0] or 0) if pages else 0
        if pages < self.parallel_min_pages:
            return []
        percent = min(100.0, 100.0 * SAMPLE_PAGES / pages)
        count, bounds = self.fetch_rows(self.dialect.page_sample_sql(schema, table, percent, parts))[0]
        if count * 100.0 / percent < self.parallel_min_rows or not bounds:
            return []
        return sorted({int(b) for b in _float_array(bounds)} - {0})

    def _server_version(self) -> int:
        if not hasattr(self, "_version"):
            self._version = int(self.fetch_rows(self.dialect.server_version_sql)[0][0])
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
                    cur.execute(self.dialect.commit_sql)
            for side in sides:  # kept for the next parallel fetch, unless something went wrong
                if healthy and len(self._idle) < MAX_PARALLEL:
                    self._idle.append(side)
                else:
                    with contextlib.suppress(Exception):
                        side.close()

    @staticmethod
    def _begin_snapshot(conns, started) -> str:
        """Open a read-only repeatable-read transaction on each connection, sharing the first's snapshot."""
        dialect = PostgresBackend.dialect
        with conns[0].cursor() as cur:
            cur.execute(dialect.begin_snapshot_sql)
            started.append(conns[0])
            cur.execute(dialect.export_snapshot_sql)
            snapshot = cur.fetchone()[0]
        for conn in conns[1:]:
            with conn.cursor() as cur:
                cur.execute(dialect.begin_snapshot_sql)
                started.append(conn)
                cur.execute(dialect.set_snapshot_sql(snapshot))
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
            return self.catalog_error(cls(msg))
        if state == "25P02":
            msg += " (an earlier statement in this transaction failed; the transaction must be rolled back)"
        return errors.QueryError(f"{msg} in SQL: {context}" if context else msg)

    # ----- job queue ------------------------------------------------------------------------
    def fetch_returning(self, sql: str) -> pa.Table:
        return self._run(sql, None, lambda cur: _plain_table(cur.fetch_arrow_table()))

    def live_sessions(self) -> dict:
        """pg_stat_activity lists every backend to every user (start times only where permitted)."""
        return {int(pid): start for pid, start in self.fetch_rows(self.dialect.live_sessions_sql)}

    # ----- bulk write ---------------------------------------------------------------------
    def to_storage(self, column, attribute: Attribute):
        """Arrow types binary COPY writes straight into our column types."""
        t = attribute.type
        if isinstance(column, pa.ChunkedArray):
            column = single_array(column)
        if t.kind == "uint64":
            return column.cast(pa.decimal128(20, 0))
        if t.kind == "uuid":
            return _uuid_from_text(column)
        if t.storage.kind == "json":  # json, and codecs whose chain ends in json
            return pa.ExtensionArray.from_storage(pa.json_(), column.cast(pa.string()))
        return column

    def ingest(self, schema, table, data: pa.Table, *, skip_duplicates=False, replace=False,
               primary_key=()) -> int:
        """Binary COPY into the table, or into a temporary twin then INSERT ... ON CONFLICT;
        a small batch is one multi-row INSERT (COPY's setup costs more than it saves there)."""
        if not data.num_rows:
            return 0
        d = self.dialect
        conflict = d.conflict_clause(data.column_names, primary_key, skip_duplicates, replace)
        if self.is_small_batch(data):
            return self.insert_values(schema, table, data, conflict)
        if not conflict:
            self._copy(data, table, schema)
            return data.num_rows
        raw_name = f"~ingest_{next(_temp_names)}"
        temp = d.quote(raw_name)
        self.execute(d.staging_table_sql(temp, data.column_names, schema, table))
        try:
            self._copy(data, raw_name, None)
            return self.execute(d.insert_from_staging_sql(schema, table, temp, data.column_names, conflict))
        finally:
            try:
                self.execute(d.drop_staging_sql(temp))
            except errors.DataJointError:
                pass  # aborted transaction: the rollback removes the table

    def ingest_is_one_statement(self, data, skip_duplicates=False, replace=False) -> bool:
        """A small batch is one INSERT; a plain bulk load is one COPY (no staging table)."""
        return self.is_small_batch(data) or not (skip_duplicates or replace)

    def insert_select(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                      primary_key=()) -> int:
        """INSERT ... SELECT, casting enum columns via text: each schema has its own enum types."""
        enums = dict(self.fetch_rows(self.dialect.column_types_sql(schema, table, enums_only=True)))
        if not enums.keys() & set(names):
            return super().insert_select(schema, table, names, select_sql, skip_duplicates=skip_duplicates,
                                         replace=replace, primary_key=primary_key)
        conflict = self.dialect.conflict_clause(names, primary_key, skip_duplicates, replace)
        return self.execute(self.dialect.insert_select_cast_sql(schema, table, names, select_sql, enums, conflict))

    def _copy(self, data: pa.Table, table: str, schema: str | None):
        """One binary COPY, fed slice by slice: given a whole table ADBC encodes all of it into one
        buffer first (about 3 times the frame); from a reader it sends each slice as it goes."""
        data = pa.RecordBatchReader.from_batches(data.schema, ingest_batches(data))
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
        return [r[0] for r in self.fetch_rows(self.dialect.list_schemas_sql)]

    def schema_exists(self, schema):
        return bool(self.fetch_rows(self.dialect.schema_exists_sql(schema)))

    def create_schema(self, schema):
        self.execute(self.dialect.create_schema_sql(schema))

    def drop_schema(self, schema):
        """DROP ... CASCADE, refused when it would reach into another schema (FKs, shared enum types)."""
        outside = self.fetch_rows(self.dialect.schema_dependents_sql(schema))
        if outside:
            raise errors.IntegrityError(
                f"Cannot drop schema `{schema}`: tables in schema(s) {sorted(r[0] for r in outside)} depend on "
                "it (foreign keys or enum types). Drop those schemas or tables first.")
        self.execute(self.dialect.drop_schema_sql(schema))

    def list_tables(self, schema):
        return [r[0] for r in self.fetch_rows(self.dialect.list_tables_sql(schema))]

    def table_exists(self, schema, table):
        return bool(self.fetch_rows(self.dialect.table_exists_sql(schema, table))[0][0])

    def columns(self, schema, table):
        out = []
        for name, sql_type, nullable, default, comment, in_key, identity in self.fetch_rows(
                self.dialect.columns_sql(schema, table)):
            serial = identity or (default or "").startswith("nextval(")
            if default and _NULL_DEFAULT.match(default):
                default = None  # DEFAULT NULL on character(n) is stored as NULL::bpchar
            out.append(ColumnInfo(name=name, sql_type=sql_type, nullable=bool(nullable),
                                  default=None if serial else default, comment=comment or "",
                                  in_key=bool(in_key), autoincrement=bool(serial)))
        return out

    def table_comment(self, schema, table):
        rows = self.fetch_rows(self.dialect.table_comment_query(schema, table))
        return (rows[0][0] or "") if rows else ""

    def foreign_keys(self, schema):
        """Every FK of the schema's tables, column pairs in the parent's primary-key order."""
        rows = self.fetch_rows(self.dialect.foreign_keys_sql(schema))
        out = []
        for (table, _oid, parent_schema, parent_table), group in itertools.groupby(rows, key=lambda r: r[:4]):
            pairs = tuple((r[4], r[5]) for r in group)
            out.append((table, ForeignKeySpec(parent_schema, parent_table, pairs)))
        return out

    def indexes(self, schema, table):
        """Secondary indexes, without the plain ones that only back a foreign key (created by declare)."""
        rows = self.fetch_rows(self.dialect.indexes_sql(schema, table))
        out = []
        for (_oid, unique, backs_fk), group in itertools.groupby(rows, key=lambda r: r[:3]):
            cols = tuple(name if name is not None else f"({expr})" for *_, name, expr in group)
            if unique or not backs_fk:
                out.append(IndexSpec(cols, bool(unique)))
        return out

    def core_type_of(self, sql_type: str) -> CoreType:
        """A built-in type by the dialect's mapping; otherwise an enum type (its labels) or a native one."""
        known = self.dialect.mapped_core_type(sql_type)
        if known is not None:
            return known
        labels = [r[0] for r in self.fetch_rows(self.dialect.enum_labels_sql(sql_type))]
        return self.dialect.core_type_of(sql_type, labels)

    # ----- DDL --------------------------------------------------------------------------------
    def ensure_enum(self, schema: str, values) -> None:
        """CREATE TYPE unless a type of that name exists (shared by every table with the same value set)."""
        if not self.fetch_rows(self.dialect.enum_exists_sql(schema, self.dialect.enum_type_name(values))):
            self.execute(self.dialect.create_enum_sql(schema, values))

    def parent_column_types(self, spec: TableSpec) -> dict[str, str]:
        """FK columns take the parent's exact SQL type (its enum type, its timestamp precision)."""
        out = {}
        for fk in spec.foreign_keys:
            types = dict(self.fetch_rows(self.dialect.column_types_sql(fk.parent_schema, fk.parent_table)))
            out.update({child: types[parent] for child, parent in fk.attr_map if parent in types})
        return out

    def create_table(self, spec: TableSpec):
        inherited = self.parent_column_types(spec)
        for a in spec.attributes:
            if a.type.kind == "enum" and a.name not in inherited:
                self.ensure_enum(spec.schema, a.type.enum_values)
        self.execute_all(self.dialect.create_table_statements(spec, inherited))

    # ----- ALTER (Table.alter) ------------------------------------------------------------------
    def alter_add_column(self, spec: TableSpec, a: Attribute):
        if a.type.kind == "enum":
            self.ensure_enum(spec.schema, a.type.enum_values)
        super().alter_add_column(spec, a)

    def alter_modify_column(self, spec: TableSpec, a: Attribute):
        """Convert through text (USING) and replace the column's CHECK ranges by the new type's."""
        if a.type.kind == "enum":
            self.ensure_enum(spec.schema, a.type.enum_values)
        checks = [r[0] for r in self.fetch_rows(self.dialect.check_constraints_sql(spec, a.name))]
        self.execute_all(self.dialect.modify_column_sql(spec, a, checks))

    def drop_table(self, schema, table):
        """DROP TABLE, then DROP TYPE (never CASCADE) for this schema's enum types nobody uses any more."""
        enums = self.fetch_rows(self.dialect.table_enums_sql(schema, table))
        super().drop_table(schema, table)
        for (type_name,) in enums:
            if not self.fetch_rows(self.dialect.enum_in_use_sql(schema, type_name)):
                self.execute(self.dialect.drop_type_sql(schema, type_name))


# ----- helpers ----------------------------------------------------------------------------------
def _server_message(exc: Exception) -> str:
    """The server's own words from an ADBC error, without the driver's prefix and SQLSTATE suffix."""
    text = re.sub(r"\.?\s*SQLSTATE: \w+\s*$", "", str(exc))
    text = re.sub(r"\s*Query was: .*$", "", text, flags=re.S)
    m = re.search(r"ERROR:\s+(.*)$", text, re.S)
    return (m.group(1) if m else text).strip()


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
