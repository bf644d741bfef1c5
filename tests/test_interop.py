"""Both clients on one database (PostgreSQL and MariaDB): a pipeline declared by one is populated, queried,
inserted into and deleted from by the other, for every core type and codec both support."""

import datetime as dt
import decimal
import uuid
import warnings

import numpy as np
import pytest

import djframe as dj
from tests.conftest import server_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = __import__("datajoint")  # a test dependency (the oracle): never skipped

pytestmark = pytest.mark.oracle

SESSION = """
session_id : int32
---
i8 : int8
i16 : int16
i64 : int64
f32 : float32
f64 : float64
flag : bool
amount : decimal(8,3)
code : char(3)
label : varchar(40)
kind : enum('a', 'b')
day : date
moment : datetime(3)
doc : json
ident = null : uuid  # the reference reads and writes uuid on MySQL only (storage doc §15)
raw = null : bytes
trace : <blob>
"""
RESULT = """
-> Session
---
total : float64
n : int32
"""


def session_row(i, backend="mysql"):
    row = dict(session_id=i, i8=-i, i16=300 + i, i64=2 ** 40 + i, f32=0.5 * i, f64=1 / 3 + i, flag=i % 2 == 0,
                amount=decimal.Decimal(f"{i}.125"), code="abc", label=f"it's {i} \\ %", kind="b",
                day=dt.date(2024, 1, i), moment=dt.datetime(2024, 1, i, 3, 4, 5, 678000),
                doc={"k": [i, "x"]}, ident=uuid.UUID(int=i), raw=b"\x00\x01" * i, trace=np.arange(float(i)))
    if backend == "postgresql":
        row["ident"] = None
    return row


def make_result(table, key, session):
    trace = (session & key).fetch1("trace")
    table.insert1({**key, "total": float(np.sum(trace)), "n": len(trace)})


@pytest.fixture
def reference(backend_name, tmp_path, schema_name):
    """The reference client on the same server, with a schema of its own name for the test."""
    if backend_name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    s = server_settings(backend_name, str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        connection = ref.Connection(f"{s['host']}:{s['port']}", s["user"], s["password"], use_tls=False,
                                    backend=backend_name, database_name=s.get("database_name"))
    saved = ref.config["safemode"]
    ref.config["safemode"] = False
    yield connection
    ref.config["safemode"] = saved
    connection.close()


def check_sessions(rows, ids, backend):
    assert sorted(r["session_id"] for r in rows) == ids
    for row in rows:
        want = session_row(row["session_id"], backend)
        for name in ("i8", "i16", "i64", "f32", "code", "label", "kind", "day", "moment", "doc", "ident", "amount"):
            assert row[name] == want[name], name
        assert abs(row["f64"] - want["f64"]) < 1e-12 and bool(row["flag"]) == want["flag"]
        assert bytes(row["raw"]) == want["raw"] and np.array_equal(row["trace"], want["trace"])


def test_djframe_works_a_pipeline_the_reference_declared(reference, conn, schema_name, backend_name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ref.Schema(schema_name, connection=reference)

        @theirs
        class Session(ref.Manual):
            definition = SESSION

        @theirs
        class Result(ref.Computed):
            definition = RESULT

            def make(self, key):
                make_result(self, key, Session)

        Session.insert([session_row(i, backend_name) for i in (1, 2, 3)])
        Result.populate(Session & "session_id = 1")
    ours = dj.Schema(schema_name, connection=conn)
    try:
        @ours
        class Session(dj.Manual):  # noqa: F811 (the same table, seen from djframe)
            definition = SESSION

        @ours
        class Result(dj.Computed):  # noqa: F811
            definition = RESULT

            def make(self, key):
                make_result(self, key, Session)

        check_sessions(Session.to_dicts(), [1, 2, 3], backend_name)
        assert Result.populate()["success_count"] == 2  # the reference made key 1
        assert [(r["session_id"], r["total"], r["n"]) for r in Result.to_dicts(order_by="session_id")] == [
            (1, 0.0, 1), (2, 1.0, 2), (3, 3.0, 3)]
        Session.insert1(session_row(4, backend_name))
        (Session & "session_id = 2").delete()  # cascades into the reference's Result rows
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_sessions(Session.to_dicts(), [1, 3, 4], backend_name)
            assert sorted(Result().keys(), key=lambda k: k["session_id"]) == [{"session_id": 1}, {"session_id": 3}]
            theirs_rows = ref.FreeTable(reference, f"{schema_name}.session").to_dicts()
            check_sessions(theirs_rows, [1, 3, 4], backend_name)
            assert len(ref.FreeTable(reference, f"{schema_name}.__result")) == 2
    finally:
        ours.drop(prompt=False)


def test_the_reference_works_a_pipeline_djframe_declared(reference, schema, backend_name):
    @schema
    class Session(dj.Manual):
        definition = SESSION

    @schema
    class Result(dj.Computed):
        definition = RESULT

        def make(self, key):
            make_result(self, key, Session)

    Session.insert([session_row(i, backend_name) for i in (1, 2, 3)])
    Result.populate("session_id = 3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ref.Schema(schema.database, connection=reference)

        @theirs
        class Session(ref.Manual):  # noqa: F811 (the same table, seen from the reference)
            definition = SESSION

        @theirs
        class Result(ref.Computed):  # noqa: F811
            definition = RESULT

            def make(self, key):
                make_result(self, key, Session)

        check_sessions(Session.to_dicts(), [1, 2, 3], backend_name)
        Result.populate()
        Session.insert1(session_row(5, backend_name))
        (Session & "session_id = 1").delete()
    schema.connection.forget()
    got = dj.FreeTable(schema.connection, f"{schema.database}.__result").to_dicts(order_by="session_id")
    assert [(r["session_id"], r["total"], r["n"]) for r in got] == [(2, 1.0, 2), (3, 3.0, 3)]
    check_sessions(dj.FreeTable(schema.connection, f"{schema.database}.session").to_dicts(), [2, 3, 5],
                   backend_name)
