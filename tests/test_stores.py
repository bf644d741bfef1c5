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
from djframe.storage import StoreIntegrityError, content_hash, encode_pk_value, get_store, hash_path, object_path


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
    import boto3
    name = f"djtest-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=f"http://{endpoint}", aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=name)
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
    from djframe.storage import WriteLog
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
    assert any(p.endswith(".manifest.json") for p in report["orphaned_schema_paths"])
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
        conn = Connection(make_backend(settings), settings)
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
