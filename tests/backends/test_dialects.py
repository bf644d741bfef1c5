"""The dialects say everything without a server; the drivers run what the dialects say.

No connection is opened here (except one SQLite file, to show a driver delegating to its dialect):
a dialect is plain text generation, so its DDL, literals and statements are testable as text.
"""

import ast
import uuid
from pathlib import Path

import pytest

from djframe.backends.dialect import Dialect
from djframe.backends.mysql.dialect import MySQLDialect
from djframe.backends.postgres.dialect import PostgresDialect
from djframe.backends.sqlite.dialect import SQLiteDialect
from djframe.backends.sqlite.driver import SQLiteBackend
from djframe.define.heading import Attribute
from djframe.define.spec import ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import parse_type
from djframe.errors import DataJointError
from djframe.query.usersql import template

BACKENDS = Path(__file__).resolve().parents[2] / "djframe" / "backends"
DIALECTS = {"sqlite": SQLiteDialect(), "postgresql": PostgresDialect(), "mysql": MySQLDialect()}
STATEMENT_WORDS = (  # as SQL writes them (upper case), so error messages do not count
"SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "DROP ", "ALTER ", "PRAGMA ",
                   "SAVEPOINT", "ROLLBACK", "COMMIT", "BEGIN", "SHOW ", "SET ", "LOAD DATA", "UNHEX", "COMMENT ON")


def spec():
    attrs = (Attribute("sid", parse_type("uint8"), in_key=True),
             Attribute("kind", parse_type("enum('a','b')"), comment="the kind"),
             Attribute("flag", parse_type("bool"), has_default=True, default="1"))
    return TableSpec(schema="lab", table_name="session", tier="manual", attributes=attrs,
                     foreign_keys=(ForeignKeySpec("lab", "subject", (("sid", "sid"),)),),
                     indexes=(IndexSpec(("kind",), unique=True),), comment="a session")


def driver_strings(path: Path):
    """Every string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


@pytest.mark.parametrize("path", ["base.py", "sqlite/driver.py", "postgres/driver.py", "mysql/driver.py"],
                         ids=str)
def test_drivers_hold_no_statement_text(path):
    found = [text for text in driver_strings(BACKENDS / path) if any(word in text for word in STATEMENT_WORDS)]
    assert not found, f"{path} writes SQL itself: {found}"


def test_create_table_is_text_of_the_spec_alone():
    sqlite = SQLiteDialect().create_sql(spec(), '"lab.session"')
    assert 'CHECK ("sid" BETWEEN 0 AND 255)' in sqlite and "CHECK (\"kind\" IN ('a', 'b'))" in sqlite
    assert 'REFERENCES "lab.subject" ("sid") ON UPDATE CASCADE ON DELETE RESTRICT' in sqlite
    pg = PostgresDialect().create_table_statements(spec(), {})
    enum = PostgresDialect().enum_type_name(("a", "b"))
    assert f'"kind" "lab"."{enum}" NOT NULL' in pg[0] and '"flag" boolean NOT NULL DEFAULT TRUE' in pg[0]
    assert pg[1].startswith('CREATE UNIQUE INDEX "idx_session_kind"') and "COMMENT ON TABLE" in pg[2]
    assert pg[4].endswith("\"kind\" IS ':enum(''a'', ''b''):the kind'")  # the declared type, for every client
    mysql = MySQLDialect(mariadb=True).create_table_sql(spec(), {"sid": "utf8mb4_general_ci"})
    assert "`sid` tinyint unsigned COLLATE utf8mb4_general_ci NOT NULL COMMENT ':uint8:'" in mysql
    assert "UNIQUE INDEX (`kind`)" in mysql and mysql.endswith("COLLATE=utf8mb4_nopad_bin COMMENT='a session'")
    assert MySQLDialect(mariadb=False).create_table_sql(spec()).count("utf8mb4_0900_bin") == 1


def test_parent_types_replace_the_mapped_type_on_postgresql():
    statement = PostgresDialect().create_table_statements(spec(), {"sid": '"lab"."enum_x"'})[0]
    assert '"sid" "lab"."enum_x" NOT NULL CHECK ("sid" BETWEEN 0 AND 255)' in statement


UID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")


@pytest.mark.parametrize("name, true, blob, uid", [
    ("sqlite", "1", "X'00ff'", f"'{UID}'"),
    ("postgresql", "TRUE", "'\\x00ff'::bytea", f"'{UID}'::uuid"),
    ("mysql", "1", "X'00ff'", f"X'{UID.hex}'"),
])
def test_literals(name, true, blob, uid):
    d = DIALECTS[name]
    assert (d.literal(True), d.literal(b"\x00\xff"), d.literal(UID)) == (true, blob, uid)
    assert d.literal("it's") == "'it''s'" and d.literal(None) == "NULL"


def test_special_floats_follow_what_the_server_stores():
    assert PostgresDialect().literal(float("nan")) == "'NaN'::float8"
    assert SQLiteDialect().literal(float("inf")) == "9e999"
    with pytest.raises(DataJointError, match="NaN"):
        SQLiteDialect().literal(float("nan"))
    with pytest.raises(DataJointError, match="mysql"):
        MySQLDialect().literal(float("-inf"))


def test_mysql_escapes_backslashes_the_others_keep_them():
    assert MySQLDialect().string_literal("a\\b") == "'a\\\\b'"
    assert SQLiteDialect().string_literal("a\\b") == PostgresDialect().string_literal("a\\b") == "'a\\b'"


def test_user_sql_rewrites_are_the_dialects_own():
    assert MySQLDialect().user_sql_transforms == ()  # user SQL is written in MySQL's dialect
    assert "STRFTIME" in template("year(d)", SQLiteDialect())[0].upper()
    assert "EXTRACT(DAY" in template("dayofmonth(d)", PostgresDialect())[0].upper()
    with pytest.raises(DataJointError, match="MySQL only"):
        template("timestampdiff(month, a, b)", PostgresDialect())


def test_transaction_control_is_known_to_each_dialect():
    for d in DIALECTS.values():
        assert d.is_transaction_control(d.begin_sql) and d.is_transaction_control(d.commit_sql)
        assert not d.is_transaction_control(d.drop_table_sql("s", "t"))
    assert MySQLDialect().begin_sql.startswith("START TRANSACTION") and SQLiteDialect().begin_sql == "BEGIN IMMEDIATE"


def test_placeholders_of_user_sql():
    assert PostgresDialect().user_sql("a = %s AND b LIKE 'x%%' AND c = %s") == "a = $1 AND b LIKE 'x%' AND c = $2"
    assert SQLiteDialect().user_sql("a = %s") == "a = ?" and SQLiteDialect().bound_row(3) == "(?, ?, ?)"


def test_mysql_claims_pick_then_update():
    d = MySQLDialect()
    pick = d.claim_pick_sql("s", "~~jobs", ["k"], "`status` = 'pending'", "`priority`", 2)
    assert pick.startswith("SELECT `k`, CONNECTION_ID() AS connection_id, `priority`, `scheduled_time` FROM")
    assert pick.endswith("LIMIT 2 FOR UPDATE SKIP LOCKED")
    base = Dialect.claim_jobs_sql(PostgresDialect(), "s", "j", ["k"], "TRUE", '"priority"', 1, {}, None)
    assert base.startswith('UPDATE "s"."j" SET') and "RETURNING" in base and "FOR UPDATE SKIP LOCKED" in base


def test_a_driver_speaks_through_its_dialect(tmp_path):
    backend = SQLiteBackend(str(tmp_path / "d.sqlite"))
    try:
        assert isinstance(backend.dialect, SQLiteDialect)
        assert backend.full_name("lab", "t") == backend.dialect.full_name("lab", "t") == '"lab.t"'
        assert (backend.name, backend.max_name_length, backend.supports_nan) == ("sqlite", 64, False)
        with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
            backend.no_such_name
    finally:
        backend.close()


@pytest.mark.parametrize("name, sql_type, core", [
    ("sqlite", "integer", "int64"), ("sqlite", "real", "float64"),
    ("postgresql", "character varying(12)", "varchar(12)"), ("postgresql", "timestamp(3) without time zone",
                                                             "datetime(3)"),
    ("mysql", "tinyint(3) unsigned", "uint8"), ("mysql", "varbinary(16)", "bytes"),
])
def test_column_types_read_back_as_core_types(name, sql_type, core):
    assert DIALECTS[name].core_type_of(sql_type).text == core


def test_postgresql_needs_the_catalog_for_enum_types():
    d = PostgresDialect()
    assert d.core_type_of('"lab"."enum_1"').kind == "native"  # no labels: the type is kept verbatim
    assert d.core_type_of('"lab"."enum_1"', ("a", "b")).enum_values == ("a", "b")
