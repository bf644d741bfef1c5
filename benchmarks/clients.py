"""The three clients measured side by side: djframe, the raw driver, and the reference `datajoint`.

Each client implements the same cases on the same tables (declared once by `run.py`):
``insert`` (a Polars frame into ``big``), ``fetch`` (``big`` into Polars), ``join`` (a restricted join
with a projection into Polars), ``populate`` (2,000 keys, trivial make), ``compile`` (a 10-operator
expression), ``stream`` (iterate ``huge`` in Arrow batches).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time

import numpy as np
import polars as pl
import pyarrow as pa

SERVERS = {
    "postgresql": dict(host="127.0.0.1", port=5432, user=os.environ.get("DJ_BENCH_PG_USER", "postgres"),
                       password="", database_name="postgres"),
    "mysql": dict(host="127.0.0.1", port=3306, user="root", password="", database_name=None),
}
SQLITE_PATH = os.environ.get("DJ_BENCH_SQLITE", os.path.join(tempfile.gettempdir(), "djframe_bench.sqlite"))

BIG = """
id : int64
---
-> Grp
x : float64
y : float64
s : varchar(32)
d : date
"""
GRP = """
a : int32
---
label : varchar(16)
"""
SRC = """
k : int32
"""
DST = """
-> Src
---
v : int32
"""
HUGE = """
id : int64
---
x : float64
"""


def big_frame(rows: int, start: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(start)
    ids = np.arange(start, start + rows, dtype=np.int64)
    return pl.DataFrame({
        "id": ids, "a": (ids % 100).astype(np.int32), "x": rng.random(rows), "y": rng.random(rows),
        "s": pl.Series([f"s{i % 100000:06d}" for i in range(rows)], dtype=pl.String),
        "d": pl.Series(dt.date(2020, 1, 1) + dt.timedelta(days=int(i % 1000)) for i in range(rows))
        if rows <= 1000 else (pl.Series(ids % 1000).cast(pl.Int32) + 18262).cast(pl.Date),
    })


def bind_tables(dj, schema, names=("Grp", "Big", "Src")) -> dict:
    """Declare (djframe) or bind (reference) the benchmark tables with one DataJoint-API module."""
    tiers = {"Grp": (GRP, dj.Lookup), "Big": (BIG, dj.Manual), "Src": (SRC, dj.Manual), "Huge": (HUGE, dj.Manual)}
    ns = {}
    for name in names:
        definition, tier = tiers[name]
        ns[name] = schema(type(name, (tier,), {"definition": definition}), context=ns)

    def make_dst(table, key):
        table.insert1({**key, "v": 1})

    ns["Dst"] = schema(type("Dst", (dj.Computed,), {"definition": DST, "make": make_dst}), context=ns)
    return ns


def emptied(backend_name, name) -> str:
    """The statement that empties a benchmark table without leaving dead rows behind (a DELETE of
    1M rows, repeated, would bloat PostgreSQL's table and slow every later scan of it)."""
    return f"DELETE FROM {name}" if backend_name == "sqlite" else f"TRUNCATE TABLE {name}"


def analyze(client, tables):
    """Statistics, and a compact table, as a loaded table has them in practice; the servers here run
    without autovacuum."""
    backend = client.schema.connection.backend
    for table in tables:
        name = backend.full_name(client.schema.database, table)
        if backend.name == "postgresql":
            backend.execute(f"VACUUM (FULL, ANALYZE) {name}")
        elif backend.name == "mysql":
            backend.fetch_rows(f"ANALYZE TABLE {name}")
        else:
            backend.execute(f"ANALYZE {name}")


def make(kind: str, backend: str, schema: str):
    return {"djframe": Djframe, "raw": Raw, "reference": Reference}[kind](backend, schema)


# ----- djframe ------------------------------------------------------------------------------------
class Djframe:
    def __init__(self, backend, schema):
        import djframe as dj
        from djframe.connection import Connection, make_backend, set_connection
        settings = {"backend": backend, "path": SQLITE_PATH, **SERVERS.get(backend, {}), "use_tls": False}
        set_connection(Connection.over(make_backend(settings), settings))
        dj.config["safemode"] = False
        self.dj = dj
        self.schema = dj.Schema(schema)
        self.t = bind_tables(dj, self.schema, ("Grp", "Big", "Src", "Huge"))

    def prepare_insert(self, rows):
        backend = self.schema.connection.backend
        backend.execute(emptied(backend.name, self.t["Big"].full_table_name))
        self.frame = big_frame(rows)

    def insert(self, rows):
        self.t["Big"].insert(self.frame)
        return rows

    def prepare_fetch(self):
        self.t["Big"].heading  # read from the catalog once per process; the "heading" case times it

    def fetch(self):
        return self.t["Big"].to_polars()

    def prepare_join(self):
        self.t["Big"].heading, self.t["Grp"].heading

    def join(self):
        big, grp = self.t["Big"], self.t["Grp"]
        q = ((big & "x > 0.5") * (grp & "label < 'g050'")).proj("x", "s", "label")
        return q.to_polars()

    def heading(self):
        return len(self.t["Big"].heading.names) + len(self.t["Grp"].heading.names)

    def prepare_populate(self, keys):
        self.t["Dst"].delete_quick()

    def populate(self, keys):
        return self.t["Dst"].populate()["success_count"]

    def compile(self, repeat=2000):
        big, grp = self.t["Big"], self.t["Grp"]
        started = time.perf_counter()
        for _ in range(repeat):
            q = (((big & "x > 0.5") & {"s": "s000001"}) * (grp - {"label": "g001"})).proj("x", "label", z="x + y")
            q = (q & "z < 1").proj("x", "label") & self.dj.Top(10, "x DESC")
            q.make_sql()
        return (time.perf_counter() - started) / repeat

    def stream(self):
        return sum(b.num_rows for b in self.t["Huge"]().iter_batches(batch_rows=262144))


# ----- the raw drivers ----------------------------------------------------------------------------
class Raw:
    """The same work written directly against the driver: the floor djframe is measured against."""

    def __init__(self, backend, schema):
        self.backend, self.schema = backend, schema
        if backend == "postgresql":
            import adbc_driver_postgresql.dbapi as pg
            s = SERVERS[backend]
            self.conn = pg.connect(f"postgresql://{s['user']}@{s['host']}:{s['port']}/{s['database_name']}",
                                   autocommit=True)
            self.name = lambda t: f'"{schema}"."{t}"'
        elif backend == "mysql":
            import pymysql
            s = SERVERS[backend]
            self.conn = pymysql.connect(host=s["host"], port=s["port"], user=s["user"], password=s["password"],
                                        local_infile=True, autocommit=True)
            self.url = f"mysql://{s['user']}:@{s['host']}:{s['port']}/{schema}"
            self.name = lambda t: f"`{schema}`.`{t}`"
        else:
            import sqlite3
            self.conn = sqlite3.connect(SQLITE_PATH, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")  # the same work: inserts check their parents
            self.name = lambda t: f'"{schema}.{t}"'

    def execute(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params) if params is not None else cur.execute(sql)
        return cur

    def prepare_insert(self, rows):
        self.execute(emptied(self.backend, self.name('big')))
        self.frame = big_frame(rows)

    def insert(self, rows):
        table = self.frame.to_arrow()
        if self.backend == "postgresql":
            cur = self.conn.cursor()
            cur.adbc_ingest("big", table, mode="append", db_schema_name=self.schema)
        elif self.backend == "mysql":
            import pyarrow.csv as csv
            with tempfile.NamedTemporaryFile(suffix=".csv") as f:
                csv.write_csv(table, f.name, csv.WriteOptions(include_header=False))
                self.execute(f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {self.name('big')} "
                             "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' (id, a, x, y, s, d)")
        else:
            rows_iter = zip(*(c.to_pylist() for c in table.cast(pa.schema(
                [(n, pa.string() if n == "d" else table.schema.field(n).type) for n in table.column_names]
            )).columns))
            self.execute("BEGIN")
            self.conn.executemany(f"INSERT INTO {self.name('big')} VALUES (?, ?, ?, ?, ?, ?)", rows_iter)
            self.execute("COMMIT")
        return rows

    def _fetch(self, sql) -> pl.DataFrame:
        if self.backend == "postgresql":
            cur = self.conn.cursor()
            cur.execute(sql)
            return pl.from_arrow(cur.fetch_arrow_table())
        if self.backend == "mysql":
            import connectorx as cx
            return pl.from_arrow(cx.read_sql(self.url, sql, return_type="arrow"))
        cur = self.conn.execute(sql)
        names = [d[0] for d in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=names, orient="row")

    def fetch(self):
        return self._fetch(f"SELECT * FROM {self.name('big')}")

    def join(self):
        sql = (f"SELECT b.id, b.a, b.x, b.s, g.label FROM {self.name('big')} b JOIN {self.name('#grp')} g "
               "ON b.a = g.a WHERE b.x > 0.5 AND g.label < 'g050'")
        return self._fetch(sql)

    def prepare_populate(self, keys):
        self.execute(f"DELETE FROM {self.name('__dst')}")

    def populate(self, keys):
        todo = self._fetch(f"SELECT k FROM {self.name('src')} s WHERE NOT EXISTS "
                           f"(SELECT 1 FROM {self.name('__dst')} d WHERE d.k = s.k)")["k"].to_list()
        mark = {"postgresql": "$1, $2", "mysql": "%s, %s", "sqlite": "?, ?"}[self.backend]
        begin = "START TRANSACTION" if self.backend == "mysql" else "BEGIN"
        for k in todo:
            self.execute(begin)
            self.execute(f"INSERT INTO {self.name('__dst')} (k, v) VALUES ({mark})", (k, 1))
            self.execute("COMMIT")
        return len(todo)

    def stream(self):
        sql = f"SELECT * FROM {self.name('huge')}"
        if self.backend == "postgresql":
            cur = self.conn.cursor()
            cur.execute(sql)
            return sum(b.num_rows for b in cur.fetch_record_batch())
        if self.backend == "mysql":
            import connectorx as cx
            reader = cx.read_sql(self.url, sql, return_type="arrow_stream", batch_size=262144)
            return sum(b.num_rows for b in reader)
        cur = self.conn.execute(sql)
        total = 0
        while rows := cur.fetchmany(262144):
            total += len(rows)
        return total


# ----- the reference client -----------------------------------------------------------------------
class Reference:
    """datajoint 2.x from PyPI, bound to the tables djframe declared (same layout)."""

    def __init__(self, backend, schema):
        if backend == "sqlite":
            raise RuntimeError("the reference client has no SQLite backend")
        import datajoint as rdj
        s = SERVERS[backend]
        rdj.config["database.backend"] = backend
        rdj.config["database.host"] = s["host"]
        rdj.config["database.port"] = s["port"]
        rdj.config["database.user"] = s["user"]
        rdj.config["database.password"] = s["password"]
        if backend == "postgresql":
            rdj.config["database.name"] = s["database_name"]
        rdj.config["safemode"] = False
        self.dj = rdj
        self.schema = rdj.Schema(schema, create_tables=False)
        self.t = bind_tables(rdj, self.schema)

    def prepare_insert(self, rows):
        self.schema.connection.query(emptied(self.dj.config["database.backend"], self.t["Big"].full_table_name))
        self.frame = big_frame(rows)

    def insert(self, rows):
        # one statement of 1M rows exceeds MariaDB's max_allowed_packet for the reference; chunk it there
        chunk = 50_000 if self.dj.config["database.backend"] == "mysql" else None
        self.t["Big"].insert(self.frame, chunk_size=chunk)
        return rows

    def prepare_fetch(self):
        self.t["Big"]().heading

    def fetch(self):
        return self.t["Big"]().to_polars()

    def prepare_join(self):
        self.t["Big"]().heading, self.t["Grp"]().heading

    def join(self):
        big, grp = self.t["Big"], self.t["Grp"]
        return ((big & "x > 0.5") * (grp & "label < 'g050'")).proj("x", "s", "label").to_polars()

    def heading(self):
        return len(self.t["Big"]().heading.names) + len(self.t["Grp"]().heading.names)

    def prepare_populate(self, keys):
        self.t["Dst"]().delete_quick()

    def populate(self, keys):
        return self.t["Dst"].populate()["success_count"]

    def compile(self, repeat=200):
        big, grp = self.t["Big"], self.t["Grp"]
        started = time.perf_counter()
        for _ in range(repeat):
            q = (((big & "x > 0.5") & {"s": "s000001"}) * (grp - {"label": "g001"})).proj("x", "label", z="x + y")
            q = (q & "z < 1").proj("x", "label") & self.dj.Top(10, "x DESC")
            q.make_sql()
        return (time.perf_counter() - started) / repeat
