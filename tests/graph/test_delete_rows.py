"""What delete and drop remove and what they keep, with the reference semantics, on every backend.

A small lab pipeline: the cascade follows renamed and cross-schema foreign keys, runs in one
transaction, shows its counts and asks under safemode; parts go with their masters; drop lists
what it drops. (Part-integrity corner cases and the legacy keywords: test_cascade.py.)
"""

import uuid

import pytest

import djframe as dj
from djframe.errors import DataJointError, IntegrityError
from support.checks import assert_clean_error, counts, declare_lab


@pytest.fixture
def lab(schema):
    return declare_lab(schema)


def test_delete_cascades_along_renamed_foreign_keys(lab):
    Subject, Session, Analysis = lab
    assert (Subject & {"subject_id": 3}).delete() == 1
    # subject 3's own session, and session (2, 1) whose buddy was 3, are gone with their analyses
    assert Session.keys(order_by="KEY") == [{"subject_id": 1, "session": 1}, {"subject_id": 1, "session": 2}]
    assert counts(Subject, Analysis, Analysis.Detail) == [2, 2, 4]


def test_delete_quick_and_counts(lab):
    Subject, Session, Analysis = lab
    assert (Analysis.Detail & {"step": 1}).delete_quick(get_count=True) == 4
    assert (Subject & {"subject_id": 99}).delete() == 0
    with pytest.raises(IntegrityError):
        Subject.delete_quick()
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 4]


def test_cascade_is_one_transaction(lab, conn, monkeypatch):
    Subject, Session, Analysis = lab
    backend_class = type(conn.backend)
    original, seen = backend_class.execute, []

    def failing(self, sql, params=None):
        if sql.startswith("DELETE"):
            seen.append(sql)
            if len(seen) == 3:
                raise DataJointError("the server went away (simulated)")
        return original(self, sql, params)

    monkeypatch.setattr(backend_class, "execute", failing)
    with pytest.raises(DataJointError):
        Subject.delete()
    monkeypatch.undo()
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 8]


def test_safemode_shows_counts_and_asks(lab, monkeypatch, capsys):
    Subject, Session, Analysis = lab
    answers = iter(["no"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert (Subject & {"subject_id": 1}).delete(prompt=True) == 0
    shown = capsys.readouterr().out
    for name, count in (("subject", 1), ("session", 2), ("__analysis", 2), ("__analysis__detail", 4)):
        assert f'{name}' in shown and f"{count} row(s)" in shown
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 8]
    answers = iter(["yes"])
    dj.config["safemode"] = True
    try:
        assert (Subject & {"subject_id": 1}).delete() == 1
    finally:
        dj.config["safemode"] = False
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [2, 2, 2, 4]


def test_part_tables_follow_their_master(lab):
    Subject, Session, Analysis = lab
    with pytest.raises(DataJointError):
        Analysis.Detail.delete()
    assert (Analysis.Detail & {"step": 0}).delete(part_integrity="ignore") == 4
    assert (Analysis.Detail & {"subject_id": 2}).delete(part_integrity="cascade") == 1
    assert counts(Analysis, Analysis.Detail) == [3, 3]
    with pytest.raises(ValueError):
        Analysis.delete(part_integrity="bogus")
    assert Analysis.delete() == 3
    assert counts(Analysis, Analysis.Detail) == [0, 0]


def test_delete_reaching_a_part_without_its_master_is_refused(schema):
    @schema
    class Tool(dj.Manual):
        definition = """
        tool : int16
        """

    @schema
    class Job(dj.Manual):
        definition = """
        job : int16
        """

        class Use(dj.Part):
            definition = """
            -> master
            -> Tool
            """

    Tool.insert([(1,), (2,)])
    Job.insert([(1,)])
    Job.Use.insert([(1, 1), (1, 2)])
    with pytest.raises(DataJointError) as e:
        (Tool & {"tool": 1}).delete()
    assert_clean_error(e.value, DataJointError, "job__use", "part_integrity")
    assert counts(Tool, Job, Job.Use) == [2, 1, 2]
    assert (Tool & {"tool": 1}).delete(part_integrity="cascade") == 1
    assert counts(Tool, Job, Job.Use) == [1, 0, 0]


def test_delete_cascades_across_schemas(lab, schema, conn):
    Subject, Session, _ = lab
    other = dj.Schema(f"{schema.database}_x", connection=conn)
    try:
        @other
        class Surgery(dj.Manual):
            definition = """
            -> Session
            surgery : int16
            """

        Surgery.insert([(1, 1, 1), (1, 2, 1), (2, 1, 1)])
        with pytest.raises(DataJointError):
            schema.drop(prompt=False)  # another schema depends on it
        assert (Subject & {"subject_id": 1}).delete() == 1
        assert Surgery.keys() == [{"subject_id": 2, "session": 1, "surgery": 1}]
    finally:
        other.drop(prompt=False)


def test_uuid_keys_and_hostile_keys_in_cascades(schema):
    @schema
    class Thing(dj.Manual):
        definition = """
        thing : uuid
        ---
        label : varchar(30)
        """

    @schema
    class Tag(dj.Manual):
        definition = """
        -> Thing
        tag : varchar(30)
        """

    ids = [uuid.uuid4() for _ in range(3)]
    Thing.insert([{"thing": i, "label": "it's"} for i in ids])
    Tag.insert([{"thing": ids[0], "tag": "a'; DROP TABLE x; --"}, {"thing": ids[1], "tag": "b"}])
    assert (Thing & {"thing": ids[0]}).delete() == 1
    assert Tag.to_arrays("tag").tolist() == ["b"]


def test_drop_lists_what_it_drops(lab, schema, monkeypatch, capsys):
    Subject, Session, Analysis = lab
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    Session.drop(prompt=True)
    shown = capsys.readouterr().out
    assert "session" in shown and "__analysis__detail" in shown and "(8 rows)" in shown
    assert set(schema.list_tables()) == {"subject", "session", "__analysis", "__analysis__detail"}
    with pytest.raises(ValueError):
        Session.drop(part_integrity="cascade")
    with pytest.raises(DataJointError):
        (Session & {"session": 1}).drop()
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    Session.drop(prompt=True)
    assert schema.list_tables() == ["subject"]
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    schema.drop(prompt=True)
    assert "subject (3 rows)" in capsys.readouterr().out and schema.exists
