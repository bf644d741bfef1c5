"""How MySQL and MariaDB say things, in the reference client's layout (datajoint-storage.md §3.2-§9):
one database per schema, native unsigned integers, ``:type:comment`` inline on every column,
``binary(16)`` UUIDs in RFC byte order, backticks, backslash escapes in string literals, ON
DUPLICATE KEY instead of ON CONFLICT, LOAD DATA LOCAL INFILE for bulk writes."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from djframe.errors import DeclarationError
from djframe.define.heading import Attribute
from djframe.define.spec import TableSpec
from djframe.define.types import CoreType, parse_type
from djframe.backends.dialect import LINEAGE_TABLE, Dialect, path_text

SQL_MODE = ("NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,STRICT_ALL_TABLES,"
            "NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY")
# also on connectorx's. MariaDB only (/*M! */): its split_materialized optimisation returns wrong rows for a
# GROUP BY derived table restricted by a correlated EXISTS (MariaDB 10.11; found by test_query_algebra.py)
SESSION_MODE = (f"SET SESSION sql_mode = '{SQL_MODE}', max_error_count = 65535"
                " /*M!100304 , optimizer_switch = 'split_materialized=off' */")
SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")
_HAS_LIMIT = re.compile(r"\bLIMIT\s+\d+(\s+OFFSET\s+\d+)?\s*$", re.I)
_SQL_INT = re.compile(r"^(tinyint|smallint|mediumint|int|bigint)(?:\(\d+\))?(\s+unsigned)?(?:\s+zerofill)?$")
_INT_TYPES = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}


class MySQLDialect(Dialect):
    name = "mysql"
    sqlglot_dialect = "mysql"
    supports_unsigned = True
    supports_nan = False  # MySQL has no NaN or infinity in float columns
    supports_inf = False
    no_limit = "18446744073709551615"
    # MariaDB 10.11, a derived table merged into a LEFT JOIN: max(coalesce(x, 0)) gives 0 instead of NULL, and
    # `int_col = 2.5` matches 3 (found by tests/test_query_algebra.py)
    materialize_outer_right = True
    json_casts = {"int": "SIGNED", "float": "DOUBLE", "str": "CHAR"}

    begin_sql = "START TRANSACTION WITH CONSISTENT SNAPSHOT"
    begin_snapshot_sql = begin_sql
    transaction_control = (*Dialect.transaction_control, "START TRANSACTION", "SET TRANSACTION")
    session_sql = SESSION_MODE
    version_sql = "SELECT VERSION()"
    connection_id_select = "SELECT CONNECTION_ID()"
    current_user_sql = "SELECT USER()"  # user@host, as the reference records it
    connection_id_sql = "CONNECTION_ID()"
    random_sql = "RAND()"
    claim_lock = " FOR UPDATE SKIP LOCKED"  # MariaDB 10.6+, MySQL 8
    read_committed_sql = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"  # the next transaction only
    process_privilege_sql = ("SELECT 1 FROM information_schema.USER_PRIVILEGES "
                             "WHERE PRIVILEGE_TYPE IN ('PROCESS', 'SUPER') LIMIT 1")
    processlist_sql = "SELECT ID FROM information_schema.PROCESSLIST"
    warnings_sql = "SHOW WARNINGS"
    warning_count_sql = "SHOW COUNT(*) WARNINGS"

    def __init__(self, mariadb: bool = False):
        self.is_mariadb = mariadb

    @property
    def text_collation(self) -> str:
        """Binary and NO PAD: text matches literally, as on PostgreSQL and SQLite ('a' != 'A' != 'a ')."""
        return "utf8mb4_nopad_bin" if self.is_mariadb else "utf8mb4_0900_bin"

    # ----- identifiers and literals -------------------------------------------------------------
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

    def json_path_sql(self, column: str, steps: tuple, cast: str) -> str:
        """JSON_VALUE gives SQL NULL for a JSON null (JSON_UNQUOTE would give the text 'null')."""
        return f"CAST(JSON_VALUE({column}, {self.string_literal(path_text(steps))}) AS {self.json_casts[cast]})"

    def exact_floats_sql(self, sql: str, names, floats: set) -> str:
        """The text protocol prints FLOAT with 6 digits; `+ 0e0` sends the exact value as DOUBLE."""
        inner = sql if _HAS_LIMIT.search(sql) else f"{sql} LIMIT {self.no_limit}"  # keeps ORDER BY in force
        cols = ", ".join(f"(q.{self.quote(name)} + 0e0) AS {self.quote(name)}" if name in floats
                         else f"q.{self.quote(name)}" for name in names)
        return f"SELECT {cols} FROM ({inner}) AS q"

    # ----- job queue and version records -----------------------------------------------------------
    def claim_pick_sql(self, schema, table, key_columns, where: str, order_sql: str, limit: int,
                       extra: str = "") -> str:
        """MySQL cannot UPDATE a table filtered by a subquery on itself: the claim picks (and locks)
        the due rows first, with the holder and what orders them."""
        extra = f", CONNECTION_ID() AS connection_id, {self.columns_list(('priority', 'scheduled_time'))}"
        return super().claim_pick_sql(schema, table, key_columns, where, order_sql, limit, extra)

    def claim_update_sql(self, schema, table, key_columns, keys: list[tuple], values: dict, heading) -> str:
        """Reserve the picked jobs (`keys`: their raw key values)."""
        rows = ", ".join("(" + ", ".join(self.literal(v) for v in row) + ")" for row in keys)
        return (f"UPDATE {self.full_name(schema, table)} SET {self.claim_set_sql(values, heading)} "
                f"WHERE ({self.columns_list(key_columns)}) IN ({rows})")

    def row_digest_sql(self, qualifier: str, columns) -> str:
        """MD5 of the quoted values (NULL as the word NULL); bytes, so no collations mix."""
        values = ", ".join(f"QUOTE(CAST({qualifier}.{self.quote(c)} AS BINARY))" for c in columns)
        return f"MD5(CONCAT_WS(',', {values}))" if columns else "MD5('')"

    def digest_list_sql(self, digests) -> str:
        return "CONCAT_WS(',', " + ", ".join(f"COALESCE({d}, '-')" for d in digests) + ")" if digests else "''"

    # ----- writes ---------------------------------------------------------------------------------
    def upsert_select_sql(self, schema, table, names, select_sql, primary_key) -> str:
        return f"REPLACE INTO {self.full_name(schema, table)} ({self.columns_list(names)}) {select_sql}"

    def insert_default_sql(self, schema: str, table: str) -> str:
        return f"INSERT INTO {self.full_name(schema, table)} () VALUES ()"

    def insert_defaults_sql(self, target: str, rows: int) -> str:
        """`rows` rows of nothing but defaults, in one statement."""
        return f"INSERT INTO {target} () VALUES " + ", ".join(["()"] * rows)

    def executemany_sql(self, target: str, names) -> str:
        """INSERT with pymysql's ``%s`` markers (a literal ``%`` in a name doubled)."""
        return (f"INSERT INTO {target.replace('%', '%%')} ({self.columns_list(names).replace('%', '%%')}) VALUES "
                f"({', '.join(['%s'] * len(names))})")

    def staging_select_sql(self, target: str, names) -> str:
        """The shape of a staging table: the target's columns `names`, no rows."""
        return f"SELECT {self.columns_list(names)} FROM {target} LIMIT 0"

    def create_temporary_sql(self, tmp: str, select_sql: str) -> str:
        return f"CREATE TEMPORARY TABLE {tmp} AS {select_sql}"

    def drop_temporary_sql(self, tmp: str) -> str:
        return f"DROP TEMPORARY TABLE IF EXISTS {tmp}"

    def odku(self, target, names, primary_key, replace) -> str:
        """ON DUPLICATE KEY UPDATE: VALUES() to replace, else a no-op assignment to skip."""
        prefix = f"{target}." if target else ""
        others = [n for n in names if n not in primary_key]
        if replace and others:
            return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{prefix}{self.quote(n)} = VALUES({self.quote(n)})"
                                                            for n in others)
        k = prefix + self.quote(primary_key[0])
        return f" ON DUPLICATE KEY UPDATE {k} = {k}"

    def conflict_clause(self, names, primary_key, skip_duplicates, replace) -> str:
        """MySQL spelling of the upsert clause (unqualified)."""
        if not (skip_duplicates or replace) or not primary_key:
            return ""
        return self.odku("", names, primary_key, replace)

    def insert_from_sql(self, target: str, names, source: str, alias: str = "s") -> str:
        """INSERT INTO target SELECT the `names` of `source` (a table, or a derived table)."""
        return (f"INSERT INTO {target} ({self.columns_list(names)}) SELECT {self.columns_list(names, alias + '.')} "
                f"FROM {source} AS {alias}")

    def merge_statements(self, target: str, tmp: str, names, primary_key, replace: bool) -> list[str]:
        """Staged rows -> target. skip: a no-op ON DUPLICATE KEY UPDATE skips a clash on any unique key.

        replace: rows whose primary key exists are updated in place (never REPLACE INTO, which deletes
        rows that have children, nor ON DUPLICATE KEY, which would overwrite a row that merely shares a
        unique value), then the rows with new keys are inserted.
        """
        insert = self.insert_from_sql(target, names, tmp)
        if not replace or not set(primary_key) <= set(names):  # e.g. a singleton's hidden key takes its default
            return [insert + self.odku(target, names, primary_key, replace)]
        on = " AND ".join(f"d.{self.quote(k)} = s.{self.quote(k)}" for k in primary_key)
        others = [n for n in names if n not in primary_key]
        sets = ", ".join(f"d.{self.quote(n)} = s.{self.quote(n)}" for n in others)
        update = [f"UPDATE {target} AS d JOIN {tmp} AS s ON {on} SET {sets}"] if others else []
        return update + [f"{insert} WHERE NOT EXISTS (SELECT 1 FROM {target} AS d WHERE {on})"]

    def insert_select_sql(self, schema, table, names, select_sql, *, skip_duplicates=False, replace=False,
                          primary_key=()) -> str:
        """INSERT ... SELECT (skipping clashes with a no-op ON DUPLICATE KEY; replace goes through a
        staging table, see the driver)."""
        target = self.full_name(schema, table)
        insert = f"INSERT INTO {target} ({self.columns_list(names)}) SELECT * FROM ({select_sql}) AS src"
        if not (skip_duplicates or replace) or not primary_key:
            return insert
        return insert + self.odku(target, names, primary_key, False)

    def load_data_sql(self, path: str, target: str, names, hexed: set[int]) -> str:
        """LOAD DATA LOCAL of the escaped TSV at `path` (see tsv.py); the columns at positions `hexed`
        hold hex text, read into variables and converted with UNHEX."""
        columns = [f"@v{i}" if i in hexed else self.quote(name) for i, name in enumerate(names)]
        sets = [f"{self.quote(name)} = UNHEX(@v{i})" for i, name in enumerate(names) if i in hexed]
        return (f"LOAD DATA LOCAL INFILE {self.string_literal(path)} INTO TABLE {target} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                f"({', '.join(columns)})" + (f" SET {', '.join(sets)}" if sets else ""))

    # ----- catalog (statements with %s parameters) ---------------------------------------------------
    list_schemas_sql = (f"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN "
                        f"({', '.join(['%s'] * len(SYSTEM_SCHEMAS))}) ORDER BY SCHEMA_NAME")
    schema_exists_sql = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
    list_tables_sql = ("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                       "ORDER BY TABLE_NAME")
    table_exists_sql = "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
    columns_sql = ("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT, COLUMN_KEY, EXTRA "
                   "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                   "ORDER BY ORDINAL_POSITION")
    table_comment_query = ("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                           "AND TABLE_NAME = %s")
    foreign_keys_sql = ("SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
                        "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                        "WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
                        "AND (%s IS NULL OR TABLE_NAME = %s) ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION")
    indexes_sql = ("SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
                   "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME <> 'PRIMARY' "
                   "ORDER BY INDEX_NAME, SEQ_IN_INDEX")
    collations_sql = ("SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                      "AND TABLE_NAME = %s AND COLLATION_NAME IS NOT NULL")

    def create_schema_sql(self, schema: str) -> str:
        return (f"CREATE DATABASE IF NOT EXISTS {self.quote(schema)} CHARACTER SET utf8mb4 "
                f"COLLATE {self.text_collation}")

    def drop_schema_sql(self, schema: str) -> str:
        return f"DROP DATABASE IF EXISTS {self.quote(schema)}"

    # ----- type mapping ---------------------------------------------------------------------------
    CORE_OF_SQL = {"float": "float32", "double": "float64", "longblob": "bytes", "blob": "bytes",
                   "mediumblob": "bytes", "tinyblob": "bytes"}
    SQL_TYPES = {"bool": "tinyint", "float32": "float", "float64": "double", "date": "date", "json": "json",
                 "uuid": "binary(16)", "bytes": "longblob", "text": "text"}
    INTEGER_NAMES = {"8": "tinyint", "16": "smallint", "32": "int", "64": "bigint"}

    def core_type_of(self, sql_type: str) -> CoreType:
        """Core type of a column without a `:type:` marker (e.g. FK columns written by the reference)."""
        sql_type = sql_type.lower().strip()
        m = _SQL_INT.match(sql_type)
        if m and m.group(1) in _INT_TYPES:
            return parse_type(f"{'u' if m.group(2) else ''}int{_INT_TYPES[m.group(1)]}")
        if sql_type in self.CORE_OF_SQL:
            return parse_type(self.CORE_OF_SQL[sql_type])
        if re.match(r"^(var)?binary\(\d+\)$", sql_type):
            return parse_type("bytes")
        try:
            return parse_type(sql_type, warn_native=False)
        except DeclarationError:
            return CoreType("native", sql_type)

    def column_type(self, t: CoreType, schema: str) -> str:
        if t.is_integer:
            name = self.INTEGER_NAMES[t.kind.split("int")[1]]
            return f"{name} unsigned" if t.is_unsigned else name
        if t.kind in self.SQL_TYPES:
            return self.SQL_TYPES[t.kind]
        if t.kind == "datetime":
            return t.text
        if t.kind == "enum":
            return "enum(" + ", ".join(self.string_literal(v) for v in t.enum_values) + ")"
        if t.kind == "codec":
            return self.column_type(t.storage, schema)  # the core type ending the codec chain
        return t.text  # decimal(p,s), char(n), varchar(n), native passthrough

    # ----- DDL --------------------------------------------------------------------------------------
    def default_literal(self, a: Attribute, schema: str) -> str:
        if a.type.kind == "uuid":
            return self.uuid_literal(uuid.UUID(a.default))
        return super().default_literal(a, schema)

    def column_sql(self, a: Attribute, schema: str, collation: str | None = None) -> str:
        """Column definition with its inline `:type:comment` (MySQL has no COMMENT ON)."""
        collate = f" COLLATE {collation}" if collation else ""
        return (f"{self.quote(a.name)} {self.column_type(a.type, schema)}{collate} {self.default_clause(a, schema)} "
                f"COMMENT {self.string_literal(self.column_comment(a))}")

    def create_table_sql(self, spec: TableSpec, collations: dict[str, str] | None = None) -> str:
        """CREATE TABLE with inline indexes and comments; FK columns take their parent's `collations`."""
        collations = collations or {}
        columns = [self.column_sql(a, spec.schema, collations.get(a.name)) for a in spec.attributes]
        indexes = [f"{'UNIQUE ' if index.unique else ''}INDEX ({self.index_columns(index)})" for index in spec.indexes]
        comment = f" COMMENT={self.string_literal(spec.comment)}" if spec.comment else ""
        return super().create_table_sql(self.full_name(spec.schema, spec.table_name),
                                        [*self.table_body(spec, columns), *indexes],
                                        f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.text_collation}{comment}")

    def add_column_sql(self, spec: TableSpec, a: Attribute) -> list[str]:
        """Placed where the definition has it (MySQL can), so an alter and its reverse restore the table."""
        names = [x.name for x in spec.attributes]
        at = names.index(a.name) if a.name in names else len(names)
        place = f" AFTER {self.quote(names[at - 1])}" if at > 0 else " FIRST"
        return [self.alter_sql(spec, f"ADD COLUMN {self.column_sql(a, spec.schema)}{place if at < len(names) else ''}")]

    def modify_column_sql(self, spec: TableSpec, a: Attribute, old_checks=()) -> list[str]:
        return [self.alter_sql(spec, f"MODIFY COLUMN {self.column_sql(a, spec.schema)}")]

    def column_comment_sql(self, spec: TableSpec, a: Attribute) -> list[str]:
        return self.modify_column_sql(spec, a)

    def table_comment_sql(self, spec: TableSpec, comment: str) -> str:
        return self.alter_sql(spec, f"COMMENT = {self.string_literal(comment)}")

    def lineage_table_spec(self, schema: str) -> str:
        q, s = self.quote, self.string_literal
        return (f"CREATE TABLE IF NOT EXISTS {self.full_name(schema, LINEAGE_TABLE)} ("
                f"{q('table_name')} varchar(64) NOT NULL COMMENT {s('table name within the schema')}, "
                f"{q('attribute_name')} varchar(64) NOT NULL COMMENT {s('attribute name')}, "
                f"{q('lineage')} varchar(255) NOT NULL COMMENT {s('origin: schema.table.attribute')}, "
                f"PRIMARY KEY ({q('table_name')}, {q('attribute_name')})) ENGINE=InnoDB")
