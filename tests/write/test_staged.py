"""staged_insert1: <object@> values written in place (Zarr through the mapper, files through open()),
then one insert; on any failure no row and no object. Every backend, file and S3 stores."""

import json
import warnings

import numpy as np
import pytest

import djframe as dj
from djframe.errors import DataJointError, DuplicateError
from djframe.storage.stores import StoreIntegrityError
from tests.codecs.test_codec_interop import ref, shared  # noqa: F401  (the reference client and its fixture)
from tests.storage.test_stores import files, raw_json, s3_endpoint, store  # noqa: F401  (fixtures)

zarr = pytest.importorskip("zarr")

DEFINITION = """
rid : int32
---
z = null : <object@main>
f = null : <object@>
note = "" : varchar(40)
"""


def declare(schema, name="Rec", tier=dj.Manual, definition=DEFINITION):
    return schema(type(name, (tier,), {"definition": definition}))


def stage_zarr(table, rid, data, **rec):
    with table.staged_insert1 as staged:
        staged.rec.update(rid=rid, **rec)
        z = zarr.open(staged.store("z", ".zarr"), mode="w", shape=data.shape, dtype=data.dtype,
                      chunks=(max(1, data.shape[0] // 3),) + data.shape[1:])
        z[:] = data
    return staged


def test_zarr_through_the_mapper(schema, store):
    Rec = declare(schema)
    data = np.random.default_rng(0).normal(size=(30, 7))
    stage_zarr(Rec, 1, data, note="zarr")
    row = Rec.fetch1()
    assert row["note"] == "zarr" and row["f"] is None
    ref_ = row["z"]
    assert isinstance(ref_, dj.ObjectRef) and ref_.is_dir and ref_.ext == ".zarr"
    lazy = ref_.zarr()
    assert lazy.shape == (30, 7) and np.array_equal(lazy[4:9, 2], data[4:9, 2])
    assert np.array_equal(np.asarray(ref_), data) and ref_.verify()
    meta = raw_json(Rec, "z")[0]
    stored = {p: n for p, n in store.list_files(meta["path"]).items()}
    assert meta["path"].startswith(f"_schema/{schema.database}/rec/rid=1/z_") and meta["path"].endswith(".zarr")
    assert meta["store"] == "main" and meta["is_dir"] is True and meta["item_count"] == len(stored) > 2
    assert meta["size"] == sum(stored.values()) and {"timestamp", "ext"} <= set(meta)
    assert sorted(r["path"] for r in meta["files"]) == sorted(p[len(meta["path"]) + 1:] for p in stored)


def test_file_through_open(schema, store):
    Rec = declare(schema)
    payload = bytes(range(256)) * 40
    with Rec.staged_insert1 as staged:
        staged.rec["rid"] = 2
        with staged.open("f", ".bin") as handle:
            handle.write(payload[:1000])
            handle.write(memoryview(payload)[1000:])
    obj = Rec.fetch1("f")
    assert obj.read() == payload and not obj.is_dir and obj.ext == ".bin" and obj.verify()
    meta = raw_json(Rec, "f")[0]
    assert meta["store"] == "main"  # <object@> resolved to stores.default, by name
    assert meta["size"] == len(payload) and meta["item_count"] is None and meta["crc32"]
    assert meta["path"].startswith(f"_schema/{schema.database}/rec/rid=2/f_") and meta["path"].endswith(".bin")
    store.put(meta["path"], payload[:-1] + b"\0")  # same size, other bytes
    with pytest.raises(StoreIntegrityError, match="CRC-32"):
        Rec.fetch1("f").read()


def test_handles_that_djframe_cannot_follow_record_the_size(schema, store):
    """A text handle, or one that seeks back (as HDF5 writers do), gets size-only verification."""
    Rec = declare(schema)
    with Rec.staged_insert1 as staged:
        staged.rec["rid"] = 1
        with staged.open("f", ".txt", mode="w") as handle:
            handle.write("written as text")
    if store.protocol == "file":  # object-store uploads cannot seek while writing
        with Rec.staged_insert1 as staged:
            staged.rec["rid"] = 2
            with staged.open("f", ".bin") as handle:
                handle.write(b"0000 tail")
                handle.seek(0)
                handle.write(b"head")
    metas = raw_json(Rec, "f")
    assert all("crc32" not in m for m in metas) and metas[0]["size"] == len("written as text")
    assert (Rec & {"rid": 1}).fetch1("f").read() == b"written as text"
    if store.protocol == "file":
        assert (Rec & {"rid": 2}).fetch1("f").read() == b"head tail"


def test_folder_of_files(schema, store):
    Rec = declare(schema)
    with Rec.staged_insert1 as staged:
        staged.rec["rid"] = 3
        folder = staged.store("f")
        folder["a.txt"] = b"alpha"
        folder["sub/b.bin"] = b"\x00\x01\x02"
        folder["sub/deeper/c.json"] = json.dumps({"c": 1}).encode()
    obj = Rec.fetch1("f")
    assert obj.is_dir and obj.ext is None and obj.item_count == 3 and obj.size == 5 + 3 + 8
    assert obj.listdir() == ["a.txt", "sub"] and obj.open("sub/b.bin").read() == b"\x00\x01\x02"
    assert obj.verify()
    meta = raw_json(Rec, "f")[0]
    store.put(meta["path"] + "/a.txt", b"alpha, longer")
    with pytest.raises(StoreIntegrityError, match="a.txt"):
        Rec.fetch1("f").verify()


def test_many_files_keep_their_records_in_the_manifest(schema, store):
    Rec = declare(schema)
    with Rec.staged_insert1 as staged:
        staged.rec["rid"] = 4
        folder = staged.store("f", ".d")
        folder.setitems({f"part{i:03d}": b"x" * i for i in range(70)})
    meta = raw_json(Rec, "f")[0]
    assert "files" not in meta and meta["item_count"] == 70 and meta["ext"] == ".d"
    manifest = json.loads(store.get(meta["path"] + ".manifest.json"))
    assert manifest["item_count"] == 70 and manifest["total_size"] == sum(range(70)) == meta["size"]
    assert Rec.fetch1("f").verify()
    report = dj.gc.GarbageCollector(schema).collect()
    assert report["schema_paths_orphaned"] == 0  # the sidecar belongs to its folder


def test_error_in_the_block_leaves_nothing(schema, store):
    Rec = declare(schema)
    with pytest.raises(RuntimeError, match="acquisition failed"):
        with Rec.staged_insert1 as staged:
            staged.rec["rid"] = 5
            z = zarr.open(staged.store("z", ".zarr"), mode="w", shape=(10,), dtype="i4")
            z[:] = np.arange(10)
            with staged.open("f", ".bin") as handle:
                handle.write(b"half a file")
            raise RuntimeError("acquisition failed")
    assert len(Rec()) == 0 and files(store) == set()


def test_error_at_insert_leaves_no_object(schema, store):
    Rec = declare(schema)
    stage_zarr(Rec, 6, np.arange(12.0).reshape(4, 3))
    before = files(store)
    with pytest.raises(DuplicateError):
        stage_zarr(Rec, 6, np.ones((4, 3)))
    with pytest.raises(DataJointError, match="nothing was written"):
        with Rec.staged_insert1 as staged:
            staged.rec["rid"] = 7
            staged.store("z", ".zarr")
    assert files(store) == before and len(Rec()) == 1
    assert np.array_equal(np.asarray(Rec.fetch1("z")), np.arange(12.0).reshape(4, 3))


def test_rolled_back_transaction_removes_staged_objects(schema, store):
    Rec = declare(schema)
    with pytest.raises(RuntimeError):
        with schema.connection.transaction:
            stage_zarr(Rec, 8, np.arange(6))
            assert files(store)
            raise RuntimeError("later step failed")
    assert len(Rec()) == 0 and files(store) == set()


def test_clear_errors(schema, store):
    Rec = declare(schema)
    with pytest.raises(DataJointError, match=r"rec.*primary key \['rid'\].*store\('z'\)"):
        with Rec.staged_insert1 as staged:
            staged.store("z", ".zarr")
    with pytest.raises(DataJointError, match=r"'note' is of type .*not an <object@store>"):
        with Rec.staged_insert1 as staged:
            staged.rec["rid"] = 1
            staged.open("note")
    with pytest.raises(DataJointError, match="'nope' is not an attribute"):
        with Rec.staged_insert1 as staged:
            staged.rec["rid"] = 1
            staged.store("nope")
    with pytest.raises(DataJointError, match="extension"):
        with Rec.staged_insert1 as staged:
            staged.rec["rid"] = 1
            staged.store("z", ".zarr")
            staged.store("z", ".n5")
    assert len(Rec()) == 0 and files(store) == set()


def test_tier_prefix_in_path_and_instance_access(schema, store):
    Tab = declare(schema, "Tab", dj.Lookup)
    with Tab().staged_insert1 as staged:  # on an instance, as on the class
        staged.rec["rid"] = 1
        with staged.open("f", "txt") as handle:
            handle.write(b"lookup")
    meta = raw_json(Tab, "f")[0]
    assert meta["path"].startswith(f"_schema/{schema.database}/#tab/rid=1/f_") and meta["path"].endswith(".txt")
    assert Tab.fetch1("f").read() == b"lookup"


def test_auto_populated_tables_only_inside_make(schema, store):
    Rec = declare(schema)
    Rec.insert1({"rid": 1})

    @schema
    class Derived(dj.Computed):
        definition = """
        -> Rec
        ---
        out : <object@main>
        """

        def make(self, key):
            with self.staged_insert1 as staged:
                staged.rec.update(key)
                z = zarr.open(staged.store("out", ".zarr"), mode="w", shape=(3,), dtype="f8")
                z[:] = [1.0, 2.0, 3.0]

    with pytest.raises(DataJointError, match="outside make"):
        with Derived.staged_insert1 as staged:
            staged.rec["rid"] = 1
    assert Derived.populate()["success_count"] == 1
    meta = raw_json(Derived, "out")[0]
    assert meta["path"].startswith(f"_schema/{schema.database}/__derived/rid=1/out_")
    assert np.array_equal(np.asarray(Derived.fetch1("out")), [1.0, 2.0, 3.0])


def test_reference_reads_a_staged_row(schema, shared):  # noqa: F811
    """PostgreSQL and MariaDB: the reference fetches the staged row and opens the Zarr array."""
    Rec = declare(schema)
    data = np.arange(40.0).reshape(8, 5)
    stage_zarr(Rec, 1, data, note="staged")
    with Rec.staged_insert1 as staged:
        staged.rec["rid"] = 2
        with staged.open("f", ".bin") as handle:
            handle.write(b"staged bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ref.FreeTable(shared["conn"], f"{schema.database}.rec")
        first, second = (table & {"rid": 1}).fetch1(), (table & {"rid": 2}).fetch1()
    assert first["note"] == "staged" and first["z"].is_dir and first["z"].verify()
    assert np.array_equal(zarr.open(first["z"].fsmap, mode="r")[...], data)
    assert second["f"].read() == b"staged bytes" and second["f"].verify() and second["z"] is None
