"""How SQLite says things: one database file, tables named ``"<schema>.<table>"``, comments and
schema names in catalog tables of their own, CHECK constraints for the core types' ranges, and
rewrites of the MySQL idioms of user SQL that sqlglot does not translate."""

from __future__ import annotations

import datetime as dt
import decimal
import re

import sqlglot
from sqlglot import exp

from djframe import errors
from djframe.define.heading import Attribute
from djframe.define.spec import TableSpec
from djframe.define.types import INTEGER_RANGES, CoreType, parse_type
from djframe.backends.dialect import DATE_PARTS, SECONDS, Dialect, timestampdiff_unit

SCHEMAS = "~djframe_schemas"
COMMENTS = "~djframe_comments"
UINT64_DIGITS = 20
_NOW = re.compile(r"^CURRENT_TIMESTAMP(?:\((\d)\))?$", re.I)
_NOW_EXPRESSION = re.compile(r"^\(?substr\(strftime\('%Y-%m-%d %H:%M:%f', 'now'\) \|\| '000', 1, (\d+)\)\)?$")


# ----- rewrites of MySQL idioms in user SQL --------------------------------------------------------
def now_to_current_timestamp(node):
    """SQLite has no NOW(); CURRENT_TIMESTAMP is the same instant in UTC."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "now" and not node.expressions:
        return exp.CurrentTimestamp()
    return node


def timestampdiff_in_days(node):
    """TIMESTAMPDIFF(unit, a, b): the difference of Julian days, in seconds, divided by the unit."""
    if not isinstance(node, exp.TimestampDiff):
        return node
    unit = timestampdiff_unit(node)
    seconds = f"((JULIANDAY({node.this.sql('sqlite')}) - JULIANDAY({node.expression.sql('sqlite')})) * 86400)"
    return sqlglot.parse_one(f"CAST({seconds} / {SECONDS[unit]} AS INTEGER)", read="sqlite")


def date_part_strftime(node):
    """YEAR(d), MONTH(d), DAY(d): SQLite has strftime."""
    fmt = DATE_PARTS.get(type(node))
    if fmt is None:
        return node
    arg = node.this.this if isinstance(node.this, exp.TsOrDsToDate) else node.this
    return exp.cast(exp.func("STRFTIME", exp.Literal.string(fmt), arg), "INTEGER")


def catalog_default(text):
    """Our strftime expression for CURRENT_TIMESTAMP(n) reads back as CURRENT_TIMESTAMP(n)."""
    m = _NOW_EXPRESSION.match(text or "")
    return f"CURRENT_TIMESTAMP({int(m.group(1)) - 20})" if m else text


class SQLiteDialect(Dialect):
    name = "sqlite"
    sqlglot_dialect = "sqlite"
    supports_nan = False  # SQLite stores NaN as NULL, silently
    bound_key_kinds = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "varchar", "char"})
    user_sql_transforms = (now_to_current_timestamp, timestampdiff_in_days, date_part_strftime)
    user_sql_rewritten = (exp.Anonymous, exp.TimestampDiff, *DATE_PARTS)

    # BEGIN IMMEDIATE: a transaction takes the write lock first, so two processes writing the file
    # (populate workers) wait for each other instead of failing to upgrade a read lock
    begin_sql = "BEGIN IMMEDIATE"
    begin_snapshot_sql = "BEGIN"  # deferred: in WAL mode its first read fixes the snapshot, and writers go on
    now_sql = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
    clock_ms_sql = "strftime('%Y-%m-%d %H:%M:%f', 'now')"  # a claim is one UPDATE: the write lock serializes it
    session_sql = ("PRAGMA foreign_keys = ON",
                   "PRAGMA case_sensitive_like = ON",  # LIKE matches case as PostgreSQL and MySQL do
                   "PRAGMA journal_mode = WAL",
                   f'CREATE TABLE IF NOT EXISTS "{SCHEMAS}" (name TEXT PRIMARY KEY)',
                   f'CREATE TABLE IF NOT EXISTS "{COMMENTS}" (schema_name TEXT, table_name TEXT, '
                   "column_name TEXT, comment TEXT, PRIMARY KEY (schema_name, table_name, column_name))")
    transaction_control = (*Dialect.transaction_control, "PRAGMA")  # a rebuild pauses foreign-key checks
    foreign_keys_off = "PRAGMA foreign_keys = OFF"
    foreign_keys_on = "PRAGMA foreign_keys = ON"

    # ----- identifiers and literals -----------------------------------------------------------
    def full_name(self, schema: str, table: str) -> str:
        return self.quote(f"{schema}.{table}")

    def param_marker(self, position: int) -> str:
        return "?"

    def row_digest_sql(self, qualifier: str, columns) -> str:
        return "djf_" + super().row_digest_sql(qualifier, columns)  # the driver registers djf_md5

    def special_float_literal(self, value: float) -> str:
        if value != value:
            raise errors.DataJointError("SQLite cannot store or compare NaN; use NULL instead.")
        return "9e999" if value > 0 else "-9e999"

    def typed_literal(self, value, attribute: Attribute) -> str:
        kind = attribute.type.kind
        if kind == "datetime" and isinstance(value, (str, dt.datetime)):
            return self.datetime_literal(value, attribute)
        if kind == "uint64" and value is not None:
            return self.string_literal(str(int(value)).zfill(UINT64_DIGITS))
        if kind == "bool" and value is not None:
            return "1" if value else "0"
        if kind == "decimal" and isinstance(value, (int, float, decimal.Decimal, str)):
            return self.decimal_literal(value, attribute)
        return self.literal(value, attribute)

    def decimal_literal(self, value, attribute: Attribute) -> str:
        """Decimals are stored as text with exactly `scale` digits; a finer value matches nothing."""
        try:
            exact = decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-attribute.type.args[1]))
        except decimal.InvalidOperation:
            return self.literal(value, attribute)
        return self.string_literal(str(exact)) if exact == decimal.Decimal(str(value)) else "NULL"

    def datetime_literal(self, value, attribute: Attribute) -> str:
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

    # ----- type mapping -----------------------------------------------------------------------
    CORE_OF_SQL = {"integer": "int64", "int": "int64", "real": "float64", "blob": "bytes"}

    def core_type_of(self, sql_type: str) -> CoreType:
        sql_type = sql_type.lower()
        if sql_type in self.CORE_OF_SQL:
            return parse_type(self.CORE_OF_SQL[sql_type])
        return parse_type(sql_type or "text", warn_native=False)

    SQL_TYPES = {"uint64": "TEXT", "float32": "REAL", "float64": "REAL", "bytes": "BLOB"}

    def column_type(self, t: CoreType, schema: str) -> str:
        if t.kind in self.SQL_TYPES:
            return self.SQL_TYPES[t.kind]
        if t.is_integer or t.kind == "bool":
            return "INT"  # not INTEGER: a one-column INTEGER PRIMARY KEY would alias the rowid
        if t.kind == "codec":
            return self.column_type(t.storage, schema)
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
        if t.kind in ("varchar", "char"):
            return [f"CHECK (length({q}) <= {t.length})"]
        if t.kind == "enum":
            return [f"CHECK ({q} IN ({', '.join(self.string_literal(v) for v in t.enum_values)}))"]
        return []

    # ----- DDL --------------------------------------------------------------------------------
    def column_definition(self, a: Attribute, schema: str) -> str:
        return " ".join([super().column_definition(a, schema), *self.checks(a)])

    def timestamp_default(self, text: str) -> str:
        """SQLite's CURRENT_TIMESTAMP has whole seconds; finer precision comes from strftime('%f')."""
        m = _NOW.match(text)
        digits = int(m.group(1) or 0) if m else 0
        if not digits:
            return "CURRENT_TIMESTAMP"
        return f"(substr(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', 1, {20 + digits}))"

    def create_sql(self, spec: TableSpec, name: str) -> str:
        columns = [self.column_definition(a, spec.schema) for a in spec.attributes]
        return self.create_table_sql(name, self.table_body(spec, columns))

    def index_statements(self, spec: TableSpec) -> list[str]:
        name = self.full_name(spec.schema, spec.table_name)
        return [self.create_index_sql(f"{spec.schema}.{spec.table_name}.idx{i}", name, index)
                for i, index in enumerate(spec.indexes)]

    def copy_expression(self, a: Attribute | None, column: str) -> str:
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

    def rebuild_statements(self, spec: TableSpec, rename=(), add=(), modify=()) -> tuple[list[str], str]:
        """(statements, check query) of an ALTER by rebuilding: SQLite cannot change a column in place,
        so the table is built anew from `spec`, the rows copied over and the new table swapped in."""
        old_name = {new: old for old, new in rename}
        added = {a.name for a in add}
        copied = [a.name for a in spec.attributes if a.name not in added]
        name = self.full_name(spec.schema, spec.table_name)
        temp = self.full_name(spec.schema, f"~alter~{spec.table_name}")
        modified = {a.name: a for a in modify}
        sources = [self.copy_expression(modified.get(c), self.quote(old_name.get(c, c))) for c in copied]
        statements = [self.create_sql(spec, temp),
                      f"INSERT INTO {temp} ({self.columns_list(copied)}) SELECT {', '.join(sources)} FROM {name}",
                      f"DROP TABLE {name}",
                      f"ALTER TABLE {temp} RENAME TO {self.quote(f'{spec.schema}.{spec.table_name}')}",
                      *self.index_statements(spec)]
        return statements, f"PRAGMA foreign_key_check({name})"

    # ----- catalog (statements with ? parameters) -------------------------------------------------
    list_schemas_sql = f'SELECT name FROM "{SCHEMAS}" ORDER BY name'
    create_schema_sql = f'INSERT OR IGNORE INTO "{SCHEMAS}" (name) VALUES (?)'
    drop_schema_sql = f'DELETE FROM "{SCHEMAS}" WHERE name = ?'
    drop_schema_comments_sql = f'DELETE FROM "{COMMENTS}" WHERE schema_name = ?'
    list_tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?"
    comments_sql = f'SELECT column_name, comment FROM "{COMMENTS}" WHERE schema_name = ? AND table_name = ?'
    delete_comments_sql = f'DELETE FROM "{COMMENTS}" WHERE schema_name = ? AND table_name = ?'
    insert_comment_sql = f'INSERT OR REPLACE INTO "{COMMENTS}" VALUES (?, ?, ?, ?)'
    referencing_tables_sql = ("SELECT DISTINCT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
                              "WHERE m.type = 'table' AND f.\"table\" = ? AND m.name != ?")

    def drop_if_exists_sql(self, schema: str, table: str) -> str:
        return f"DROP TABLE IF EXISTS {self.full_name(schema, table)}"

    def table_info_sql(self, schema: str, table: str) -> str:
        return f"PRAGMA table_info({self.full_name(schema, table)})"

    def foreign_key_list_sql(self, schema: str, table: str) -> str:
        return f"PRAGMA foreign_key_list({self.full_name(schema, table)})"

    def index_list_sql(self, schema: str, table: str) -> str:
        return f"PRAGMA index_list({self.full_name(schema, table)})"

    def index_info_sql(self, index_name: str) -> str:
        return f"PRAGMA index_info({self.quote(index_name)})"
