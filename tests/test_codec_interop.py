"""Rows of every codec written by djframe are read by the reference client, and the other way round.

The reference client (``datajoint`` from PyPI) is a test-time oracle only. It
supports MySQL and PostgreSQL; on MariaDB it cannot insert into codec columns
whose storage type is JSON (storage doc §15.4), and on PostgreSQL it cannot
fetch in-table <attach> (§15.3); those directions are left out.
"""

import os
import warnings

import numpy as np
import pytest

import djframe as dj
from tests.conftest import server_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = pytest.importorskip("datajoint")

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


@pytest.fixture
def shared(schema, backend_name, tmp_path):
    """The reference connected to the same server, both clients configured with the same store."""
    if backend_name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    location = tmp_path / "store"
    location.mkdir()
    stores = {"default": "main", "main": {"protocol": "file", "location": str(location)}}
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
    with dj.config.override(stores=stores, download_path=str(tmp_path / "downloads")):
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
    assert np.array_equal(got["blob_s"], np.arange(300.0).reshape(20, 15))
    assert bytes(got["raw"]) == b"raw bytes"
    assert open(got["att_s"]).read() == source.read_text()
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


def test_reference_writes_djframe_reads(schema, shared):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema = ref.Schema(schema.database, connection=shared["conn"])

    mariadb = shared["backend"] == "mysql"  # JSON codec columns cannot be inserted by the reference (§15.4)
    definition = DEFINITION if not mariadb else "\n".join(
        line for line in DEFINITION.splitlines() if not any(line.startswith(c + " ") for c in JSON_CODECS))

    Written = ref_schema(type("Written", (ref.Manual,), {"definition": definition}))

    values = row(shared["source"])
    if mariadb:
        values = {k: v for k, v in values.items() if k not in JSON_CODECS}
    Written.insert1(values)
    schema.connection.forget()
    got = dj.FreeTable(schema.connection, schema.database, "written").fetch1()
    if mariadb:
        assert np.array_equal(got["blob"]["a"], np.arange(5.0)) and open(got["att"]).read() == "attached text"
    else:
        check(got, shared["source"])
