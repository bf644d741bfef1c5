"""Every path of issue 15 side by side in one run: djframe, the raw driver, the reference `datajoint`,
and what a user would pick instead (Polars' database readers and writers, ibis where it installs).

    python -m benchmarks.run                        # default sizes, all backends (about 10 minutes here)
    python -m benchmarks.run --insert-rows 20000,200000,1000000 --scale-max 10000000 --stream-rows 10000000
    python -m benchmarks.run --backends postgresql --sections insert,percall

Sections: insert (goal 1), percall and populate (goal 2), read (goal 3, with the Polars and ibis alternatives),
blobs (goal 4, runs bench_blobs.py), scale (goal 5, PostgreSQL, plots), misc (compile, heading, stream).
Every measurement runs in a fresh process (benchmarks/worker.py); medians over --reps runs.
Prints each measurement as it lands and writes the Markdown report (--out, default benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import alternatives, clients, report

SECTIONS = ("insert", "read", "percall", "populate", "misc", "scale", "blobs")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# measured once, at small sizes (ibis.insert: psycopg's executemany, one Python dict per row)
SLOW = ("reference", "pl.write_database[sqlalchemy]", "pl.read_database[dbapi]", "ibis.insert")


def measure(case, client, backend, schema, args, reps) -> list[dict]:
    """Median over `reps` runs in one fresh process; the peak memory is the first run's. `case` may be a
    tuple of cases to run one after the other in that process (one result each)."""
    cases = list(case) if isinstance(case, tuple) else [case]
    spec = json.dumps({"cases": cases, "client": client, "backend": backend, "schema": schema, "args": args,
                       "reps": reps})
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.worker", spec], capture_output=True, text=True,
                              cwd=ROOT, timeout=1800)
    except subprocess.TimeoutExpired:
        return [{"case": c, "error": "timed out after 1800 s"} for c in cases]
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-1:] or ["failed"]
        return [{"case": c, "error": tail[0][:160]} for c in cases]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    return [{**r, "seconds": statistics.median(r["seconds"]), "reps": reps} for r in runs]


class Run:
    """One benchmark run: the measurements, in the order they were taken, and where they came from."""

    def __init__(self, args):
        self.args = args
        self.results: list[dict] = []
        self.started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def record(self, section, backend, case, client, args, reps, **extra):
        for m in measure(case, client, backend, schema_of(backend), args, reps):
            row = {"section": section, "backend": backend, "client": client, **args, **extra, **m}
            self.results.append(row)
            shown = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in m.items()
                     if k in ("seconds", "peak_mb", "rows", "error", "frame_mb")}
            print(f"[{backend}] {section:8s} {m['case']:13s} {client:34s} {args} {shown}", flush=True)


def schema_of(backend: str) -> str:
    return f"djbench_{backend[:2]}"


def setup(backend, keys, fetch_rows, stream_rows):
    """Declare the tables with djframe and load the rows every case reads."""
    client = clients.Djframe(backend, schema_of(backend))
    t = client.t
    t["Grp"].insert([{"a": a, "label": f"g{a:03d}"} for a in range(100)], skip_duplicates=True)
    if len(t["Src"]()) != keys:
        t["Dst"].delete_quick()
        t["Src"].delete_quick()
        t["Src"].insert([{"k": k} for k in range(keys)])
    t["Dst"].populate(reserve_jobs=True, max_calls=0)  # declares the job queue and populate's side tables
    if stream_rows and len(t["Huge"]()) != stream_rows:
        t["Huge"].delete_quick()
        for start in range(0, stream_rows, 1_000_000):
            t["Huge"].insert(clients.big_frame(min(1_000_000, stream_rows - start), start).select("id", "x"))
    refill(backend, fetch_rows)


def refill(backend, rows, table="big"):
    """Load `rows` rows into `table` unless it holds them, and let the server gather statistics (and on
    PostgreSQL clear the dead rows of the repeated inserts), as autovacuum would."""
    client = clients.Djframe(backend, schema_of(backend))
    target = client.t[clients.CLASSES[table]]
    if len(target()) != rows:
        client.schema.connection.backend.execute(clients.emptied(backend, target.full_table_name))
        target.insert(clients.FRAMES[table](rows))
    clients.analyze(client, (table, "huge"))
    client.schema.connection.close()


def insert_clients(backend, rows, args):
    names = ["djframe", "raw"]
    if backend != "sqlite" and rows <= args.slow_max_rows:
        names.append("reference")
    if alternatives.supported("pl.write_database[adbc]", backend):
        names.append("pl.write_database[adbc]")
    if rows <= args.slow_max_rows:
        names.append("pl.write_database[sqlalchemy]")
        if alternatives.supported("ibis.insert", backend):
            names.append("ibis.insert")
    return names


def section_insert(run, backend):
    args = run.args
    for table in args.tables.split(","):
        for rows in ints(args.insert_rows):
            for client in insert_clients(backend, rows, args):
                run.record("insert", backend, "insert", client, {"rows": rows, "table": table},
                           1 if client in SLOW else args.reps)
    refill(backend, args.fetch_rows)


def section_read(run, backend):
    readers = [c for c in alternatives.READERS if alternatives.supported(c, backend)]
    for case in ("fetch", "join"):
        for client in ["djframe", "raw"] + (["reference"] if backend != "sqlite" else []) + readers:
            if client == "pl.read_database[dbapi]" and run.args.fetch_rows > run.args.slow_max_rows:
                continue  # row-by-row through the DB-API: minutes at 1M rows
            run.record("read", backend, case, client, {}, 1 if client in SLOW else run.args.reps,
                       rows_in_table=run.args.fetch_rows)


def section_percall(run, backend):
    for client in ["djframe", "same-connection"] + (["reference"] if backend != "sqlite" else []):
        run.record("percall", backend, ("insert1", "fetch1", "exists"), client, {"calls": run.args.calls}, 1)


def section_populate(run, backend):
    for case in ("populate", "populate_jobs"):
        for client in ["djframe", "djframe-unrecorded", "raw"] + (["reference"] if backend != "sqlite" else []):
            run.record("populate", backend, case, client, {"keys": run.args.keys},
                       1 if client == "reference" else run.args.reps)
    run.record("populate", backend, "populate", "populate-pair", {"keys": run.args.keys}, 1)  # alternating


def section_misc(run, backend):
    for client in ["djframe"] + (["reference"] if backend != "sqlite" else []):
        run.record("misc", backend, "heading", client, {}, 1)  # a second read in the process would be cached
        run.record("misc", backend, "compile", client, {}, run.args.reps)
    if run.args.stream_rows:
        for client in ("djframe", "raw"):
            run.record("misc", backend, "stream", client, {}, run.args.reps, rows_in_table=run.args.stream_rows)


def section_scale(run, backend="postgresql"):
    """Time per row and peak memory of insert, fetch, restricted join and streaming, at growing sizes."""
    sizes = [n for n in ints(run.args.scale) if n <= run.args.scale_max]
    sizes += [run.args.scale_max] if run.args.scale_max > max(sizes) else []
    for rows in sizes:
        reps = run.args.reps if rows <= 1_000_000 else 1
        for client in ("djframe", "raw"):
            run.record("scale", backend, "insert", client, {"rows": rows, "table": "big"}, reps)
        refill(backend, rows)
        for case in ("fetch", "join", "stream"):
            for client in ("djframe", "raw"):
                run.record("scale", backend, case, client, {"table": "big"} if case == "stream" else {}, reps,
                           rows_in_table=rows)
    refill(backend, run.args.fetch_rows)


def section_blobs(run, backend="postgresql"):
    """bench_blobs.py in its own process (its two clients alternate within one process)."""
    args = run.args
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "benchmarks.bench_blobs", "--rows", str(args.blob_rows), "--size",
               str(args.blob_size), "--repeat", str(args.blob_repeat), "--backend", backend, "--json", out.name,
               "--codecs", "<blob>", "<blob@bench>", "<npy@bench>", "<object@bench>"]
        if args.blob_location:
            cmd += ["--location", args.blob_location]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
        print(proc.stdout, flush=True)
        if proc.returncode:
            print(proc.stderr[-2000:], flush=True)
            run.results.append({"section": "blobs", "backend": backend, "error": proc.stderr.strip()[-160:]})
            return
        for row in json.load(open(out.name)):
            run.results.append({"section": "blobs", "backend": backend, **row})


def ints(text: str) -> list[int]:
    return [int(x) for x in str(text).split(",") if x]


def execute(args) -> Run:
    run = Run(args)
    sections = args.sections.split(",")
    started = time.time()
    for backend in args.backends.split(","):
        t0 = time.time()
        setup(backend, args.keys, args.fetch_rows, args.stream_rows if "misc" in sections else 0)
        print(f"[{backend}] setup {time.time() - t0:.1f} s", flush=True)
        for name in ("insert", "read", "percall", "populate", "misc"):
            if name in sections:
                globals()["section_" + name](run, backend)
        print(f"[{backend}] done at {time.time() - started:.0f} s", flush=True)
    if "scale" in sections and "postgresql" in args.backends:
        section_scale(run)
    if "blobs" in sections and "postgresql" in args.backends:
        section_blobs(run)
    run.seconds = time.time() - started
    if not args.keep:
        drop_schemas(args.backends.split(","))
    return run


def drop_schemas(backends):
    for backend in backends:
        client = clients.Djframe(backend, schema_of(backend))
        client.schema.drop(prompt=False)
        client.schema.connection.close()
    if os.path.exists(clients.SQLITE_PATH) and "sqlite" in backends:
        os.remove(clients.SQLITE_PATH)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--tables", default="big,mixed", help="insert: big (numeric), mixed (strings, date, "
                        "decimal, nullable)")
    parser.add_argument("--insert-rows", default="20000,200000", help="insert sizes (issue 15 adds 1000000)")
    parser.add_argument("--fetch-rows", type=int, default=1_000_000, help="rows in `big` for fetch and join")
    parser.add_argument("--slow-max-rows", type=int, default=20_000,
                        help="largest size measured for the slow clients (reference insert, SQLAlchemy, DB-API)")
    parser.add_argument("--keys", type=int, default=1_000, help="populate keys")
    parser.add_argument("--calls", type=int, default=300, help="per-call cases: calls per measurement")
    parser.add_argument("--stream-rows", type=int, default=0, help="rows in `huge` to stream (0: skip)")
    parser.add_argument("--scale", default="10000,100000,1000000", help="scale curve sizes (PostgreSQL)")
    parser.add_argument("--scale-max", type=int, default=1_000_000, help="largest scale size (e.g. 10000000)")
    parser.add_argument("--blob-rows", type=int, default=2000)
    parser.add_argument("--blob-size", type=int, default=10000)
    parser.add_argument("--blob-repeat", type=int, default=3)
    parser.add_argument("--blob-location", default=ROOT, help="folder for the blob benchmark's file store")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the djbench_ schemas afterwards")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "RESULTS.md"))
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results.json"),
                        help="the raw measurements (the report can be rebuilt from them)")
    parser.add_argument("--merge", action="store_true", help="keep the measurements in --json of the sections "
                        "and backends not run now (to re-run one section)")
    args = parser.parse_args(argv)
    previous = json.load(open(args.json)) if args.merge and os.path.exists(args.json) else None
    sections_redone = args.sections
    run = execute(args)
    if previous:
        redone = lambda r: r.get("section") in args.sections.split(",") and r["backend"] in args.backends  # noqa
        run.results = [r for r in previous["results"] if not redone(r)] + run.results
        previous_machine = previous["machine"]
        args = argparse.Namespace(**previous["args"])
    machine = (f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
               f"run started {run.started}, took {run.seconds / 60:.1f} min")
    if previous:
        machine = f"{previous_machine}; then {sections_redone} re-run: started {run.started}, took " \
                  f"{run.seconds / 60:.1f} min"
    with open(args.json, "w") as f:
        json.dump({"machine": machine, "args": vars(args), "results": run.results}, f, indent=1)
    text = report.markdown(run.results, vars(args), machine, os.path.dirname(args.out))
    print(text)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
