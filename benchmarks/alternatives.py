"""What a user would pick instead of a DataJoint client, measured on the same tables and cases.

- ``pl.read_database_uri[connectorx]`` / ``pl.read_database_uri[adbc]``: Polars' URI readers (fetch, join);
- ``pl.read_database[dbapi]``: Polars given the driver's own DB-API connection (ADBC, pymysql, sqlite3);
- ``pl.write_database[adbc]`` / ``pl.write_database[sqlalchemy]``: Polars' writer (insert);
- ``ibis.to_polars`` / ``ibis.insert``: ibis (``ibis-framework[postgres,sqlite]``, psycopg 3 and sqlite3
  underneath): the table or the restricted join as an ibis expression, ``.to_polars()``; ``con.insert`` of
  the frame (PostgreSQL only, see UNSUPPORTED).

ibis is not measured on MySQL: ``ibis-framework[mysql]`` does not install on this machine (it builds
``mysqlclient`` from source and there are no MySQL client headers).
"""

from __future__ import annotations

import importlib.util

import polars as pl

from benchmarks.clients import FRAMES, SERVERS, SQLITE_PATH, emptied

READERS = ("pl.read_database_uri[connectorx]", "pl.read_database_uri[adbc]", "pl.read_database[dbapi]",
           "ibis.to_polars")
WRITERS = ("pl.write_database[adbc]", "pl.write_database[sqlalchemy]", "ibis.insert")
NO_IBIS_MYSQL = "ibis-framework[mysql] does not install here (it builds mysqlclient: no MySQL client headers)"
UNSUPPORTED = {  # (client, backend) pairs that do not exist, and why
    ("pl.read_database_uri[adbc]", "mysql"): "no ADBC driver for MySQL",
    ("pl.write_database[adbc]", "mysql"): "no ADBC driver for MySQL",
    ("pl.read_database[dbapi]", "mysql"): "Polars: \"no support for 'pymysql' connection\"",
    ("ibis.to_polars", "mysql"): NO_IBIS_MYSQL,
    ("ibis.insert", "mysql"): NO_IBIS_MYSQL,
    # ibis 12 loads the frame into SQLite through sqlite3.executemany of Python values: decimal.Decimal does
    # not bind (`mixed` fails) and dates go in as 'YYYY-MM-DDT00:00:00' text (not the table's 'YYYY-MM-DD')
    ("ibis.insert", "sqlite"): "ibis' SQLite insert binds no decimal.Decimal and writes dates as timestamps",
}


def unsupported(kind: str, backend: str) -> str | None:
    """Why `kind` cannot run on `backend` (None: it can)."""
    if kind.startswith("ibis.") and importlib.util.find_spec("ibis") is None:
        return "ibis-framework is not installed (extra `bench`)"
    return UNSUPPORTED.get((kind, backend))


def supported(kind: str, backend: str) -> bool:
    return unsupported(kind, backend) is None


def uri(backend: str, schema: str, dialect: str = "") -> str:
    if backend == "postgresql":
        s = SERVERS[backend]
        scheme = "postgresql+psycopg2" if dialect == "sqlalchemy" else "postgresql"
        return f"{scheme}://{s['user']}@{s['host']}:{s['port']}/{s['database_name']}"
    if backend == "mysql":
        s = SERVERS[backend]
        scheme = "mysql+pymysql" if dialect == "sqlalchemy" else "mysql"
        return f"{scheme}://{s['user']}:@{s['host']}:{s['port']}/{schema}"
    return f"sqlite:///{SQLITE_PATH}"  # an absolute path: four slashes, as ADBC needs


def table_name(backend: str, schema: str, table: str) -> str:
    """The name as Polars' writers take it: schema-qualified on the servers; on SQLite djframe's table
    names contain the schema (``"djbench_sq.big"``), which the writer would split, so it is quoted."""
    return f'"{schema}.{table}"' if backend == "sqlite" else f"{schema}.{table}"


class PolarsClient:
    def __init__(self, kind: str, backend: str, schema: str):
        if not supported(kind, backend):
            raise RuntimeError(f"{kind} on {backend}: {unsupported(kind, backend)}")
        self.kind, self.backend, self.schema = kind, backend, schema
        quote = '`' if backend == "mysql" else '"'
        self.name = (lambda t: f'"{schema}.{t}"') if backend == "sqlite" else \
            (lambda t: f"{quote}{schema}{quote}.{quote}{t}{quote}")
        self.conn = self.connect() if kind == "pl.read_database[dbapi]" else None

    def connect(self):
        if self.backend == "postgresql":
            import adbc_driver_postgresql.dbapi as pg
            return pg.connect(uri(self.backend, self.schema), autocommit=True)
        if self.backend == "mysql":
            import pymysql
            s = SERVERS[self.backend]
            return pymysql.connect(host=s["host"], port=s["port"], user=s["user"], password=s["password"],
                                   database=self.schema, autocommit=True)
        import sqlite3
        return sqlite3.connect(SQLITE_PATH)

    def read(self, sql: str) -> pl.DataFrame:
        if self.kind == "pl.read_database[dbapi]":
            return pl.read_database(sql, self.conn)
        engine = "adbc" if self.kind.endswith("[adbc]") else "connectorx"
        return pl.read_database_uri(sql, uri(self.backend, self.schema, engine if engine == "adbc" else ""),
                                    engine=engine)

    def fetch(self):
        return self.read(f"SELECT * FROM {self.name('big')}")

    def join(self):
        return self.read(f"SELECT b.id, b.a, b.x, b.s, g.label FROM {self.name('big')} b "
                         f"JOIN {self.name('#grp')} g ON b.a = g.a WHERE b.x > 0.5 AND g.label < 'g050'")

    def prepare_insert(self, rows, table="big"):
        import sqlalchemy
        engine = sqlalchemy.create_engine(uri(self.backend, self.schema, "sqlalchemy"))
        with engine.begin() as conn:
            conn.exec_driver_sql(emptied(self.backend, self.name(table)))
        engine.dispose()
        self.frame = FRAMES[table](rows)
        self.target = table_name(self.backend, self.schema, table)

    def insert(self, rows, table="big"):
        engine = "adbc" if self.kind.endswith("[adbc]") else "sqlalchemy"
        self.frame.write_database(self.target, uri(self.backend, self.schema, engine), engine=engine,
                                  if_table_exists="append")
        return rows


class IbisClient:
    """ibis on the same tables: the expression is compiled by ibis (sqlglot), run through psycopg 3
    (PostgreSQL) or sqlite3, and handed back with ``.to_polars()``. Binding a table reads its schema from
    the catalog; that happens in the ``prepare_`` steps, as djframe's heading does."""

    def __init__(self, kind: str, backend: str, schema: str):
        if not supported(kind, backend):
            raise RuntimeError(f"{kind} on {backend}: {unsupported(kind, backend)}")
        import ibis
        self.backend, self.schema = backend, schema
        if backend == "postgresql":
            s = SERVERS[backend]
            self.con = ibis.postgres.connect(host=s["host"], port=s["port"], user=s["user"],
                                             password=s["password"] or None, database=s["database_name"])
        else:
            self.con = ibis.sqlite.connect(SQLITE_PATH)

    def name(self, table: str) -> tuple[str, str | None]:
        """(table name, database) as ibis takes them; on SQLite djframe's table names contain the schema."""
        return (table, self.schema) if self.backend == "postgresql" else (f"{self.schema}.{table}", None)

    def table(self, table: str):
        name, database = self.name(table)
        return self.con.table(name, database=database)

    def prepare_fetch(self):
        self.big = self.table("big")

    def fetch(self) -> pl.DataFrame:
        return self.big.to_polars()

    def prepare_join(self):
        self.big, self.grp = self.table("big"), self.table("#grp")

    def join(self) -> pl.DataFrame:
        """djframe's ``((Big & 'x > 0.5') * (Grp & "label < 'g050'")).proj('x', 's', 'label')``: its columns."""
        big, grp = self.big, self.grp
        return big.filter(big.x > 0.5).join(grp.filter(grp.label < "g050"), "a") \
            .select("id", "x", "s", "label").to_polars()

    def prepare_insert(self, rows, table="big"):
        name, database = self.name(table)
        with self.con.begin() as cur:
            cur.execute(emptied(self.backend, f'"{database}"."{name}"' if database else f'"{name}"'))
        self.frame = FRAMES[table](rows)

    def insert(self, rows, table="big"):
        name, database = self.name(table)
        self.con.insert(name, self.frame, database=database)
        return rows


def make(kind: str, backend: str, schema: str):
    if kind not in READERS + WRITERS:
        raise ValueError(f"unknown client {kind!r}")
    if kind.startswith("ibis."):
        return IbisClient(kind, backend, schema)
    return PolarsClient(kind, backend, schema)
