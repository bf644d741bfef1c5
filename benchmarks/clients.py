"""The three clients measured side by side: djframe, the raw driver, and the reference `datajoint`.

Each client implements the same cases on the same tables (declared once by `run.py`):
``insert`` (a Polars frame into ``big``, the all-numeric table, or ``mixed``: strings, a date, a decimal
and a nullable column), ``fetch`` (``big`` into Polars), ``join`` (a restricted join with a projection
into Polars), ``populate`` / ``populate_jobs`` (2,000 keys, trivial make; the second with
reserve_jobs=True), ``compile`` (a 10-operator expression), ``stream`` (iterate ``huge`` in Arrow
batches), and the per-call floor ``insert1`` / ``fetch1`` / ``exists`` (timed per call, median).
`percall.py` holds the hand-written statements of the per-call floor, `alternatives.py` what a user
would pick instead (Polars' own database functions).
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
                       password="", database_name=os.environ.get("DJ_BENCH_PG_DATABASE", "test")),
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
MIXED = """
id : int64
---
name : varchar(64)
note = null : varchar(255)
day : date
amount : decimal(12,2)
score : float64
"""
POINT = """
id : int64
---
x : float64
s : varchar(32)
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
        "s": "s" + pl.Series(ids % 100000).cast(pl.String).str.zfill(6),
        "d": pl.Series(dt.date(2020, 1, 1) + dt.timedelta(days=int(i % 1000)) for i in range(rows))
        if rows <= 1000 else (pl.Series(ids % 1000).cast(pl.Int32) + 18262).cast(pl.Date),
    })


def mixed_frame(rows: int, start: int = 0) -> pl.DataFrame:
    """Strings of varied length, a date, a decimal(12,2) and a column that is null in every third row."""
    ids = pl.col("id")
    cents = ids * 7919 % 10_000_000
    suffix = pl.Series("suffix", ["", "-x", "-longer-suffix"] * (rows // 3 + 1))[:rows]
    return pl.DataFrame({"id": np.arange(start, start + rows, dtype=np.int64), "suffix": suffix}).select(
        ids,
        name=pl.concat_str(pl.lit("name-"), (ids % 50_000).cast(pl.String), pl.col("suffix")),
        note=pl.when(ids % 3 == 0).then(None).otherwise(pl.concat_str(pl.lit("note "), (ids % 977).cast(pl.String))),
        day=((ids % 3650).cast(pl.Int32) + 14610).cast(pl.Date),
        amount=pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2)).cast(pl.Decimal(12, 2)),
        score=pl.Series(np.random.default_rng(start).random(rows)),
    )


FRAMES = {"big": big_frame, "mixed": mixed_frame}
CLASSES = {"big": "Big", "mixed": "Mixed"}


def bind_tables(dj, schema, names=("Grp", "Big", "Src", "Mixed", "Point")) -> dict:
    """Declare (djframe) or bind (reference) the benchmark tables with one DataJoint-API module."""
    tiers = {"Grp": (GRP, dj.Lookup), "Big": (BIG, dj.Manual), "Src": (SRC, dj.Manual), "Huge": (HUGE, dj.Manual),
             "Mixed": (MIXED, dj.Manual), "Point": (POINT, dj.Manual)}
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
    """A client by name: djframe, raw, reference, or one of the alternatives (`alternatives.py`)."""
    if kind in CLIENTS:
        return CLIENTS[kind](backend, schema)
    from benchmarks import alternatives
    return alternatives.make(kind, backend, schema)


def timed_calls(call, calls: int) -> dict:
    """Seconds per call: the median of `calls` single calls (a noisy machine spikes single calls)."""
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"seconds": times[len(times) // 2], "rows": calls}


def todo_keys(execute_fetch, name) -> list:
    return [r[0] for r in execute_fetch(f"SELECT k FROM {name('src')} s WHERE NOT EXISTS "
                                        f"(SELECT 1 FROM {name('__dst')} d WHERE d.k = s.k)")]


POINT_ROWS = 2_000  # rows `point` holds for fetch1 and the existence checks


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
        self.t = bind_tables(dj, self.schema, ("Grp", "Big", "Src", "Huge", "Mixed", "Point"))

    def prepare_insert(self, rows, table="big"):
        target = self.t[CLASSES[table]]
        backend = self.schema.connection.backend
        backend.execute(emptied(backend.name, target.full_table_name))
        target.heading  # the raw client knows its columns; the "heading" case times the catalog read
        self.frame = FRAMES[table](rows)

    def insert(self, rows, table="big"):
        self.t[CLASSES[table]].insert(self.frame)
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
        self.t["Dst"].jobs.delete()
        self.t["Dst"].heading

    def populate(self, keys):
        return self.t["Dst"].populate()["success_count"]

    prepare_populate_jobs = prepare_populate

    def populate_jobs(self, keys):
        return self.t["Dst"].populate(reserve_jobs=True)["success_count"]

    def compile(self, repeat=2000):
        big, grp = self.t["Big"], self.t["Grp"]
        started = time.perf_counter()
        for _ in range(repeat):
            q = (((big & "x > 0.5") & {"s": "s000001"}) * (grp - {"label": "g001"})).proj("x", "label", z="x + y")
            q = (q & "z < 1").proj("x", "label") & self.dj.Top(10, "x DESC")
            q.make_sql()
        return {"seconds": (time.perf_counter() - started) / repeat, "rows": 1}

    def stream(self, table="huge"):
        target = self.t["Huge" if table == "huge" else "Big"]
        return sum(b.num_rows for b in target().iter_batches(batch_rows=262144))

    # the per-call floor: one row in, one row out, one existence check
    def prepare_insert1(self, calls):
        point = self.t["Point"]
        point.delete_quick()
        point.heading

    def insert1(self, calls):
        point = self.t["Point"]
        return timed_calls(lambda i: point.insert1({"id": i, "x": 0.5, "s": "abc"}), calls)

    def prepare_fetch1(self, calls):
        point = self.t["Point"]
        if len(point()) != POINT_ROWS:
            point.delete_quick()
            point.insert(pl.DataFrame({"id": np.arange(POINT_ROWS), "x": np.full(POINT_ROWS, 0.5), "s": ["abc"] * POINT_ROWS}))
        point.heading

    def fetch1(self, calls):
        point = self.t["Point"]
        return timed_calls(lambda i: (point & {"id": i % POINT_ROWS}).fetch1(), calls)

    prepare_exists = prepare_fetch1

    def exists(self, calls):
        point = self.t["Point"]
        return timed_calls(lambda i: bool(point & {"id": i % POINT_ROWS}), calls)


class SameConnection(Djframe):
    """The per-call floor: hand-written parameterised statements on djframe's own driver connection,
    each call alternating with the same djframe call, so both meet the same moment of a noisy server."""

    def __init__(self, backend, schema):
        super().__init__(backend, schema)
        self.driver = self.schema.connection.backend.conn
        self.point = self.t["Point"].full_table_name
        self.mark = {"postgresql": "${}", "mysql": "%s", "sqlite": "?"}[backend]

    def run(self, sql, params, fetch=False):
        cur = self.driver.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall() if fetch else None
        cur.close()
        return rows

    def insert1(self, calls):
        sql = f"INSERT INTO {self.point} (id, x, s) VALUES ({', '.join(self.mark.format(i) for i in (1, 2, 3))})"
        point = self.t["Point"]
        return paired(lambda i: self.run(sql, (2 * i, 0.5, "abc")),
                      lambda i: point.insert1({"id": 2 * i + 1, "x": 0.5, "s": "abc"}), calls)

    def fetch1(self, calls):
        sql = f"SELECT id, x, s FROM {self.point} WHERE id = {self.mark.format(1)}"
        point = self.t["Point"]
        return paired(lambda i: self.run(sql, (i % POINT_ROWS,), fetch=True)[0],
                      lambda i: (point & {"id": i % POINT_ROWS}).fetch1(), calls)

    def exists(self, calls):
        sql = f"SELECT EXISTS (SELECT 1 FROM {self.point} WHERE id = {self.mark.format(1)})"
        point = self.t["Point"]
        return paired(lambda i: bool(self.run(sql, (i % POINT_ROWS,), fetch=True)[0][0]),
                      lambda i: bool(point & {"id": i % POINT_ROWS}), calls)


def paired(floor, call, calls: int) -> dict:
    """Median seconds per call of `floor` and of `call`, run alternately (which goes first alternates too)."""
    times: dict = {floor: [], call: []}
    for i in range(calls):
        for fn in ((floor, call) if i % 2 else (call, floor)):
            start = time.perf_counter()
            fn(i)
            times[fn].append(time.perf_counter() - start)
    median = {fn: sorted(t)[len(t) // 2] for fn, t in times.items()}
    return {"seconds": median[floor], "rows": calls, "paired_djframe": median[call]}


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
        self.mark = {"postgresql": "${}", "mysql": "%s", "sqlite": "?"}[backend]

    def marks(self, n) -> str:
        return ", ".join(self.mark.format(i + 1) for i in range(n))

    def execute(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params) if params is not None else cur.execute(sql)
        return cur

    def fetch_rows(self, sql, params=None):
        cur = self.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return rows

    def prepare_insert(self, rows, table="big"):
        self.execute(emptied(self.backend, self.name(table)))
        self.frame = FRAMES[table](rows)

    def insert(self, rows, table="big"):
        data = self.frame.to_arrow()
        if self.backend == "postgresql":
            cur = self.conn.cursor()
            cur.adbc_ingest(table, data, mode="append", db_schema_name=self.schema)
        elif self.backend == "mysql":
            self.load_data_infile(table, data)
        else:
            as_text = [pa.string() if pa.types.is_date(f.type) or pa.types.is_decimal(f.type) else f.type
                       for f in data.schema]  # SQLite stores dates and decimals as text (so does djframe)
            rows_iter = zip(*(c.to_pylist() for c in data.cast(pa.schema(list(zip(data.column_names, as_text))))
                              .columns))
            self.execute("BEGIN")
            self.conn.executemany(f"INSERT INTO {self.name(table)} VALUES ({self.marks(data.num_columns)})",
                                  rows_iter)
            self.execute("COMMIT")
        return rows

    def load_data_infile(self, table, data):
        """CSV written by Arrow, LOAD DATA LOCAL INFILE; a nullable column reads '' as NULL."""
        import pyarrow.csv as csv
        nullable = {n for n, c in zip(data.column_names, data.columns) if c.null_count}
        columns = ", ".join(f"@{n}" if n in nullable else n for n in data.column_names)
        sets = ", ".join(f"{n} = NULLIF(@{n}, '')" for n in nullable)
        with tempfile.NamedTemporaryFile(suffix=".csv") as f:
            csv.write_csv(data, f.name, csv.WriteOptions(include_header=False))
            self.execute(f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {self.name(table)} "
                         f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ({columns})"
                         + (f" SET {sets}" if sets else ""))

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
        self.execute(f"DELETE FROM {self.name('~~dst')}")

    def begin(self):
        self.execute("START TRANSACTION" if self.backend == "mysql" else "BEGIN")

    def populate(self, keys):
        """Per key, as populate does: its own transaction, a check that the key is still missing, the insert."""
        todo = self._fetch(f"SELECT k FROM {self.name('src')} s WHERE NOT EXISTS "
                           f"(SELECT 1 FROM {self.name('__dst')} d WHERE d.k = s.k)")["k"].to_list()
        for k in todo:
            self.make_one(k)
        return len(todo)

    def make_one(self, k):
        self.begin()
        self.fetch_rows(f"SELECT 1 FROM {self.name('__dst')} WHERE k = {self.mark.format(1)}", (k,))
        self.execute(f"INSERT INTO {self.name('__dst')} (k, v) VALUES ({self.marks(2)})", (k, 1))
        self.execute("COMMIT")

    prepare_populate_jobs = prepare_populate

    def populate_jobs(self, keys):
        """populate(reserve_jobs=True) by hand on djframe's (the reference's) ``~~dst`` queue: add the missing
        keys as pending, then per key reserve it with a conditional UPDATE, make it, delete the job."""
        jobs, dst, m = self.name("~~dst"), self.name("__dst"), self.mark.format(1)
        self.execute(f"INSERT INTO {jobs} (k, status) SELECT k, {self.status('pending')} FROM {self.name('src')} s "
                     f"WHERE NOT EXISTS (SELECT 1 FROM {dst} d WHERE d.k = s.k) "
                     f"AND NOT EXISTS (SELECT 1 FROM {jobs} j WHERE j.k = s.k)")
        todo = [r[0] for r in self.fetch_rows(f"SELECT k FROM {jobs} WHERE status = 'pending' ORDER BY k")]
        now, session = {"postgresql": ("LOCALTIMESTAMP(3)", "pg_backend_pid()"),
                        "mysql": ("NOW(3)", "CONNECTION_ID()"), "sqlite": ("datetime('now')", "0")}[self.backend]
        made = 0
        for k in todo:
            cur = self.execute(f"UPDATE {jobs} SET status = 'reserved', reserved_time = {now}, "
                               f"connection_id = {session} WHERE k = {m} AND status = 'pending'", (k,))
            if cur.rowcount == 0:
                continue
            self.make_one(k)
            self.execute(f"DELETE FROM {jobs} WHERE k = {m} AND status = 'reserved'", (k,))
            made += 1
        return made

    def status(self, value) -> str:
        """The literal of a job status; on PostgreSQL cast to the schema's enum type."""
        if self.backend != "postgresql":
            return f"'{value}'"
        if not hasattr(self, "status_type"):
            self.status_type = self.fetch_rows(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname = '{self.schema}' AND c.relname = '~~dst' AND a.attname = 'status'")[0][0]
        return f"'{value}'::{self.status_type}"

    def stream(self, table="huge"):
        sql = f"SELECT * FROM {self.name(table)}"
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
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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

    def prepare_insert(self, rows, table="big"):
        target = self.t[CLASSES[table]]
        self.schema.connection.query(emptied(self.dj.config["database.backend"], target.full_table_name))
        target().heading
        self.frame = FRAMES[table](rows)

    def insert(self, rows, table="big"):
        # one statement of 1M rows exceeds MariaDB's max_allowed_packet for the reference; chunk it there
        chunk = 50_000 if self.dj.config["database.backend"] == "mysql" else None
        self.t[CLASSES[table]].insert(self.frame, chunk_size=chunk)
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
        self.t["Dst"]().jobs.delete_quick()

    def populate(self, keys):
        return self.t["Dst"].populate()["success_count"]

    prepare_populate_jobs = prepare_populate

    def populate_jobs(self, keys):
        return self.t["Dst"].populate(reserve_jobs=True)["success_count"]

    def compile(self, repeat=200):
        big, grp = self.t["Big"], self.t["Grp"]
        started = time.perf_counter()
        for _ in range(repeat):
            q = (((big & "x > 0.5") & {"s": "s000001"}) * (grp - {"label": "g001"})).proj("x", "label", z="x + y")
            q = (q & "z < 1").proj("x", "label") & self.dj.Top(10, "x DESC")
            q.make_sql()
        return {"seconds": (time.perf_counter() - started) / repeat, "rows": 1}

    def prepare_insert1(self, calls):
        self.t["Point"]().delete_quick()
        self.t["Point"]().heading

    def insert1(self, calls):
        point = self.t["Point"]
        return timed_calls(lambda i: point.insert1({"id": i, "x": 0.5, "s": "abc"}), calls)

    def prepare_fetch1(self, calls):
        self.t["Point"]().heading

    def fetch1(self, calls):
        point = self.t["Point"]
        return timed_calls(lambda i: (point & {"id": i % POINT_ROWS}).fetch1(), calls)

    prepare_exists = prepare_fetch1

    def exists(self, calls):
        point = self.t["Point"]
        return timed_calls(lambda i: bool(point & {"id": i % POINT_ROWS}), calls)


class Unrecorded(Djframe):
    """djframe's populate without its version records (djframe.tables.stale, one statement per key that
    neither the raw loop nor the reference runs): the same statements as the hand-written loop."""

    def __init__(self, backend, schema):
        from djframe.tables import stale
        stale.RECORDING = False
        super().__init__(backend, schema)


class PopulatePair(Unrecorded):
    """populate (the raw loop's statements) and the raw loop, alternating block by block in one process:
    a commit's fsync on this shared disk varies by a factor of several from minute to minute, so two
    processes minutes apart compare two disks. Each block makes the next BLOCK missing keys, timed
    with finding them (populate does that too)."""

    BLOCK = 50

    def __init__(self, backend, schema):
        super().__init__(backend, schema)
        self.raw = Raw(backend, schema)

    def populate(self, keys):
        dst, raw = self.t["Dst"], self.raw
        per_key: dict = {"djframe": [], "raw": []}
        for block in range(keys):
            made = 0
            for side in (("djframe", "raw") if block % 2 == 0 else ("raw", "djframe")):
                start = time.perf_counter()
                if side == "djframe":
                    count = dst.populate(max_calls=self.BLOCK)["success_count"]
                else:
                    todo = todo_keys(raw.fetch_rows, raw.name)[:self.BLOCK]
                    for k in todo:
                        raw.make_one(k)
                    count = len(todo)
                if count:
                    per_key[side].append((time.perf_counter() - start) / count)
                made += count
            if not made:
                break
        median = {side: sorted(t)[len(t) // 2] for side, t in per_key.items()}
        return {"seconds": median["raw"] * keys, "rows": keys, "paired_djframe": median["djframe"] * keys}


CLIENTS = {"djframe": Djframe, "raw": Raw, "reference": Reference, "same-connection": SameConnection,
           "djframe-unrecorded": Unrecorded, "populate-pair": PopulatePair}
