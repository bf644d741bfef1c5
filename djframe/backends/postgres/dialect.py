"""How PostgreSQL says things, in the reference client's table layout (storage reference §3.3-§9):
enum types ``"schema"."enum_<md5[:8]>"`` shared by value set, ``:type:comment`` markers via
COMMENT ON COLUMN, FK indexes named ``idx_<table>_<cols>``. PostgreSQL lacks 1-byte and unsigned
integers, so those get the next wider signed type plus a CHECK constraint (uint64 becomes
numeric(20,0)). User SQL gets PostgreSQL's spelling of MySQL idioms sqlglot does not translate."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import sqlglot
from sqlglot import exp

from djframe.define.heading import Attribute
from djframe.define.spec import IndexSpec, TableSpec
from djframe.define.types import INTEGER_RANGES, CoreType, enum_text, parse_type
from djframe.backends.dialect import DATE_PARTS, SECONDS, Dialect, timestampdiff_unit

_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Like, exp.In, exp.Between,
               exp.And, exp.Or, exp.Not)
_SQL_PATTERNS = (
    (re.compile(r"^numeric\((\d+),(\d+)\)$"), lambda m: f"decimal({m[1]},{m[2]})" if int(m[1]) <= 38 else None),
    (re.compile(r"^character varying\((\d+)\)$"), lambda m: f"varchar({m[1]})"),
    (re.compile(r"^character\((\d+)\)$"), lambda m: f"char({m[1]})"),
    (re.compile(r"^timestamp\((\d)\) without time zone$"), lambda m: f"datetime({m[1]})"),
)
SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"  # READ COMMITTED re-reads per statement


# ----- rewrites of MySQL idioms in user SQL --------------------------------------------------------
def bool_to_int(node):
    """PostgreSQL cannot SUM/AVG booleans (MySQL's ``sum(a = b)`` counts matches)."""
    if isinstance(node, (exp.Sum, exp.Avg)) and isinstance(node.this, _PREDICATES):
        node.set("this", exp.cast(node.this, "INT"))
    return node


def char_to_text(node):
    """MySQL ``CAST(x AS CHAR)`` is an unbounded string; PostgreSQL CHAR means char(1)."""
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.CHAR and not node.to.expressions:
        node.set("to", exp.DataType.build("TEXT"))
    return node


def timestampdiff_in_seconds(node):
    """TIMESTAMPDIFF(unit, a, b): the epoch seconds between them, truncated to whole units."""
    if not isinstance(node, exp.TimestampDiff):
        return node
    unit = timestampdiff_unit(node)
    seconds = (f"EXTRACT(EPOCH FROM (CAST({node.this.sql('postgres')} AS TIMESTAMP) - "
               f"CAST({node.expression.sql('postgres')} AS TIMESTAMP)))")
    return sqlglot.parse_one(f"CAST(TRUNC({seconds} / {SECONDS[unit]}) AS BIGINT)", read="postgres")


def day_of_month_to_day(node):
    """DAY(d): PostgreSQL has EXTRACT(DAY ...) but no DAY_OF_MONTH."""
    return exp.Day(this=node.this) if type(node) is exp.DayOfMonth else node


# ----- indexes of a declared table -----------------------------------------------------------------
def index_plan(spec: TableSpec) -> list[IndexSpec]:
    """Declared indexes, plus one per foreign key not already led by the PK or another index (§3.3)."""
    plan = list(spec.indexes)
    covered = [tuple(spec.primary_key)] + [tuple(ix.columns) for ix in plan]
    for fk in sorted(spec.foreign_keys, key=lambda f: -len(f.attr_map)):
        cols = tuple(fk.child_attributes)
        if not any(c[:len(cols)] == cols for c in covered):
            plan.append(IndexSpec(cols))
            covered.append(cols)
    return plan


def index_name(table: str, columns, used: set) -> str:
    """``idx_<table>_<cols>`` with the column part cut at 30 characters, made unique within the table."""
    cols = "_".join(re.sub(r"\W+", "_", c).strip("_") for c in columns)[:30]
    name = f"idx_{table}_{cols}"[:63]
    n = 1
    while name in used:
        n += 1
        name = f"idx_{table}_{cols}"[:60] + f"_{n}"
    used.add(name)
    return name


class PostgresDialect(Dialect):
    name = "postgresql"
    sqlglot_dialect = "postgres"
    max_name_length = 63
    no_limit = "ALL"
    needs_boolean_conditions = True
    json_casts = {"int": "bigint", "float": "double precision", "str": "text"}
    user_sql_transforms = (bool_to_int, char_to_text, timestampdiff_in_seconds, day_of_month_to_day)
    user_sql_rewritten = (exp.Sum, exp.Avg, exp.Cast, exp.TimestampDiff, *DATE_PARTS)

    begin_snapshot_sql = SNAPSHOT
    connection_id_select = "SELECT pg_backend_pid()"
    connection_id_sql = "pg_backend_pid()"
    claim_lock = " FOR UPDATE SKIP LOCKED"
    server_version_sql = "SHOW server_version_num"
    export_snapshot_sql = "SELECT pg_export_snapshot()"
    live_sessions_sql = "SELECT pid, backend_start::timestamp(3) FROM pg_stat_activity WHERE pid IS NOT NULL"

    # ----- literals -----------------------------------------------------------------------------
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

    def param_marker(self, position: int) -> str:
        return f"${position + 1}"

    def json_path_sql(self, column: str, steps: tuple, cast: str) -> str:
        keys = ", ".join(self.string_literal(str(s)) for s in steps)  # an index is text too
        return f"CAST(jsonb_extract_path_text(({column})::jsonb, {keys}) AS {self.json_casts[cast]})"

    def replica_identity_sql(self, schema: str, table: str, mode: str) -> str:
        return f"ALTER TABLE {self.full_name(schema, table)} REPLICA IDENTITY {mode.upper()}"

    def server_now(self) -> str:
        return "LOCALTIMESTAMP"  # naive, like the timestamp columns it is compared with

    def row_digest_sql(self, qualifier: str, columns) -> str:
        """md5 of the row's text form (ROW(...)::text quotes and marks NULLs itself)."""
        return f"md5(ROW({', '.join(f'{qualifier}.{self.quote(c)}' for c in columns)})::text)"

    def set_snapshot_sql(self, snapshot: str) -> str:
        return f"SET TRANSACTION SNAPSHOT '{snapshot}'"

    # ----- parallel fetch: slices of a table's pages ----------------------------------------------
    def page_count_sql(self, schema: str, table: str) -> str:
        name = self.string_literal(self.full_name(schema, table))
        return f"SELECT pg_relation_size(to_regclass({name})) / current_setting('block_size')::int"

    def page_sample_sql(self, schema: str, table: str, percent: float, parts: int) -> str:
        """(sampled rows, the page numbers cutting them into `parts` equal shares)."""
        shares = ", ".join(str(i / parts) for i in range(1, parts))
        return (f"SELECT count(*), percentile_disc(ARRAY[{shares}]) WITHIN GROUP (ORDER BY b) FROM (SELECT "
                f"(ctid::text::point)[0] AS b FROM {self.full_name(schema, table)} TABLESAMPLE SYSTEM ({percent})) s")

    def page_slices(self, alias: str, bounds: list[int]) -> list[str]:
        """WHERE terms of the TID ranges between `bounds` (the first and last slices are open)."""
        column = f"{alias}.ctid"
        terms = [f"{column} < '({bounds[0]},0)'::tid"]
        terms += [f"{column} >= '({lo},0)'::tid AND {column} < '({hi},0)'::tid" for lo, hi in zip(bounds, bounds[1:])]
        return terms + [f"{column} >= '({bounds[-1]},0)'::tid"]

    # ----- writes -------------------------------------------------------------------------------
    def conflict_clause(self, names, primary_key, skip_duplicates, replace) -> str:
        """skip_duplicates skips a clash on any unique key, as MySQL's ON DUPLICATE KEY does."""
        if skip_duplicates and not replace:
            return " ON CONFLICT DO NOTHING"
        return super().conflict_clause(names, primary_key, skip_duplicates, replace)

    def staging_table_sql(self, temp: str, names, schema: str, table: str) -> str:
        """An empty session-private twin of `table`'s columns `names`, for COPY then INSERT ... ON CONFLICT."""
        cols = self.columns_list(names)
        return f"CREATE TEMPORARY TABLE {temp} AS SELECT {cols} FROM {self.full_name(schema, table)} WITH NO DATA"

    def insert_from_staging_sql(self, schema: str, table: str, temp: str, names, conflict: str) -> str:
        cols = self.columns_list(names)
        return f"INSERT INTO {self.full_name(schema, table)} ({cols}) SELECT {cols} FROM {temp}{conflict}"

    def drop_staging_sql(self, temp: str) -> str:
        return f"DROP TABLE IF EXISTS {temp}"

    def insert_select_cast_sql(self, schema, table, names, select_sql, enums: dict, conflict: str) -> str:
        """INSERT ... SELECT casting enum columns via text: each schema has its own enum types."""
        values = ", ".join(f"src.{self.quote(c)}::text::{enums[c]}" if c in enums else f"src.{self.quote(c)}"
                           for c in names)
        return (f"INSERT INTO {self.full_name(schema, table)} ({self.columns_list(names)}) SELECT {values} "
                f"FROM ({select_sql}) AS src" + conflict)

    # ----- catalog ------------------------------------------------------------------------------
    list_schemas_sql = ("SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%' ORDER BY nspname")

    def relation(self, schema, table) -> str:
        """WHERE terms selecting one table in pg_class c / pg_namespace n."""
        return f"n.nspname = {self.string_literal(schema)} AND c.relname = {self.string_literal(table)}"

    def schema_exists_sql(self, schema: str) -> str:
        return f"SELECT 1 FROM pg_namespace WHERE nspname = {self.string_literal(schema)}"

    def create_schema_sql(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"

    def drop_schema_sql(self, schema: str) -> str:
        return f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE"

    def schema_dependents_sql(self, schema: str) -> str:
        """The other schemas whose tables depend on `schema` (foreign keys, its enum types)."""
        s = self.string_literal(schema)
        return ("SELECT DISTINCT n.nspname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = d.refobjid "
                f"JOIN pg_namespace tn ON tn.oid = t.typnamespace WHERE tn.nspname = {s} AND n.nspname <> {s} "
                "AND d.classid = 'pg_class'::regclass AND d.deptype = 'n' UNION "
                "SELECT DISTINCT n.nspname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class p ON p.oid = k.confrelid "
                f"JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE k.contype = 'f' AND pn.nspname = {s} "
                f"AND n.nspname <> {s}")

    def list_tables_sql(self, schema: str) -> str:
        return ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname = {self.string_literal(schema)} AND c.relkind IN ('r', 'p') ORDER BY c.oid")

    def table_exists_sql(self, schema: str, table: str) -> str:
        return f"SELECT to_regclass({self.string_literal(self.full_name(schema, table))})"

    def columns_sql(self, schema: str, table: str) -> str:
        return ("SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum), "
                "COALESCE(a.attnum = ANY(pk.conkey), FALSE), a.attidentity <> '' "
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p' "
                f"WHERE {self.relation(schema, table)} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")

    def table_comment_query(self, schema: str, table: str) -> str:
        return ("SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {self.relation(schema, table)}")

    def foreign_keys_sql(self, schema: str) -> str:
        """Every FK of the schema's tables, column pairs in the parent's primary-key order."""
        return ("SELECT c.relname, k.oid, pn.nspname, p.relname, ca.attname, pa.attname "
                "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace "
                "CROSS JOIN LATERAL unnest(k.conkey, k.confkey) WITH ORDINALITY AS u(child, parent, pos) "
                "JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = u.child "
                "JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = u.parent "
                "LEFT JOIN pg_constraint ppk ON ppk.conrelid = k.confrelid AND ppk.contype = 'p' "
                f"WHERE k.contype = 'f' AND n.nspname = {self.string_literal(schema)} "
                "ORDER BY c.oid, k.oid, array_position(ppk.conkey, u.parent), u.pos")

    def indexes_sql(self, schema: str, table: str) -> str:
        """Secondary indexes: (oid, unique, backs a foreign key, column or None, expression) per column."""
        return ("SELECT i.indexrelid, i.indisunique, EXISTS (SELECT 1 FROM pg_constraint f "
                "WHERE f.conrelid = i.indrelid AND f.contype = 'f' AND array_to_string(f.conkey, ' ') = i.indkey::text), "
                "a.attname, pg_get_indexdef(i.indexrelid, u.pos::int, TRUE) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, pos) "
                "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum AND u.attnum > 0 "
                f"WHERE {self.relation(schema, table)} AND NOT i.indisprimary ORDER BY i.indexrelid, u.pos")

    def enum_labels_sql(self, sql_type: str) -> str:
        return ("SELECT enumlabel FROM pg_enum WHERE enumtypid = "
                f"to_regtype({self.string_literal(sql_type)}) ORDER BY enumsortorder")

    def column_types_sql(self, schema: str, table: str, enums_only: bool = False) -> str:
        """(column, exact SQL type) of a table's columns (only those of enum types if asked)."""
        enum = " JOIN pg_type t ON t.oid = a.atttypid" if enums_only else ""
        where = " AND t.typtype = 'e'" if enums_only else " AND a.attnum > 0"
        return ("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                f"JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace{enum} "
                f"WHERE {self.relation(schema, table)}{where}")

    def check_constraints_sql(self, spec: TableSpec, column: str) -> str:
        """The names of the CHECK constraints on one column."""
        return ("SELECT k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
                f"WHERE {self.relation(spec.schema, spec.table_name)} AND k.contype = 'c' "
                f"AND a.attname = {self.string_literal(column)} AND k.conkey = ARRAY[a.attnum]")

    def enum_exists_sql(self, schema: str, name: str) -> str:
        return ("SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                f"WHERE n.nspname = {self.string_literal(schema)} AND t.typname = {self.string_literal(name)}")

    def table_enums_sql(self, schema: str, table: str) -> str:
        """The enum types of this schema a table's columns use."""
        return ("SELECT DISTINCT t.typname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
                f"WHERE {self.relation(schema, table)} AND t.typtype = 'e' AND t.typnamespace = n.oid")

    def enum_in_use_sql(self, schema: str, type_name: str) -> str:
        return ("SELECT 1 FROM pg_depend d JOIN pg_type t ON t.oid = d.refobjid "
                "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE d.deptype = 'n' "
                f"AND n.nspname = {self.string_literal(schema)} AND t.typname = {self.string_literal(type_name)}")

    def drop_type_sql(self, schema: str, type_name: str) -> str:
        return f"DROP TYPE IF EXISTS {self.full_name(schema, type_name)}"

    # ----- type mapping -------------------------------------------------------------------------
    SQL_TYPES = {
        "int8": "smallint", "uint8": "smallint", "int16": "smallint", "uint16": "integer", "int32": "integer",
        "uint32": "bigint", "int64": "bigint", "uint64": "numeric(20,0)", "float32": "real",
        "float64": "double precision", "bool": "boolean", "date": "date", "json": "jsonb", "uuid": "uuid",
        "bytes": "bytea", "text": "text",
    }
    CHECKED = {"int8", "uint8", "uint16", "uint32", "uint64"}  # ranges narrower than the SQL type
    CORE_OF_SQL = {
        "smallint": "int16", "integer": "int32", "bigint": "int64", "real": "float32", "double precision": "float64",
        "boolean": "bool", "date": "date", "jsonb": "json", "json": "json", "uuid": "uuid", "bytea": "bytes",
        "text": "text", "timestamp without time zone": "datetime(6)",
    }

    def mapped_core_type(self, sql_type: str) -> CoreType | None:
        """The core type of a built-in column type; None for others (an enum type, a native type)."""
        text = sql_type.strip().lower()
        if text in self.CORE_OF_SQL:
            return parse_type(self.CORE_OF_SQL[text], warn_native=False)
        for pattern, convert in _SQL_PATTERNS:
            if (m := pattern.match(text)) and (core := convert(m)):
                return parse_type(core, warn_native=False)
        return None

    def core_type_of(self, sql_type: str, enum_labels=()) -> CoreType:
        """The core type of a column type; `enum_labels`: the labels of the enum type it names, if any
        (the catalog knows them: the driver asks when the mapping does not know the type)."""
        return self.mapped_core_type(sql_type) or self.enum_or_native(sql_type, enum_labels)

    def enum_or_native(self, sql_type: str, labels) -> CoreType:
        """An enum type's core type from its labels (none: a native type, kept verbatim)."""
        if labels:
            values = tuple(labels)
            return CoreType("enum", enum_text(values), values)
        return CoreType("native", sql_type.strip().lower())

    def enum_type_name(self, values) -> str:
        return "enum_" + hashlib.md5("_".join(sorted(values)).encode()).hexdigest()[:8]

    def column_type(self, t: CoreType, schema: str) -> str:
        if t.kind in self.SQL_TYPES:
            return self.SQL_TYPES[t.kind]
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

    def checks(self, a: Attribute) -> list[str]:
        if a.type.kind in self.CHECKED:
            lo, hi = INTEGER_RANGES[a.type.kind]
            return [f"CHECK ({self.quote(a.name)} BETWEEN {lo} AND {hi})"]
        return []

    # ----- DDL ----------------------------------------------------------------------------------
    def create_enum_sql(self, schema: str, values) -> str:
        labels = ", ".join(self.string_literal(v) for v in values)
        return f"CREATE TYPE {self.full_name(schema, self.enum_type_name(values))} AS ENUM ({labels})"

    def column_definition(self, a: Attribute, schema: str, sql_type: str | None = None) -> str:
        """A column with its CHECK ranges; `sql_type` overrides the mapped type (a parent's exact type)."""
        return " ".join([self.quote(a.name), sql_type or self.column_type(a.type, schema),
                         self.default_clause(a, schema), *self.checks(a)])

    def create_table_statements(self, spec: TableSpec, inherited: dict[str, str]) -> list[str]:
        """CREATE TABLE, its indexes and comments; FK columns take the parent's exact SQL type (`inherited`)."""
        name = self.full_name(spec.schema, spec.table_name)
        columns = [self.column_definition(a, spec.schema, inherited.get(a.name)) for a in spec.attributes]
        used: set[str] = set()
        indexes = [self.create_index_sql(index_name(spec.table_name, index.columns, used), name, index)
                   for index in index_plan(spec)]
        columns_after = [s for a in spec.attributes for s in self.column_comment_sql(spec, a) + self.storage_sql(spec, a)]
        return [self.create_table_sql(name, self.table_body(spec, columns)), *indexes,
                self.table_comment_sql(spec, spec.comment or ""), *columns_after]

    def storage_sql(self, spec: TableSpec, a: Attribute) -> list[str]:
        """Codec bytes (<blob>, <attach>) arrive compressed by the codec where that pays: EXTERNAL
        storage spares the server a second, futile compression of every large value (3x the insert)."""
        if a.type.kind == "codec" and a.type.storage.kind == "bytes":
            return [self.alter_sql(spec, f"ALTER COLUMN {self.quote(a.name)} SET STORAGE EXTERNAL")]
        return []

    def add_column_sql(self, spec: TableSpec, a: Attribute) -> list[str]:
        return super().add_column_sql(spec, a) + self.storage_sql(spec, a)

    def modify_column_sql(self, spec: TableSpec, a: Attribute, old_checks=()) -> list[str]:
        """Convert through text (USING) and replace the column's CHECK ranges by the new type's."""
        col, sql_type = f"ALTER COLUMN {self.quote(a.name)}", self.column_type(a.type, spec.schema)
        default = self.default_expression(a, spec.schema)
        return [*(self.alter_sql(spec, f"DROP CONSTRAINT {self.quote(check)}") for check in old_checks),
                self.alter_sql(spec, f"{col} DROP DEFAULT"),  # an old default may not cast to the new type
                self.alter_sql(spec, f"{col} TYPE {sql_type} USING {self.quote(a.name)}::text::{sql_type}"),
                self.alter_sql(spec, f"{col} {'DROP' if a.nullable else 'SET'} NOT NULL"),
                *([self.alter_sql(spec, f"{col} SET DEFAULT {default}")] if default else []),
                *(self.alter_sql(spec, f"ADD {check}") for check in self.checks(a)),
                *self.column_comment_sql(spec, a), *self.storage_sql(spec, a)]

