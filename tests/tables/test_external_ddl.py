"""DDL from another process: a session caches each table's definition (heading, compiled lookup templates)
until its own DDL replaces it. When another client alters or drops a table meanwhile, the first statement
built from the old definition fails with the server's error, which says what happened; the cache is then
dropped, and the same call made again works against the table as it is now, with no manual step."""

import pytest

import djframe as dj
from djframe.connection import Connection, make_backend
from djframe.errors import MissingTableError, UnknownAttributeError


@pytest.fixture
def other(conn):
    """A second session on the same database: what another process would hold."""
    session = Connection.over(make_backend(conn.settings), conn.settings)
    yield session
    session.close()


@pytest.fixture
def Trial(schema):
    @schema
    class Trial(dj.Manual):
        definition = """
        trial : int32
        ---
        score : float64
        note = null : varchar(20)
        """
    Trial.insert([{"trial": 1, "score": 0.5, "note": "a"}, {"trial": 2, "score": 0.7, "note": None}])
    return Trial


def test_a_column_dropped_by_another_session_is_picked_up_after_one_clear_error(Trial, other):
    assert Trial.to_dicts()[0]["note"] == "a"  # the definition is now cached
    assert (Trial & {"trial": 1}).fetch1("score") == 0.5
    other.backend.execute(f"ALTER TABLE {Trial.full_table_name} DROP COLUMN note")
    with pytest.raises(UnknownAttributeError, match="another process"):
        Trial.to_dicts()
    assert sorted(Trial.to_dicts(), key=lambda r: r["trial"]) == [{"trial": 1, "score": 0.5},
                                                                  {"trial": 2, "score": 0.7}]
    assert (Trial & {"trial": 2}).fetch1() == {"trial": 2, "score": 0.7}
    Trial.insert1({"trial": 3, "score": 0.9})
    assert len(Trial()) == 3


def test_a_key_lookup_and_an_insert_recover_too(Trial, other):
    assert bool(Trial & {"trial": 1})
    other.backend.execute(f"ALTER TABLE {Trial.full_table_name} DROP COLUMN note")
    with pytest.raises(UnknownAttributeError, match="another process"):
        Trial.insert1({"trial": 4, "score": 0.1, "note": "gone"})
    assert len(Trial()) == 2  # nothing landed
    with pytest.raises(dj.DataJointError, match="note"):  # now refused by djframe itself, by name
        Trial.insert1({"trial": 4, "score": 0.1, "note": "gone"})
    Trial.insert1({"trial": 4, "score": 0.1})
    assert (Trial & {"trial": 4}).fetch1() == {"trial": 4, "score": 0.1}


def test_a_table_dropped_by_another_session_says_so(Trial, other):
    Trial.to_dicts()
    other.backend.execute(f"DROP TABLE {Trial.full_table_name}")
    with pytest.raises(MissingTableError, match="another process"):
        Trial.to_dicts()
