"""What recording version records costs populate, per key (djframe.tables.stale).

Run: python benchmarks/bench_stale.py [sqlite|postgresql|mysql ...] [--keys N] [--runs R]

For each backend: a Computed table with two primary-key parents, populated with
two makes: ``insert`` (inserts one row: populate's bare per-key overhead) and
``fetch+insert`` (reads its parent row first, as most makes do). `populate()` of N
keys is timed with recording off and on (the table emptied in between),
alternating, R runs each. Prints medians per key: populate off / on, the recording
hook itself (timed inside populate, so the shared machine's noise between runs does
not enter it), and the hook's share of populate's per-key time without recording.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid

import djframe as dj
from djframe.tables import stale
from djframe.connection import Connection, make_backend, set_connection

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])
from tests.conftest import server_settings  # noqa: E402  (the test servers' addresses)


def pipeline(schema, keys):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject : int32
        ---
        weight : float64
        name : varchar(32)
        """

    @schema
    class Method(dj.Lookup):
        definition = """
        method : int16
        ---
        factor : float64
        """
        contents = [dict(method=1, factor=2.0)]

    @schema
    class Result(dj.Computed):
        definition = """
        -> Subject
        -> Method
        ---
        value : float64
        """

        def make(self, key):
            weight = (Subject & key).fetch1("weight") if FETCH else 1.0
            self.insert1(dict(key, value=key["subject"] * weight))

    Subject.insert([dict(subject=i, weight=i / 3, name=f"s{i}") for i in range(keys)])
    return Result


FETCH = False
HOOK = []  # seconds spent in the recording hook, per key


def _timed_hook(original):
    def after_make(table, key):
        start = time.perf_counter()
        original(table, key)
        HOOK.append(time.perf_counter() - start)
    return after_make


def timed_populate(table, recording: bool) -> float:
    table.delete_quick()
    stale.RECORDING = recording
    start = time.perf_counter()
    table.populate()
    elapsed = time.perf_counter() - start
    stale.RECORDING = True
    return elapsed


def measure(backend: str, keys: int, runs: int, fetch: bool) -> dict:
    global FETCH
    FETCH = fetch
    settings = server_settings(backend, tempfile.mkdtemp())
    conn = Connection.over(make_backend(settings), settings)
    set_connection(conn)
    dj.config["safemode"] = False
    schema = dj.Schema(f"djf_bench_{uuid.uuid4().hex[:8]}", connection=conn)
    try:
        result = pipeline(schema, keys)
        timed_populate(result, True)  # warm up (declares the record table, fills caches)
        on, off, hook = [], [], []
        for _ in range(runs):
            off.append(timed_populate(result, False) / keys)
            HOOK.clear()
            on.append(timed_populate(result, True) / keys)
            hook.append(sum(HOOK) / keys)
        assert len(result.stale()) == 0
        return {"off": statistics.median(off), "on": statistics.median(on), "hook": statistics.median(hook)}
    finally:
        schema.drop(prompt=False)
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("backends", nargs="*", default=["sqlite", "postgresql", "mysql"])
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    stale.after_make = _timed_hook(stale.after_make)  # populate calls it through the module
    print(f"populate of {args.keys} keys, medians of {args.runs} runs, per key")
    print(f"{'backend':<11} {'make':<13} {'off (ms)':>9} {'on (ms)':>9} {'hook (ms)':>10} {'hook/off':>9}")
    for backend in args.backends:
        for fetch in (False, True):
            r = measure(backend, args.keys, args.runs, fetch)
            print(f"{backend:<11} {'fetch+insert' if fetch else 'insert':<13} {r['off'] * 1e3:9.3f} "
                  f"{r['on'] * 1e3:9.3f} {r['hook'] * 1e3:10.3f} {r['hook'] / r['off']:9.1%}")


if __name__ == "__main__":
    main()
