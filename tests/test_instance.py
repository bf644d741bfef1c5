"""dj.Instance: a configuration and connection of its own; DJ_THREAD_SAFE turns the global ones off."""

import numpy as np
import pytest

import djframe as dj
from djframe.errors import ThreadSafetyError
from tests.conftest import server_settings


def make_instance(backend, tmp_path, **settings):
    s = server_settings(backend, str(tmp_path))
    if backend == "sqlite":
        return dj.Instance(backend="sqlite", database__path=s["path"], **settings)
    extra = {"database__name": s["database_name"]} if s.get("database_name") else {}
    return dj.Instance(s["host"], s["user"], s["password"], port=s["port"], use_tls=False, backend=backend,
                       **extra, **settings)


@pytest.fixture
def instance(backend_name, tmp_path, monkeypatch, schema_name):
    location = tmp_path / "instance_store"
    location.mkdir()
    inst = make_instance(backend_name, tmp_path, safemode=False, display__limit=3,
                         stores={"default": "own", "own": {"protocol": "file", "location": str(location)}})
    monkeypatch.setenv("DJ_THREAD_SAFE", "true")
    yield inst
    monkeypatch.delenv("DJ_THREAD_SAFE")
    inst.Schema(schema_name).drop(prompt=False)
    inst.close()


def test_thread_safe_mode_refuses_the_global_config_and_connection(instance):
    for use in (lambda: dj.config["safemode"], lambda: dj.config.override(safemode=False), dj.conn,
                lambda: dj.Schema("djf_global_refused"), lambda: dj.FreeTable("a.b")):
        with pytest.raises(ThreadSafetyError, match="dj.Instance"):
            use()


def test_an_instance_runs_a_pipeline_on_its_own_settings(instance, schema_name, backend_name, tmp_path):
    schema = instance.Schema(schema_name)

    @schema
    class Scan(dj.Manual):
        definition = """
        scan_id : int32
        ---
        image : <blob@>
        """

    @schema
    class Mean(dj.Computed):
        definition = """
        -> Scan
        ---
        mean : float64
        """

        def make(self, key):
            self.insert1({**key, "mean": float((Scan & key).fetch1("image").mean())})

    Scan.insert([{"scan_id": i, "image": np.full((4, 4), float(i))} for i in range(5)])
    Mean.populate()
    assert sorted(Mean.to_dicts(), key=lambda r: r["scan_id"]) == [{"scan_id": i, "mean": float(i)} for i in range(5)]
    assert instance.config["stores"]["default"] == "own" and Scan.to_arrow().num_rows == 5
    shown = repr(Scan())
    assert "(Total: 5)" in shown and "   ..." in shown and shown.count("\n") == 2 + 3 + 2  # display.limit = 3
    free = instance.FreeTable(Scan.full_table_name.replace('"', "").replace("`", ""))
    assert len(free) == 5 and free.connection is instance.connection
    (Scan & {"scan_id": 0}).delete()  # safemode=False from the instance: no prompt
    assert len(Scan()) == 4 and len(Mean()) == 4
    found = dj.gc.GarbageCollector(schema).collect(dry_run=True)  # the instance's store, not dj.config's
    assert found["hash_paths_orphaned"] == 1
    manifest = dj.export(Scan, tmp_path / "export")
    assert len(manifest["objects"]) == 4 and manifest["objects"][0]["store"] == "own"
    assert repr(instance).startswith(f"Instance(DataJoint connection (connected) {backend_name}://")


def test_instances_do_not_share_settings(backend_name, tmp_path):
    one = make_instance(backend_name, tmp_path, display__limit=5)
    two = make_instance(backend_name, tmp_path, display__limit=7)
    try:
        assert one.config["display.limit"] == 5 and two.config["display.limit"] == 7
        assert dj.config["display.limit"] == 12 and one.connection is not two.connection
    finally:
        one.close()
        two.close()


def test_a_host_for_the_embedded_database_is_an_error(monkeypatch):
    monkeypatch.delenv("DJ_BACKEND", raising=False)
    with pytest.raises(dj.DataJointError, match="backend='postgresql'"):
        dj.Instance("127.0.0.1", "root", "", backend="sqlite")  # would open a SQLite file, ignoring the host


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_host_without_a_backend_connects_to_that_server(monkeypatch, kind):
    """As the reference client does: dj.Connection / dj.Instance with a host reach a server."""
    for var in ("DJ_BACKEND", "DJ_URL", "DJ_HOST", "DJ_PORT"):
        monkeypatch.delenv(var, raising=False)
    s = server_settings(kind, "")
    for make in (lambda: dj.Instance(f"{s['host']}:{s['port']}", s["user"], s["password"], use_tls=False),
                 lambda: dj.Connection(f"{s['host']}:{s['port']}", s["user"], s["password"], use_tls=False)):
        made = make()
        connection = made if isinstance(made, dj.Connection) else made.connection
        try:
            assert connection.backend.name == kind and connection.is_connected
        finally:
            connection.close()
