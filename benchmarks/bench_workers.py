"""Keys per second of populate(reserve_jobs=True) run by 1 and by 8 independent worker processes that
share one job queue (no coordinator but the database), for a make of ~1 ms and of ~50 ms.

Each worker is its own process (as a SLURM array task would be): it connects, declares the tables,
waits at a barrier, then claims -> makes -> completes until the queue is empty. Throughput is the
number of keys over the time from the barrier to the last worker's finish. Also reported: claim
statements that came back empty while jobs were still due ("lost reservations"), per key made.

Usage: python -m benchmarks.bench_workers [--backends postgresql,mysql,sqlite] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import djframe as dj
from djframe.connection import Connection, make_backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = {
    "postgresql": {"backend": "postgresql", "host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "",
                   "database_name": "test", "use_tls": False},
    "mysql": {"backend": "mysql", "host": "127.0.0.1", "port": 3306, "user": "root", "password": "",
              "use_tls": False},
    "sqlite": {"backend": "sqlite", "path": os.path.join(tempfile.gettempdir(), "djframe_bench_workers.sqlite")},
}
CASES = ((0.001, 1000), (0.050, 160))  # (make seconds, keys)
SCHEMA = "djf_bench_workers"


def declare(schema, make_seconds):
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
        worker : int32
        """

        def make(self, key):
            time.sleep(make_seconds)
            self.insert1({**key, "worker": os.getpid()})

    return Item, Made


def connect(backend):
    settings = SETTINGS[backend]
    return Connection.over(make_backend(settings), settings)


def worker(spec):
    """One worker process: declare, wait for the go file, populate from the queue, report."""
    connection = connect(spec["backend"])
    _, Made = declare(dj.Schema(SCHEMA, connection=connection), spec["make_seconds"])
    claims = {"calls": 0, "empty": 0}
    claim = type(Made.jobs).claim

    def counted(self, *args, **kwargs):
        jobs = claim(self, *args, **kwargs)
        claims["calls"] += 1
        claims["empty"] += not jobs
        return jobs

    type(Made.jobs).claim = counted
    open(spec["ready"] + str(os.getpid()), "w").close()
    while not os.path.exists(spec["go"]):
        time.sleep(0.002)
    result = Made.populate(reserve_jobs=True, refresh=False)
    print(json.dumps({"made": result["success_count"], "end": time.time(), **claims}))


def run_once(backend, make_seconds, keys, workers, tmp):
    connection = connect(backend)
    schema = dj.Schema(SCHEMA, connection=connection)
    Item, Made = declare(schema, make_seconds)
    Made.jobs.delete()
    Made.delete_quick()
    Item.delete_quick()
    Item.insert([{"item": i} for i in range(keys)])
    Made.jobs.refresh()
    Made.populate(reserve_jobs=True, refresh=False, max_calls=0)  # declares populate's side tables once
    ready, go = os.path.join(tmp, "ready-"), os.path.join(tmp, f"go-{time.time()}")
    spec = {"backend": backend, "make_seconds": make_seconds, "ready": ready, "go": go}
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.bench_workers", "--worker", json.dumps(spec)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    while sum(f.startswith("ready-") for f in os.listdir(tmp)) < workers:
        time.sleep(0.01)
    start = time.time()
    open(go, "w").close()
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err[-2000:])
        outs.append(json.loads(out.strip().splitlines()[-1]))
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    made = sum(o["made"] for o in outs)
    assert made == keys == len(Made()), (made, keys, len(Made()))
    lost = sum(o["empty"] - 1 for o in outs)  # each worker's last claim finds the queue empty: expected
    schema.drop(prompt=False)
    connection.close()
    return keys / (max(o["end"] for o in outs) - start), lost / keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("--backends", default="postgresql,mysql,sqlite")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    print(f"| backend | make | keys | 1 worker keys/s | {args.workers} workers keys/s | ratio | lost per key |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            for make_seconds, keys in CASES:
                single = [run_once(backend, make_seconds, keys, 1, tmp) for _ in range(args.reps)]
                many = [run_once(backend, make_seconds, keys, args.workers, tmp) for _ in range(args.reps)]
                one = statistics.median(r[0] for r in single)
                eight = statistics.median(r[0] for r in many)
                lost = statistics.median(r[1] for r in many)
                print(f"| {backend} | {make_seconds * 1000:.0f} ms | {keys} | {one:.0f} | {eight:.0f} | "
                      f"{eight / one:.2f} | {lost:.3f} |", flush=True)


if __name__ == "__main__":
    main()
