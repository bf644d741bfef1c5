"""Arrays in tables: insert and fetch of <blob>, <blob@store>, <npy@store>, <object@store>.

djframe side by side with the reference client (``datajoint`` from PyPI) on the
same server and store, and with a raw fetch of the same column (the stored
bytes/JSON, nothing decoded). Prints medians over ``--repeat`` runs.

``<object@bench>``: djframe stores each array as a Zarr array (a folder with
zarr.json and a chunk), the reference its bytes as one ``.dat`` file (it takes
no arrays); ``<object@bench> bytes`` gives both clients the same ``.dat`` bytes.

    python benchmarks/bench_blobs.py                       # 2,000 rows x 10,000 float64, PostgreSQL
    python benchmarks/bench_blobs.py --rows 200 --size 1000 --repeat 2   # quick

Store writes are dominated by creating files. On ext4 without a journal (this
machine) a new inode skips every inode freed in the last 5 minutes (300 s while
their table block is dirty), so a folder where many files were just deleted,
such as a busy /tmp, makes every file creation slower; ``--location`` puts the
store elsewhere (it is removed afterwards either way).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
import warnings

import numpy as np

CODECS = ("<blob>", "<blob@bench>", "<npy@bench>", "<object@bench>", "<object@bench> bytes")


def server(backend):
    if backend == "postgresql":
        return {"backend": "postgresql", "host": os.environ.get("DJ_TEST_PG_HOST", "127.0.0.1"),
                "port": int(os.environ.get("DJ_TEST_PG_PORT", 5432)),
                "user": os.environ.get("DJ_TEST_PG_USER", "postgres"),
                "password": os.environ.get("DJ_TEST_PG_PASSWORD", ""),
                "database_name": os.environ.get("DJ_TEST_PG_DATABASE", "test"), "use_tls": False}
    return {"backend": "mysql", "host": os.environ.get("DJ_TEST_MYSQL_HOST", "127.0.0.1"),
            "port": int(os.environ.get("DJ_TEST_MYSQL_PORT", 3306)),
            "user": os.environ.get("DJ_TEST_MYSQL_USER", "root"),
            "password": os.environ.get("DJ_TEST_MYSQL_PASSWORD", ""), "use_tls": False}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def definition(codec):
    return f"""
    rid : int32
    ---
    value : {codec.split()[0]}
    """


class Side:
    """One client (djframe or the reference) with its schema and store configured."""

    def __init__(self, name, settings, stores, schema_name):
        self.name, self.settings, self.stores = name, settings, stores
        if name == "djframe":
            import djframe as dj
            from djframe.connection import Connection, make_backend, set_connection
            self.dj = dj
            self.conn = Connection.over(make_backend(settings), settings)
            set_connection(self.conn)
            dj.config["stores"] = stores
            dj.config["safemode"] = False
            self.schema = dj.Schema(schema_name, connection=self.conn)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import datajoint as dj
            self.dj = dj
            dj.config["stores"] = stores
            dj.config["safemode"] = False
            self.conn = dj.Connection(f"{settings['host']}:{settings['port']}", settings["user"],
                                      settings["password"], use_tls=False, backend=settings["backend"],
                                      database_name=settings.get("database_name"))
            self.schema = dj.Schema(schema_name, connection=self.conn)
        self.count = 0

    def table(self, codec):
        self.count += 1
        cls = type(f"Bench{self.count}", (self.dj.Manual,), {"definition": definition(codec)})
        return self.schema(cls)

    def value(self, codec, array):
        if codec.startswith("<object") and (self.name == "reference" or codec.endswith(" bytes")):
            return (".dat", array.tobytes())  # the reference takes bytes, not arrays
        return array

    def fetch(self, table, codec):
        """The column as each client delivers arrays best: djframe a Polars column (a fixed-size
        array column when uniform), the reference ``to_arrays`` (handles via ``to_dicts``, since its
        ``to_arrays`` loads every <npy@> array)."""
        if self.name == "djframe":
            return table.to_polars()["value"]
        if codec.startswith(("<npy", "<object")):
            return [r["value"] for r in table.to_dicts()]
        return table.to_arrays("value")

    def settle(self):
        """Let the server write out what the insert left in its buffers (a PostgreSQL CHECKPOINT), so the
        fetch that follows measures reading the data, not the insert's deferred writes."""
        if self.settings["backend"] == "postgresql":
            if self.name == "djframe":
                self.conn.backend.execute("CHECKPOINT")
            else:
                self.conn.query("CHECKPOINT")

    def raw(self, table):
        backend = self.conn.backend
        return backend.fetch_arrow(f"SELECT {backend.quote('value')} FROM {table.full_table_name}")

    def close(self):
        try:
            self.schema.drop(prompt=False)
        finally:
            self.conn.close()


def run(args):
    settings = server(args.backend)
    location = tempfile.mkdtemp(prefix="djbench_", dir=args.location)
    stores = {"bench": {"protocol": "file", "location": location}}
    rng = np.random.default_rng(0)
    data = rng.normal(size=(args.rows, args.size))
    schema_name = f"djbench_{uuid.uuid4().hex[:8]}"
    sides = [Side("djframe", settings, stores, schema_name + "_f")]
    if not args.no_reference:
        sides.append(Side("reference", settings, stores, schema_name + "_r"))
    results = {}
    try:
        for codec in args.codecs:
            for r in range(args.repeat):  # the clients alternate, so load on a shared machine hits both
                for side in sides:
                    try:
                        measure(side, codec, data + r, results)
                    except Exception as e:  # e.g. the reference cannot insert JSON codec columns on MariaDB
                        if side.name == "djframe":
                            raise
                        print(f"reference, {codec}: {type(e).__name__}: {str(e)[:100]}")
                        break
    finally:
        for side in sides:
            side.close()
        shutil.rmtree(location, ignore_errors=True)
    report(results, args)
    if args.json:
        write_json(results, args.json)


def write_json(results, path):
    """The medians as [{codec, client, op, seconds, runs}], for benchmarks.run."""
    import json
    rows = [{"codec": codec, "client": client, "op": op, "seconds": statistics.median(times), "runs": len(times)}
            for (codec, client, op), times in results.items()]
    with open(path, "w") as f:
        json.dump(rows, f)


def measure(side, codec, data, results):
    table = side.table(codec)
    rows = [{"rid": i, "value": side.value(codec, data[i])} for i in range(len(data))]
    t_insert, _ = timed(lambda: table.insert(rows))
    side.settle()
    t_fetch, fetched = timed(lambda: side.fetch(table, codec))
    results.setdefault((codec, side.name, "insert"), []).append(t_insert)
    results.setdefault((codec, side.name, "fetch"), []).append(t_fetch)
    if side.name == "djframe":
        t_raw, _ = timed(lambda: side.raw(table))
        results.setdefault((codec, "raw", "fetch"), []).append(t_raw)
    if codec == "<npy@bench>":
        t_load, _ = timed(lambda: load_all(side, fetched))
        results.setdefault((codec + " +load", side.name, "fetch"), []).append(t_fetch + t_load)


def load_all(side, fetched):
    if side.name == "djframe":
        from djframe.codecs.npy import load_all as load
        return load(list(fetched))
    return [ref.load() for ref in fetched]


def report(results, args):
    med = {k: statistics.median(v) for k, v in results.items()}
    mb = args.rows * args.size * 8 / 1e6
    print(f"\n{args.rows} rows x {args.size} float64 ({mb:.0f} MB) on {args.backend}, "
          f"median of {args.repeat} run(s), seconds\n")
    print(f"{'codec':<22}{'op':<8}{'djframe':>10}{'reference':>11}{'speed-up':>10}{'raw fetch':>11}"
          f"{'dj/raw':>8}")
    names = list(args.codecs) + (["<npy@bench> +load"] if "<npy@bench>" in args.codecs else [])
    for codec in names:
        for op in ("insert", "fetch"):
            dj_t = med.get((codec, "djframe", op))
            if dj_t is None:
                continue
            ref_t = med.get((codec, "reference", op))
            raw_t = med.get((codec.replace(" +load", ""), "raw", op)) if op == "fetch" else None
            cells = [f"{dj_t:>10.3f}", f"{ref_t:>11.3f}" if ref_t else f"{'-':>11}",
                     f"{ref_t / dj_t:>9.1f}x" if ref_t else f"{'-':>10}",
                     f"{raw_t:>11.3f}" if raw_t else f"{'-':>11}",
                     f"{dj_t / raw_t:>7.1f}x" if raw_t else f"{'-':>8}"]
            print(f"{codec:<22}{op:<8}" + "".join(cells))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10000, help="float64 elements per array")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("postgresql", "mysql"), default="postgresql")
    parser.add_argument("--codecs", nargs="+", default=list(CODECS))
    parser.add_argument("--no-reference", action="store_true", help="djframe and raw fetch only")
    parser.add_argument("--location", help="folder in which to create the store (default: the temp folder)")
    parser.add_argument("--json", help="also write the medians to this JSON file")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
