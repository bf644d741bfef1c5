"""Where djframe's time goes beyond the driver: cProfile of a frame insert and of populate.

    python -m benchmarks.profile_paths insert --rows 20000,200000 --table mixed   # PostgreSQL frame insert
    python -m benchmarks.profile_paths stages --rows 20000,200000 --table mixed,big  # each step, no profiler
    python -m benchmarks.profile_paths populate --keys 300 --make-ms 1            # reserve_jobs=True

insert: the same frame is inserted --reps times by djframe (profiled) and handed to the raw ADBC
``adbc_ingest`` (timed), alternating, on one schema; prints the medians, then djframe's functions by
cumulative time, and the time per stage (file) by own time. populate: per-key time of
populate(reserve_jobs=True) with a make that sleeps --make-ms and inserts one row, profiled the same way.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

from benchmarks import clients

SCHEMA = "djbench_profile"


def profiled(fn, profile: cProfile.Profile) -> float:
    start = time.perf_counter()
    profile.enable()
    fn()
    profile.disable()
    return time.perf_counter() - start


def show(profile: cProfile.Profile, total: float, limit: int, strip: str):
    """The top functions by cumulative time (share of `total`), and own time summed per file."""
    stats = pstats.Stats(profile)
    rows = []
    for (file, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
        rows.append((ct, tt, nc, f"{file.split(strip, 1)[-1] if strip in file else file}:{line}({name})"))
    print(f"\n{'cum s':>8} {'cum %':>6} {'own s':>8} {'calls':>8}  function")
    for ct, tt, nc, label in sorted(rows, reverse=True)[:limit]:
        print(f"{ct:8.3f} {ct / total:6.1%} {tt:8.3f} {nc:8d}  {label[-110:]}")
    by_file: dict[str, float] = {}
    for (file, _, _), (_, _, tt, _, _) in stats.stats.items():
        key = file.split(strip, 1)[-1] if strip in file else ("<builtin>" if file == "~" else file.split("/")[-1])
        by_file[key] = by_file.get(key, 0.0) + tt
    print(f"\n{'own s':>8} {'share':>6}  file (own time, all calls)")
    for key, tt in sorted(by_file.items(), key=lambda kv: -kv[1])[:20]:
        print(f"{tt:8.3f} {tt / total:6.1%}  {key}")


def insert(args):
    dj_client = clients.Djframe("postgresql", SCHEMA)
    raw = clients.Raw("postgresql", SCHEMA)
    target = dj_client.t[clients.CLASSES[args.table]]
    backend = dj_client.schema.connection.backend
    for rows in clients_sizes(args.rows):
        frame = clients.FRAMES[args.table](rows)
        target.heading
        profile, dj_times, raw_times = cProfile.Profile(), [], []
        for _ in range(args.reps):
            backend.execute(clients.emptied("postgresql", target.full_table_name))
            raw.frame = frame
            start = time.perf_counter()
            raw.insert(rows, args.table)
            raw_times.append(time.perf_counter() - start)
            backend.execute(clients.emptied("postgresql", target.full_table_name))
            dj_times.append(profiled(lambda: target.insert(frame), profile))
        dj, rw = statistics.median(dj_times), statistics.median(raw_times)
        print(f"\n=== PostgreSQL insert of {rows:,} rows into `{args.table}` (reps {args.reps}): djframe {dj:.3f} s, "
              f"raw adbc_ingest {rw:.3f} s, ratio {dj / rw:.2f}; djframe beyond raw {dj - rw:+.3f} s "
              f"(profiled runs: their times include cProfile's overhead)")
        show(profile, sum(dj_times), args.limit, "/snap/")
    dj_client.schema.drop(prompt=False)


def clients_sizes(text):
    return [int(x) for x in text.split(",")]


def populate(args):
    import djframe as dj
    client = clients.Djframe(args.backend, SCHEMA)
    schema = client.schema
    make_seconds = args.make_ms / 1000

    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        """

    @schema
    class Made(dj.Computed):
        definition = """
        -> Item
        ---
        v : int32
        """

        def make(self, key):
            time.sleep(make_seconds)
            self.insert1({**key, "v": 1})

    Item.insert([{"item": i} for i in range(args.keys)], skip_duplicates=True)
    Made.populate(reserve_jobs=True, max_calls=0)
    for reserve in (False, True):
        unprofiled(Made, reserve, args)
    for reserve in (False, True):
        profile, times = cProfile.Profile(), []
        for _ in range(args.reps):
            Made.delete_quick()
            Made.jobs.delete()
            times.append(profiled(lambda: Made.populate(reserve_jobs=reserve), profile))
        per_key = statistics.median(times) / args.keys
        print(f"\n=== {args.backend} populate(reserve_jobs={reserve}) of {args.keys} keys, make = sleep "
              f"{args.make_ms} ms + insert1: {per_key * 1e3:.3f} ms per key, {per_key * 1e3 - args.make_ms:.3f} ms "
              f"beyond the sleep (cProfile on)")
        show(profile, sum(times), args.limit, "/snap/")
    schema.drop(prompt=False)


def unprofiled(table, reserve, args):
    """Per key without a profiler: the whole, the time inside the driver's execute (round trips and the
    server's work), the make's sleep, and what is left (djframe's Python), medians of --reps."""
    from adbc_driver_manager import dbapi
    original, spent = dbapi.Cursor.execute, {"seconds": 0.0, "statements": 0}

    def timed_execute(self, *a, **k):
        start = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            spent["seconds"] += time.perf_counter() - start
            spent["statements"] += 1

    dbapi.Cursor.execute = timed_execute
    whole, driver, statements = [], [], []
    try:
        for _ in range(args.reps):
            table.delete_quick()
            table.jobs.delete()
            spent.update(seconds=0.0, statements=0)
            start = time.perf_counter()
            table.populate(reserve_jobs=reserve)
            whole.append(time.perf_counter() - start)
            driver.append(spent["seconds"])
            statements.append(spent["statements"])
    finally:
        dbapi.Cursor.execute = original
    keys, w, d = args.keys, statistics.median(whole), statistics.median(driver)
    sleep = args.make_ms / 1000 * keys
    print(f"\n--- populate(reserve_jobs={reserve}), {keys} keys, no profiler, medians of {args.reps}: "
          f"{w / keys * 1e3:.3f} ms per key = driver execute {d / keys * 1e3:.3f} ms "
          f"({statistics.median(statements) / keys:.2f} statements per key, {d / max(statistics.median(statements), 1) * 1e3:.3f} ms each) "
          f"+ make's sleep {args.make_ms:.3f} ms + djframe's Python {(w - d - sleep) / keys * 1e3:.3f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("insert", "stages", "populate"))
    parser.add_argument("--rows", default="20000,200000")
    parser.add_argument("--table", default="mixed")
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--make-ms", type=float, default=1.0)
    parser.add_argument("--backend", default="postgresql")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--limit", type=int, default=45)
    args = parser.parse_args()
    {"insert": insert, "stages": stages, "populate": populate}[args.what](args)



def stages(args):
    """Table.insert's steps timed one by one without a profiler (medians), per column for conform."""
    from djframe.write.conform import conform, convert_column, rows_to_arrow
    from djframe.write.provenance import captures
    client = clients.Djframe("postgresql", SCHEMA)
    raw = clients.Raw("postgresql", SCHEMA)
    conn = client.schema.connection
    backend = conn.backend
    client.t["Grp"].insert([{"a": a, "label": f"g{a:03d}"} for a in range(100)], skip_duplicates=True)
    for table in args.table.split(","):
        target = client.t[clients.CLASSES[table]]
        heading, name = target.heading, target.full_table_name
        for rows in clients_sizes(args.rows):
            frame = clients.FRAMES[table](rows)
            times: dict[str, list] = {}

            def lap(label, fn):
                start = time.perf_counter()
                out = fn()
                times.setdefault(label, []).append(time.perf_counter() - start)
                return out

            for _ in range(args.reps):
                backend.execute(clients.emptied("postgresql", name))
                raw.frame = frame
                lap("raw adbc_ingest of frame.to_arrow()", lambda: raw.insert(rows, table))
                backend.execute(clients.emptied("postgresql", name))
                lap("djframe insert (whole)", lambda: target.insert(frame))
                backend.execute(clients.emptied("postgresql", name))
                lap("  captures (provenance check)", lambda: captures(heading, conn))
                arrow = lap("  rows_to_arrow (frame.to_arrow)", lambda: rows_to_arrow(frame, heading, name))
                data = lap("  conform (all columns)", lambda: conform(arrow, heading, name, backend))
                for col in arrow.column_names:
                    lap(f"    conform {col} ({heading[col].type.text})",
                        lambda: convert_column(arrow.column(col).combine_chunks(), heading[col], name, backend))
                stored = lap("  to_storage", lambda: pa_table([backend.to_storage(c, heading[n]) for n, c
                                                              in zip(data.column_names, data.columns)],
                                                             data.column_names))

                def ingest():
                    with conn.atomic():
                        backend.ingest(target.database, target.table_name, stored, primary_key=target.primary_key)
                lap("  BEGIN + ingest (adbc_ingest) + COMMIT", ingest)
                backend.execute(clients.emptied("postgresql", name))
                raw.frame = stored
                lap("raw adbc_ingest of djframe's converted table (autocommit)", lambda: raw_ingest(raw, stored, table))
            print(f"\n=== stages of a PostgreSQL insert of {rows:,} rows into `{table}`, medians of {args.reps} (ms)")
            whole = statistics.median(times["djframe insert (whole)"])
            floor = statistics.median(times["raw adbc_ingest of frame.to_arrow()"])
            for label, values in times.items():
                m = statistics.median(values)
                print(f"{m * 1e3:10.1f}  {m / whole:6.1%}  {label}")
            print(f"ratio djframe / raw = {whole / floor:.2f}")
    client.schema.drop(prompt=False)


def raw_ingest(raw, data, table):
    with raw.conn.cursor() as cur:
        cur.adbc_ingest(table, data, mode="append", db_schema_name=raw.schema)


def pa_table(columns, names):
    import pyarrow as pa
    return pa.Table.from_arrays(columns, names=names)


if __name__ == "__main__":
    main()
