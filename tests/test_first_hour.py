"""What a new user meets in the first hour: table classes used as their rows, the shape of
to_pandas on an empty result, restore into a schema given by name, and a join collision that
says what collides and how to resolve it (issue 11). The console's part is in test_cli.py."""

import pydoc
import uuid

import pytest

import djframe as dj
from djframe.errors import DataJointError


@pytest.fixture
def lab(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        weight = null : float64
        notes = null : json
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        name : varchar(16)
        """

    @schema
    class Empty(dj.Manual):
        definition = """
        empty_id : int32
        """

    Subject.insert([{"subject_id": 1, "name": "a", "weight": 2.5, "notes": {"x": 1}},
                    {"subject_id": 2, "name": "b", "weight": None, "notes": None}])
    Session.insert([{"subject_id": 1, "session": 1, "name": "s1"}, {"subject_id": 1, "session": 2, "name": "s2"}])
    return Subject, Session, Empty


# ----- the class behaves as its rows ---------------------------------------------------------------
def test_membership_on_the_class_restricts_as_on_an_instance(lab):
    Subject, Session, Empty = lab
    assert {"subject_id": 1} in Subject and {"subject_id": 1} in Subject()
    assert {"subject_id": 9} not in Subject
    assert "weight > 2" in Subject and "weight > 3" not in Subject
    assert {"subject_id": 1, "session": 2} in Session and {"subject_id": 2} not in Session
    assert (Session.proj() & {"session": 1}) in Subject  # a query operand, as on an instance
    assert (Session.proj() & {"session": 9}) not in Subject


def test_len_bool_and_iteration_on_the_class(lab):
    Subject, Session, Empty = lab
    assert len(Subject) == 2 and len(Session) == 2 and len(Empty) == 0
    assert bool(Subject) and not bool(Empty) and not Empty
    assert sorted(r["subject_id"] for r in Subject) == [1, 2]
    assert list(Session) == list(Session())
    assert list(Empty) == []


def test_a_part_of_an_empty_master_is_declared_under_the_masters_name(schema):
    @schema
    class Probe(dj.Manual):
        definition = """
        probe_id : int32
        """

        class Channel(dj.Part):
            definition = """
            -> master
            channel : int16
            """

    assert not Probe  # empty: the declaration must not have taken "no rows" for "no master"
    assert Probe.Channel.table_name == "probe__channel"
    Probe.insert1({"probe_id": 1})
    Probe.Channel.insert1({"probe_id": 1, "channel": 3})
    assert len(Probe.Channel) == 1 and {"channel": 3} in Probe.Channel


def test_an_unbound_class_is_created_shown_and_decorated_but_has_no_rows(schema):
    class Later(dj.Manual):
        definition = """
        later_id : int32
        """

    assert "Later" in repr(Later) and "unbound" in repr(Later())
    for use in (len, list, lambda cls: {"later_id": 1} in cls):
        with pytest.raises(DataJointError, match="not bound"):
            use(Later)
    assert bool(Later) and bool(dj.Manual) and bool(dj.FreeTable)  # no rows to ask about: truthy as a class
    for cls in (dj.Manual, dj.Part, dj.FreeTable, Later):  # the standard library tests classes for truth
        assert "insert1" in pydoc.render_doc(cls, renderer=pydoc.plaintext)
    schema(Later)
    assert "insert1" in pydoc.render_doc(Later, renderer=pydoc.plaintext)
    assert len(Later) == 0 and not Later
    Later.insert1({"later_id": 1})
    assert {"later_id": 1} in Later and len(Later) == 1 and bool(Later)


# ----- to_pandas: one shape, empty or not ----------------------------------------------------------
def test_to_pandas_of_an_empty_result_is_indexed_by_the_key_with_the_same_dtypes(lab):
    Subject, Session, Empty = lab
    for table in (Subject, Session):
        full, empty = table.to_pandas(), (table & "false").to_pandas()
        assert len(empty) == 0 and len(full) > 0
        assert list(empty.index.names) == list(full.index.names) == table.primary_key
        assert list(empty.columns) == list(full.columns)
        assert empty.dtypes.to_dict() == full.dtypes.to_dict()
        empty_levels = [empty.index.get_level_values(k).dtype for k in table.primary_key]
        assert empty_levels == [full.index.get_level_values(k).dtype for k in table.primary_key]
    assert list(Empty.to_pandas().index.names) == ["empty_id"] and Empty.to_pandas().shape == (0, 0)
    Subject.insert_dataframe((Subject & "false").to_pandas())  # the empty frame round-trips
    assert len(Subject()) == 2


# ----- restore into a schema given by name ---------------------------------------------------------
def test_restore_takes_a_schema_name(lab, conn, tmp_path):
    Subject, Session, Empty = lab
    Session.export(tmp_path / "out")
    names = [f"djf_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        loaded = dj.restore(tmp_path / "out", names[0])  # a new schema, created on dj.conn()
        assert sorted(loaded.values()) == [1, 2]  # the sessions and the subject they reference
        assert len(dj.FreeTable(conn, names[0], "session")) == 2
        source = Session.database
        dj.restore(tmp_path / "out", {source: names[1]}, connection=conn)  # names in the dict, too
        assert len(dj.FreeTable(conn, names[1], "subject")) == 1
    finally:
        for name in names:
            if name in dj.list_schemas(conn):
                dj.Schema(name, connection=conn).drop(prompt=False)


def test_restore_refuses_a_target_that_is_no_schema(lab, conn, tmp_path):
    Subject, Session, Empty = lab
    Subject.export(tmp_path / "out")
    before = dj.list_schemas(conn)
    with pytest.raises(DataJointError, match="name or a dj.Schema.*int"):
        dj.restore(tmp_path / "out", 42)
    assert dj.list_schemas(conn) == before


# ----- the join collision says what collides and what to do ---------------------------------------
def test_join_collision_names_the_attribute_the_tables_and_the_fixes(lab):
    Subject, Session, Empty = lab
    with pytest.raises(DataJointError) as info:
        Subject * Session
    message = str(info.value)
    assert "lineage missing" not in message and "None vs None" not in message
    for part in ("`name`", "Subject", "Session", ".proj(", "semantic_check=False", ".join("):
        assert part in message, part
    with pytest.raises(DataJointError, match=r"(?s)`name`.*Subject.*Session.*\.restrict\(.*semantic_check=False"):
        Subject & Session
    with pytest.raises(DataJointError, match=r"(?s)query of Session, Subject \(`name` from Session, Subject\)"):
        (Session * Subject.proj()) * Subject
    # the fixes it names do work
    assert len(Subject * Session.proj(..., session_name="name")) == 2
    assert len(Subject.join(Session, semantic_check=False)) == 0  # `name` differs on every row
