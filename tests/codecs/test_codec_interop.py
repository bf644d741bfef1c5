"""Rows of every codec written by djframe are read by the reference client, and the other way round.

The reference client (``datajoint`` from PyPI) is a test-time oracle only. What it
cannot do is asserted, so a fixed reference shows up here (storage doc §15):

| codec (named store / default ``@``) | djframe -> reference | reference -> djframe |
|---|---|---|
| <blob>, <attach> in-table | PG, MariaDB (PG: the reference cannot fetch <attach>, §15.3) | PG, MariaDB |
| <hash@s> <npy@s> <object@s> <filepath@s> | PG, MariaDB | PG, MariaDB |
| <blob@s> <attach@s> | PG, MariaDB | PG; MariaDB: the reference cannot insert them (§15.4) |
| the same with ``@`` (stores.default) | PG, MariaDB (djframe writes the resolved store name) | the reference cannot insert ``<codec@>`` (§15.1) |
| <object@s> folder, Zarr array, staged Zarr | PG, MariaDB | PG, MariaDB (folder upload, staged Zarr) |
| garbage collection | both collectors agree on what is orphaned | |
"""

import json
import os
import warnings

import numpy as np
import pytest

import djframe as dj
from tests.conftest import drop_lock, server_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = __import__("datajoint")  # a test dependency: never skipped

DEFINITION = """
rid : int32
---
blob = null : <blob>
att = null : <attach>
blob_s = null : <blob@main>
raw = null : <hash@main>
att_s = null : <attach@main>
arr = null : <npy@main>
obj = null : <object@main>
fp = null : <filepath@main>
"""
JSON_CODECS = ("blob_s", "raw", "att_s", "arr", "obj", "fp")
CHAINED = ("blob_s", "att_s")  # <blob@s>, <attach@s>: an in-table codec chained to <hash@s>


@pytest.fixture
def shared(schema, backend_name, tmp_path):
    """The reference connected to the same server, both clients configured with the same store."""
    if backend_name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    location = tmp_path / "store"
    location.mkdir()
    stores = {"default": "main", "filepath_default": "main", "main": {"protocol": "file", "location": str(location)}}
    settings = server_settings(backend_name, str(tmp_path))
    saved = {k: ref.config[k] for k in ("stores", "download_path", "safemode")}
    ref.config["stores"] = stores
    ref.config["download_path"] = str(tmp_path / "ref_downloads")
    ref.config["safemode"] = False
    os.makedirs(tmp_path / "ref_downloads")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        connection = ref.Connection(f"{settings['host']}:{settings['port']}", settings["user"], settings["password"],
                                    use_tls=False, backend=backend_name,
                                    database_name=settings.get("database_name"))
    source = tmp_path / "attached.txt"
    source.write_text("attached text")
    with dj.config.override(stores=stores, download_path=str(tmp_path / "downloads")), drop_lock(exclusive=True):
        dj.storage.get_store("main").put("raw/data.bin", b"filepath bytes")
        yield {"conn": connection, "backend": backend_name, "source": source, "tmp": tmp_path}
    connection.close()
    for k, v in saved.items():
        ref.config[k] = v


def row(source, rid=1):
    return {"rid": rid, "blob": {"a": np.arange(5.0), "b": "text"}, "att": str(source),
            "blob_s": np.arange(300.0).reshape(20, 15), "raw": b"raw bytes", "att_s": str(source),
            "arr": np.arange(12, dtype=np.int32).reshape(3, 4), "obj": (".bin", b"object bytes"),
            "fp": "raw/data.bin"}


def check(got, source, skip=()):
    assert "blob" in skip or (np.array_equal(got["blob"]["a"], np.arange(5.0)) and got["blob"]["b"] == "text")
    assert "att" in skip or open(got["att"]).read() == source.read_text()
    assert "blob_s" in skip or np.array_equal(got["blob_s"], np.arange(300.0).reshape(20, 15))
    assert bytes(got["raw"]) == b"raw bytes"
    assert "att_s" in skip or open(got["att_s"]).read() == source.read_text()
    assert np.array_equal(got["arr"].load(), np.arange(12, dtype=np.int32).reshape(3, 4))
    assert got["obj"].read() == b"object bytes"
    assert got["fp"].read() == b"filepath bytes"


def test_djframe_writes_reference_reads(schema, shared):
    @schema
    class Written(dj.Manual):
        definition = DEFINITION
    skip = ("att",) if shared["backend"] == "postgresql" else ()  # reference bug §15.3
    Written.insert1(row(shared["source"]))
    grid = np.arange(20.0).reshape(4, 5)
    Written.insert1({"rid": 2, "obj": grid})  # a Zarr array written straight into the store
    table = ref.FreeTable(shared["conn"], f"{schema.database}.written")
    names = [n for n in table.heading.names if n not in skip]
    got = (table & {"rid": 1}).proj(*names).fetch1()
    check(got, shared["source"], skip)
    zarr_ref = (table & {"rid": 2}).fetch1("obj")
    assert zarr_ref.is_dir and zarr_ref.verify()
    import zarr
    assert np.array_equal(zarr.open(zarr_ref.fsmap, mode="r")[...], grid)
    folder = shared["tmp"] / "upload"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.txt").write_text("in a folder")
    Written.insert1({"rid": 3, "obj": folder})
    folder_ref = (table & {"rid": 3}).fetch1("obj")
    assert folder_ref.is_dir and folder_ref.ext is None and folder_ref.item_count == 1 and folder_ref.verify()
    assert folder_ref.listdir() == ["sub"] and folder_ref.open("sub/x.txt").read() == b"in a folder"


def test_reference_writes_djframe_reads(schema, shared):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema = ref.Schema(schema.database, connection=shared["conn"])

    mariadb = shared["backend"] == "mysql"  # the reference cannot insert chained store codecs there (§15.4)
    definition = DEFINITION if not mariadb else "\n".join(
        line for line in DEFINITION.splitlines() if not any(line.startswith(c + " ") for c in CHAINED))

    Written = ref_schema(type("Written", (ref.Manual,), {"definition": definition}))

    values = row(shared["source"])
    if mariadb:
        values = {k: v for k, v in values.items() if k not in CHAINED}
    Written.insert1(values)
    schema.connection.forget()
    got = dj.FreeTable(schema.connection, schema.database, "written").fetch1()
    check(got, shared["source"], skip=CHAINED if mariadb else ())
    from djframe.codecs.npy import load_all
    assert np.array_equal(load_all([got["arr"]])[0], np.arange(12, dtype=np.int32).reshape(3, 4))


def test_reference_cannot_insert_chained_store_codecs_on_mariadb(schema, shared):
    """MariaDB keeps JSON as longtext, and the reference then binds the dict of an inner <hash@s>
    unencoded (§15.4): <blob@s> and <attach@s> fail; <hash@s>, <npy@s>, <object@s>, <filepath@s> work."""
    if shared["backend"] != "mysql":
        pytest.skip("a MariaDB limitation of the reference")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema = ref.Schema(schema.database, connection=shared["conn"])
    values = row(shared["source"])
    for column in CHAINED:
        line = next(x for x in DEFINITION.splitlines() if x.startswith(column + " "))
        table = ref_schema(type(f"Only{column.title().replace('_', '')}", (ref.Manual,),
                                {"definition": f"rid : int32\n---\n{line}\n"}))
        with pytest.raises(TypeError, match="dict can not be used as parameter"):
            table.insert1({"rid": 1, column: values[column]})
        assert len(table()) == 0


DEFAULT_STORE = """
rid : int32
---
blob_s = null : <blob@>
raw = null : <hash@>
att_s = null : <attach@>
arr = null : <npy@>
obj = null : <object@>
fp = null : <filepath@>
"""


def test_default_store_rows_name_the_resolved_store(schema, shared):
    """``<codec@>`` is stores.default: djframe writes its name, so the reference can read the rows;
    the reference itself cannot insert them (the store name stays "", §15.1)."""
    @schema
    class Dflt(dj.Manual):
        definition = DEFAULT_STORE
    values = {k: v for k, v in row(shared["source"]).items() if k in ("rid",) + JSON_CODECS}
    Dflt.insert1(values)
    backend = schema.connection.backend
    raw = backend.fetch_arrow(f"SELECT * FROM {Dflt.full_table_name}").to_pylist()[0]
    for column in JSON_CODECS:
        meta = raw[column] if isinstance(raw[column], dict) else json.loads(raw[column])
        assert meta["store"] == "main", column
    table = ref.FreeTable(shared["conn"], f"{schema.database}.dflt")
    check({**table.fetch1(), "blob": None, "att": None}, shared["source"], skip=("blob", "att"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema = ref.Schema(schema.database, connection=shared["conn"])
        Theirs = ref_schema(type("Theirs", (ref.Manual,), {"definition": "rid : int32\n---\narr : <npy@>\n"}))
    with pytest.raises(Exception, match="''|not configured"):
        Theirs.insert1({"rid": 1, "arr": np.arange(3)})
    assert len(Theirs()) == 0


def test_reference_folders_and_staged_objects_read_by_djframe(schema, shared):
    """A folder the reference uploaded (with its sidecar manifest) and a Zarr array it staged
    (no manifest, class name in the path) are read, verified and decoded by djframe."""
    import zarr
    folder = shared["tmp"] / "session"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema = ref.Schema(schema.database, connection=shared["conn"])
        Theirs = ref_schema(type("Theirs", (ref.Manual,), {"definition": "rid : int32\n---\nobj : <object@main>\n"}))
        Theirs.insert1({"rid": 1, "obj": str(folder)})
        grid = np.arange(24.0).reshape(6, 4)
        with Theirs.staged_insert1 as staged:
            staged.rec["rid"] = 2
            z = zarr.open(staged.store("obj", ".zarr"), mode="w", shape=grid.shape, dtype=grid.dtype, chunks=(3, 4))
            z[:] = grid
    schema.connection.forget()
    table = dj.FreeTable(schema.connection, schema.database, "theirs")
    uploaded, staged_ref = (table & {"rid": 1}).fetch1("obj"), (table & {"rid": 2}).fetch1("obj")
    assert uploaded.is_dir and uploaded.item_count == 2 and uploaded.listdir() == ["a.txt", "sub"]
    assert uploaded.verify() and uploaded.open("a.txt").read() == b"alpha"
    assert staged_ref.is_dir and staged_ref.verify() and np.array_equal(np.asarray(staged_ref), grid)
    assert np.array_equal(staged_ref.zarr()[2:4, 1], grid[2:4, 1])
    report = dj.gc.GarbageCollector(schema).collect()
    assert report["schema_paths_orphaned"] == 0 and report["schema_paths_referenced"] == 2


def test_garbage_collectors_agree(schema, shared):
    """After djframe deletes rows, both clients' dry runs list the same orphaned files."""
    @schema
    class Written(dj.Manual):
        definition = DEFINITION
    Written.insert([row(shared["source"], rid) | {"blob_s": np.arange(300.0) + rid, "raw": b"raw %d" % rid,
                                                    "obj": np.arange(5.0) + rid if rid % 2 else (".bin", b"o")}
                    for rid in range(1, 5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema = ref.Schema(schema.database, connection=shared["conn"])
    theirs = ref.gc.GarbageCollector(ref_schema, store="main")
    ours = dj.gc.GarbageCollector(schema, store="main")
    keys = ("hash_paths_orphaned", "orphaned_hash_paths", "schema_paths_orphaned", "orphaned_schema_paths")
    assert theirs.collect()["schema_paths_orphaned"] == theirs.collect()["hash_paths_orphaned"] == 0
    (Written & "rid > 2").delete()
    expected, got = theirs.collect(dry_run=True), ours.collect(dry_run=True)
    assert {k: got[k] for k in keys} == {k: expected[k] for k in keys}
    assert got["hash_paths_orphaned"] == 4 and got["schema_paths_orphaned"] >= 4  # blob_s, raw; arr, obj
    for k in ("hash_paths_referenced", "hash_paths_stored", "schema_paths_referenced", "schema_paths_stored"):
        assert got[k] == expected[k], k
    done = ours.collect(dry_run=False)
    assert done["deleted"] == got["hash_paths_orphaned"] + got["schema_paths_orphaned"]
    after = theirs.collect()
    assert after["hash_paths_orphaned"] == after["schema_paths_orphaned"] == 0
    table = ref.FreeTable(shared["conn"], f"{schema.database}.written")
    kept = (table & {"rid": 1}).proj("blob_s", "raw", "arr", "obj").fetch1()
    assert np.array_equal(kept["blob_s"], np.arange(300.0) + 1) and kept["raw"] == b"raw 1"
    assert kept["obj"].verify() and np.array_equal(kept["arr"].load(), np.arange(12, dtype=np.int32).reshape(3, 4))
