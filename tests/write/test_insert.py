"""Data operations with the reference semantics, on every backend: every write fully lands or changes nothing."""

import datetime as dt
import uuid

import polars as pl
import pytest

import djframe as dj
from djframe.errors import (DataJointError, DuplicateError, IntegrityError, InvalidValueError, MissingAttributeError,
                            TransactionError, UnsupportedAlterError)
from support.checks import assert_clean_error


@pytest.fixture
def lab(schema):
    """A small pipeline: subjects, sessions (with a renamed second parent), a computed table with a part."""

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(20)
        species = 'mouse' : varchar(12)
        weight = null : float64
        nickname = null : varchar(20)
        unique index(nickname)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Subject.proj(buddy_id='subject_id')
        note = '' : varchar(40)
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        score : float64
        """

        class Detail(dj.Part):
            definition = """
            -> master
            step : int16
            ---
            value : float64
            """

        def make(self, key):
            self.insert1({**key, "score": 1.0})
            self.Detail.insert([{**key, "step": i, "value": float(i)} for i in range(2)])

    Subject.insert([{"subject_id": i, "name": f"s{i}"} for i in range(1, 4)])
    Session.insert([{"subject_id": 1, "session": 1, "buddy_id": None}, {"subject_id": 1, "session": 2, "buddy_id": 2},
                    {"subject_id": 2, "session": 1, "buddy_id": 3}, {"subject_id": 3, "session": 1, "buddy_id": None}])
    Analysis.populate()
    return Subject, Session, Analysis


def counts(*tables):
    return [len(t()) for t in tables]


# ----- insert options ----------------------------------------------------------------------------
def test_skip_duplicates_skips_clashes_on_any_unique_key(lab):
    Subject, _, _ = lab
    Subject.insert([{"subject_id": 1, "name": "again"}, {"subject_id": 9, "name": "new"}], skip_duplicates=True)
    assert (Subject & {"subject_id": 1}).fetch1("name") == "s1" and len(Subject()) == 4
    Subject.update1({"subject_id": 9, "nickname": "nick"})
    Subject.insert1({"subject_id": 10, "name": "x", "nickname": "nick"}, skip_duplicates=True)
    assert len(Subject()) == 4
    for options in ({"replace": True}, {}):
        with pytest.raises(DuplicateError) as e:
            Subject.insert1({"subject_id": 10, "name": "x", "nickname": "nick"}, **options)
        assert_clean_error(e.value, DuplicateError, "subject", "nickname", "nick")
    assert len(Subject()) == 4


def test_singleton_tables_take_the_insert_options(schema):
    @schema
    class Setting(dj.Lookup):
        definition = """
        # one row of settings
        ---
        threshold : float64
        """

    Setting.insert1({"threshold": 0.5})
    Setting.insert1({"threshold": 0.7}, skip_duplicates=True)
    assert Setting.fetch1("threshold") == 0.5
    Setting.insert1({"threshold": 0.9}, replace=True)
    assert Setting.fetch1("threshold") == 0.9
    with pytest.raises(DuplicateError):
        Setting.insert1({"threshold": 0.1})


def test_ignore_extra_fields(lab):
    Subject, _, _ = lab
    Subject.insert1({"subject_id": 7, "name": "x", "color": "blue"}, ignore_extra_fields=True)
    assert (Subject & {"subject_id": 7}).fetch1("name") == "x"


def test_replace_overwrites_whole_row_and_keeps_children(lab):
    Subject, Session, Analysis = lab
    Subject.update1({"subject_id": 1, "weight": 20.5, "species": "rat"})
    Subject.insert1({"subject_id": 1, "name": "renamed"}, replace=True)
    assert (Subject & {"subject_id": 1}).fetch1() == {"subject_id": 1, "name": "renamed", "species": "mouse",
                                                      "weight": None, "nickname": None}
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 8]  # no cascade, no REPLACE INTO
    Subject.insert(pl.DataFrame({"subject_id": [2, 8], "name": ["two", "eight"]}), replace=True)
    assert sorted(Subject.to_arrays("name").tolist()) == ["eight", "renamed", "s3", "two"]


def test_direct_insert_into_auto_populated_tables(lab):
    _, Session, Analysis = lab
    Session.insert1({"subject_id": 3, "session": 2})
    key = {"subject_id": 3, "session": 2}
    with pytest.raises(DataJointError):
        Analysis.insert1({**key, "score": 2.0})
    with pytest.raises(DataJointError):
        Analysis.Detail.insert1({**key, "step": 0, "value": 0.0})
    Analysis.insert1({**key, "score": 2.0}, allow_direct_insert=True)
    Analysis.Detail.insert1({**key, "step": 0, "value": 0.0}, allow_direct_insert=True)
    assert (Analysis & key).fetch1("score") == 2.0 and len(Analysis.Detail & key) == 1


def test_none_means_null_or_the_default(schema, conn):
    @schema
    class Reading(dj.Manual):
        definition = """
        reading_id : int32
        ---
        value = null : float64
        unit = 'mV' : varchar(8)
        gain = 2 : int16
        taken = CURRENT_TIMESTAMP : datetime
        fine = CURRENT_TIMESTAMP(3) : datetime(3)
        """

    before = conn.backend.server_time().replace(microsecond=0)
    Reading.insert([{"reading_id": 1, "value": None, "unit": None, "gain": None, "taken": None, "fine": None},
                    {"reading_id": 2, "value": 1.5, "unit": "V", "gain": 3, "taken": dt.datetime(2020, 1, 1),
                     "fine": None}])
    Reading.insert1({"reading_id": 3})
    rows = Reading.to_dicts(order_by="reading_id")
    assert [(r["value"], r["unit"], r["gain"]) for r in rows] == [(None, "mV", 2), (1.5, "V", 3), (None, "mV", 2)]
    after = conn.backend.server_time() + dt.timedelta(seconds=1)
    for r in (rows[0], rows[2]):
        assert before <= r["taken"] <= after and r["taken"].microsecond == 0
    assert rows[1]["taken"] == dt.datetime(2020, 1, 1)
    assert all(before <= r["fine"] <= after and r["fine"].microsecond % 1000 == 0 for r in rows)


def test_missing_values_in_frames_and_files(lab, tmp_path):
    import pandas as pd
    Subject, _, _ = lab
    Subject.insert(pd.DataFrame({"subject_id": [11, 12], "name": ["a", "b"], "species": [None, "rat"],
                                 "weight": [float("nan"), 2.5]}))
    Subject.insert(pl.DataFrame({"subject_id": [13], "name": ["c"], "species": [None]}, schema_overrides={
        "species": pl.String}))
    path = tmp_path / "subjects.csv"
    path.write_text("subject_id,name,weight\n14,d,\n15,e,1.25\n")
    Subject.insert(path)
    got = {r["subject_id"]: (r["species"], r["weight"]) for r in (Subject & "subject_id > 10").to_dicts()}
    assert got == {11: ("mouse", None), 12: ("rat", 2.5), 13: ("mouse", None), 14: ("mouse", None),
                   15: ("mouse", 1.25)}


def test_datetimes_are_rounded_to_the_declared_precision(schema):
    @schema
    class Event(dj.Manual):
        definition = """
        event_id : int32
        ---
        at : datetime
        at3 : datetime(3)
        at6 : datetime(6)
        """

    moment = dt.datetime(2021, 5, 6, 7, 8, 9, 500500)
    Event.insert1({"event_id": 1, "at": moment, "at3": moment, "at6": moment})
    Event.insert(pl.DataFrame({"event_id": [2], "at": [dt.datetime(2021, 12, 31, 23, 59, 59, 499999)],
                               "at3": [dt.datetime(2021, 12, 31, 23, 59, 59, 999600)], "at6": [moment]}))
    rows = Event.to_dicts(order_by="event_id")
    assert rows[0] == {"event_id": 1, "at": dt.datetime(2021, 5, 6, 7, 8, 10),
                       "at3": dt.datetime(2021, 5, 6, 7, 8, 9, 501000), "at6": moment}
    assert rows[1]["at"] == dt.datetime(2021, 12, 31, 23, 59, 59) and rows[1]["at3"] == dt.datetime(2022, 1, 1)
    assert (Event & {"at": dt.datetime(2021, 5, 6, 7, 8, 10)}).keys() == [{"event_id": 1}]
    assert (Event & {"at3": dt.datetime(2022, 1, 1)}).keys() == [{"event_id": 2}]
    assert len(Event & "at > '2021-06-01'") == 1


def test_insert_from_query_runs_in_the_database(lab, schema, conn, monkeypatch):
    Subject, _, _ = lab

    @schema
    class Archive(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(20)
        """

    monkeypatch.setattr(type(conn.backend), "ingest", lambda *a, **k: pytest.fail("rows went through the client"))
    Archive.insert(Subject & "subject_id > 1", ignore_extra_fields=True)
    assert sorted(Archive.to_arrays("subject_id").tolist()) == [2, 3]
    Archive.insert(Subject.proj("name"), skip_duplicates=True)
    assert len(Archive()) == 3
    (Archive & {"subject_id": 3}).delete_quick()
    with pytest.raises(DuplicateError):
        Archive.insert(Subject.proj("name"))  # 3 is new, 1 and 2 collide: nothing lands
    assert len(Archive()) == 2
    with pytest.raises(DataJointError):
        Archive.insert(Subject.proj("name"), chunk_size=1)


def test_chunked_insert_is_still_one_transaction(lab):
    Subject, _, _ = lab
    rows = [{"subject_id": i, "name": "x"} for i in range(10, 20)] + [{"subject_id": 1, "name": "dup"}]
    with pytest.raises(DuplicateError):
        Subject.insert(rows, chunk_size=3)
    assert len(Subject()) == 3
    Subject.insert(rows[:-1], chunk_size=3)
    assert len(Subject()) == 13


# ----- delete ------------------------------------------------------------------------------------
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


# ----- update1 -----------------------------------------------------------------------------------
def test_update1_changes_one_row(lab):
    Subject, Session, _ = lab
    Subject.update1({"subject_id": 2, "weight": 3.5, "species": "rat"})
    Subject.update1({"subject_id": 2, "species": None, "nickname": "two"})
    assert (Subject & {"subject_id": 2}).fetch1() == {"subject_id": 2, "name": "s2", "species": "mouse",
                                                      "weight": 3.5, "nickname": "two"}
    Session.update1({"subject_id": 1, "session": 1, "buddy_id": 3})
    assert (Session & {"subject_id": 1, "session": 1}).fetch1("buddy_id") == 3
    assert (Subject & {"subject_id": 1}).fetch1("weight") is None


# ----- drop and alter ----------------------------------------------------------------------------
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


def test_alter_secondary_attributes_and_comment(lab):
    Subject, Session, _ = lab
    Subject.update1({"subject_id": 1, "weight": 20.5})
    Subject.definition = """
    # subjects of the lab
    subject_id : int32
    ---
    name : varchar(30)           # longer now
    species = 'mouse' : varchar(12)
    mass = null : float64        # {weight} renamed
    nickname = null : varchar(20)
    sex = 'U' : enum('F', 'M', 'U')
    unique index(nickname)
    """
    Subject.alter(prompt=False)
    heading = Subject.heading
    assert set(heading.names) == {"subject_id", "name", "species", "mass", "nickname", "sex"}
    assert heading["name"].type.text == "varchar(30)" and heading["name"].comment == "longer now"
    assert heading["sex"].default == "U" and "subjects of the lab" in Subject.describe()
    assert (Subject & {"subject_id": 1}).fetch1("sex", "mass", "name") == ("U", 20.5, "s1") and len(Subject()) == 3
    Subject.insert1({"subject_id": 5, "name": "x" * 30, "sex": "F"})
    Subject.alter(prompt=False)  # nothing left to do
    assert len(Session()) == 4


def test_alter_refuses_what_it_cannot_do(lab, monkeypatch):
    Subject, _, _ = lab
    original = Subject.definition
    Subject.definition = original.replace("name : varchar(20)", "name : varchar(1)")
    with pytest.raises(InvalidValueError) as e:
        Subject.alter(prompt=False)
    assert_clean_error(e.value, InvalidValueError, "subject", "name", "s1")
    Subject.definition = original + "\nborn : date\n"
    with pytest.raises(MissingAttributeError):
        Subject.alter(prompt=False)
    Subject.definition = original.replace("subject_id : int32", "subject_id : int64")
    with pytest.raises(UnsupportedAlterError):
        Subject.alter(prompt=False)
    Subject.definition = original.replace("unique index(nickname)", "")
    with pytest.raises(UnsupportedAlterError):
        Subject.alter(prompt=False)
    Subject.definition = original.replace("weight = null : float64", "weight = null : varchar(9)")
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    Subject.alter()
    assert Subject.heading["weight"].type.text == "float64"
    Subject.definition = original


def test_alter_converts_stored_values(schema, monkeypatch, capsys):
    import decimal

    @schema
    class Sample(dj.Manual):
        definition = """
        sample : int32
        ---
        at : datetime
        amount : decimal(6,1)
        hits : int32
        """

    moment, amount = dt.datetime(2020, 1, 1, 1, 2, 3), decimal.Decimal("12.5")
    Sample.insert1({"sample": 1, "at": moment, "amount": amount, "hits": 7})
    original = Sample.definition
    Sample.definition = original.replace("at : datetime", "at : datetime(3)").replace(
        "decimal(6,1)", "decimal(8,3)").replace("hits : int32", "hits : uint64")
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    Sample.alter()
    assert "MODIFY at : datetime(3)   (was at : datetime)" in capsys.readouterr().out
    assert Sample.fetch1() == {"sample": 1, "at": moment, "amount": decimal.Decimal("12.500"), "hits": 7}
    for key, value in (("at", moment), ("amount", amount), ("hits", 7)):
        assert len(Sample & {key: value}) == 1, key
    Sample.insert1({"sample": 2, "at": moment.replace(microsecond=250000), "amount": 1, "hits": 2**64 - 1})
    Sample.definition = original
    with pytest.raises(InvalidValueError) as e:
        Sample.alter(prompt=False)
    assert_clean_error(e.value, InvalidValueError, "sample", "at", "fractional digits")
    assert Sample.heading["at"].type.text == "datetime(3)" and len(Sample()) == 2


# ----- transactions ------------------------------------------------------------------------------
def test_failed_insert_inside_a_transaction_keeps_the_transaction(lab, conn):
    Subject, _, _ = lab
    with conn.transaction:
        Subject.insert1({"subject_id": 20, "name": "kept"})
        with pytest.raises(DuplicateError):
            Subject.insert([{"subject_id": 21, "name": "lost"}, {"subject_id": 1, "name": "dup"}])
        Subject.insert1({"subject_id": 22, "name": "kept too"})
    assert sorted(Subject.to_arrays("subject_id").tolist()) == [1, 2, 3, 20, 22]


def test_explicit_transactions(lab, conn):
    Subject, _, _ = lab
    conn.start_transaction()
    assert conn.in_transaction
    Subject.insert1({"subject_id": 30, "name": "x"})
    with pytest.raises(TransactionError):
        conn.start_transaction()
    conn.cancel_transaction()
    assert not conn.in_transaction and len(Subject & {"subject_id": 30}) == 0
    conn.start_transaction()
    (Subject & {"subject_id": 3}).delete(prompt=False)
    conn.commit_transaction()
    assert len(Subject()) == 2
    with pytest.raises(TransactionError):
        conn.commit_transaction()
    with pytest.raises(ZeroDivisionError):
        with conn.transaction:
            Subject.insert1({"subject_id": 31, "name": "y"})
            1 / 0
    assert len(Subject()) == 2 and not conn.in_transaction
    with pytest.raises(TransactionError):
        with conn.transaction:
            Subject.delete(prompt=True)


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


# ----- the reference's insert conveniences -------------------------------------------------------
def test_empty_rows_take_every_default(schema, conn):
    """insert1({}) writes a row of defaults; auto_increment keys are MySQL's (native type, as in the reference)."""
    mysql = conn.backend.name == "mysql"
    key = "id : int auto_increment  # a native type" if mysql else ""  # else a singleton (its key has a default)

    @schema
    class Note(dj.Manual):
        definition = f"""
        {key}
        ---
        stamp = CURRENT_TIMESTAMP : datetime
        text = null : varchar(20)
        """

    @schema
    class Needs(dj.Manual):
        definition = """
        id : int32
        ---
        value : varchar(8)
        """

    Note.insert1({})
    if mysql:
        Note.insert([{}, {}])
    rows = Note.to_dicts(order_by="id" if mysql else None)
    assert [r.get("id") for r in rows] == ([1, 2, 3] if mysql else [None])
    assert all(r["stamp"] is not None and r["text"] is None for r in rows)
    with pytest.raises(dj.DataJointError, match=r"Cannot insert empty row.*id, value require values"):
        Needs.insert1({})
    assert len(Needs()) == 0


def test_positional_rows_are_deprecated(schema, conn):
    @schema
    class Pair(dj.Manual):
        definition = """
        a : int32
        ---
        b : varchar(8)
        """

    with pytest.warns(DeprecationWarning, match="Positional inserts"):
        Pair.insert1((1, "x"))
    with pytest.warns(DeprecationWarning, match="Positional inserts"):
        Pair.insert([(2, "y")])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        Pair.insert1({"a": 3, "b": "z"})
    result = Pair.validate([(4, "w"), (5,), {"a": 6}])
    assert not result and [e[0] for e in result.errors] == [1, 2]
    assert "Incorrect number of attributes" in result.errors[0][2]
    assert result.summary().startswith("Validation failed: 2 error(s) in 3 rows checked")
    assert Pair.validate([{"a": 7, "b": "v"}]).summary() == "Validation passed: 1 rows checked"


def test_insert_dataframe_checks_its_input(schema, conn):
    import pandas as pd

    @schema
    class Score(dj.Manual):
        definition = """
        id : int32
        ---
        score : float64
        """

    with pytest.raises(dj.DataJointError, match="requires a pandas DataFrame"):
        Score.insert_dataframe([{"id": 1, "score": 1.0}])
    frame = pd.DataFrame({"score": [1.0, 2.0]}, index=pd.Index([1, 2], name="wrong"))
    with pytest.raises(dj.DataJointError, match="do not match the primary key"):
        Score.insert_dataframe(frame, index_as_pk=True)
    Score.insert_dataframe(frame.rename_axis("id"))
    assert len(Score()) == 2


def test_a_class_without_definition_is_refused(schema, conn):
    class Typo(dj.Manual):
        definitions = "id : int32\n"

    with pytest.raises(NotImplementedError, match="has no `definition`"):
        schema(Typo)


def test_unknown_attribute_is_a_key_error(schema, conn):
    @schema
    class Person(dj.Manual):
        definition = """
        name : varchar(16)
        """

    with pytest.raises(KeyError):
        Person.insert1({"name": "Bob", "spouse": "Alice"})
    with pytest.raises(dj.errors.UnknownAttributeError, match="ignore_extra_fields"):
        Person.insert1({"nam": "Bob"})


def test_a_free_table_says_what_it_is_and_queries_like_its_class(schema, conn):
    @schema
    class Reading(dj.Manual):
        definition = """
        reading_id : int32
        ---
        value : float64
        """

    Reading.insert([{"reading_id": i, "value": i / 2} for i in range(4)])
    free = dj.FreeTable(conn, Reading.full_table_name)
    assert repr(free).startswith(f"FreeTable({Reading.full_table_name})") and "reading_id" in repr(free)
    assert (free & "value > 0.5").keys(order_by="KEY") == (Reading & "value > 0.5").keys(order_by="KEY")
