"""MySQL / MariaDB: pymysql for statements, connectorx for Arrow, LOAD DATA for bulk writes.

The layout matches the reference client (datajoint-storage.md §3.2-§9): one
database per schema, native unsigned integers, ``:type:comment`` on every
column, ``binary(16)`` UUIDs in RFC byte order (the statements are the
dialect's, dialect.py). Reads outside a transaction go
through connectorx (its own connection, zero-copy Arrow); inside a transaction
they go through the pymysql session so they see the transaction's own writes.
Bulk inserts serialise Arrow to an escaped TSV with Arrow compute kernels and
load it with ``LOAD DATA LOCAL INFILE``; because LOCAL loads turn every error
into a warning, the warnings are read back and raised.
"""

from __future__ import annotations

import contextlib
import decimal
import itertools
import os
import re
import ssl
import tempfile
import uuid
from urllib.parse import quote as url_quote

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pymysql
from pymysql.constants import FIELD_TYPE, FLAG

from djframe import errors
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.backends.base import Backend, ColumnInfo, shortest_float32_value, single_array
from djframe.backends.mysql.dialect import SESSION_MODE, SYSTEM_SCHEMAS, MySQLDialect
from djframe.backends.mysql.tsv import is_binary, write_tsv

LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 3950}
RECONNECTABLE = {0, 2006, 2013}

_ERRORS = {
    errors.DuplicateError: {1022, 1062, 1586},
    errors.IntegrityError: {1216, 1217, 1451, 1452, 3730},
    errors.MissingAttributeError: {1048, 1263, 1364},
    errors.UnknownAttributeError: {1054},
    errors.MissingTableError: {1049, 1146},
    errors.QuerySyntaxError: {1064, 1149},
    errors.AccessError: {1044, 1045, 1142, 1143, 1698},
    errors.LostConnectionError: {0, 2003, 2006, 2013},
    errors.InvalidValueError: {1264, 1265, 1292, 1366, 1406, 3819, 4025},
}
_ERROR_CLASS = {code: cls for cls, codes in _ERRORS.items() for code in codes}
_MYSQL_ESCAPE = re.compile(r"\\(.)|'(')", re.S)
_UNESCAPE = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}
_NULL_COLUMN = re.compile(r"(?:SELECT|,)\s*\(?\s*NULL\s*\)?\s+AS\s", re.I)  # a bare NULL column
_CX_ERROR = re.compile(r"ERROR (\d+) \(\w+\): (.*?)\s*}?\s*$", re.S)

FETCH_BATCH_ROWS = 65536  # rows per part of a fetch
_FIELD_INT_BITS = {FIELD_TYPE.TINY: 8, FIELD_TYPE.SHORT: 16, FIELD_TYPE.INT24: 32, FIELD_TYPE.LONG: 32,
                   FIELD_TYPE.LONGLONG: 64}
_BINARY_CHARSET = 63


class MySQLBackend(Backend):
    dialect = MySQLDialect()

    def __init__(self, host, port, user, password, database_name=None, use_tls=None):
        self.host, self.port = host or "127.0.0.1", int(port or 3306)
        self.user, self.password = user or "root", password or ""
        self.database_name, self.use_tls = database_name, use_tls
        self._in_transaction = False
        self._local_infile = True
        self._exact_tables: set[str] = set()  # tables whose decimals connectorx would round
        self.conn = self._connect()
        self.dialect = MySQLDialect(mariadb="mariadb" in self.fetch_rows(self.dialect.version_sql)[0][0].lower())

    @property
    def is_mariadb(self) -> bool:
        return self.dialect.is_mariadb

    def _connect(self):
        try:
            return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                   autocommit=True, local_infile=True, charset="utf8mb4", ssl=self._ssl(),
                                   init_command=SESSION_MODE)
        except pymysql.err.MySQLError as e:
            error = self.translate_error(e)
            raise error.__class__(f"Cannot connect to MySQL at {self.host}:{self.port} as {self.user!r}: {error}") \
                if isinstance(error, errors.DataJointError) else error from None

    def _ssl(self):
        """use_tls: True = encrypt without certificate checks, a dict = pymysql ssl options."""
        if isinstance(self.use_tls, dict):
            return self.use_tls
        if self.use_tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            return context
        return None

    @property
    def url(self) -> str:
        """connectorx URL; its path must be a database every user can read (database_name is PG-only)."""
        user, password = url_quote(self.user, safe=""), url_quote(self.password, safe="")
        tls = "?ssl-mode=REQUIRED" if self.use_tls else ""
        return f"mysql://{user}:{password}@{self.host}:{self.port}/information_schema{tls}"

    # ----- execution -------------------------------------------------------------------------
    def _run(self, sql: str, params=None, fetch=False, take=None):
        """Execute on the pymysql session; reconnect once if the link dropped outside a transaction."""
        for attempt in (0, 1):
            try:
                with self.conn.cursor() as cur:
                    count = cur.execute(sql) if params is None else cur.execute(sql, params)
                    if take is not None:
                        return take(cur)
                    return list(cur.fetchall()) if fetch else count
            except pymysql.err.MySQLError as e:
                code = e.args[0] if e.args and isinstance(e.args[0], int) else -1
                if attempt or code not in RECONNECTABLE or self._in_transaction:
                    raise self.translate_error(e, sql) from None
                self.conn.ping(reconnect=True)
                self.reconnects = getattr(self, "reconnects", 0) + 1

    def execute(self, sql: str, params=None) -> int:
        return self._run(sql, params)

    def run_query(self, sql, args=()):
        """pymysql formats ``%s`` and ``%%`` itself (always: the reference passes an args tuple)."""
        def take(cur):
            names = [d[0] for d in cur.description] if cur.description else None
            return names, list(cur.fetchall()) if names is not None else [], cur.rowcount
        return self._run(sql, tuple(args or ()), take=take)

    def fetch_rows(self, sql: str, params=None) -> list[tuple]:
        return self._run(sql, params, fetch=True)

    def fetch_values(self, sql: str, params, attributes) -> list[tuple]:
        """A small result on the pymysql session (connectorx would open a connection for it) as the
        Python values of the attributes' Arrow types, as `from_storage` makes them: FLOAT columns
        sent exactly, UUIDs as text."""
        floats = {a.name for a in attributes if a.type.storage.kind == "float32"}
        if floats:
            sql = self.dialect.exact_floats_sql(sql, [a.name for a in attributes], floats)
        rows = self._run(sql, params, fetch=True)
        converters = [_PYTHON_VALUE.get(a.type.storage.kind) for a in attributes]
        if not rows or not any(converters):
            return rows
        return [tuple(v if f is None or v is None else f(v, a) for v, f, a in zip(row, converters, attributes))
                for row in rows]

    def _use_connectorx(self, sql: str) -> bool:
        """connectorx sees only committed data, rounds decimals to (38, 10) and panics on NULL-typed columns."""
        return not (self._in_transaction or _NULL_COLUMN.search(sql) or any(t in sql for t in self._exact_tables))

    def fetch_parts(self, sql: str):
        """Streamed through connectorx, or through the session, which sees the open transaction."""
        parts = self._stream(sql, FETCH_BATCH_ROWS)
        if parts is None:
            yield self._fetch_session(sql)
            return
        empty = True
        for batch in parts:
            if isinstance(batch, pa.Schema):
                if empty:
                    yield batch.empty_table()
                return
            empty = False
            yield pa.Table.from_batches([batch])

    def fetch_batches(self, sql: str, batch_rows: int = 65536):
        """Stream through connectorx; inside a transaction the session result is sliced."""
        parts = self._stream(sql, batch_rows)
        if parts is None:
            yield from self._fetch_session(sql).to_batches(max_chunksize=batch_rows)
            return
        yield from (b for b in parts if not isinstance(b, pa.Schema))

    def _stream(self, sql: str, batch_rows: int):
        """connectorx record batches as they arrive, then the schema; None where connectorx cannot
        run the query (or fails on it before the first batch without a server error): the session
        runs it then."""
        reader = self._connectorx(sql, "arrow_stream", batch_size=batch_rows) if self._use_connectorx(sql) else None
        if reader is None:
            return None
        batches = iter(reader)
        try:
            first = next(batches, None)
        except BaseException as e:
            if type(e).__name__ != "PanicException" and not isinstance(e, RuntimeError):
                raise
            if _CX_ERROR.search(str(e)):
                raise self.translate_error(e, sql) from None
            return None
        return self._rest(first, batches, reader.schema, sql)

    def _rest(self, first, batches, schema, sql):
        """The stream from its first batch on; a failure now is raised (translated when the server's)."""
        try:
            for batch in itertools.chain([first] if first is not None else [], batches):
                if batch.num_rows:
                    yield batch
        except BaseException as e:
            if type(e).__name__ != "PanicException" and not isinstance(e, RuntimeError):
                raise
            raise self.translate_error(e, sql) from None
        yield schema

    def _connectorx(self, sql: str, return_type: str, **kwargs):
        """Arrow from connectorx, or None when it cannot convert a column type (session fallback)."""
        import connectorx as cx
        try:
            return cx.read_sql(self.url, sql, return_type=return_type, pre_execution_query=SESSION_MODE, **kwargs)
        except RuntimeError as e:
            if _CX_ERROR.search(str(e)):
                raise self.translate_error(e, sql) from None
        except BaseException as e:  # a Rust panic on a type it does not map (a BaseException)
            if type(e).__name__ != "PanicException":
                raise
        return None

    def _fetch_session(self, sql: str) -> pa.Table:
        """Arrow from the pymysql session (sees uncommitted writes of the open transaction)."""
        rows, fields = self._session_rows(sql)
        if rows and any(f.type_code == FIELD_TYPE.FLOAT for f in fields):
            rows, fields = self._session_rows(self._exact_floats(sql, fields))
        columns = list(zip(*rows)) if rows else [()] * len(fields)
        return pa.table({f.name: _array(values, f) for f, values in zip(fields, columns)}) if fields else pa.table({})

    def _session_rows(self, sql: str):
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall(), list(cur._result.fields if cur._result and cur._result.fields else [])
        except pymysql.err.MySQLError as e:
            raise self.translate_error(e, sql) from None

    def _exact_floats(self, sql: str, fields) -> str:
        """The same query with FLOAT columns sent exactly (the text protocol prints 6 digits)."""
        floats = {f.name for f in fields if f.type_code == FIELD_TYPE.FLOAT}
        return self.dialect.exact_floats_sql(sql, [f.name for f in fields], floats)

    def begin(self):
        super().begin()
        self._in_transaction = True

    def commit(self):
        try:  # never re-run on a new session: the transaction died with the old one
            super().commit()
        finally:
            self._in_transaction = False

    def rollback(self):
        self._in_transaction = False
        super().rollback()

    @contextlib.contextmanager
    def _atomic(self):
        """Own transaction for a multi-statement write unless one is already open."""
        if self._in_transaction:
            yield
            return
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def close(self):
        with contextlib.suppress(Exception):
            self.conn.close()

    # ----- job queue ------------------------------------------------------------------------
    def claim_jobs(self, schema, table, key_columns, where, order_sql, limit, values, heading) -> pa.Table:
        """MySQL cannot UPDATE a table filtered by a subquery on itself: lock the next due rows
        (skipping rows other claimers hold) and reserve them, in one short READ COMMITTED transaction
        (no gap locks, so claims never wait for each other or for the makes' inserts)."""
        d = self.dialect
        self.execute(d.read_committed_sql)
        with self._atomic():
            picked = self._fetch_session(d.claim_pick_sql(schema, table, key_columns, where, order_sql, limit))
            if picked.num_rows:
                keys = list(zip(*(picked.column(i).to_pylist() for i in range(len(key_columns)))))
                self.execute(d.claim_update_sql(schema, table, key_columns, keys, values, heading))
        return picked

    def live_sessions(self) -> dict | None:
        """The process list shows every session only to a user with the PROCESS privilege."""
        if not self.fetch_rows(self.dialect.process_privilege_sql):
            return None
        return {int(row[0]): None for row in self.fetch_rows(self.dialect.processlist_sql)}

    def translate_error(self, exc: Exception, context: str = "") -> Exception:
        if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) >= 2 and isinstance(exc.args[0], int):
            return self._error(exc.args[0], str(exc.args[1]), context)
        m = _CX_ERROR.search(str(exc))
        if m:
            return self._error(int(m.group(1)), m.group(2), context)
        if isinstance(exc, pymysql.err.InterfaceError):
            return errors.LostConnectionError(f"The MySQL connection is closed: {exc}")
        return exc

    def _error(self, code: int, message: str, context: str) -> Exception:
        cls = _ERROR_CLASS.get(code, errors.QueryError)
        text = f"{message} (MySQL error {code})"
        if cls in (errors.QueryError, errors.QuerySyntaxError) and context:
            text += f" in SQL: {context[:2000]}"
        return self.catalog_error(cls(text))

    # ----- bulk write ------------------------------------------------------------------------
    def to_storage(self, column, attribute: Attribute) -> pa.Array:
        column = single_array(column)
        if attribute.type.kind == "uuid" and not pa.types.is_null(column.type):
            return _uuid_bytes(column) if not is_binary(column.type) else column
        if pa.types.is_boolean(column.type):
            return column.cast(pa.int8())
        if attribute.type.kind == "datetime" and pa.types.is_timestamp(column.type):
            return _truncate_fraction(column, attribute.type.args[0] if attribute.type.args else 0)
        return column

    def ingest(self, schema, table, data: pa.Table, *, skip_duplicates=False, replace=False,
               primary_key=()) -> int:
        if not data.num_rows:
            return 0
        target = self.dialect.full_name(schema, table)
        if not data.num_columns:
            return self.execute(self.dialect.insert_defaults_sql(target, data.num_rows))
        with self._atomic():
            if not (skip_duplicates or replace) or not primary_key:
                return self._fill(target, data)
            if not replace and self._local_infile:
                count = self._load_skipping(target, data)
                if count is not None:
                    return count
            if replace and set(primary_key) <= set(data.column_names):
                data = _first_per_key(data, primary_key, last=True)  # the last row of a repeated key wins
            with self._temporary(schema, self.dialect.staging_select_sql(target, data.column_names)) as tmp:
                self._fill(tmp, data)
                return self._merge(target, tmp, data.column_names, primary_key, replace)

    def _load_skipping(self, target: str, data: pa.Table) -> int | None:
        """Fast skip_duplicates: a LOCAL load already skips rows that clash on a unique key, with a
        1062 warning each. Any other warning undoes the load (None: take the staging path)."""
        self.savepoint("djframe_skip")
        try:
            count = self._load_file(target, data, tolerate={1062})
        except errors.DataJointError:
            self.rollback_to_savepoint("djframe_skip")
            return None
        self.release_savepoint("djframe_skip")
        return count

    @contextlib.contextmanager
    def _temporary(self, schema: str, select_sql: str):
        """A session-private staging table shaped by `select_sql`, dropped afterwards."""
        tmp = self.dialect.full_name(schema, f"~stage_{uuid.uuid4().hex[:12]}")
        self.execute(self.dialect.create_temporary_sql(tmp, select_sql))
        try:
            yield tmp
        finally:
            self.execute(self.dialect.drop_temporary_sql(tmp))

    def _merge(self, target: str, tmp: str, names, primary_key, replace: bool) -> int:
        """Staged rows -> target (see MySQLDialect.merge_statements); the rows written."""
        return sum(self.execute(sql) for sql in self.dialect.merge_statements(target, tmp, names, primary_key, replace))

    def _fill(self, target: str, data: pa.Table) -> int:
        """LOAD DATA LOCAL, or multi-row INSERTs for small batches (a file round trip costs more than
        it saves below a few hundred rows) and where the server or client refuses LOCAL INFILE."""
        if self._local_infile and not self.is_small_batch(data):  # a file round trip costs more
            try:
                return self._load_file(target, data)
            except errors.DataJointError as e:
                if _errno(e) not in LOCAL_INFILE_REFUSED:
                    raise
                self._local_infile = False
        return self._insert_rows(target, data)

    def _load_file(self, target: str, data: pa.Table, tolerate=()) -> int:
        """Write the escaped TSV, LOAD DATA LOCAL it, and raise on any warning (LOCAL implies IGNORE)."""
        hexed = {i for i, field in enumerate(data.schema) if is_binary(field.type)}  # written as hex (tsv.py)
        fd, path = tempfile.mkstemp(prefix="djframe_", suffix=".tsv")
        try:
            with os.fdopen(fd, "wb") as f:
                write_tsv(data, f)
            count = self.execute(self.dialect.load_data_sql(path, target, data.column_names, hexed))
        finally:
            os.unlink(path)
        self._raise_warnings(target, tolerate)
        return count

    def _raise_warnings(self, target: str, tolerate=()):
        """LOCAL loads skip bad rows with a warning; strict semantics need them as errors."""
        shown = self.fetch_rows(self.dialect.warnings_sql)
        problems = [(code, msg) for level, code, msg in shown if level != "Note" and code not in tolerate]
        if tolerate and not problems and self.fetch_rows(self.dialect.warning_count_sql)[0][0] > len(shown):
            problems = [(-1, "more warnings than the server lists")]  # cannot tell they are all tolerated
        if problems:
            code, message = problems[0]
            more = f"; and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
            raise self._error(int(code), f"{message}{more} while loading rows into {target}", "")

    def _insert_rows(self, target: str, data: pa.Table) -> int:
        """Fallback without LOCAL INFILE: pymysql rewrites executemany into multi-row INSERTs."""
        sql = self.dialect.executemany_sql(target, data.column_names)
        count = 0
        for batch in data.to_batches(max_chunksize=10000):
            try:
                with self.conn.cursor() as cur:
                    count += cur.executemany(sql, list(zip(*(c.to_pylist() for c in batch.columns)))) or 0
            except pymysql.err.MySQLError as e:
                raise self.translate_error(e, sql) from None
        return count

    def insert_select(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                      primary_key=()) -> int:
        """INSERT ... SELECT; replace stages the rows first: the select may read the target."""
        if not (replace and primary_key):
            return super().insert_select(schema, table, names, select_sql, skip_duplicates=skip_duplicates,
                                         primary_key=primary_key)
        with self._atomic(), self._temporary(schema, select_sql) as tmp:
            return self._merge(self.dialect.full_name(schema, table), tmp, names, primary_key, True)

    # ----- fetch normalisation ---------------------------------------------------------------
    def from_storage(self, column, attribute):
        """Chunk by chunk: combining the chunks of a large fetch first would copy every column."""
        target = attribute.arrow_type
        column = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
        if pa.types.is_null(column.type):
            return pa.chunked_array([pa.nulls(len(column), target)], target)
        if attribute.type.kind == "uuid" and is_binary(column.type):
            column = pa.chunked_array([_uuid_text(chunk) for chunk in column.chunks], pa.string())
        if column.type != target:
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()])
                                           .cast(target)], target)
        return column

    # ----- schemas and catalog ---------------------------------------------------------------
    def list_schemas(self):
        return [r[0] for r in self.fetch_rows(self.dialect.list_schemas_sql, SYSTEM_SCHEMAS)]

    def schema_exists(self, schema):
        return bool(self.fetch_rows(self.dialect.schema_exists_sql, (schema,)))

    @property
    def text_collation(self) -> str:
        return self.dialect.text_collation

    def create_schema(self, schema):
        self.execute(self.dialect.create_schema_sql(schema))

    def drop_schema(self, schema):
        self.execute(self.dialect.drop_schema_sql(schema))

    def list_tables(self, schema):
        return [r[0] for r in self.fetch_rows(self.dialect.list_tables_sql, (schema,))]

    def table_exists(self, schema, table):
        return bool(self.fetch_rows(self.dialect.table_exists_sql, (schema, table)))

    def columns(self, schema, table):
        rows = self.fetch_rows(self.dialect.columns_sql, (schema, table))
        if any(_wide_decimal(r[1]) for r in rows):
            self._exact_tables.add(self.dialect.full_name(schema, table))
        return [ColumnInfo(name=name, sql_type=sql_type.lower(), nullable=nullable == "YES",
                           default=self._default_text(default, extra), comment=comment or "", in_key=key == "PRI",
                           autoincrement="auto_increment" in (extra or "").lower())
                for name, sql_type, nullable, default, comment, key, extra in rows]

    def _default_text(self, default, extra):
        """Default as standard SQL text ('' doubling only): MariaDB backslash-escapes, MySQL 8 leaves bare."""
        if default is None or "DEFAULT_GENERATED" in (extra or ""):
            return default
        if self.is_mariadb:
            if not (len(default) >= 2 and default[0] == default[-1] == "'"):
                return default
            default = _MYSQL_ESCAPE.sub(_unescape, default[1:-1])
        return "'" + default.replace("'", "''") + "'"

    def table_comment(self, schema, table):
        rows = self.fetch_rows(self.dialect.table_comment_query, (schema, table))
        return (rows[0][0] or "") if rows else ""

    def foreign_keys(self, schema, table=None):
        """(child, spec) per FK, columns in key order, FKs in declaration order (`t_ibfk_<n>`)."""
        rows = self.fetch_rows(self.dialect.foreign_keys_sql, (schema, table, table))
        groups: dict[tuple, list] = {}
        for child, constraint, column, parent_schema, parent_table, parent_column in rows:
            groups.setdefault((child, constraint), []).append((parent_schema, parent_table, column, parent_column))
        return [(child, ForeignKeySpec(cols[0][0], cols[0][1], tuple((c, p) for _, _, c, p in cols)))
                for (child, _), cols in sorted(groups.items(), key=lambda kv: (kv[0][0], _natural(kv[0][1])))]

    def indexes(self, schema, table):
        """Secondary indexes, without the ones InnoDB added by itself to back a foreign key."""
        groups: dict[str, list] = {}
        unique = {}
        for name, non_unique, column in self.fetch_rows(self.dialect.indexes_sql, (schema, table)):
            groups.setdefault(name, []).append(column)
            unique[name] = not int(non_unique)
        fk_columns = {tuple(fk.child_attributes) for _, fk in self.foreign_keys(schema, table)}
        return [IndexSpec(tuple(cols), unique[name]) for name, cols in groups.items()
                if unique[name] or tuple(cols) not in fk_columns]

    # ----- DDL -------------------------------------------------------------------------------
    def _parent_collations(self, spec: TableSpec) -> dict[str, str]:
        """Foreign-key columns take their parent column's collation (MySQL refuses a mismatch, e.g. with a
        parent declared by the reference client under the server's default collation)."""
        out = {}
        for fk in spec.foreign_keys:
            found = dict(self.fetch_rows(self.dialect.collations_sql, (fk.parent_schema, fk.parent_table)))
            out.update({child: found[parent] for child, parent in fk.attr_map if parent in found})
        return out

    def create_table_sql(self, spec: TableSpec) -> str:
        return self.dialect.create_table_sql(spec, self._parent_collations(spec))

    def create_table(self, spec: TableSpec):
        self.execute(self.create_table_sql(spec))

    def declare(self, spec: TableSpec):
        """MySQL DDL commits implicitly: undo the CREATE by hand if the lineage rows cannot be written."""
        self.create_table(spec)
        try:
            self.write_lineage(spec.schema, spec.table_name, spec.lineage)
        except BaseException:
            with contextlib.suppress(Exception):
                self.drop_table(spec.schema, spec.table_name)
            raise


# ----- Arrow <-> MySQL text helpers --------------------------------------------------------------


def _errno(error) -> int:
    m = re.search(r"\(MySQL error (\d+)\)", str(error))
    return int(m.group(1)) if m else -1


def _unescape(m: re.Match) -> str:
    return m.group(2) or _UNESCAPE.get(m.group(1), m.group(1))


def _first_per_key(data: pa.Table, key, last=False) -> pa.Table:
    """Drop repeated keys within one batch, keeping the first (skip) or the last (replace) row."""
    index = data.select(key).append_column("__row", pa.array(np.arange(data.num_rows)))
    kept = index.group_by(key, use_threads=False).aggregate([("__row", "max" if last else "min")]).column(-1)
    return data if len(kept) == data.num_rows else data.take(pc.sort_indices(kept))


def _natural(name: str):
    """Sort `t_ibfk_10` after `t_ibfk_2` (declaration order of the foreign keys)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _truncate_fraction(column: pa.Array, precision: int) -> pa.Array:
    """Drop sub-precision digits (MariaDB truncates, MySQL 8 rounds: store the same on both)."""
    if precision >= 6:
        return column
    return pc.floor_temporal(column.cast(pa.timestamp("us")), multiple=10 ** (6 - precision), unit="microsecond")


def _wide_decimal(sql_type: str) -> bool:
    """A decimal connectorx cannot carry exactly (it fetches every decimal as decimal128(38, 10))."""
    m = re.match(r"^decimal\((\d+),(\d+)\)", sql_type.lower())
    return bool(m) and (int(m.group(2)) > 10 or int(m.group(1)) - int(m.group(2)) > 28)


def _uuid_text(arr: pa.Array) -> pa.Array:
    """binary(16) -> canonical lowercase UUID strings."""
    hexed = pl.col("h").bin.encode("hex")
    parts = [hexed.str.slice(start, n) for start, n in ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))]
    frame = pl.DataFrame({"h": pl.from_arrow(arr.cast(pa.large_binary()))})
    return frame.select(pl.concat_str(parts, separator="-")).to_series().to_arrow().cast(pa.string())


def _uuid_bytes(arr: pa.Array) -> pa.Array:
    """Canonical UUID strings (as validated) -> 16 raw bytes each, RFC byte order."""
    text = pl.from_arrow(arr.cast(pa.large_string())).str.replace_all("-", "", literal=True)
    return text.str.decode("hex").to_arrow().cast(pa.binary())


def _decimal(value, attribute: Attribute) -> decimal.Decimal:
    return decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-attribute.type.args[1]))


def _text(value) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


_PYTHON_VALUE = {  # pymysql value -> the Python value of the attribute's Arrow type (None: as given)
    "float32": lambda v, a: shortest_float32_value(v),
    "float64": lambda v, a: float(v),
    "bool": lambda v, a: bool(v),
    "decimal": _decimal,
    "uuid": lambda v, a: str(uuid.UUID(bytes=bytes(v))) if isinstance(v, (bytes, bytearray)) else str(v),
    "json": lambda v, a: _text(v),
}


def _field_type(field) -> pa.DataType:
    """Arrow type for a pymysql result field (text and binary by the field's character set)."""
    code, unsigned = field.type_code, bool(field.flags & FLAG.UNSIGNED)
    if code in _FIELD_INT_BITS:
        return getattr(pa, f"{'u' if unsigned else ''}int{_FIELD_INT_BITS[code]}")()
    simple = {FIELD_TYPE.FLOAT: pa.float32(), FIELD_TYPE.DOUBLE: pa.float64(), FIELD_TYPE.DATE: pa.date32(),
              FIELD_TYPE.NEWDATE: pa.date32(), FIELD_TYPE.DATETIME: pa.timestamp("us"),
              FIELD_TYPE.TIMESTAMP: pa.timestamp("us"), FIELD_TYPE.YEAR: pa.int16(), FIELD_TYPE.NULL: pa.null()}
    if code in simple:
        return simple[code]
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        return pa.decimal128(38, min(int(field.scale or 0), 38))
    return pa.large_binary() if field.charsetnr == _BINARY_CHARSET else pa.large_string()  # TIME: inferred


def _array(values, field) -> pa.Array:
    """Arrow array for one column fetched through pymysql; falls back to inference, then text."""
    for kind in (_field_type(field), None):
        try:
            return pa.array(values, kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            continue
    return pa.array([None if v is None else str(v) for v in values], pa.large_string())
