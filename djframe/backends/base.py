"""The driver protocol: connect, execute, fetch Arrow, ingest Arrow, transactions, catalog reads.

A backend is a driver and a dialect (``backend.dialect``, see dialect.py): the driver runs what
its dialect writes and holds no statement text of its own. Everything above it speaks in
TableSpecs, query nodes and Arrow tables. The dialect's vocabulary (``quote``, ``literal``,
``column_type``, ``limit_clause``, ...) is reachable on the backend too, so code written against
the fused backend class keeps working.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from djframe import errors
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import CoreType
from djframe.backends.dialect import LINEAGE_TABLE, Dialect


def single_array(column) -> pa.Array:
    """One Arrow array for a column; a column of one chunk is that chunk (`combine_chunks` copies even
    then: on a million-row insert that is a copy of every column)."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


# Buffers that live only while one slice is checked or encoded: the system allocator hands them back at
# once, where Arrow's default pool keeps freed memory per thread (a bulk load's peak grew by every slice).
TRANSIENT_POOL = pa.system_memory_pool()
INGEST_BATCH_BYTES = 2 << 20  # what a bulk load converts or sends at a time: peak memory stays near the frame's


def ingest_batches(data: pa.Table, batch_bytes: int | None = None) -> list[pa.RecordBatch]:
    """The table as zero-copy slices of about `batch_bytes` each, so a bulk load encodes one slice at a
    time instead of the whole table (ADBC's COPY buffer, MySQL's TSV text, SQLite's Python values)."""
    rows = max(1024, int((batch_bytes or INGEST_BATCH_BYTES) * data.num_rows / max(1, data.nbytes)))
    return data.to_batches(max_chunksize=rows)


def shortest_float32(column: pa.Array) -> pa.Array:
    """A `float` (32-bit) column as the Python floats its shortest text means: 15.3, not 15.300000190734863.

    That is what a user typed and what a text-protocol driver returns; the 32-bit value is unchanged."""
    return pc.cast(pc.cast(column, pa.string()), pa.float64())


def shortest_float32_value(value: float) -> float:
    """One value of a 32-bit float column, as `shortest_float32` gives it."""
    return float(str(np.float32(value)))


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
    """Base class of the three drivers; subclasses override what differs."""

    dialect: Dialect = Dialect()
    small_batch_rows = 200  # below this a multi-row INSERT beats the bulk path's setup
    small_batch_bytes = 1 << 20
    catalog_changed = False  # set by `catalog_error`; the connection re-reads its cached catalog then

    def catalog_error(self, error: Exception) -> Exception:
        """A column or table the server does not know, in a statement compiled from the connection's
        cached catalog: another process may have altered or dropped the table since this session read
        it. Mark the cache stale (Connection.table_spec drops it at the next table access) and say so."""
        if isinstance(error, (errors.UnknownAttributeError, errors.MissingTableError)) and error.args:
            self.catalog_changed = True
            error.args = (f"{error.args[0]}. If another process altered or dropped the table since this session "
                          "read its definition: djframe has dropped its cached definitions, so the same call made "
                          "again (from the table class) uses the table as it is now.", *error.args[1:])
        return error

    def __getattr__(self, name: str):
        """The dialect's names (quote, literal, name, max_name_length, ...) are the backend's too."""
        if name == "dialect" or name.startswith("_"):  # private names are the driver's own
            raise AttributeError(name)
        try:
            return getattr(self.dialect, name)
        except AttributeError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    # ----- execution -------------------------------------------------------------------------
    def execute(self, sql: str, params=None) -> int:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def execute_all(self, statements) -> None:
        for statement in statements:
            self.execute(statement)

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

    # ----- transactions ----------------------------------------------------------------------
    def begin(self):
        self.execute(self.dialect.begin_sql)

    def begin_snapshot(self):
        """A transaction whose reads all see the database as it was when it began."""
        self.begin()

    def commit(self):
        self.execute(self.dialect.commit_sql)

    def rollback(self):
        self.execute(self.dialect.rollback_sql)

    def savepoint(self, name: str):
        """Savepoints make one write inside a caller's transaction all-or-nothing."""
        self.execute(self.dialect.savepoint_sql(name))

    def rollback_to_savepoint(self, name: str):
        self.execute(self.dialect.rollback_to_savepoint_sql(name))

    def release_savepoint(self, name: str):
        self.execute(self.dialect.release_savepoint_sql(name))

    @contextlib.contextmanager
    def transaction(self):
        """One transaction around a multi-statement change: committed, or rolled back on any error."""
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # ----- server facts ----------------------------------------------------------------------
    def ping(self):
        """A round trip to the server; raises when the connection is gone."""
        self.fetch_rows(self.dialect.ping_sql)

    def server_time(self) -> dt.datetime:
        """The server's clock as a naive datetime, for CURRENT_TIMESTAMP defaults filled in client-side."""
        value = self.fetch_rows(self.dialect.now_sql)[0][0]
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def connection_id(self) -> int:
        sql = self.dialect.connection_id_select
        return 0 if sql is None else int(self.fetch_rows(sql)[0][0])

    def current_user(self) -> str:
        """The database user this connection acts as (recorded with each reserved job)."""
        return str(self.fetch_rows(self.dialect.current_user_sql)[0][0])

    def close(self):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def translate_error(self, exc: Exception, context: str = "") -> Exception:
        """Map a driver exception to a DataJointError (or return it unchanged)."""
        return exc

    # ----- bulk write ---------------------------------------------------------------------------
    def to_storage(self, column: pa.Array, attribute: Attribute) -> pa.Array:
        """Convert a validated Arrow column into what this backend stores."""
        return column

    def ingest(self, schema: str, table: str, data: pa.Table, *, skip_duplicates=False,
               replace=False, primary_key=()) -> int:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def is_small_batch(self, data: pa.Table) -> bool:
        return data.num_rows <= self.small_batch_rows and data.nbytes <= self.small_batch_bytes

    def ingest_is_one_statement(self, data: pa.Table, skip_duplicates=False, replace=False) -> bool:
        """True when `ingest` writes `data` with a single statement (atomic without a transaction)."""
        return False

    def insert_values(self, schema, table, data: pa.Table, conflict: str = "") -> int:
        """One INSERT ... VALUES with escaped literals: a single round trip for a few rows."""
        if not data.num_columns:
            return sum(self.insert_default_row(schema, table) for _ in range(data.num_rows))
        rows = zip(*(column.to_pylist() for column in data.columns))
        return self.insert_rows(schema, table, data.column_names, rows, conflict)

    def insert_default_row(self, schema, table) -> int:
        """One row of nothing but defaults (auto_increment, NULL, CURRENT_TIMESTAMP)."""
        return self.execute(self.dialect.insert_default_sql(schema, table))

    def insert_rows(self, schema, table, names, rows, conflict: str = "") -> int:
        """INSERT ... VALUES of Python values already in their stored form (escaped literals)."""
        return self.execute(self.dialect.insert_rows_sql(schema, table, names, rows, conflict))

    def insert_select(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                      primary_key=()) -> int:
        """INSERT ... SELECT: copy a query's rows into a table entirely inside the database."""
        return self.execute(self.dialect.insert_select_sql(schema, table, names, select_sql,
                                                           skip_duplicates=skip_duplicates, replace=replace,
                                                           primary_key=primary_key))

    def update(self, schema, table, values: dict, where: str, heading=None) -> int:
        """UPDATE ... SET; with the heading, values are written in each column's stored form."""
        return self.execute(self.dialect.update_sql(schema, table, values, where, heading))

    def upsert_select(self, schema, table, names, select_sql, primary_key, params=None) -> int:
        """INSERT ... SELECT that replaces rows of the same primary key, in one statement."""
        return self.execute(self.dialect.upsert_select_sql(schema, table, names, select_sql, primary_key), params)

    def delete_where(self, schema, table, where: str) -> int:
        """One DELETE (atomic by itself: no transaction around it); the number of rows deleted."""
        return self.execute(self.dialect.delete_where_sql(schema, table, where))

    def count(self, sql_from: str) -> int:
        return int(self.fetch_rows(self.dialect.count_sql(sql_from))[0][0])

    # ----- fetch normalisation --------------------------------------------------------------------
    def from_storage(self, column: pa.ChunkedArray, attribute: Attribute) -> pa.ChunkedArray:
        """Convert a fetched column into the heading's Arrow type."""
        target = attribute.arrow_type
        if column.type == target:
            return column
        return column.cast(target)

    # ----- schemas and catalog ----------------------------------------------------------------
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

    def core_type_of(self, sql_type: str) -> CoreType:
        """Core type for a column that carries no `:type:` comment marker."""
        return self.dialect.core_type_of(sql_type)

    # ----- DDL -----------------------------------------------------------------------------------
    def create_table(self, spec: TableSpec):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def declare(self, spec: TableSpec):
        """Create the table and its ~lineage rows together (transactional DDL where the server has it)."""
        with self.transaction():
            self.create_table(spec)
            self.write_lineage(spec.schema, spec.table_name, spec.lineage)

    def drop_table(self, schema: str, table: str):
        self.execute(self.dialect.drop_table_sql(schema, table))

    def alter_table(self, spec: TableSpec, *, drop=(), rename=(), add=(), modify=(), comment=None):
        """Apply the changes of Table.alter in one transaction (where DDL is transactional).

        `spec` is the table as it will be; drop: names; rename: (old, new) pairs;
        add / modify: Attributes; comment: the new table comment or None.
        """
        with self.transaction():
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

    def alter_add_column(self, spec: TableSpec, a: Attribute):
        self.execute_all(self.dialect.add_column_sql(spec, a))

    def alter_drop_column(self, spec: TableSpec, name: str):
        self.execute(self.dialect.drop_column_sql(spec, name))

    def alter_rename_column(self, spec: TableSpec, old: str, new: str):
        self.execute(self.dialect.rename_column_sql(spec, old, new))

    def alter_modify_column(self, spec: TableSpec, a: Attribute):
        self.execute_all(self.dialect.modify_column_sql(spec, a))

    def alter_column_comment(self, spec: TableSpec, a: Attribute):
        self.execute_all(self.dialect.column_comment_sql(spec, a))

    def alter_table_comment(self, spec: TableSpec, comment: str):
        self.execute(self.dialect.table_comment_sql(spec, comment))

    # ----- the ~lineage table -----------------------------------------------------------------------
    def write_lineage(self, schema: str, table: str, lineage: dict[str, str]):
        """Replace the ~lineage rows of one table."""
        self.execute(self.dialect.lineage_table_spec(schema))
        self.execute(self.dialect.lineage_delete_sql(schema, table))
        if lineage:
            self.execute(self.dialect.lineage_insert_sql(schema, table, lineage))

    def read_lineage(self, schema: str) -> dict[tuple[str, str], str]:
        if not self.table_exists(schema, LINEAGE_TABLE):
            return {}
        return {(t, a): v for t, a, v in self.fetch_rows(self.dialect.lineage_select_sql(schema))}

    def delete_lineage(self, schema: str, table: str):
        if self.table_exists(schema, LINEAGE_TABLE):
            self.execute(self.dialect.lineage_delete_sql(schema, table))

    # ----- job queue: claiming and liveness (jobs.py) ----------------------------------------------
    def claim_jobs(self, schema, table, key_columns, where: str, order_sql: str, limit: int, values: dict,
                   heading) -> pa.Table:
        """Reserve up to `limit` jobs matching `where` in ONE statement, so concurrent workers never
        race for a row: the raw key columns (and connection_id) of the jobs this session now holds."""
        return self.fetch_returning(self.dialect.claim_jobs_sql(schema, table, key_columns, where, order_sql, limit,
                                                                values, heading))

    def fetch_returning(self, sql: str) -> pa.Table:
        """The rows of a writing statement (UPDATE ... RETURNING), raw."""
        return self.fetch_arrow(sql)

    def live_sessions(self) -> dict | None:
        """{session id: start time or None} of every session the server has now; None when the
        server cannot tell (an embedded database), or cannot show all of them to this user."""
        return None


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
