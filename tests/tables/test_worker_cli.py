"""`djframe worker module.Table`: real worker subprocesses on the job queue, on every backend."""

import getpass
import importlib
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import djframe as dj

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = 12

PIPELINE = '''
import os
import time
import djframe as dj

schema = dj.Schema({schema!r})


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
    """

    def make(self, key):
        if key["source_id"] == int(os.environ.get("FAIL_KEY", -1)):
            raise ValueError("bad source %d" % key["source_id"])
        time.sleep(float(os.environ.get("MAKE_SECONDS", 0)))
        with open(os.environ["MAKE_LOG"], "a") as log:
            log.write("%d\\n" % key["source_id"])
        self.insert1({{**key, "value": key["source_id"] * 2}})
'''


def database_env(conn) -> dict:
    """DJ_* variables that reach the test's database (the way a batch job would be configured)."""
    s = conn.settings
    env = {"DJ_BACKEND": s["backend"], "DJ_IGNORE_CONFIG_FILE": "true"}
    if s["backend"] == "sqlite":
        return {**env, "DJ_DATABASE_PATH": s["path"]}
    env.update(DJ_HOST=s["host"], DJ_PORT=str(s["port"]), DJ_USER=s["user"], DJ_PASS=s.get("password") or "")
    if s.get("database_name"):
        env["DJ_DATABASE_NAME"] = s["database_name"]
    return env


def connection_options(conn) -> list:
    """The same database as CLI options."""
    s = conn.settings
    if s["backend"] == "sqlite":
        return ["--sqlite", s["path"]]
    password = f":{s['password']}" if s.get("password") else ""
    address = f"{s['user']}{password}@{s['host']}:{s['port']}"
    return ["--url", f"{s['backend']}://{address}" + (f"/{s['database_name']}" if s.get("database_name") else "")]


@pytest.fixture
def pipeline(schema, tmp_path, monkeypatch):
    """The pipeline module written to tmp_path and imported here (on the test's connection), with KEYS sources."""
    name = f"pipe_{schema.database}"
    (tmp_path / f"{name}.py").write_text(PIPELINE.format(schema=schema.database))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    module.Source.insert([{"source_id": i} for i in range(KEYS)])
    module.Result.jobs  # the jobs table is declared once, here
    yield module
    sys.modules.pop(name, None)


def start_worker(pipeline, tmp_path, *args, env=None, **extra):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    base.update(PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]), MAKE_LOG=str(tmp_path / "makes.log"),
                **(env or {}), **extra)
    return subprocess.Popen([sys.executable, "-m", "djframe", "worker", f"{pipeline.__name__}.Result", *args],
                            cwd=tmp_path, env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_worker(pipeline, tmp_path, *args, env=None, **extra):
    proc = start_worker(pipeline, tmp_path, *args, env=env, **extra)
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err


def made_log(tmp_path) -> list:
    log = tmp_path / "makes.log"
    return sorted(int(line) for line in log.read_text().split()) if log.exists() else []


def test_worker_makes_every_key_once(pipeline, conn, tmp_path):
    rc, out, err = run_worker(pipeline, tmp_path, "--until-empty", env=database_env(conn), SLURM_ARRAY_TASK_ID="7")
    assert rc == 0, err
    assert f"made {KEYS} key(s), 0 error(s)" in out and "SLURM_ARRAY_TASK_ID=7" in out
    assert made_log(tmp_path) == list(range(KEYS))
    assert sorted(pipeline.Result.to_arrays("source_id")) == list(range(KEYS))
    rc, out, err = run_worker(pipeline, tmp_path, "--until-empty", env=database_env(conn))
    assert rc == 0 and "made 0 key(s)" in out, err
    assert made_log(tmp_path) == list(range(KEYS))


def test_worker_max_calls_and_restriction(pipeline, conn, tmp_path):
    rc, out, err = run_worker(pipeline, tmp_path, "--max-calls", "3", "--until-empty", env=database_env(conn))
    assert rc == 0 and "made 3 key(s)" in out, err
    assert len(made_log(tmp_path)) == 3 and len(pipeline.Result()) == 3
    rc, out, err = run_worker(pipeline, tmp_path, "--restriction", "source_id >= 10", "--order", "reverse",
                              env=database_env(conn))
    assert rc == 0, err
    assert set(made_log(tmp_path)) >= {10, 11} and len(pipeline.Result()) <= 5


def test_worker_takes_connection_options(pipeline, conn, tmp_path):
    rc, out, err = run_worker(pipeline, tmp_path, *connection_options(conn), JOB_COMPLETION_INDEX="4")
    assert rc == 0, err
    assert f"made {KEYS} key(s)" in out and "JOB_COMPLETION_INDEX=4" in out
    assert made_log(tmp_path) == list(range(KEYS))


def test_two_concurrent_workers_make_each_key_once(pipeline, conn, tmp_path):
    env = database_env(conn)
    procs = [start_worker(pipeline, tmp_path, "--until-empty", env=env, MAKE_SECONDS="0.1",
                          SLURM_ARRAY_TASK_ID=str(i)) for i in (1, 2)]
    results = [(p.communicate(timeout=240), p.returncode) for p in procs]
    for (out, err), rc in results:
        assert rc == 0, err
    made = [int(out.split("made ")[1].split(" ")[0]) for (out, _), _ in results]
    assert sum(made) == KEYS
    assert made_log(tmp_path) == list(range(KEYS))
    assert sorted(pipeline.Result.to_arrays("source_id")) == list(range(KEYS))


def test_failing_make_exits_2_and_is_recorded(pipeline, conn, tmp_path):
    rc, out, err = run_worker(pipeline, tmp_path, "--until-empty", env=database_env(conn), FAIL_KEY="5")
    assert rc == 2, err
    assert f"made {KEYS - 1} key(s), 1 error(s)" in out and "bad source 5" in err
    assert pipeline.Result.jobs.errors.keys() == [{"source_id": 5}]
    assert "Traceback" not in err


def test_status_shows_who_holds_the_reserved_jobs(pipeline, conn, tmp_path):
    pipeline.Result.jobs.refresh()
    [held] = pipeline.Result.jobs.claim()
    rc, out, err = run_worker(pipeline, tmp_path, "--status", env=database_env(conn))
    assert rc == 0, err
    assert f"'pending': {KEYS - 1}, 'reserved': 1" in out and "reserved by:" in out
    assert str(os.getpid()) in out and "alive" in out  # this test process holds it
    assert made_log(tmp_path) == [] and pipeline.Result.jobs.reserved.keys() == [{"source_id": held["source_id"]}]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "djframe", "worker", *args], capture_output=True, text=True,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("DJ_")}, **(env or {}),
                               "PYTHONPATH": ROOT}, timeout=120)


@pytest.mark.parametrize("path, message", [
    ("no_such_pipeline.Result", "cannot import 'no_such_pipeline.Result': No module named 'no_such_pipeline'"),
    ("json.NoSuchTable", "'json.NoSuchTable': 'json' has no 'NoSuchTable'"),
    ("json.JSONDecoder", "is not a Computed or Imported table"),
    ("Result", "expected module.Table")])
def test_bad_table_path_exits_1_with_one_line(path, message):
    done = run_cli(path, env={"DJ_BACKEND": "sqlite"})
    assert done.returncode == 1
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_database_exits_1_with_one_line():
    done = run_cli("json.JSONDecoder", "--backend", "postgresql", "--host", "127.0.0.1:1", "-u", "nobody")
    assert done.returncode == 1
    assert "cannot connect" in done.stderr.lower() and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_module_import_error_exits_1(tmp_path):
    (tmp_path / "broken_pipeline.py").write_text(textwrap.dedent("""
        raise RuntimeError("no config for this lab")
    """))
    done = subprocess.run([sys.executable, "-m", "djframe", "worker", "broken_pipeline.Result"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT])})
    assert done.returncode == 1
    assert "cannot import 'broken_pipeline': RuntimeError: no config for this lab" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# ----- a real SLURM array of workers ----------------------------------------------------------------
SLURM_CONF = """ClusterName=djframe_test
SlurmctldHost={node}
SlurmUser={user}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/none
CredType=cred/none
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={node} CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node SLURM cluster of this machine, started for these tests (auth/none: it serves this host
    only); the environment that reaches it (SLURM_CONF)."""
    if shutil.which("sbatch") is None:
        pytest.skip("SLURM is not installed (no sbatch; apt-get install slurm-wlm runs this test)")
    folder = tmp_path_factory.mktemp("slurm")
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    node = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(node=node, user=getpass.getuser(), ctld_port=free_port(),
                                      slurmd_port=free_port(), folder=folder, cpus=os.cpu_count() or 1))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons = [subprocess.Popen([shutil.which(d) or f"/usr/sbin/{d}", *args, "-f", str(conf)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for d, args in (("slurmctld", ["-D", "-i"]), ("slurmd", ["-D"]))]
    try:
        deadline = time.time() + 60
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True,
                                           text=True).stdout:
            assert time.time() < deadline, (folder / "slurmctld.log").read_text()[-2000:]
            time.sleep(0.5)
        yield env
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=30)


def test_a_slurm_array_of_workers_makes_every_key_once(slurm, pipeline, conn, tmp_path):
    script = tmp_path / "spikes.sh"
    script.write_text(f"#!/bin/bash\nexec {sys.executable} -m djframe worker {pipeline.__name__}.Result --until-empty\n")
    env = {k: v for k, v in slurm.items() if not k.startswith("DJ_")}
    env.update(database_env(conn), DJ_JOBS_KEEP_COMPLETED="true", MAKE_SECONDS="0.05",
               MAKE_LOG=str(tmp_path / "makes.log"), PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    done = subprocess.run(["sbatch", "--wait", "--array=1-3", f"--output={tmp_path}/worker_%A_%a.out",
                           f"--chdir={tmp_path}", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr + "".join(
        p.read_text() for p in tmp_path.glob("worker_*.out"))
    array = re.search(r"Submitted batch job (\d+)", done.stdout).group(1)
    logs = {int(p.stem.rsplit("_", 1)[1]): p.read_text() for p in tmp_path.glob(f"worker_{array}_*.out")}
    assert sorted(logs) == [1, 2, 3] and all(f"SLURM_ARRAY_TASK_ID={i}" in text for i, text in logs.items())
    assert sum(int(re.search(r"made (\d+) key", text).group(1)) for text in logs.values()) == KEYS
    assert made_log(tmp_path) == list(range(KEYS))  # each key made once, over the array
    rows = pipeline.Result.jobs.completed.to_dicts()
    assert len(rows) == KEYS and {r["executor_task"] for r in rows} <= {f"slurm:{array}_{i}" for i in (1, 2, 3)}
