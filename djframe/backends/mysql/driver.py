"""MySQL / MariaDB: pymysql for statements, connectorx for Arrow, LOAD DATA for bulk writes.

The layout matches the reference client (datajoint-storage.md §3.2-§9): one
database per schema, native unsigned integers, ``:type:comment`` on every
column, ``binary(16)`` UUIDs in RFC byte order. Reads outside a transaction go
through connectorx (its own connection, zero-copy Arrow); inside a transaction
they go through the pymysql session so they see the transaction's own writes.
Bulk inserts serialise Arrow to an escaped TSV with Arrow compute kernels and
load it with ``LOAD DATA LOCAL INFILE``; because LOCAL loads turn every error
into a warning, the warnings are read back and raised.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from djframe.errors import DeclarationError
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import CoreType, parse_type
from djframe.backends.base import LINEAGE_TABLE, Backend, ColumnInfo, path_text
from djframe.backends.mysql.tsv import is_binary, write_tsv

SQL_MODE = ("NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,STRICT_ALL_TABLES,"
            "NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY")
# also on connectorx's. MariaDB only (/*M! */): its split_materialized optimisation returns wrong rows for a
# GROUP BY derived table restricted by a correlated EXISTS (MariaDB 10.11; found by test_query_algebra.py)
SESSION_MODE = (f"SET SESSION sql_mode = '{SQL_MODE}', max_error_count = 65535"
                " /*M!100304 , optimizer_switch = 'split_materialized=off' */")
SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")
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
_HAS_LIMIT = re.compile(r"\bLIMIT\s+\d+(\s+OFFSET\s+\d+)?\s*$", re.I)
_NULL_COLUMN = re.compile(r"(?:SELECT|,)\s*\(?\s*NULL\s*\)?\s+AS\s", re.I)  # a bare NULL column
_CX_ERROR = re.compile(r"ERROR (\d+) \(\w+\): (.*?)\s*}?\s*$", re.S)

FETCH_BATCH_ROWS = 65536  # rows per part of a fetch
_INT_TYPES = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}
_SQL_INT = re.compile(r"^(tinyint|smallint|mediumint|int|bigint)(?:\(\d+\))?(\s+unsigned)?(?:\s+zerofill)?$")
_FIELD_INT_BITS = {FIELD_TYPE.TINY: 8, FIELD_TYPE.SHORT: 16, FIELD_TYPE.INT24: 32, FIELD_TYPE.LONG: 32,
                   FIELD_TYPE.LONGLONG: 64}
_BINARY_CHARSET = 63


class MySQLBackend(Backend):
    name = "mysql"
    sqlglot_dialect = "mysql"
    max_name_length = 64
    supports_unsigned = True
    supports_nan = False  # MySQL has no NaN or infinity in float columns
    supports_inf = False
    no_limit = "18446744073709551615"
    # MariaDB 10.11, a derived table merged into a LEFT JOIN: max(coalesce(x, 0)) gives 0 instead of NULL, and
    # `int_col = 2.5` matches 3 (found by tests/test_query_algebra.py)
    materialize_outer_right = True

    def __init__(self, host, port, user, password, database_name=None, use_tls=None):
        self.host, self.port = host or "127.0.0.1", int(port or 3306)
        self.user, self.password = user or "root", password or ""
        self.database_name, self.use_tls = database_name, use_tls
        self._in_transaction = False
        self._local_infile = True
        self._exact_tables: set[str] = set()  # tables whose decimals connectorx would round
        self.conn = self._connect()
        self.is_mariadb = "mariadb" in self.fetch_rows("SELECT VERSION()")[0][0].lower()

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

    # ----- identifiers and literals ----------------------------------------------------------
    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def string_literal(self, value: str) -> str:
        """MySQL reads backslash escapes inside string literals, so backslashes are doubled too."""
        return "'" + value.replace("\\", "\\\\").replace("'", "''").replace("\0", "\\0") + "'"

    def uuid_literal(self, value: uuid.UUID) -> str:
        return "X'" + value.hex + "'"

    def typed_literal(self, value, attribute: Attribute) -> str:
        """Compare as the column stores: 1/0 for bool, text for strings, naive UTC for aware datetimes."""
        kind = attribute.type.kind
        if kind == "bool" and value is not None:
            return "1" if value else "0"
        if kind in ("char", "varchar", "enum", "text") and value is not None and not isinstance(value, str):
            return self.string_literal(str(value))  # a number would make MySQL compare numerically
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return self.literal(value, attribute)

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

    def insert_default_row(self, schema, table) -> int:
        return self.execute(f"INSERT INTO {self.full_name(schema, table)} () VALUES ()")

    def run_query(self, sql, args=()):
        """pymysql formats ``%s`` and ``%%`` itself (always: the reference passes an args tuple)."""
        def take(cur):
            names = [d[0] for d in cur.description] if cur.description else None
            return names, list(cur.fetchall()) if names is not None else [], cur.rowcount
        return self._run(sql, tuple(args or ()), take=take)

    def fetch_rows(self, sql: str, params=None) -> list[tuple]:
        return self._run(sql, params, fetch=True)

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
        """The text protocol prints FLOAT with 6 digits; `+ 0e0` sends the exact value as DOUBLE."""
        inner = sql if _HAS_LIMIT.search(sql) else f"{sql} LIMIT {self.no_limit}"  # keeps ORDER BY in force
        cols = ", ".join(f"(q.{self.quote(f.name)} + 0e0) AS {self.quote(f.name)}" if f.type_code == FIELD_TYPE.FLOAT
                         else f"q.{self.quote(f.name)}" for f in fields)
        return f"SELECT {cols} FROM ({inner}) AS q"

    json_casts = {"int": "SIGNED", "float": "DOUBLE", "str": "CHAR"}

    def json_path_sql(self, column: str, steps: tuple, cast: str) -> str:
        """JSON_VALUE gives SQL NULL for a JSON null (JSON_UNQUOTE would give the text 'null')."""
        return f"CAST(JSON_VALUE({column}, {self.string_literal(path_text(steps))}) AS {self.json_casts[cast]})"

    def begin(self):
        self.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        self._in_transaction = True

    def commit(self):
        try:  # never re-run on a new session: the transaction died with the old one
            self.execute("COMMIT")
        finally:
            self._in_transaction = False

    def rollback(self):
        self._in_transaction = False
        self.execute("ROLLBACK")

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

    def connection_id(self) -> int:
        return int(self.fetch_rows("SELECT CONNECTION_ID()")[0][0])

    current_user_sql = "SELECT USER()"  # user@host, as the reference records it

    # ----- job queue ------------------------------------------------------------------------
    connection_id_sql = "CONNECTION_ID()"
    random_sql = "RAND()"
    claim_lock = " FOR UPDATE SKIP LOCKED"  # MariaDB 10.6+, MySQL 8

    def claim_jobs(self, schema, table, key_columns, where, order_sql, limit, values, heading) -> pa.Table:
        """MySQL cannot UPDATE a table filtered by a subquery on itself: lock the next due rows
        (skipping rows other claimers hold) and reserve them, in one short READ COMMITTED transaction
        (no gap locks, so claims never wait for each other or for the makes' inserts)."""
        name = self.full_name(schema, table)
        keys = [self.quote(c) for c in key_columns]
        pick = (f"SELECT {', '.join(keys)}, CONNECTION_ID() AS connection_id, `priority`, `scheduled_time` "
                f"FROM {name} WHERE {self.due_now_sql(where)} "
                f"ORDER BY {order_sql} LIMIT {int(limit)}{self.claim_lock}")
        self.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")  # the next transaction only
        with self._atomic():
            picked = self._fetch_session(pick)
            if picked.num_rows:
                rows = ", ".join("(" + ", ".join(self.literal(v) for v in row[:len(keys)]) + ")"
                                 for row in zip(*(picked.column(i).to_pylist() for i in range(picked.num_columns))))
                self.execute(f"UPDATE {name} SET {self.claim_set_sql(values, heading)} "
                             f"WHERE ({', '.join(keys)}) IN ({rows})")
        return picked

    def live_sessions(self) -> dict | None:
        """The process list shows every session only to a user with the PROCESS privilege."""
        if not self.fetch_rows("SELECT 1 FROM information_schema.USER_PRIVILEGES "
                               "WHERE PRIVILEGE_TYPE IN ('PROCESS', 'SUPER') LIMIT 1"):
            return None
        return {int(row[0]): None for row in self.fetch_rows("SELECT ID FROM information_schema.PROCESSLIST")}

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
        return cls(text)

    def row_digest_sql(self, qualifier: str, columns) -> str:
        """MD5 of the quoted values (NULL as the word NULL); bytes, so no collations mix."""
        values = ", ".join(f"QUOTE(CAST({qualifier}.{self.quote(c)} AS BINARY))" for c in columns)
        return f"MD5(CONCAT_WS(',', {values}))" if columns else "MD5('')"

    def digest_list_sql(self, digests) -> str:
        return "CONCAT_WS(',', " + ", ".join(f"COALESCE({d}, '-')" for d in digests) + ")" if digests else "''"

    def upsert_select(self, schema, table, names, select_sql, primary_key, params=None) -> int:
        return self.execute(f"REPLACE INTO {self.full_name(schema, table)} ({self._cols(names)}) {select_sql}", params)

    # ----- bulk write ------------------------------------------------------------------------
    def to_storage(self, column, attribute: Attribute) -> pa.Array:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
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
        target = self.full_name(schema, table)
        if not data.num_columns:
            return self.execute(f"INSERT INTO {target} () VALUES " + ", ".join(["()"] * data.num_rows))
        with self._atomic():
            if not (skip_duplicates or replace) or not primary_key:
                return self._fill(target, data)
            if not replace and self._local_infile:
                count = self._load_skipping(target, data)
                if count is not None:
                    return count
            if replace and set(primary_key) <= set(data.column_names):
                data = _first_per_key(data, primary_key, last=True)  # the last row of a repeated key wins
            with self._temporary(schema, f"SELECT {self._cols(data.column_names)} FROM {target} LIMIT 0") as tmp:
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

    def _cols(self, names, alias="") -> str:
        return ", ".join(f"{alias}{self.quote(c)}" for c in names)

    @contextlib.contextmanager
    def _temporary(self, schema: str, select_sql: str):
        """A session-private staging table shaped by `select_sql`, dropped afterwards."""
        tmp = self.full_name(schema, f"~stage_{uuid.uuid4().hex[:12]}")
        self.execute(f"CREATE TEMPORARY TABLE {tmp} AS {select_sql}")
        try:
            yield tmp
        finally:
            self.execute(f"DROP TEMPORARY TABLE IF EXISTS {tmp}")

    def _merge(self, target: str, tmp: str, names, primary_key, replace: bool) -> int:
        """Staged rows -> target. skip: a no-op ON DUPLICATE KEY UPDATE skips a clash on any unique key.

        replace: rows whose primary key exists are updated in place (never REPLACE INTO, which deletes
        rows that have children, nor ON DUPLICATE KEY, which would overwrite a row that merely shares a
        unique value), then the rows with new keys are inserted.
        """
        cols, src = self._cols(names), self._cols(names, "s.")
        insert = f"INSERT INTO {target} ({cols}) SELECT {src} FROM {tmp} AS s"
        if not replace or not set(primary_key) <= set(names):  # e.g. a singleton's hidden key takes its default
            return self.execute(insert + self._odku(target, names, primary_key, replace))
        on = " AND ".join(f"d.{self.quote(k)} = s.{self.quote(k)}" for k in primary_key)
        others = [n for n in names if n not in primary_key]
        count = 0
        if others:
            sets = ", ".join(f"d.{self.quote(n)} = s.{self.quote(n)}" for n in others)
            count += self.execute(f"UPDATE {target} AS d JOIN {tmp} AS s ON {on} SET {sets}")
        return count + self.execute(f"{insert} WHERE NOT EXISTS (SELECT 1 FROM {target} AS d WHERE {on})")

    def _odku(self, target, names, primary_key, replace) -> str:
        """ON DUPLICATE KEY UPDATE: VALUES() to replace, else a no-op assignment to skip."""
        prefix = f"{target}." if target else ""
        others = [n for n in names if n not in primary_key]
        if replace and others:
            return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{prefix}{self.quote(n)} = VALUES({self.quote(n)})"
                                                            for n in others)
        k = prefix + self.quote(primary_key[0])
        return f" ON DUPLICATE KEY UPDATE {k} = {k}"

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
        columns, sets = [], []
        for i, name in enumerate(data.column_names):
            if is_binary(data.schema.field(i).type):
                columns.append(f"@v{i}")
                sets.append(f"{self.quote(name)} = UNHEX(@v{i})")
            else:
                columns.append(self.quote(name))
        fd, path = tempfile.mkstemp(prefix="djframe_", suffix=".tsv")
        try:
            with os.fdopen(fd, "wb") as f:
                write_tsv(data, f)
            sql = (f"LOAD DATA LOCAL INFILE {self.string_literal(path)} INTO TABLE {target} CHARACTER SET utf8mb4 "
                   "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                   f"({', '.join(columns)})" + (f" SET {', '.join(sets)}" if sets else ""))
            count = self.execute(sql)
        finally:
            os.unlink(path)
        self._raise_warnings(target, tolerate)
        return count

    def _raise_warnings(self, target: str, tolerate=()):
        """LOCAL loads skip bad rows with a warning; strict semantics need them as errors."""
        shown = self.fetch_rows("SHOW WARNINGS")
        problems = [(code, msg) for level, code, msg in shown if level != "Note" and code not in tolerate]
        if tolerate and not problems and self.fetch_rows("SHOW COUNT(*) WARNINGS")[0][0] > len(shown):
            problems = [(-1, "more warnings than the server lists")]  # cannot tell they are all tolerated
        if problems:
            code, message = problems[0]
            more = f"; and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
            raise self._error(int(code), f"{message}{more} while loading rows into {target}", "")

    def _insert_rows(self, target: str, data: pa.Table) -> int:
        """Fallback without LOCAL INFILE: pymysql rewrites executemany into multi-row INSERTs."""
        names = data.column_names
        sql = f"INSERT INTO {target.replace('%', '%%')} ({self._cols(names).replace('%', '%%')}) VALUES " \
              f"({', '.join(['%s'] * len(names))})"
        count = 0
        for batch in data.to_batches(max_chunksize=10000):
            try:
                with self.conn.cursor() as cur:
                    count += cur.executemany(sql, list(zip(*(c.to_pylist() for c in batch.columns)))) or 0
            except pymysql.err.MySQLError as e:
                raise self.translate_error(e, sql) from None
        return count

    def conflict_clause(self, names, primary_key, skip_duplicates, replace) -> str:
        """MySQL spelling of the upsert clause (unqualified)."""
        if not (skip_duplicates or replace) or not primary_key:
            return ""
        return self._odku("", names, primary_key, replace)

    def insert_select(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                      primary_key=()) -> int:
        target = self.full_name(schema, table)
        insert = f"INSERT INTO {target} ({self._cols(names)}) SELECT * FROM ({select_sql}) AS src"
        if not (skip_duplicates or replace) or not primary_key:
            return self.execute(insert)
        if not replace:
            return self.execute(insert + self._odku(target, names, primary_key, False))
        with self._atomic(), self._temporary(schema, select_sql) as tmp:  # materialised: it may read the target
            return self._merge(target, tmp, names, primary_key, True)

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
        marks = ", ".join(["%s"] * len(SYSTEM_SCHEMAS))
        return [r[0] for r in self.fetch_rows(
            f"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({marks}) "
            "ORDER BY SCHEMA_NAME", SYSTEM_SCHEMAS)]

    def schema_exists(self, schema):
        return bool(self.fetch_rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (schema,)))

    @property
    def text_collation(self) -> str:
        """Binary and NO PAD: text matches literally, as on PostgreSQL and SQLite ('a' != 'A' != 'a ')."""
        return "utf8mb4_nopad_bin" if self.is_mariadb else "utf8mb4_0900_bin"

    def create_schema(self, schema):
        self.execute(f"CREATE DATABASE IF NOT EXISTS {self.quote(schema)} CHARACTER SET utf8mb4 "
                     f"COLLATE {self.text_collation}")

    def drop_schema(self, schema):
        self.execute(f"DROP DATABASE IF EXISTS {self.quote(schema)}")

    def list_tables(self, schema):
        return [r[0] for r in self.fetch_rows(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            (schema,))]

    def table_exists(self, schema, table):
        return bool(self.fetch_rows("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                                    "AND TABLE_NAME = %s", (schema, table)))

    def columns(self, schema, table):
        rows = self.fetch_rows(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT, COLUMN_KEY, EXTRA "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table))
        if any(_wide_decimal(r[1]) for r in rows):
            self._exact_tables.add(self.full_name(schema, table))
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
        rows = self.fetch_rows("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                               "AND TABLE_NAME = %s", (schema, table))
        return (rows[0][0] or "") if rows else ""

    def foreign_keys(self, schema, table=None):
        """(child, spec) per FK, columns in key order, FKs in declaration order (`t_ibfk_<n>`)."""
        rows = self.fetch_rows(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, "
            "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
            "AND REFERENCED_TABLE_NAME IS NOT NULL AND (%s IS NULL OR TABLE_NAME = %s) "
            "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION", (schema, table, table))
        groups: dict[tuple, list] = {}
        for child, constraint, column, parent_schema, parent_table, parent_column in rows:
            groups.setdefault((child, constraint), []).append((parent_schema, parent_table, column, parent_column))
        return [(child, ForeignKeySpec(cols[0][0], cols[0][1], tuple((c, p) for _, _, c, p in cols)))
                for (child, _), cols in sorted(groups.items(), key=lambda kv: (kv[0][0], _natural(kv[0][1])))]

    def indexes(self, schema, table):
        """Secondary indexes, without the ones InnoDB added by itself to back a foreign key."""
        groups: dict[str, list] = {}
        unique = {}
        for name, non_unique, column in self.fetch_rows(
                "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX", (schema, table)):
            groups.setdefault(name, []).append(column)
            unique[name] = not int(non_unique)
        fk_columns = {tuple(fk.child_attributes) for _, fk in self.foreign_keys(schema, table)}
        return [IndexSpec(tuple(cols), unique[name]) for name, cols in groups.items()
                if unique[name] or tuple(cols) not in fk_columns]

    def core_type_of(self, sql_type: str) -> CoreType:
        """Core type of a column without a `:type:` marker (e.g. FK columns written by the reference)."""
        sql_type = sql_type.lower().strip()
        m = _SQL_INT.match(sql_type)
        if m and m.group(1) in _INT_TYPES:
            return parse_type(f"{'u' if m.group(2) else ''}int{_INT_TYPES[m.group(1)]}")
        simple = {"float": "float32", "double": "float64", "longblob": "bytes", "blob": "bytes",
                  "mediumblob": "bytes", "tinyblob": "bytes"}
        if sql_type in simple:
            return parse_type(simple[sql_type])
        if re.match(r"^(var)?binary\(\d+\)$", sql_type):
            return parse_type("bytes")
        try:
            return parse_type(sql_type, warn_native=False)
        except DeclarationError:
            return CoreType("native", sql_type)

    # ----- DDL -------------------------------------------------------------------------------
    def column_type(self, t: CoreType, schema: str) -> str:
        if t.is_integer:
            name = {"8": "tinyint", "16": "smallint", "32": "int", "64": "bigint"}[t.kind.split("int")[1]]
            return f"{name} unsigned" if t.is_unsigned else name
        fixed = {"bool": "tinyint", "float32": "float", "float64": "double", "date": "date", "json": "json",
                 "uuid": "binary(16)", "bytes": "longblob", "text": "text", "datetime": t.text}
        if t.kind in fixed:
            return fixed[t.kind]
        if t.kind == "enum":
            return "enum(" + ", ".join(self.string_literal(v) for v in t.enum_values) + ")"
        if t.kind == "codec":
            return self.column_type(t.storage, schema)  # the core type ending the codec chain
        return t.text  # decimal(p,s), char(n), varchar(n), native passthrough

    def default_literal(self, a: Attribute, schema: str) -> str:
        if a.type.kind == "uuid":
            return self.uuid_literal(uuid.UUID(a.default))
        return super().default_literal(a, schema)

    def column_sql(self, a: Attribute, schema: str, collation: str | None = None) -> str:
        """Column definition with its inline `:type:comment` (MySQL has no COMMENT ON)."""
        collate = f" COLLATE {collation}" if collation else ""
        return (f"{self.quote(a.name)} {self.column_type(a.type, schema)}{collate} {self.default_clause(a, schema)} "
                f"COMMENT {self.string_literal(self.column_comment(a))}")

    def _parent_collations(self, spec: TableSpec) -> dict[str, str]:
        """Foreign-key columns take their parent column's collation (MySQL refuses a mismatch, e.g. with a
        parent declared by the reference client under the server's default collation)."""
        out = {}
        for fk in spec.foreign_keys:
            found = dict(self.fetch_rows(
                "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND COLLATION_NAME IS NOT NULL", (fk.parent_schema, fk.parent_table)))
            out.update({child: found[parent] for child, parent in fk.attr_map if parent in found})
        return out

    def alter_add_column(self, spec: TableSpec, a: Attribute):
        """Placed where the definition has it (MySQL can), so an alter and its reverse restore the table."""
        names = [x.name for x in spec.attributes]
        at = names.index(a.name) if a.name in names else len(names)
        place = f" AFTER {self.quote(names[at - 1])}" if at > 0 else " FIRST"
        self._alter(spec, f"ADD COLUMN {self.column_sql(a, spec.schema)}{place if at < len(names) else ''}")

    def alter_modify_column(self, spec: TableSpec, a: Attribute):
        self._alter(spec, f"MODIFY COLUMN {self.column_sql(a, spec.schema)}")

    def alter_column_comment(self, spec: TableSpec, a: Attribute):
        self.alter_modify_column(spec, a)

    def alter_table_comment(self, spec: TableSpec, comment: str):
        self._alter(spec, f"COMMENT = {self.string_literal(comment)}")

    def create_table_sql(self, spec: TableSpec) -> str:
        collations = self._parent_collations(spec)
        lines = [self.column_sql(a, spec.schema, collations.get(a.name)) for a in spec.attributes]
        lines.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in spec.primary_key)})")
        lines += [self.fk_clause(fk) for fk in spec.foreign_keys]
        for index in spec.indexes:
            cols = ", ".join(c if c.startswith("(") else self.quote(c) for c in index.columns)
            lines.append(f"{'UNIQUE ' if index.unique else ''}INDEX ({cols})")
        comment = f" COMMENT={self.string_literal(spec.comment)}" if spec.comment else ""
        return (f"CREATE TABLE {self.full_name(spec.schema, spec.table_name)} (\n  " + ",\n  ".join(lines)
                + f"\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.text_collation}{comment}")

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

    def lineage_table_spec(self, schema: str) -> str:
        q, s = self.quote, self.string_literal
        return (f"CREATE TABLE IF NOT EXISTS {self.full_name(schema, LINEAGE_TABLE)} ("
                f"{q('table_name')} varchar(64) NOT NULL COMMENT {s('table name within the schema')}, "
                f"{q('attribute_name')} varchar(64) NOT NULL COMMENT {s('attribute name')}, "
                f"{q('lineage')} varchar(255) NOT NULL COMMENT {s('origin: schema.table.attribute')}, "
                f"PRIMARY KEY ({q('table_name')}, {q('attribute_name')})) ENGINE=InnoDB")


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
