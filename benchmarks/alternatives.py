"""What a user would pick instead of a DataJoint client, measured on the same tables and cases.

- ``pl.read_database_uri[connectorx]`` / ``pl.read_database_uri[adbc]``: Polars' URI readers (fetch, join);
- ``pl.read_database[dbapi]``: Polars given the driver's own DB-API connection (ADBC, pymysql, sqlite3);
- ``pl.write_database[adbc]`` / ``pl.write_database[sqlalchemy]``: Polars' writer (insert).

ibis is not here: ``pip install ibis-framework[postgres,mysql,sqlite]`` does not install on this machine
(its MySQL extra builds ``mysqlclient`` from source and there are no MySQL client headers); see RESULTS.md.
"""

from __future__ import annotations

import polars as pl

from benchmarks.clients import FRAMES, SERVERS, SQLITE_PATH, emptied

READERS = ("pl.read_database_uri[connectorx]", "pl.read_database_uri[adbc]", "pl.read_database[dbapi]")
WRITERS = ("pl.write_database[adbc]", "pl.write_database[sqlalchemy]")
SUPPORTED = {  # (client, backend) pairs that exist: no ADBC driver for MySQL
    ("pl.read_database_uri[adbc]", "mysql"): False,
    ("pl.write_database[adbc]", "mysql"): False,
    ("pl.read_database[dbapi]", "mysql"): False,  # Polars: "no support for 'pymysql' connection"
}


def supported(kind: str, backend: str) -> bool:
    return SUPPORTED.get((kind, backend), True)


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
            raise RuntimeError(f"{kind} has no {backend} driver")
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


def make(kind: str, backend: str, schema: str):
    if kind not in READERS + WRITERS:
        raise ValueError(f"unknown client {kind!r}")
    return PolarsClient(kind, backend, schema)
