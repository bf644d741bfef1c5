"""Heartbeats and visible workers: a worker renews its job's heartbeat while in make; a reservation whose
heartbeat went silent (a lost node, whose database session still looks open) returns to pending in the
next populate's own refresh; the job rows and `jobs.workers()` / `jobs.progress()` say who holds what.

The workers are processes. `jobs.heartbeat_timeout` is shortened for them through their connection's
config (a mapping over dj.config), as a lab would set it in dj.config.
"""

import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections import ChainMap

import pytest

import djframe as dj
from djframe.connection import Connection, make_backend
from djframe.tables.jobs import executor_task
from tests.tables.test_workers import KEYS, ROOT, assert_complete, declare, outcome, queue, settings, \
    wait_for_reservation  # noqa: F401 (fixtures)

TIMEOUT = 2  # s: jobs.heartbeat_timeout of the test's workers (a beat every 0.5 s)
EMBEDDED = ("SQLite is embedded: all its workers are on this host, where a stopped or killed worker is found "
            "by its pid, and a make holds the file's write lock, so no heartbeat could be written meanwhile")


def worker_main():
    """A worker process with a short heartbeat timeout: populate from the queue, print the outcome as JSON."""
    job = json.loads(sys.argv[1])
    config = ChainMap({"jobs.heartbeat_timeout": job["timeout"]}, dj.config)
    connection = Connection.over(make_backend(job["settings"]), job["settings"], config)
    schema = dj.Schema(job["schema"], connection=connection)
    _, Result = declare(schema, slow_key=job.get("slow_key"), slow_seconds=job.get("slow_seconds", 0.0))
    result = Result.populate(reserve_jobs=True, suppress_errors=True)
    print(json.dumps({"success_count": result["success_count"],
                      "errors": [[k, f"{type(e).__name__}: {e}"] for k, e in result["error_list"]]}))


def start_worker(settings, schema_name, timeout=TIMEOUT, **options):
    code = "from tests.tables.test_heartbeat import worker_main; worker_main()"
    job = {"settings": settings, "schema": schema_name, "timeout": timeout, **options}
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(job)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def server(backend_name):
    if backend_name == "sqlite":
        pytest.skip(EMBEDDED)


def test_a_stopped_worker_s_key_is_made_by_another_once_its_heartbeat_is_silent(server, queue, settings, schema):
    _, Result = queue
    victim = start_worker(settings, schema.database, slow_key=0, slow_seconds=4)
    try:
        held = wait_for_reservation(Result, {"source_id": 0})
        victim.send_signal(signal.SIGSTOP)  # a lost node: no heartbeat, but its session stays open
        assert held["heartbeat_time"] is not None and held["pid"] == victim.pid
        assert Result.jobs.recover_orphans() == 0  # the session check sees a live worker (default timeout)
        time.sleep(TIMEOUT + 0.5)
        assert (Result.jobs.workers()["state"] == "alive").all()  # by the default timeout, 300 s
        survivor = start_worker(settings, schema.database)
        assert outcome(survivor) == {"success_count": KEYS, "errors": []}  # key 0 re-pended by its own refresh
        assert_complete(Result)
        assert (Result & {"source_id": 0}).fetch1("worker") == survivor.pid
    finally:
        victim.send_signal(signal.SIGCONT)
    late = outcome(victim)  # resumed, it skips the key made meanwhile (stopped before its make began) or
    assert late["success_count"] == 0  # fails to insert it (stopped inside): made once, by the survivor
    assert late["errors"] == [] or ([k for k, _ in late["errors"]] == [{"source_id": 0}]
                                    and "Duplicate" in late["errors"][0][1])
    assert len(Result.jobs) == 0 and len(Result.Piece & {"source_id": 0}) == 2


def test_a_worker_that_beats_keeps_its_key_past_the_timeout(server, queue, settings, schema):
    _, Result = queue
    slow = start_worker(settings, schema.database, slow_key=0, slow_seconds=6 * TIMEOUT)
    first = wait_for_reservation(Result, {"source_id": 0})["heartbeat_time"]
    time.sleep(1.5 * TIMEOUT)
    other = outcome(start_worker(settings, schema.database))  # its refresh finds key 0's heartbeat fresh
    assert slow.poll() is None, "the slow make ended before the other worker was done: lengthen it"
    assert other == {"success_count": KEYS - 1, "errors": []}
    job = (Result.jobs & {"source_id": 0}).fetch1()
    assert job["status"] == "reserved" and job["pid"] == slow.pid and job["heartbeat_time"] > first
    assert Result.jobs.recover_orphans(heartbeat_timeout=TIMEOUT) == 0
    assert outcome(slow) == {"success_count": 1, "errors": []}
    assert_complete(Result)
    assert (Result & {"source_id": 0}).fetch1("worker") == slow.pid


def test_job_rows_and_workers_show_who_holds_what(queue, conn, monkeypatch):
    _, Result = queue
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"):
        monkeypatch.setenv(name, {"SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": "3"}.get(name, "80"))
    jobs = Result.jobs
    [held] = jobs.claim()
    row = (jobs & held).fetch1()
    assert row["host"] == platform.node() and row["pid"] == os.getpid() and row["executor_task"] == "slurm:77_3"
    assert row["reserved_time"] is not None and row["connection_id"] == held["connection_id"]
    server = conn.backend.name != "sqlite"
    assert (row["heartbeat_time"] is not None) == server  # the claim wrote the first beat
    if server:
        assert abs(row["heartbeat_time"] - row["reserved_time"]) < dt.timedelta(seconds=2)
    workers = jobs.workers()
    assert workers.columns == ["source_id", "host", "pid", "executor_task", "connection_id", "user", "reserved_time",
                               "heartbeat_time", "state"]
    assert workers["executor_task"].to_list() == ["slurm:77_3"] and workers["state"].to_list() == ["alive"]
    progress = jobs.progress()
    assert progress == {"pending": KEYS - 1, "reserved": 1, "success": 0, "error": 0, "ignore": 0, "total": KEYS}
    assert "slurm:77_3" in repr(progress) and "alive" in repr(progress) and platform.node() in str(progress)


def test_a_gone_or_silent_worker_is_shown_and_re_pended(queue, conn):
    _, Result = queue
    jobs = Result.jobs
    jobs.claim(limit=2)
    dead = {"source_id": 0, "connection_id": 2 ** 40, "pid": 2 ** 30, "host": platform.node()}
    jobs.update1(dead)  # a session (or, on SQLite, a process of this host) that no longer exists
    if conn.backend.name != "sqlite":
        jobs.update1({"source_id": 1, "heartbeat_time": dt.datetime.now() - dt.timedelta(hours=1)})
    states = dict(zip(jobs.workers()["source_id"].to_list(), jobs.workers()["state"].to_list()))
    assert states == {0: "gone", 1: "silent" if conn.backend.name != "sqlite" else "alive"}
    expected = 2 if conn.backend.name != "sqlite" else 1
    assert jobs.refresh()["orphaned"] == expected  # populate's own refresh does this: no timeout to pass
    back = (jobs & "source_id < 2" & {"status": "pending"}).to_dicts()
    assert len(back) == expected and all(j["heartbeat_time"] is None and j["reserved_time"] is None for j in back)


def test_a_zero_timeout_turns_heartbeats_off(queue, conn, schema):
    off = Connection.over(conn.backend, conn.settings, ChainMap({"jobs.heartbeat_timeout": 0}, dj.config))
    _, Result = declare(dj.Schema(schema.database, connection=off))
    jobs = Result.jobs
    assert not jobs.beats and jobs.heartbeat().interval is None
    [held] = jobs.claim()
    assert (jobs & held).fetch1("heartbeat_time") is None
    jobs.update1({**held, "heartbeat_time": dt.datetime.now() - dt.timedelta(hours=1)})
    assert jobs.recover_orphans() == 0 and len(jobs.reserved) == 1


@pytest.mark.parametrize("env, task", [
    ({"SLURM_ARRAY_JOB_ID": "12", "SLURM_ARRAY_TASK_ID": "7", "SLURM_JOB_ID": "19"}, "slurm:12_7"),
    ({"SLURM_JOB_ID": "19"}, "slurm:19"),
    ({"JOB_COMPLETION_INDEX": "4", "HOSTNAME": "spikes-4-x8k2p"}, "k8s:spikes-4-x8k2p/4"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "spikes-pod"}, "k8s:spikes-pod"),
    ({"AWS_BATCH_JOB_ID": "a1b2:5"}, "aws-batch:a1b2:5"),
    ({}, "")])
def test_executor_task_names_the_scheduler_s_task(env, task, monkeypatch):
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID", "JOB_COMPLETION_INDEX",
                 "KUBERNETES_SERVICE_HOST", "AWS_BATCH_JOB_ID", "HOSTNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert executor_task() == task
