"""How a server says things: the text of every statement djframe sends, and nothing that runs one.

A `Dialect` quotes names, writes literals, maps core types to column types, and spells DDL,
ALTER, writes, catalog queries, job claims, transactions and the rewrites of user SQL. It holds
no connection and does no I/O, so the query compiler is built from a dialect alone and compiling
is testable without a server. The base class speaks standard SQL (SQLite's and PostgreSQL's
spelling where they agree); `backends/<name>/dialect.py` overrides only what differs, as data
(class-level dicts and tuples) where it fits. Facts a driver learns from its server (MariaDB or
MySQL) are constructor arguments.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid

from sqlglot import exp

from djframe.errors import DataJointError, InvalidValueError
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, TableSpec
from djframe.define.types import CoreType

LINEAGE_TABLE = "~lineage"
_PLACEHOLDER = re.compile(r"%%|%s")


def path_text(steps) -> str:
    """The SQL/JSON path of JSON path ``steps``: ``$.a.b[0].c`` (keys are identifiers, indices ints)."""
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


def as_uuid(value, attribute) -> uuid.UUID:
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


# ----- shared parts of the rewrites of user SQL (MySQL idioms) -------------------------------------
SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}
DATE_PARTS = {exp.Year: "%Y", exp.Month: "%m", exp.Day: "%d", exp.DayOfMonth: "%d"}


def timestampdiff_unit(node) -> str:
    """The unit of a TIMESTAMPDIFF that other servers can compute from seconds (a clear error if not)."""
    unit = (node.unit.name if node.unit else "SECOND").upper()
    if unit not in SECONDS:
        raise DataJointError(f"timestampdiff unit {unit} is supported on MySQL only; use one of {sorted(SECONDS)}.")
    return unit


class Dialect:
    """Standard SQL; subclasses override what their server spells differently."""

    name = "base"
    sqlglot_dialect = ""
    max_name_length = 64
    supports_unsigned = False
    supports_nan = True
    supports_inf = True
    needs_boolean_conditions = False  # True where WHERE wants a boolean, not a number (PostgreSQL)
    # the query compiler keeps a derived table on the right of a LEFT JOIN from being merged into the
    # outer query (LIMIT <none>) when the server then evaluates it wrongly
    materialize_outer_right = False
    no_limit = "-1"
    json_casts = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}
    bound_key_kinds: frozenset = frozenset()  # key types passed as bound parameters (see key_condition)

    # rewrites of MySQL idioms in user SQL (sqlglot tree transforms), applied when the parsed tree
    # holds one of `user_sql_rewritten` (node types)
    user_sql_transforms: tuple = ()
    user_sql_rewritten: tuple = ()

    def __eq__(self, other):
        """Dialects of one class with the same server facts say the same things (so what is rendered
        for one, e.g. cached user SQL, serves every connection of that kind)."""
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash(type(self))  # cheap (asked on every cached rendering); equal dialects share a class

    # ----- statements with no arguments ------------------------------------------------------
    begin_sql = "BEGIN"
    begin_snapshot_sql = "BEGIN"  # a transaction whose reads all see the database as it was when it began
    commit_sql = "COMMIT"
    rollback_sql = "ROLLBACK"
    ping_sql = "SELECT 1"
    now_sql = "SELECT LOCALTIMESTAMP(6)"
    current_user_sql = "SELECT CURRENT_USER"
    connection_id_select: str | None = None  # None: the server has no session ids (embedded)
    transaction_control = ("BEGIN", "COMMIT", "ROLLBACK")  # statement openings left out of a dry run's plan

    # ----- job queue expressions --------------------------------------------------------------
    connection_id_sql = "0"  # this session's id, as the server reports it in its session list
    clock_ms_sql = "LOCALTIMESTAMP(3)"  # the server clock at the queue columns' precision
    random_sql = "RANDOM()"
    claim_lock = ""  # the clause that lets concurrent claimers pass over each other's rows

    # ----- identifiers and literals -----------------------------------------------------------
    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def full_name(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def columns_list(self, names, alias: str = "") -> str:
        """``a, b, c`` quoted, each prefixed by `alias` (``s.``) when given."""
        return ", ".join(f"{alias}{self.quote(c)}" for c in names)

    def string_literal(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def literal(self, value, attribute: Attribute | None = None) -> str:
        """An escaped SQL literal for a Python value, typed by the attribute when known."""
        if value is None:
            return "NULL"
        if attribute is not None and attribute.type.kind == "uuid" and not isinstance(value, uuid.UUID):
            return self.uuid_literal(as_uuid(value, attribute))
        if isinstance(value, bool):
            return self.bool_literal(value)
        if isinstance(value, (int, decimal.Decimal)):
            return str(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return self.special_float_literal(value)
            return repr(value)
        return self.object_literal(value)

    def object_literal(self, value) -> str:
        """A literal of a value that is not a number: UUIDs, datetimes, bytes, JSON, text."""
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
        """Literal for comparing against a stored column (dialects override storage quirks)."""
        return self.literal(value, attribute)

    # ----- user SQL ---------------------------------------------------------------------------
    def param_marker(self, position: int) -> str:
        """The driver's placeholder for the ``position``-th (0-based) bound argument."""
        return "%s"

    def user_sql(self, sql: str) -> str:
        """User SQL written for the reference's drivers (``%s`` placeholders, ``%%`` for a percent sign,
        both anywhere in the text, as pymysql and psycopg2 format them) in this driver's style."""
        count = iter(range(1 << 30))
        return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else self.param_marker(next(count)), sql)

    def json_path_sql(self, column: str, steps: tuple, cast: str) -> str:
        """A scalar inside a json column (SQL NULL when missing or null), cast to int, float or text.
        The default is SQLite's json_extract; steps are identifiers (checked by the parser)."""
        return f"CAST(json_extract({column}, {self.string_literal(path_text(steps))}) AS {self.json_casts[cast]})"

    def limit_clause(self, limit, offset) -> str:
        text = f"LIMIT {self.no_limit if limit is None else int(limit)}"
        return text + (f" OFFSET {int(offset)}" if offset else "")

    def server_now(self) -> str:
        return "CURRENT_TIMESTAMP"

    # ----- transactions -----------------------------------------------------------------------
    def savepoint_sql(self, name: str) -> str:
        return f"SAVEPOINT {name}"

    def rollback_to_savepoint_sql(self, name: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {name}"

    def release_savepoint_sql(self, name: str) -> str:
        return f"RELEASE SAVEPOINT {name}"

    def is_transaction_control(self, statement: str) -> bool:
        """A statement that opens or ends a transaction (left out of a dry run's plan)."""
        return statement.upper().startswith(self.transaction_control)

    def replica_identity_sql(self, schema: str, table: str, mode: str) -> str:
        raise DataJointError(f"REPLICA IDENTITY is a PostgreSQL table setting (for change data capture); the "
                             f"{self.name} backend has none.")

    # ----- writes -----------------------------------------------------------------------------
    def count_sql(self, sql_from: str) -> str:
        return f"SELECT COUNT(*) FROM {sql_from}"

    def insert_default_sql(self, schema: str, table: str) -> str:
        """One row of nothing but defaults (auto_increment, NULL, CURRENT_TIMESTAMP)."""
        return f"INSERT INTO {self.full_name(schema, table)} DEFAULT VALUES"

    def insert_sql(self, schema: str, table: str, names, values_sql: str, conflict: str = "") -> str:
        """INSERT ... VALUES of already rendered rows (``(..), (..)`` or parameter markers)."""
        return f"INSERT INTO {self.full_name(schema, table)} ({self.columns_list(names)}) VALUES {values_sql}{conflict}"

    def bound_row(self, width: int) -> str:
        """``(?, ?, ?)``: one row of parameter markers, for executemany."""
        return "(" + ", ".join(self.param_marker(i) for i in range(width)) + ")"

    def insert_rows_sql(self, schema, table, names, rows, conflict: str = "") -> str:
        """INSERT ... VALUES of Python values already in their stored form (escaped literals)."""
        values = ", ".join("(" + ", ".join(map(self.literal, row)) + ")" for row in rows)
        return self.insert_sql(schema, table, names, values, conflict)

    def conflict_clause(self, names, primary_key, skip_duplicates, replace) -> str:
        """ON CONFLICT clause (PostgreSQL and SQLite spelling) for skip_duplicates / replace.

        skip_duplicates skips a clash on any unique key, as MySQL's ON DUPLICATE KEY does; replace
        overwrites the row with the same primary key (a clash on a unique index still raises).
        """
        if not (skip_duplicates or replace) or not primary_key:
            return ""
        others = [n for n in names if n not in primary_key]
        if replace and others:
            sets = ", ".join(f"{self.quote(n)} = excluded.{self.quote(n)}" for n in others)
            return f" ON CONFLICT ({self.columns_list(primary_key)}) DO UPDATE SET {sets}"
        return " ON CONFLICT DO NOTHING"

    def insert_select_sql(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                          primary_key=()) -> str:
        """INSERT ... SELECT: copy a query's rows into a table entirely inside the database."""
        return (f"INSERT INTO {self.full_name(schema, table)} ({self.columns_list(names)}) SELECT * FROM "
                f"({select_sql}) AS src WHERE 1 = 1" + self.conflict_clause(names, primary_key, skip_duplicates, replace))

    def upsert_select_sql(self, schema, table, names, select_sql, primary_key) -> str:
        """INSERT ... SELECT that replaces rows of the same primary key, in one statement (the
        select must not read `table` itself)."""
        return (f"INSERT INTO {self.full_name(schema, table)} ({self.columns_list(names)}) SELECT * FROM "
                f"({select_sql}) AS src WHERE 1 = 1" + Dialect.conflict_clause(self, names, primary_key, False, True))

    def update_sql(self, schema, table, values: dict, where: str, heading=None) -> str:
        """UPDATE ... SET; with the heading, values are written in each column's stored form."""
        literal = (lambda c, v: self.typed_literal(v, heading[c])) if heading is not None else \
            (lambda c, v: self.literal(v))
        sets = ", ".join(f"{self.quote(c)} = {literal(c, v)}" for c, v in values.items())
        return f"UPDATE {self.full_name(schema, table)} SET {sets}" + (f" WHERE {where}" if where else "")

    def delete_where_sql(self, schema, table, where: str) -> str:
        return f"DELETE FROM {self.full_name(schema, table)} WHERE {where}"

    # ----- type mapping -----------------------------------------------------------------------
    def column_type(self, t: CoreType, schema: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def core_type_of(self, sql_type: str) -> CoreType:  # pragma: no cover - abstract
        """Core type for a column that carries no `:type:` comment marker."""
        raise NotImplementedError("abstract")

    def checks(self, a: Attribute) -> list[str]:
        """CHECK constraints for rules of the core type the column type does not enforce."""
        return []

    # ----- DDL --------------------------------------------------------------------------------
    def drop_table_sql(self, schema: str, table: str) -> str:
        return f"DROP TABLE {self.full_name(schema, table)}"

    def column_definition(self, a: Attribute, schema: str) -> str:
        """One column of CREATE TABLE / ADD COLUMN (without its comment)."""
        return f"{self.quote(a.name)} {self.column_type(a.type, schema)} {self.default_clause(a, schema)}"

    def table_body(self, spec: TableSpec, columns: list[str]) -> list[str]:
        """The lines of CREATE TABLE after the column definitions: primary key and foreign keys."""
        return [*columns, f"PRIMARY KEY ({self.columns_list(spec.primary_key)})",
                *(self.fk_clause(fk) for fk in spec.foreign_keys)]

    def create_table_sql(self, name: str, lines: list[str], options: str = "") -> str:
        return f"CREATE TABLE {name} (\n  " + ",\n  ".join(lines) + "\n)" + options

    def index_columns(self, index) -> str:
        """An index's columns, quoted (an expression in parentheses stays as written)."""
        return ", ".join(c if c.startswith("(") else self.quote(c) for c in index.columns)

    def create_index_sql(self, index_name: str, table_name: str, index) -> str:
        return (f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {self.quote(index_name)} ON {table_name} "
                f"({self.index_columns(index)})")

    def default_expression(self, a: Attribute, schema: str) -> str | None:
        """The DEFAULT expression of a column, or None when it has none."""
        if a.nullable:
            return "NULL"
        if not a.has_default or a.default is None:
            return None
        return self.timestamp_default(a.default) if a.default_is_expression else self.default_literal(a, schema)

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
        return self.string_literal(a.default)

    def fk_clause(self, fk: ForeignKeySpec) -> str:
        return (f"FOREIGN KEY ({self.columns_list(fk.child_attributes)}) REFERENCES "
                f"{self.full_name(fk.parent_schema, fk.parent_table)} ({self.columns_list(fk.parent_attributes)}) "
                "ON UPDATE CASCADE ON DELETE RESTRICT")

    def column_comment(self, a: Attribute) -> str:
        """The `:type:comment` marker that records the declared type for every client."""
        return f":{a.type.text}:{a.comment}" if a.type.kind != "native" else a.comment

    # ----- ALTER (secondary attributes and comments only) -----------------------------------------
    def alter_sql(self, spec: TableSpec, clause: str) -> str:
        return f"ALTER TABLE {self.full_name(spec.schema, spec.table_name)} {clause}"

    def add_column_sql(self, spec: TableSpec, a: Attribute) -> list[str]:
        return [self.alter_sql(spec, f"ADD COLUMN {self.column_definition(a, spec.schema)}"),
                *self.column_comment_sql(spec, a)]

    def drop_column_sql(self, spec: TableSpec, name: str) -> str:
        return self.alter_sql(spec, f"DROP COLUMN {self.quote(name)}")

    def rename_column_sql(self, spec: TableSpec, old: str, new: str) -> str:
        return self.alter_sql(spec, f"RENAME COLUMN {self.quote(old)} TO {self.quote(new)}")

    def modify_column_sql(self, spec: TableSpec, a: Attribute, old_checks=()) -> list[str]:
        """Standard SQL: type, NULL-ability, default and comment in turn (`old_checks`: the names of
        the column's CHECK constraints, where the dialect replaces them)."""
        col = f"ALTER COLUMN {self.quote(a.name)}"
        default = self.default_expression(a, spec.schema)
        return [self.alter_sql(spec, f"{col} TYPE {self.column_type(a.type, spec.schema)}"),
                self.alter_sql(spec, f"{col} {'DROP' if a.nullable else 'SET'} NOT NULL"),
                self.alter_sql(spec, f"{col} SET DEFAULT {default}" if default else f"{col} DROP DEFAULT"),
                *self.column_comment_sql(spec, a)]

    def column_comment_sql(self, spec: TableSpec, a: Attribute) -> list[str]:
        return [f"COMMENT ON COLUMN {self.full_name(spec.schema, spec.table_name)}.{self.quote(a.name)} "
                f"IS {self.string_literal(self.column_comment(a))}"]

    def table_comment_sql(self, spec: TableSpec, comment: str) -> str:
        return f"COMMENT ON TABLE {self.full_name(spec.schema, spec.table_name)} IS {self.string_literal(comment)}"

    # ----- the ~lineage table -------------------------------------------------------------------
    def lineage_table_spec(self, schema: str) -> str:
        q = self.quote
        return (f"CREATE TABLE IF NOT EXISTS {self.full_name(schema, LINEAGE_TABLE)} ("
                f"{q('table_name')} varchar(64) NOT NULL, {q('attribute_name')} varchar(64) NOT NULL, "
                f"{q('lineage')} varchar(255) NOT NULL, PRIMARY KEY ({q('table_name')}, {q('attribute_name')}))")

    def lineage_delete_sql(self, schema: str, table: str) -> str:
        return (f"DELETE FROM {self.full_name(schema, LINEAGE_TABLE)} "
                f"WHERE {self.quote('table_name')} = {self.string_literal(table)}")

    def lineage_insert_sql(self, schema: str, table: str, lineage: dict[str, str]) -> str:
        s = self.string_literal
        values = ", ".join(f"({s(table)}, {s(a)}, {s(v)})" for a, v in lineage.items())
        return (f"INSERT INTO {self.full_name(schema, LINEAGE_TABLE)} "
                f"({self.columns_list(('table_name', 'attribute_name', 'lineage'))}) VALUES {values}")

    def lineage_select_sql(self, schema: str) -> str:
        return (f"SELECT {self.columns_list(('table_name', 'attribute_name', 'lineage'))} "
                f"FROM {self.full_name(schema, LINEAGE_TABLE)}")

    # ----- job queue: claiming and liveness ---------------------------------------------------------
    def job_order_sql(self, order: str, key_columns) -> str:
        """ORDER BY of a claim: priority first, then 'original' (oldest first, as the reference claims),
        'reverse' (newest, then key descending) or 'random'. 'original' is the order of the queue's
        index (status, priority, scheduled_time), so a claim reads the first due rows of the index and
        stops, whatever the queue's length; with the key as a last column every claim would sort all
        pending jobs (ties of one refresh come in the order they were added, i.e. by key; the keys of
        one claim are made in key order)."""
        priority = self.quote("priority")
        if order == "random":
            return f"{priority}, {self.random_sql}"
        if order == "original":
            return f"{priority}, {self.quote('scheduled_time')}"
        return ", ".join([priority] + [self.quote(c) + " DESC" for c in ("scheduled_time", *key_columns)])

    def claim_set_sql(self, values: dict, heading) -> str:
        """SET of a claim: the worker's values, the server's clock and this session's id."""
        sets = [f"{self.quote(c)} = {self.typed_literal(v, heading[c])}" for c, v in values.items()]
        sets += [f"{self.quote('reserved_time')} = {self.clock_ms_sql}",
                 f"{self.quote('connection_id')} = {self.connection_id_sql}"]
        return ", ".join(sets)

    def claim_pick_sql(self, schema, table, key_columns, where: str, order_sql: str, limit: int,
                       extra: str = "") -> str:
        """The due jobs a claim takes: key columns (and `extra`), locked where the dialect can."""
        return (f"SELECT {self.columns_list(key_columns)}{extra} FROM {self.full_name(schema, table)} "
                f"WHERE {self.due_now_sql(where)} ORDER BY {order_sql} LIMIT {int(limit)}{self.claim_lock}")

    def claim_jobs_sql(self, schema, table, key_columns, where: str, order_sql: str, limit: int, values: dict,
                       heading) -> str:
        """Reserve up to `limit` jobs matching `where` in ONE statement (UPDATE ... RETURNING)."""
        keys = self.columns_list(key_columns)
        pick = self.claim_pick_sql(schema, table, key_columns, where, order_sql, limit)
        return (f"UPDATE {self.full_name(schema, table)} SET {self.claim_set_sql(values, heading)} WHERE ({keys}) IN "
                f"({pick}) RETURNING {keys}, {self.claimed_columns_sql()}")

    def claimed_columns_sql(self) -> str:
        """What a claim returns after the key: the holder, and what orders the claimed jobs."""
        return self.columns_list(("connection_id", "priority", "scheduled_time"))

    def due_now_sql(self, where: str) -> str:
        """`where` and: scheduled by now, on the server's clock (no round trip to read it)."""
        return f"{where} AND {self.quote('scheduled_time')} <= {self.clock_ms_sql}"

    # ----- version records of made rows (djframe.tables.stale) -------------------------------------
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
        digests = [self.parent_digest_sql(name, i, parent) for i, parent in enumerate(parents)]
        out.append(f"{self.digest_list_sql(digests)} AS {q('_dj_upstream')}")
        source = name
        if record is not None:
            rec = q("_dj_r")
            source += (f" LEFT JOIN {self.full_name(*record)} AS {rec} ON "
                       + " AND ".join(f"{rec}.{q(k)} = {name}.{q(k)}" for k in keys))
            out += [f"{rec}.{q(c)} AS {q('_dj_recorded_' + c)}" for c in record_columns]
        return f"SELECT {', '.join(out)} FROM {source}" + (f" WHERE {where}" if where else "")

    def parent_digest_sql(self, name: str, i: int, parent: tuple) -> str:
        """The digest of the row of the `i`-th parent a row of `name` references."""
        schema, table, parent_columns, attr_map = parent
        alias, q = self.quote(f"_dj_p{i}"), self.quote
        match = " AND ".join(f"{alias}.{q(p)} = {name}.{q(ch)}" for ch, p in attr_map)
        return (f"(SELECT {self.row_digest_sql(alias, parent_columns)} FROM {self.full_name(schema, table)} "
                f"AS {alias} WHERE {match})")

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
