"""Independent worker processes sharing one job queue, on every backend: each key made exactly once,
and no fault (a SIGKILLed worker, a connection the server terminated) leaves a key reserved."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import djframe as dj
from djframe.connection import Connection, make_backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = 40


def declare(schema, make_seconds=0.0, slow_key=None, slow_seconds=0.0):
    """The pipeline every worker process declares (a no-op when the tables exist)."""

    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        """

    @schema
    class Result(dj.Computed):
        definition = """
        -> Source
        ---
        value : int32
        worker : int32
        """

        class Piece(dj.Part):
            definition = """
            -> master
            piece : int8
            """

        def make(self, key):
            if key["source_id"] == slow_key:
                time.sleep(slow_seconds)
            elif make_seconds:
                time.sleep(make_seconds)
            self.insert1({**key, "value": key["source_id"] * 2, "worker": os.getpid()})
            self.Piece.insert([{**key, "piece": p} for p in range(2)])

    return Source, Result


def worker_main():
    """A worker process: connect, declare, populate from the queue, print the outcome as JSON."""
    job = json.loads(sys.argv[1])
    connection = Connection.over(make_backend(job["settings"]), job["settings"])
    schema = dj.Schema(job["schema"], connection=connection)
    _, Result = declare(schema, job.get("make_seconds", 0.0), job.get("slow_key"), job.get("slow_seconds", 0.0))
    if job.get("barrier"):
        wait_at_barrier(Path(job["barrier"]))
    result = Result.populate(reserve_jobs=True, suppress_errors=True)
    print(json.dumps({"success_count": result["success_count"],
                      "errors": [[k, str(e)] for k, e in result["error_list"]]}))


def wait_at_barrier(folder: Path, timeout=120):
    """Say this worker is ready, then wait for the test's go: on a loaded machine the first worker to
    start would otherwise empty the queue before the others have imported djframe."""
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.time() + timeout
    while not (folder / "go").exists():
        if time.time() > deadline:
            raise SystemExit("no go signal from the test")
        time.sleep(0.02)


def release_when_ready(folder: Path, workers: int, timeout=120):
    deadline = time.time() + timeout
    while len(list(folder.glob("ready-*"))) < workers:
        assert time.time() < deadline, "the workers never got ready"
        time.sleep(0.02)
    (folder / "go").touch()


def start_worker(settings, schema_name, **options):
    code = "from tests.tables.test_workers import worker_main; worker_main()"
    return subprocess.Popen([sys.executable, "-c", code, json.dumps({"settings": settings, "schema": schema_name,
                                                                      **options})],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def settings(conn):
    return dict(conn.settings)


@pytest.fixture
def queue(schema):
    Source, Result = declare(schema)
    Source.insert([{"source_id": i} for i in range(KEYS)])
    Result.jobs.refresh()
    Result.populate(reserve_jobs=True, refresh=False, max_calls=0)  # side tables declared before workers race
    return Source, Result


def wait_for_reservation(Result, key, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        reserved = (Result.jobs.reserved & key).to_dicts()
        if reserved:
            return reserved[0]
        time.sleep(0.05)
    raise AssertionError(f"{key} was never reserved")


def assert_complete(Result):
    assert len(Result()) == KEYS and len(Result.Piece()) == 2 * KEYS
    assert len(Result.jobs.reserved) == 0 and len(Result.jobs.pending) == 0


def test_each_key_is_made_exactly_once_by_worker_processes(queue, settings, schema, backend_name, tmp_path):
    _, Result = queue
    workers = [start_worker(settings, schema.database, make_seconds=0.01, barrier=str(tmp_path)) for _ in range(4)]
    release_when_ready(tmp_path, len(workers))
    results = [outcome(w) for w in workers]
    assert sum(r["success_count"] for r in results) == KEYS  # no key made twice, no make lost
    assert all(not r["errors"] for r in results)
    assert_complete(Result)
    if backend_name != "sqlite":  # SQLite's single writer lets one busy worker take every key on a loaded machine
        assert len(set(Result.to_arrays("worker"))) > 1  # started together, the workers shared the work


def test_a_sigkilled_worker_s_key_is_made_by_another(queue, settings, schema):
    _, Result = queue
    victim = start_worker(settings, schema.database, slow_key=0, slow_seconds=600)
    held = wait_for_reservation(Result, {"source_id": 0})
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert len(Result.jobs.reserved & {"source_id": 0}) == 1  # still held by the dead worker
    survivor = outcome(start_worker(settings, schema.database))  # no manual step, no timeout to set
    assert not survivor["errors"]
    assert_complete(Result)
    assert (Result & {"source_id": 0}).fetch1("worker") != held["pid"]


def test_a_terminated_connection_fails_its_key_and_the_worker_goes_on(queue, settings, schema, backend_name):
    if backend_name == "sqlite":
        pytest.skip("SQLite is embedded: there is no server connection to terminate")
    _, Result = queue
    worker = start_worker(settings, schema.database, slow_key=0, slow_seconds=3)
    held = wait_for_reservation(Result, {"source_id": 0})
    backend = schema.connection.backend
    if backend_name == "postgresql":
        backend.fetch_rows(f"SELECT pg_terminate_backend({int(held['connection_id'])})")
    else:
        backend.execute(f"KILL {int(held['connection_id'])}")
    result = outcome(worker)
    assert result["success_count"] == KEYS - 1
    [(key, message)] = result["errors"]
    assert key == {"source_id": 0} and "LostConnection" in message  # the original error, not the rollback's
    job = (Result.jobs & {"source_id": 0}).fetch1()
    assert job["status"] == "error" and "LostConnection" in job["error_message"]
    assert not (Result & {"source_id": 0}) and not (Result.Piece & {"source_id": 0})  # no partial rows
    assert len(Result()) == KEYS - 1 and len(Result.jobs.reserved) == 0


def test_refresh_re_pends_a_dead_session_s_reservation_only(queue, conn):
    _, Result = queue
    assert Result.jobs.reserve({"source_id": 1})  # held by this live session: stays
    Result.jobs.update1({"source_id": 2, "status": "reserved", "connection_id": 2 ** 40, "pid": 2 ** 30,
                         "host": "elsewhere" if conn.backend.name == "sqlite" else "vm"})
    if conn.backend.name == "sqlite":  # no session list: a dead process on this host is the sign
        import platform
        Result.jobs.update1({"source_id": 2, "host": platform.node()})
    assert Result.jobs.refresh()["orphaned"] == 1
    assert [k["source_id"] for k in Result.jobs.reserved.keys()] == [1]


def test_refresh_does_not_queue_a_key_made_meanwhile(queue):
    """A worker finishing a key between refresh's listing and its insert must not see it queued again."""
    Source, Result = queue
    Result.populate(reserve_jobs=True, max_calls=5)
    Result.jobs.insert1({"source_id": 0, "status": "pending"}, skip_duplicates=True)  # as a racing refresh would
    Source.insert1({"source_id": KEYS})
    assert Result.jobs.refresh()["added"] == 1
    assert not (Result.jobs & {"source_id": 0}) and len(Result.jobs.pending) == KEYS - 5 + 1


def test_claims_follow_order_priority_and_restrictions(queue):
    _, Result = queue
    Result.jobs.refresh()
    Result.jobs.update1({"source_id": 7, "priority": 1})
    assert [j["source_id"] for j in Result.jobs.claim(limit=2)] == [7, 0]
    assert [j["source_id"] for j in Result.jobs.claim(order="reverse")] == [KEYS - 1]
    assert [j["source_id"] for j in Result.jobs.claim(["source_id between 10 and 12"], limit=5)] == [10, 11, 12]
    picked = Result.jobs.claim(order="random", limit=3)
    assert len(picked) == 3 and all(j["connection_id"] == Result.connection.backend.connection_id()
                                    for j in picked)
    assert len(Result.jobs.reserved) == 9
    result = Result.populate(reserve_jobs=True, refresh=False, order="random")
    assert result["success_count"] == KEYS - 9
