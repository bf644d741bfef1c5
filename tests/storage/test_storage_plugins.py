"""Store plugins: a package registers a StorageAdapter under the entry-point group datajoint.storage."""

import importlib
import sys
import uuid

import numpy as np
import pytest

import djframe as dj
from djframe.storage.stores import get_store

PLUGIN = '''
import fsspec
import djframe as dj


class MemoryAdapter(dj.StorageAdapter):
    """Objects in fsspec's in-process memory filesystem, under one folder per store."""
    protocol = "memtest"
    required_keys = ("bucket",)
    allowed_keys = ("note",)

    def create_filesystem(self, spec):
        return fsspec.filesystem("memory")

    def full_path(self, spec, relpath):
        return "/" + "/".join(p for p in (spec["bucket"], spec["location"].strip("/"), relpath.lstrip("/")) if p)

    def get_url(self, spec, path):
        return "memtest://" + self.full_path(spec, path)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """An installed distribution (dist-info on sys.path) whose entry point provides protocol memtest."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "djtest_memstore.py").write_text(PLUGIN)
    info = root / "djtest_memstore-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: djtest-memstore\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[datajoint.storage]\nmemtest = djtest_memstore:MemoryAdapter\n")
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield
    sys.path.remove(str(root))
    sys.modules.pop("djtest_memstore", None)


def test_plugin_protocol_serves_every_store_codec(plugin, schema):
    adapter = dj.get_storage_adapter("memtest")
    assert isinstance(adapter, dj.StorageAdapter) and type(adapter).__name__ == "MemoryAdapter"
    assert dj.get_storage_adapter("file") is None and dj.get_storage_adapter("nosuch") is None
    bucket = f"b{uuid.uuid4().hex[:8]}"
    spec = {"protocol": "memtest", "bucket": bucket, "location": "lab/data"}
    with dj.config.override(stores={"default": "mem", "mem": spec}):
        @schema
        class Trace(dj.Manual):
            definition = """
            tid : int32
            ---
            blob : <blob@mem>
            arr : <npy@mem>
            obj : <object@mem>
            """
        Trace.insert([{"tid": i, "blob": np.arange(5) * i, "arr": np.eye(2) * i, "obj": np.arange(6).reshape(2, 3) + i}
                      for i in range(3)])
        store = get_store("mem")
        assert type(store.adapter).__name__ == "MemoryAdapter"
        assert store.url("x/y") == f"memtest:///{bucket}/lab/data/x/y"
        listed = store.list_files("")
        assert listed and all(not p.startswith("/") and not p.startswith(bucket) for p in listed)
        row = (Trace & {"tid": 2}).fetch1()
        assert np.array_equal(row["blob"], np.arange(5) * 2) and np.array_equal(row["arr"].load(), np.eye(2) * 2)
        assert np.array_equal(np.asarray(row["obj"]), np.arange(6).reshape(2, 3) + 2)
        assert np.array_equal(row["obj"].zarr()[1], [5, 6, 7])
        (Trace & {"tid": 2}).delete()
        removed = dj.gc.GarbageCollector(schema, store="mem").collect(dry_run=False)
        assert store.list_files("") != listed and len(store.list_files("")) < len(listed) and removed


def test_plugin_settings_are_validated(plugin):
    for spec, message in (({"protocol": "memtest", "location": "x"}, "bucket"),
                          ({"protocol": "memtest", "location": "x", "bucket": "b", "colour": 1}, "colour"),
                          ({"protocol": "nosuch", "location": "x"}, "storage adapter")):
        with dj.config.override(stores={"bad": spec}):
            with pytest.raises(dj.DataJointError, match=message) as error:
                get_store("bad")
            assert "'bad'" in str(error.value)
