"""Object stores: every store codec on file and S3 (a moto server on loopback), path rules,
verification, orphan-free failed inserts, garbage collection and concurrent hash writes."""

import json
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import djframe as dj
from djframe.errors import DuplicateError, InvalidValueError, MissingExternalFile
from djframe.storage.stores import StoreIntegrityError, content_hash, encode_pk_value, get_store, hash_path, object_path


# ----- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible HTTP server (moto) on 127.0.0.1 and a free port."""
    from moto.server import ThreadedMotoServer
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


def _bucket(endpoint) -> str:
    import s3fs
    name = f"djtest-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(key="testing", secret="testing", skip_instance_cache=True,
                           client_kwargs={"endpoint_url": f"http://{endpoint}", "region_name": "us-east-1"})
    fs.call_s3("create_bucket", Bucket=name)
    return name


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    """stores.main (the default) on a local folder or in a fresh S3 bucket."""
    if request.param == "file":
        location = tmp_path / "store"
        location.mkdir()
        spec = {"protocol": "file", "location": str(location)}
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        spec = {"protocol": "s3", "endpoint": endpoint, "bucket": _bucket(endpoint), "location": "dj/data",
                "access_key": "testing", "secret_key": "testing", "secure": False}
    with dj.config.override(stores={"default": "main", "main": spec}, download_path=str(tmp_path / "downloads")):
        yield get_store("main")


@pytest.fixture
def file_store(tmp_path):
    location = tmp_path / "store"
    location.mkdir()
    with dj.config.override(stores={"default": "main", "main": {"protocol": "file", "location": str(location)},
                                    "folded": {"protocol": "file", "location": str(location),
                                               "subfolding": [2, 2], "partition_pattern": "{subject}"}},
                            download_path=str(tmp_path / "downloads")):
        yield get_store("main")


def files(store, prefix=""):
    return set(store.list_files(prefix))


def raw_json(table, column):
    backend = table.connection.backend
    rows = backend.fetch_arrow(f"SELECT {backend.quote(column)} FROM {table.full_table_name}").column(0).to_pylist()
    return [json.loads(r) if isinstance(r, (str, bytes)) else r for r in rows]


# ----- path rules (storage doc §13.2, §13.4) --------------------------------------------------------
def test_hash_and_schema_paths():
    digest = content_hash(b"hello")
    assert len(digest) == 26 and digest == digest.lower()
    spec = {"hash_prefix": "_hash", "subfolding": [2, 2]}
    assert hash_path(digest, "db", spec) == f"_hash/db/{digest[:2]}/{digest[2:4]}/{digest}"
    assert hash_path(digest, "db", {"hash_prefix": ""}) == f"db/{digest}"
    path = object_path("db", "#tab", "f", {"subject": 3, "session": "a/b"}, ".npy",
                       {"schema_prefix": "_schema", "partition_pattern": "subj/{subject}", "token_length": 8})
    head, token = path.rsplit("/", 1)
    assert head == "_schema/subject=3/db/#tab/session=a%2Fb" and token.startswith("f_") and token.endswith(".npy")
    import datetime as dt
    assert encode_pk_value(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03-04-05"
    assert encode_pk_value("x" * 120).startswith("x" * 50 + "_")


# ----- every store codec on file and S3 ------------------------------------------------------------
def test_store_codecs_roundtrip(schema, store, tmp_path):
    @schema
    class Rec(dj.Manual):
        definition = """
        rec_id : int32
        ---
        blob = null : <blob@main>
        blob_default = null : <blob@>
        raw = null : <hash@main>
        arr = null : <npy@main>
        obj = null : <object@main>
        grid = null : <object@main>
        att = null : <attach@main>
        """
    source = tmp_path / "notes.txt"
    source.write_text("some notes")
    grid = np.arange(24, dtype=np.int16).reshape(4, 6)
    Rec.insert([{"rec_id": i, "blob": {"k": i}, "blob_default": np.arange(3) + i, "raw": b"bytes %d" % i,
                 "arr": np.eye(3) * i, "obj": (".bin", b"payload"), "grid": grid + i, "att": source}
                for i in range(2)])
    Rec.insert1({"rec_id": 9})
    row = (Rec & {"rec_id": 1}).fetch1()
    assert row["blob"] == {"k": 1} and np.array_equal(row["blob_default"], [1, 2, 3])
    assert row["raw"] == b"bytes 1"
    assert isinstance(row["arr"], dj.NpyRef) and row["arr"].shape == (3, 3) and not row["arr"].is_loaded
    assert np.array_equal(np.asarray(row["arr"]), np.eye(3))
    assert isinstance(row["obj"], dj.ObjectRef) and row["obj"].read() == b"payload" and row["obj"].ext == ".bin"
    lazy = row["grid"].zarr()
    assert lazy.shape == (4, 6) and np.array_equal(lazy[1:3, 2], grid[1:3, 2] + 1)
    assert row["grid"].verify()
    assert open(row["att"]).read() == "some notes"
    empty = (Rec & {"rec_id": 9}).fetch1()
    assert all(v is None for k, v in empty.items() if k != "rec_id")
    from djframe.codecs.npy import load_all
    column = Rec.to_arrays("arr")
    loaded = load_all(list(column))  # one batch: threads on disk, one request on S3; None passes through
    assert [None if a is None else float(a.sum()) for a in loaded] == [0.0, 3.0, None]
    assert loaded[1].flags.writeable
    meta = {m["hash"]: m for m in raw_json(Rec, "blob_default") if m}
    assert all(set(m) == {"hash", "path", "schema", "store", "size"} and m["store"] == "main" for m in meta.values())
    npy = [m for m in raw_json(Rec, "arr") if m][0]
    assert {"path", "store", "dtype", "shape"} <= set(npy) and npy["path"].startswith(f"_schema/{schema.database}/rec/")
    obj = [m for m in raw_json(Rec, "obj") if m][0]
    assert {"path", "store", "size", "ext", "is_dir", "item_count", "timestamp"} <= set(obj)


def test_filepath_codec(schema, store):
    store.put("raw/session1/data.bin", b"0123456")
    @schema
    class Raw(dj.Manual):
        definition = """
        raw_id : int32
        ---
        file : <filepath@main>
        """
    Raw.insert1({"raw_id": 1, "file": "raw/session1/data.bin"})
    ref = Raw.fetch1("file")
    assert isinstance(ref, dj.ObjectRef) and ref.read() == b"0123456" and ref.size == 7
    meta = raw_json(Raw, "file")[0]
    assert meta["path"] == "raw/session1/data.bin" and meta["store"] == "main" and meta["is_dir"] is False
    with pytest.raises(InvalidValueError, match="does not exist"):
        Raw.insert1({"raw_id": 2, "file": "raw/missing.bin"})
    with pytest.raises(InvalidValueError, match="managed section"):
        Raw.insert1({"raw_id": 3, "file": "_hash/x"})


def test_default_store_name_is_resolved(schema, file_store):
    @schema
    class Dflt(dj.Manual):
        definition = """
        did : int32
        ---
        arr : <npy@>
        """
    Dflt.insert1({"did": 1, "arr": np.arange(4)})
    assert raw_json(Dflt, "arr")[0]["store"] == "main"
    assert np.array_equal(Dflt.fetch1("arr").load(), np.arange(4))


def test_subfolding_and_partition_pattern(schema, file_store):
    @schema
    class Part(dj.Manual):
        definition = """
        subject : int32
        session : int32
        ---
        b : <blob@folded>
        o : <object@folded>
        """
    Part.insert1({"subject": 7, "session": 2, "b": np.arange(5), "o": b"x"})
    b, o = raw_json(Part, "b")[0], raw_json(Part, "o")[0]
    h = b["hash"]
    assert b["path"] == f"_hash/{schema.database}/{h[:2]}/{h[2:4]}/{h}" and b["store"] == "folded"
    assert o["path"].startswith(f"_schema/subject=7/{schema.database}/part/session=2/o_")


# ----- verification ---------------------------------------------------------------------------------
def test_size_and_checksum_are_verified(schema, file_store):
    @schema
    class Checked(dj.Manual):
        definition = """
        cid : int32
        ---
        b : <blob@main>
        n : <npy@main>
        o : <object@main>
        """
    Checked.insert1({"cid": 1, "b": np.arange(100), "n": np.arange(10), "o": b"abcdef"})
    paths = {c: raw_json(Checked, c)[0]["path"] for c in ("b", "n", "o")}
    blob = file_store.get(paths["b"])
    file_store.put(paths["b"], blob[:-1] + bytes([blob[-1] ^ 1]))  # same size, other content
    with pytest.raises(StoreIntegrityError, match="checksum"):
        Checked.fetch1("b")
    file_store.put(paths["b"], blob + b"!")
    with pytest.raises(StoreIntegrityError, match="bytes but its row records"):
        Checked.fetch1("b")
    file_store.put(paths["o"], b"abcdeX")
    with pytest.raises(StoreIntegrityError):
        Checked.fetch1("o").read()
    file_store.remove(paths["n"])
    with pytest.raises(MissingExternalFile, match="missing"):
        Checked.fetch1("n").load()


# ----- lifecycle ------------------------------------------------------------------------------------
def test_failed_insert_leaves_no_orphans(schema, store):
    @schema
    class Obj(dj.Manual):
        definition = """
        oid : int32
        ---
        b : <blob@main>
        n : <npy@main>
        o : <object@main>
        """
    Obj.insert1({"oid": 1, "b": np.arange(10), "n": np.ones(2), "o": np.zeros(3)})
    before = files(store)
    with pytest.raises(DuplicateError):
        Obj.insert([{"oid": 2, "b": np.arange(11), "n": np.ones(3), "o": np.zeros(4)},
                    {"oid": 1, "b": np.arange(10), "n": np.ones(2), "o": np.zeros(3)}])
    assert files(store) == before  # the new objects are gone; the shared hash object of row 1 stays
    conn = schema.connection
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Obj.insert1({"oid": 3, "b": np.arange(12), "n": np.ones(4), "o": b"zzz"})
            assert files(store) != before
            raise RuntimeError("make() failed after the insert")
    # the transaction's own objects are gone; its new hash-addressed object (which a concurrent
    # insert could have started to share meanwhile) is left to the garbage collector
    leftover = files(store) - before
    assert len(Obj()) == 1 and len(leftover) == 1 and next(iter(leftover)).startswith(f"_hash/{schema.database}/")
    assert dj.gc.GarbageCollector(schema).collect(dry_run=False)["deleted"] == 1
    assert files(store) == before


def test_shared_object_removed_by_a_failing_insert_is_rewritten(schema, file_store, monkeypatch):
    """Insert B relies on a hash object that a failing insert A had just written and then removes."""
    @schema
    class Shared(dj.Manual):
        definition = """
        sid : int32
        ---
        b : <blob@main>
        """
    from djframe.storage.stores import WriteLog
    original = WriteLog.ensure

    def remove_then_ensure(log):
        for store, path, _ in log.relied:
            store.remove(path)  # what a failing concurrent insert does to the object it created
        original(log)
    Shared.insert1({"sid": 1, "b": np.arange(30)})
    monkeypatch.setattr(WriteLog, "ensure", remove_then_ensure)
    Shared.insert1({"sid": 2, "b": np.arange(30)})
    assert all(np.array_equal(v, np.arange(30)) for v in Shared.to_arrays("b"))


def test_delete_then_garbage_collect(schema, store):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        b : <blob@main>
        n : <npy@main>
        o : <object@main>
        """
    shared = np.arange(50)
    Item.insert([{"item_id": i, "b": shared if i < 2 else np.arange(i), "n": np.ones(i), "o": np.arange(i + 1)}
                 for i in range(4)])
    collector = dj.gc.GarbageCollector(schema)
    clean = collector.collect(dry_run=True)
    assert clean["hash_paths_orphaned"] == 0 and clean["schema_paths_orphaned"] == 0
    doomed = {r["n"].path for r in (Item & "item_id >= 1").to_dicts()}
    (Item & "item_id >= 1").delete()
    report = collector.collect(dry_run=True)
    assert report["dry_run"] and report["hash_paths_orphaned"] == 2  # arange(2), arange(3); shared stays
    assert doomed <= set(report["orphaned_schema_paths"])
    assert any(p.endswith(".zarr/zarr.json") for p in report["orphaned_schema_paths"])  # folders, file by file
    assert files(store) >= set(report["orphaned_hash_paths"])  # dry run deleted nothing
    done = collector.collect(dry_run=False)
    assert done["deleted"] == report["hash_paths_orphaned"] + report["schema_paths_orphaned"]
    assert collector.collect()["hash_paths_orphaned"] == 0
    row = Item.fetch1()
    assert np.array_equal(row["b"], shared) and row["n"].load().shape == (0,) and row["o"].verify()


def test_concurrent_identical_hash_inserts(schema, file_store):
    """Writers on separate connections store the same content at once: one object, every row readable."""
    from djframe.connection import Connection, make_backend

    @schema
    class Same(dj.Manual):
        definition = """
        sid : int32
        ---
        b : <blob@main>
        """
    payload = np.random.default_rng(1).normal(size=20000)
    settings = schema.connection.settings
    barrier = threading.Barrier(4)

    def writer(i):
        conn = Connection.over(make_backend(settings), settings)
        try:
            barrier.wait()
            dj.FreeTable(conn, schema.database, "same").insert([{"sid": 10 * i + k, "b": payload} for k in range(5)])
        finally:
            conn.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    assert len(files(file_store, "_hash")) == 1
    values = Same.to_arrays("b")
    assert len(values) == 20 and all(np.array_equal(v, payload) for v in values)
    assert not [p for p in files(file_store) if p.endswith(".part")]


# ----- the column JSON, key by key (storage doc §13) -------------------------------------------------
REFERENCE_KEYS = {  # what the reference writes; djframe may add only the verification keys
    "blob": ({"hash", "path", "schema", "store", "size"}, set()),
    "raw": ({"hash", "path", "schema", "store", "size"}, set()),
    "att": ({"hash", "path", "schema", "store", "size"}, set()),
    "arr": ({"path", "store", "dtype", "shape"}, {"size", "crc32"}),
    "obj": ({"path", "store", "size", "ext", "is_dir", "item_count", "timestamp"}, {"crc32"}),
    "grid": ({"path", "store", "size", "ext", "is_dir", "item_count", "timestamp"}, {"files"}),
    "fp": ({"path", "store", "size", "is_dir", "timestamp"}, set()),
}


@pytest.mark.parametrize("store_part", ["@main", "@"])
def test_column_json_keys_and_resolved_default_store(schema, tmp_path, store_part):
    location = tmp_path / "store"
    location.mkdir()
    stores = {"default": "main", "filepath_default": "main", "main": {"protocol": "file", "location": str(location)}}
    source = tmp_path / "notes.txt"
    source.write_text("notes")
    with dj.config.override(stores=stores, download_path=str(tmp_path / "downloads")):
        get_store("main").put("raw/x.bin", b"in place")

        @schema
        class Keys(dj.Manual):
            definition = f"""
            kid : int32
            ---
            blob : <blob{store_part}>
            raw : <hash{store_part}>
            att : <attach{store_part}>
            arr : <npy{store_part}>
            obj : <object{store_part}>
            grid : <object{store_part}>
            fp : <filepath{store_part}>
            """
        Keys.insert1({"kid": 1, "blob": np.arange(3), "raw": b"raw", "att": source, "arr": np.eye(2),
                      "obj": b"bytes", "grid": np.arange(6.0).reshape(2, 3), "fp": "raw/x.bin"})
        for column, (required, extra) in REFERENCE_KEYS.items():
            meta = raw_json(Keys, column)[0]
            assert required <= set(meta) <= required | extra, column
            assert meta["store"] == "main", column  # "@" is written as the default store's name
        obj, grid = raw_json(Keys, "obj")[0], raw_json(Keys, "grid")[0]
        assert obj["ext"] is None and obj["is_dir"] is False and obj["item_count"] is None and obj["size"] == 5
        assert grid["ext"] == ".zarr" and grid["is_dir"] is True and grid["item_count"] == 2
        assert sorted(r["path"] for r in grid["files"]) == ["c.0.0", "zarr.json"]
        assert grid["size"] == sum(r["size"] for r in grid["files"])
        assert raw_json(Keys, "att")[0]["path"] == f"_hash/{schema.database}/{raw_json(Keys, 'att')[0]['hash']}"
        row = Keys.fetch1()
        assert np.array_equal(row["blob"], np.arange(3)) and row["raw"] == b"raw" and open(row["att"]).read() == "notes"
        assert row["obj"].read() == b"bytes" and row["fp"].read() == b"in place"
        import datetime as dt
        assert isinstance(row["obj"].timestamp, dt.datetime)  # as the reference's ObjectRef gives it


def test_folders_uploaded_as_the_reference_does(schema, store, tmp_path):
    """A folder has no extension (whatever its name); its files' records are in the column, or for
    many files in the sidecar manifest; verification catches a changed file."""
    small, big = tmp_path / "session.raw", tmp_path / "many"
    (small / "sub").mkdir(parents=True)
    (small / "a.txt").write_text("alpha")
    (small / "sub" / "b.bin").write_bytes(b"\x01\x02")
    big.mkdir()
    for i in range(70):
        (big / f"f{i:02d}.txt").write_text("x" * i)

    @schema
    class Folder(dj.Manual):
        definition = """
        fid : int32
        ---
        o : <object@main>
        """
    Folder.insert([{"fid": 1, "o": small}, {"fid": 2, "o": str(big)}])
    first, second = raw_json(Folder, "o")
    assert first["ext"] is None and not first["path"].endswith(".raw") and first["item_count"] == 2
    assert [r["path"] for r in first["files"]] == ["a.txt", "sub/b.bin"] and first["size"] == 7
    assert "files" not in second and second["item_count"] == 70
    manifest = json.loads(store.get(second["path"] + ".manifest.json"))
    assert manifest["total_size"] == second["size"] == sum(range(70)) and len(manifest["files"]) == 70
    refs = {r["fid"]: r["o"] for r in Folder.to_dicts()}
    assert refs[1].verify() and refs[2].verify() and refs[1].open("sub/b.bin").read() == b"\x01\x02"
    store.put(first["path"] + "/a.txt", b"alphA")
    store.put(second["path"] + "/f05.txt", b"xxxxy")
    for fid in (1, 2):
        with pytest.raises(StoreIntegrityError, match="CRC-32"):
            refs[fid].verify()
    assert dj.gc.GarbageCollector(schema).collect()["schema_paths_orphaned"] == 0


def test_zarr_arrays_read_whole_are_verified(schema, file_store):
    @schema
    class Grid(dj.Manual):
        definition = """
        gid : int32
        ---
        g : <object@main>
        """
    big = np.arange(3 * 1_100_000, dtype=np.float64).reshape(-1, 3)  # > 8 MB: several chunks, one padded
    Grid.insert([{"gid": 1, "g": np.arange(12, dtype=np.int16).reshape(3, 4)}, {"gid": 2, "g": big},
                 {"gid": 3, "g": np.float32(2.5)}, {"gid": 4, "g": np.zeros((0, 3))}])
    refs = {r["gid"]: r["g"] for r in Grid.to_dicts()}
    assert np.array_equal(np.asarray(refs[1]), np.arange(12, dtype=np.int16).reshape(3, 4))
    assert np.array_equal(np.asarray(refs[2]), big) and len(raw_json(Grid, "g")[1]["files"]) == 5  # 4 chunks
    assert np.asarray(refs[3]) == np.float32(2.5) and np.asarray(refs[4]).shape == (0, 3)
    import zarr
    assert np.array_equal(zarr.open(refs[2].fsmap, mode="r")[-5:], big[-5:])  # any zarr reader
    chunk = raw_json(Grid, "g")[0]["path"] + "/c.0.0"
    data = file_store.get(chunk)
    file_store.put(chunk, data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(StoreIntegrityError, match="c.0.0"):
        np.asarray((Grid & {"gid": 1}).fetch1("g"))


def test_lazy_zarr_reads_are_verified(schema, store):
    @schema
    class Lazy(dj.Manual):
        definition = """
        lid : int32
        ---
        g : <object@main>
        """
    big = np.arange(3 * 1_100_000, dtype=np.float64).reshape(-1, 3)  # 4 chunks of rows
    Lazy.insert1({"lid": 1, "g": big})
    path = raw_json(Lazy, "g")[0]["path"]
    last = path + "/c.3.0"
    data = store.get(last)
    store.put(last, data[:-1] + bytes([data[-1] ^ 1]))
    lazy = Lazy.fetch1("g").zarr()
    assert lazy.shape == big.shape and np.array_equal(lazy[:2], big[:2])  # intact chunks still read
    with pytest.raises(StoreIntegrityError, match="c.3.0.*CRC-32"):
        lazy[-2:]
    store.put(last, data[:-8])
    with pytest.raises(StoreIntegrityError, match="c.3.0.*bytes but its row records"):
        Lazy.fetch1("g").zarr()[-2:]


def test_failed_insert_leaves_no_empty_folders(schema, file_store):
    @schema
    class Obj(dj.Manual):
        definition = """
        oid : int32
        ---
        o : <object@main>
        n : <npy@main>
        """
    Obj.insert1({"oid": 1, "o": np.ones(3), "n": np.ones(3)})
    with pytest.raises(DuplicateError):
        Obj.insert([{"oid": k, "o": np.ones(3), "n": np.ones(3)} for k in (2, 3, 1)])
    table_dir = file_store.full_path(f"_schema/{schema.database}/obj")
    import os
    assert sorted(os.listdir(table_dir)) == ["oid=1"]


def test_collector_skips_objects_being_written(schema, file_store):
    """A hash-addressed object is written to a temporary name and renamed: the GC must not take
    the temporary file of an insert in progress for an orphan."""
    @schema
    class Blob(dj.Manual):
        definition = """
        bid : int32
        ---
        b : <blob@main>
        """
    Blob.insert1({"bid": 1, "b": np.arange(5)})
    digest = content_hash(b"in flight")
    in_flight = hash_path(digest, schema.database, file_store.spec) + ".0123456789ab.part"
    file_store.put(in_flight, b"in flight", atomic=False)
    report = dj.gc.GarbageCollector(schema).collect(dry_run=False)
    assert report["hash_paths_stored"] == report["hash_paths_referenced"] == 1 and report["deleted"] == 0
    assert {"hash_paths_deleted", "schema_paths_deleted", "scan_errors"} <= set(report)
    assert file_store.exists(in_flight)


def test_skipped_duplicates_write_no_objects(schema, store):
    @schema
    class Img(dj.Manual):
        definition = """
        iid : int32
        ---
        pic : <object@main>
        raw : <blob@main>
        """
    Img.insert([{"iid": i, "pic": np.full((2, 2), i), "raw": np.arange(5) + i} for i in range(3)])
    before = files(store)
    again = [{"iid": i, "pic": np.full((2, 2), 10 * i), "raw": np.arange(7) * i} for i in (0, 1, 2, 3, 3)]
    Img.insert(again, skip_duplicates=True)  # 0-2 exist; the second 3 repeats the first
    assert len(Img()) == 4 and np.array_equal(np.asarray((Img & {"iid": 0}).fetch1("pic")), np.zeros((2, 2)))
    added = files(store) - before
    assert len([p for p in added if p.startswith("_schema/")]) == 2  # one Zarr array (zarr.json + chunk)
    assert len([p for p in added if p.startswith("_hash/")]) == 1
    report = dj.gc.GarbageCollector(schema).collect(dry_run=True)
    assert report["schema_paths_orphaned"] == 0 and report["hash_paths_orphaned"] == 0
    Img.insert(again[:3], skip_duplicates=True)  # nothing new: nothing written, no error
    assert files(store) - before == added


# ----- the reference's per-value and per-object APIs ---------------------------------------------
def test_npy_structured_array_with_strings(conn, schema, file_store):
    @schema
    class Rec(dj.Manual):
        definition = """
        rec_id : int32
        ---
        table_data : <npy@>
        """
    dtype = np.dtype([("x", np.float64), ("label", "U10")])
    value = np.array([(1.0, "a"), (2.5, "bb")], dtype)
    Rec.insert1({"rec_id": 1, "table_data": value})
    ref = Rec.fetch1("table_data")
    assert ref.dtype == dtype and ref.shape == (2,)
    loaded = ref.load()
    assert loaded.dtype == dtype and np.array_equal(loaded, value)


def test_object_ref_refuses_the_wrong_kind_of_object(conn, schema, file_store, tmp_path):
    @schema
    class Obj(dj.Manual):
        definition = """
        obj_id : int32
        ---
        item : <object@>
        """
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    Obj.insert([{"obj_id": 1, "item": b"bytes"}, {"obj_id": 2, "item": str(folder)}])
    file_ref, folder_ref = (Obj & {"obj_id": 1}).fetch1("item"), (Obj & {"obj_id": 2}).fetch1("item")
    with pytest.raises(dj.DataJointError, match="Cannot listdir"):
        file_ref.listdir()
    with pytest.raises(dj.DataJointError, match="Cannot read"):
        folder_ref.read()
    assert folder_ref.listdir() == ["a.txt"]
    with pytest.raises(InvalidValueError, match="not found"):
        Obj.insert1({"obj_id": 3, "item": str(tmp_path / "missing.dat")})
    assert len(Obj & {"obj_id": 3}) == 0


def test_staged_insert_needs_the_primary_key_first(conn, schema, file_store):
    @schema
    class Staged(dj.Manual):
        definition = """
        staged_id : int32
        ---
        item : <object@>
        """
    with pytest.raises(dj.DataJointError, match="Primary key"):
        with Staged.staged_insert1 as staged:
            staged.store("item", ".dat")
    assert len(Staged) == 0


def test_object_codec_encodes_one_value(file_store, tmp_path):
    """`ObjectCodec.encode` with the reference's key/context writes the object and returns its metadata."""
    from djframe.compat.builtin_codecs import NpyCodec, ObjectCodec
    source = tmp_path / "one.dat"
    source.write_bytes(b"payload")
    meta = ObjectCodec().encode(source, key={"item_id": 7}, store_name="main",
                                context={"schema": "sch", "table": "Tab", "field": "item", "config": dj.config})
    assert meta["path"].startswith("_schema/sch/Tab/item_id=7/item_") and meta["ext"] == ".dat"
    assert meta["is_dir"] is False and meta["size"] == 7 and meta["store"] == "main"
    assert ObjectCodec().decode(json.dumps(meta)).read() == b"payload"
    npy = NpyCodec().encode(np.arange(5), key={"_schema": "sch", "_table": "tab", "_field": "arr", "id": 1})
    assert np.array_equal(NpyCodec().decode(npy).load(), np.arange(5))


def test_hash_registry_functions(file_store):
    from djframe.storage.hash_registry import build_hash_path, compute_hash, delete_path, get_hash, put_hash
    meta = put_hash(b"content", "sch", "main")
    assert meta == {"hash": compute_hash(b"content"), "path": f"_hash/sch/{compute_hash(b'content')}",
                    "schema": "sch", "store": "main", "size": 7}
    assert get_hash(meta) == b"content" and put_hash(b"content", "sch", "main") == meta
    file_store.put(meta["path"], b"changed", atomic=False)
    with pytest.raises(StoreIntegrityError, match="Hash mismatch"):
        get_hash(meta)
    assert delete_path(meta["path"], "main") is True and delete_path(meta["path"], "main") is False
    assert build_hash_path(meta["hash"], "s", (2, 2), hash_prefix="_hash").startswith(f"_hash/s/{meta['hash'][:2]}/")
    with pytest.raises(dj.DataJointError, match="Invalid content hash"):
        build_hash_path("NOT-A-HASH", "s", hash_prefix="_hash")
