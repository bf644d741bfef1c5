"""conn.set_query_cache: saved answers under a key, writes refused meanwhile; other Connection members."""

import numpy as np
import polars as pl
import pytest

import djframe as dj
from djframe.errors import DataJointError


@pytest.fixture
def cached(schema, conn, tmp_path):
    @schema
    class Trial(dj.Manual):
        definition = """
        trial_id : int32
        ---
        score : float32
        trace = null : <blob>
        """
    Trial.insert([{"trial_id": i, "score": i / 2, "trace": np.arange(3) * i} for i in range(3)])
    with dj.config.override(query_cache=str(tmp_path / "cache")):
        yield Trial
        conn.set_query_cache(None)


def test_answers_come_from_the_cache_under_a_key(cached, conn):
    Trial = cached
    conn.set_query_cache("v1")
    first = Trial.to_polars()
    assert len(Trial()) == 3 and bool(Trial & {"trial_id": 0}) and Trial.to_arrow().num_rows == 3
    assert first["score"].dtype == pl.Float32
    conn.set_query_cache(None)
    Trial.insert1({"trial_id": 9, "score": 1.0})
    (Trial & {"trial_id": 0}).delete()
    conn.set_query_cache("v1")  # the same key: the same answers, though the table changed
    assert Trial.to_polars().equals(first) and len(Trial()) == 3 and bool(Trial & {"trial_id": 0})
    assert bool(Trial & {"trial_id": 9})  # a query not asked before under v1 goes to the database
    assert np.array_equal(Trial.to_polars()["trace"].to_numpy()[2], [0, 2, 4])
    assert [b.num_rows for b in Trial().iter_batches(batch_rows=2)] == [2, 1]
    conn.set_query_cache("v2")  # a new key asks the database
    assert sorted(Trial.to_polars()["trial_id"].to_list()) == [1, 2, 9] and len(Trial()) == 3
    conn.purge_query_cache()
    conn.set_query_cache("v1")  # purged: v1 is asked afresh
    assert sorted(Trial.to_polars()["trial_id"].to_list()) == [1, 2, 9]


def test_writes_are_refused_while_caching(cached, conn, schema):
    Trial = cached
    conn.set_query_cache("v1")
    for write, what in ((lambda: Trial.insert1({"trial_id": 5, "score": 0.0}), "insert into"),
                        (lambda: Trial.update1({"trial_id": 1, "score": 3.0}), "update"),
                        (lambda: (Trial & {"trial_id": 1}).delete(), "delete from"),
                        (lambda: (Trial & {"trial_id": 1}).delete_quick(), "delete from"),
                        (lambda: Trial.drop(), "drop"),
                        (lambda: schema(type("Other", (dj.Manual,), {"definition": "oid : int32"})), "declare Other")):
        with pytest.raises(DataJointError, match=f"Cannot {what}.*query caching is on.*set_query_cache\\(None\\)"):
            write()
    conn.set_query_cache(None)
    assert len(Trial()) == 3 and (Trial & {"trial_id": 1}).fetch1("score") == 0.5


def test_caching_needs_a_folder(conn):
    with dj.config.override(query_cache=None):
        with pytest.raises(DataJointError, match="query_cache"):
            conn.set_query_cache("v1")
    assert conn.query_cache is None


def test_connection_members(conn, schema):
    user = conn.get_user()
    assert isinstance(user, str) and user
    if conn.backend.name == "mysql":
        assert user.startswith(conn.settings["user"] + "@")
    elif conn.backend.name == "postgresql":
        assert user == conn.settings["user"]
    assert conn.schemas[schema.database] is schema
    other = dj.Schema.__new__(dj.Schema)
    other.database = "djf_registered"
    conn.register(other)
    assert conn.schemas.pop("djf_registered") is other
    conn.connect()  # a fresh session; the tables are still there
    assert conn.is_connected and schema.database in dj.list_schemas(conn)
