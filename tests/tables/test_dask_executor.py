"""populate(executor=Client): a real Dask LocalCluster (worker processes) on the job queue, on every backend."""

import importlib
import os
import sys
import time

import distributed  # in the test extra: a missing one is a failure, not a skip
import pytest

import djframe as dj
from djframe.tables import executor
from test_worker_cli import PIPELINE  # Source and Result; make() logs to $MAKE_LOG, fails on $FAIL_KEY

KEYS = 12

SLOTTED = '''

@schema
class Slotted(dj.Computed):
    resources = {"slots": 1}
    definition = """
    -> Source
    """

    def make(self, key):
        self.insert1(key)
'''


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each, each with one abstract 'slots' resource."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={"slots": 1},
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def make_pipeline(schema, tmp_path, client, monkeypatch, fail=-1):
    name = f"dask_{schema.database}"
    log = tmp_path / "makes.log"
    (tmp_path / f"{name}.py").write_text(PIPELINE.format(schema=schema.database) + SLOTTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    client.run(lambda path: sys.path.insert(0, path), str(tmp_path))  # the workers import the module by name
    client.run(lambda env: os.environ.update(env), {"MAKE_LOG": str(log), "FAIL_KEY": str(fail)})
    module = importlib.import_module(name)
    module.Source.insert([{"source_id": i} for i in range(KEYS)])
    module.Result.jobs  # the jobs table is declared once, here
    return module, log


@pytest.fixture
def pipeline(schema, tmp_path, client, monkeypatch):
    module, log = make_pipeline(schema, tmp_path, client, monkeypatch)
    yield module, log
    sys.modules.pop(module.__name__, None)


@pytest.fixture
def failing(schema, tmp_path, client, monkeypatch):
    module, log = make_pipeline(schema, tmp_path, client, monkeypatch, fail=5)
    yield module, log
    sys.modules.pop(module.__name__, None)


def made(log) -> list:
    return sorted(int(line) for line in log.read_text().split()) if log.exists() else []


def test_every_key_made_once_on_workers(pipeline, client):
    module, log = pipeline
    result = module.Result.populate(executor=client)  # reserve_jobs=False: the queue is used anyway
    assert result == {"success_count": KEYS, "error_list": []}
    assert made(log) == list(range(KEYS))
    assert sorted(module.Result.to_arrays("source_id")) == list(range(KEYS))
    assert len(module.Result.jobs) == 0
    assert module.Result.populate(executor=client, reserve_jobs=True) == {"success_count": 0, "error_list": []}
    assert made(log) == list(range(KEYS))


def test_same_keys_in_two_tasks_made_once(pipeline, client, conn):
    module, log = pipeline
    module.Result.jobs.refresh(delay=-1)
    keys = module.Result.jobs.pending_keys()
    target = (module.__name__, "Result")
    futures = [client.submit(executor.make_batch, target, conn.settings, keys, {}, pure=False) for _ in range(2)]
    tallies = client.gather(futures)
    assert sum(n for n, _ in tallies) == KEYS and all(errors == [] for _, errors in tallies)
    assert made(log) == list(range(KEYS))


def test_job_rows_name_the_dask_task_and_worker(pipeline, client):
    module, _ = pipeline
    client.run(lambda: dj.config.__setitem__("jobs.keep_completed", True))  # workers read their own config
    try:
        assert module.Result.populate(executor=client)["success_count"] == KEYS
    finally:
        client.run(lambda: dj.config.__delitem__("jobs.keep_completed"))
    done = module.Result.jobs.completed.to_dicts()
    assert len(done) == KEYS and all(j["executor_task"].startswith("dask:make_batch-") for j in done)
    assert {j["pid"] for j in done} <= set(client.run(os.getpid).values())
    assert len({j["executor_task"] for j in done}) > 1  # one task per batch


def test_max_calls_and_restriction(pipeline, client):
    module, log = pipeline
    assert module.Result.populate("source_id < 6", executor=client, max_calls=4)["success_count"] == 4
    assert len(made(log)) == 4 and all(k < 6 for k in made(log))


def test_failing_make_is_an_error_row(failing, client):
    module, log = failing
    result = module.Result.populate(executor=client, suppress_errors=True)
    assert result["success_count"] == KEYS - 1
    assert result["error_list"] == [({"source_id": 5}, "ValueError: bad source 5")]
    assert module.Result.jobs.errors.keys() == [{"source_id": 5}]
    assert made(log) == [k for k in range(KEYS) if k != 5]


def test_failing_make_raises_unless_suppressed(failing, client):
    module, log = failing
    with pytest.raises(ValueError, match="bad source 5"):
        module.Result.populate(executor=client)
    assert module.Result.jobs.errors.keys() == [{"source_id": 5}]
    # raised only once every task has returned: no key is still being made, none is made afterwards
    assert len(module.Result.jobs.reserved) == 0
    made_then, rows_then = made(log), len(module.Result())
    time.sleep(0.5)
    assert made(log) == made_then and len(module.Result()) == rows_then < KEYS


def test_resources_reach_dask(pipeline, client):
    module, _ = pipeline
    assert module.Slotted.populate(executor=client) == {"success_count": KEYS, "error_list": []}
    assert len(module.Slotted()) == KEYS


def test_resources_mapping():
    assert executor.dask_resources({"gpus": 1, "memory": "16GB"}) == {"gpus": 1, "memory": 16_000_000_000}
    assert executor.dask_resources({"memory": "2GiB"}) == {"memory": 2 * 2**30}
    assert executor.dask_resources(None) is None and executor.dask_resources({}) is None
    with pytest.raises(dj.DataJointError, match="resources"):
        executor.dask_resources({"gpus": -1})


def test_batches_spread_over_workers():
    assert [len(b) for b in executor.batches(list(range(10)), 2)] == [2, 2, 2, 2, 2]
    assert [len(b) for b in executor.batches(list(range(3)), 4)] == [1, 1, 1]


def test_missing_distributed_says_what_to_install(pipeline, monkeypatch):
    module, _ = pipeline
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(dj.DataJointError, match=r'pip install "djframe\[dask\]"'):
        module.Result.populate(executor=object())
