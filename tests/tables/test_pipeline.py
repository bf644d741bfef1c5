"""The walking skeleton end to end, on every backend: declare, insert, fetch, populate, delete."""

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import djframe as dj
from djframe.errors import DataJointError, DuplicateError, IntegrityError


@pytest.fixture
def pipeline(schema):
    """The quick-start pipeline of the DataJoint docs, declared in a fresh schema."""

    @schema
    class Subject(dj.Manual):
        definition = """
        # experimental subjects
        subject_id : uint16
        ---
        name : varchar(100)
        date_of_birth : date
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : uint8
        ---
        session_date : date
        """

    @schema
    class SessionAnalysis(dj.Computed):
        definition = """
        -> Session
        ---
        result : float64
        """

        def make(self, key):
            self.insert1({**key, "result": 42.0})

    return Subject, Session, SessionAnalysis


def test_quickstart(pipeline):
    Subject, Session, SessionAnalysis = pipeline
    Subject.insert1({"subject_id": 1, "name": "M001", "date_of_birth": "2024-01-15"})
    Session.insert1({"subject_id": 1, "session_idx": 1, "session_date": "2024-06-01"})
    assert SessionAnalysis.populate() == {"success_count": 1, "error_list": []}
    frame = (Session * SessionAnalysis).to_polars()
    assert frame.schema == pl.Schema({"subject_id": pl.UInt16, "session_idx": pl.UInt8,
                                      "session_date": pl.Date, "result": pl.Float64})
    assert frame.to_dicts() == [{"subject_id": 1, "session_idx": 1, "session_date": dt.date(2024, 6, 1),
                                 "result": 42.0}]
    assert SessionAnalysis.progress() == (0, 1)
    assert SessionAnalysis.populate()["success_count"] == 0


def test_empty_fetch_has_heading_types(pipeline):
    Subject, Session, _ = pipeline
    frame = Subject.to_polars()
    assert frame.height == 0
    assert frame.schema == pl.Schema({"subject_id": pl.UInt16, "name": pl.String, "date_of_birth": pl.Date})
    table = Session.to_arrow()
    assert table.schema.field("session_idx").type == pa.uint8()


def test_table_names_and_tiers(pipeline, schema):
    Subject, Session, SessionAnalysis = pipeline
    assert Subject.table_name == "subject"
    assert SessionAnalysis.table_name == "__session_analysis"
    assert Session.primary_key == ["subject_id", "session_idx"]
    assert set(schema.list_tables()) == {"subject", "session", "__session_analysis"}
    assert Subject.heading["subject_id"].type.text == "uint16"
    assert "experimental subjects" in Subject.describe()


def test_insert_forms(pipeline):
    Subject, _, _ = pipeline
    Subject.insert([{"subject_id": 1, "name": "a", "date_of_birth": dt.date(2020, 1, 1)}])
    Subject.insert([(2, "b", "2020-01-02")])
    rec = np.array([(3, "c", "2020-01-03")], dtype=[("subject_id", "u2"), ("name", "U10"),
                                                   ("date_of_birth", "U10")])
    Subject.insert(rec)
    Subject.insert1(np.array([(8, "h", "2020-01-08")], dtype=rec.dtype)[0])
    Subject.insert(pd.DataFrame({"subject_id": [4], "name": ["d"], "date_of_birth": [dt.date(2020, 1, 4)]}))
    Subject.insert(pl.DataFrame({"subject_id": [5, 6], "name": ["e", "f"],
                                 "date_of_birth": [dt.date(2020, 1, 5), dt.date(2020, 1, 6)]}))
    Subject.insert(pa.table({"subject_id": pa.array([7], pa.int64()), "name": ["g"],
                             "date_of_birth": pa.array([dt.date(2020, 1, 7)], pa.date32())}))
    assert len(Subject()) == 8
    assert Subject.to_polars(order_by="subject_id")["name"].to_list() == list("abcdefgh")
    Subject.insert1({"subject_id": 1, "name": "dup", "date_of_birth": "2020-01-01"}, skip_duplicates=True)
    assert (Subject & {"subject_id": 1}).fetch1("name") == "a"


def test_insert_from_query(pipeline, schema):
    Subject, _, _ = pipeline

    @schema
    class SubjectCopy(dj.Manual):
        definition = """
        subject_id : uint16
        ---
        name : varchar(100)
        """

    Subject.insert([(i, f"s{i}", "2020-01-01") for i in range(5)])
    SubjectCopy.insert(Subject & "subject_id > 1", ignore_extra_fields=True)
    assert sorted(SubjectCopy.to_arrays("subject_id").tolist()) == [2, 3, 4]
    with pytest.raises(DataJointError):
        SubjectCopy.insert(Subject)


def test_fetch_forms(pipeline):
    Subject, _, _ = pipeline
    Subject.insert([(i, f"s{i}", dt.date(2020, 1, 1) + dt.timedelta(days=i)) for i in range(10)])
    assert len(Subject & "subject_id < 3") == 3
    assert bool(Subject & {"subject_id": 9})
    assert not (Subject & {"subject_id": 99})
    assert len(Subject & [{"subject_id": 1}, {"subject_id": 2}, "name = 's5'"]) == 3
    assert len(Subject - {"subject_id": 1}) == 9
    assert len(Subject & dj.AndList(["subject_id > 2", "subject_id < 5"])) == 2
    assert len(Subject & dj.Not({"subject_id": 1})) == 9
    assert len(Subject & []) == 0 and len(Subject & {}) == 10
    assert Subject.keys(order_by="subject_id DESC", limit=2) == [{"subject_id": 9}, {"subject_id": 8}]
    assert [r["subject_id"] for r in Subject.to_dicts(order_by="KEY", limit=3, offset=2)] == [2, 3, 4]
    frame = Subject.to_pandas()
    assert frame.index.name == "subject_id" and len(frame) == 10
    arr = Subject.to_arrays(order_by="KEY")
    assert arr.dtype.names == ("subject_id", "name", "date_of_birth") and arr["subject_id"][3] == 3
    ids, names = Subject.to_arrays("subject_id", "name", order_by="KEY")
    assert names[0] == "s0"
    assert (Subject & {"subject_id": 4}).fetch1() == {"subject_id": 4, "name": "s4",
                                                      "date_of_birth": dt.date(2020, 1, 5)}
    assert (Subject & {"subject_id": 4}).fetch1("name", "date_of_birth") == ("s4", dt.date(2020, 1, 5))
    assert (Subject & {"subject_id": 4}).fetch1("KEY") == {"subject_id": 4}
    with pytest.raises(DataJointError):
        Subject.fetch1()
    with pytest.raises(DataJointError):
        (Subject & {"subject_id": 99}).fetch1()
    assert isinstance(Subject.fetch(format="polars"), pl.DataFrame)
    named = Subject.fetch("name", "KEY", format="polars", order_by="KEY", limit=3)
    assert named.columns == ["name", "subject_id"] and named["name"].to_list() == ["s0", "s1", "s2"]
    assert Subject.fetch("date_of_birth", format="arrow").schema.names == ["date_of_birth"]
    assert list(Subject.fetch("name", format="pandas").columns) == ["name"]
    with pytest.raises(DataJointError, match="nope"):
        Subject.fetch("nope", format="polars")
    assert len(Subject.fetch(as_dict=True)) == 10
    assert Subject.fetch("KEY", limit=1, order_by="KEY") == [{"subject_id": 0}]
    assert len(Subject.fetch("name")) == 10
    assert Subject.head(2)[1]["subject_id"] == 1 and Subject.tail(2)[1]["subject_id"] == 9
    assert "*subject_id" in repr(Subject()) and "Total: 10" in repr(Subject())
    assert "<table" in Subject()._repr_html_()
    assert sum(b.num_rows for b in Subject().iter_batches(batch_rows=3)) == 10
    assert len(list(Subject())) == 10
    assert {"subject_id": 3} in Subject()


def test_projection_and_join(pipeline):
    Subject, Session, _ = pipeline
    Subject.insert([(1, "a", "2020-01-01"), (2, "b", "2020-01-02")])
    Session.insert([(1, 1, "2021-01-01"), (1, 2, "2021-01-02"), (2, 1, "2021-01-03")])
    joined = Subject * Session
    assert joined.primary_key == ["subject_id", "session_idx"]
    assert len(joined) == 3
    renamed = Subject.proj(animal="name")
    assert renamed.heading.names == ["subject_id", "animal"]
    assert set(renamed.to_polars()["animal"].to_list()) == {"a", "b"}
    computed = Session.proj(later="session_idx + 10")
    assert sorted(computed.to_arrays("later").tolist()) == [11, 11, 12]
    counts = Subject.aggr(Session, n="count(session_idx)")
    assert {r["subject_id"]: r["n"] for r in counts.to_dicts()} == {1: 2, 2: 1}
    assert len(dj.U("session_idx") & Session) == 2
    assert len((Subject & (Session & "session_idx = 2"))) == 1
    assert len(Subject - (Session & "session_idx = 2")) == 1


def test_declaration_features(schema):
    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(30)
        """
        contents = [("mouse",), ("rat",)]

    @schema
    class Animal(dj.Manual):
        definition = """
        animal_id : int32
        ---
        -> Species
        -> [nullable] Species.proj(foster_species='species')
        tag = null : varchar(20)
        weight = 1.5 : float32
        unique index(tag)
        """

    @schema
    class Experiment(dj.Manual):
        definition = """
        experiment : int16
        ---
        note = '' : varchar(100)
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : uint32
            ---
            outcome : enum('hit', 'miss')
            """

    @schema
    class Settings(dj.Lookup):
        definition = """
        # one row of global settings
        ---
        threshold : float64
        """

    assert Species.table_name == "#species"
    assert len(Species()) == 2
    Animal.insert1({"animal_id": 1, "species": "mouse"})
    row = (Animal & {"animal_id": 1}).fetch1()
    assert row == {"animal_id": 1, "species": "mouse", "foster_species": None, "tag": None, "weight": 1.5}
    Animal.insert1({"animal_id": 2, "species": "rat", "foster_species": "mouse", "tag": "x"})
    with pytest.raises(DuplicateError):
        Animal.insert1({"animal_id": 3, "species": "rat", "tag": "x"})
    with pytest.raises(IntegrityError):
        Animal.insert1({"animal_id": 4, "species": "cat"})
    assert Experiment.Trial.table_name == "experiment__trial"
    Experiment.insert1({"experiment": 1})
    Experiment.Trial.insert([{"experiment": 1, "trial": t, "outcome": "hit"} for t in range(3)])
    assert len(Experiment * Experiment.Trial) == 3
    Settings.insert1({"threshold": 0.5})
    with pytest.raises(DuplicateError):
        Settings.insert1({"threshold": 0.7})
    assert Settings.fetch1("threshold") == 0.5
    assert Settings.heading.primary_key == []


def test_virtual_schema_reads_catalog(pipeline, schema, conn):
    Subject, Session, SessionAnalysis = pipeline
    Subject.insert1((1, "a", "2020-01-01"))
    Session.insert1((1, 1, "2021-01-01"))
    SessionAnalysis.populate()
    conn.forget()
    vm = dj.virtual_schema(schema.database, connection=conn)
    assert {"Subject", "Session", "SessionAnalysis"} <= set(vars(vm))
    frame = (vm.Session * vm.SessionAnalysis).to_polars()
    assert frame.schema["subject_id"] == pl.UInt16 and frame["result"].to_list() == [42.0]
    assert vm.SessionAnalysis.heading["result"].type.text == "float64"
    namespace = {}
    schema.make_classes(into=namespace)
    assert issubclass(namespace["SessionAnalysis"], dj.Computed)


def test_populate_rolls_back_failed_make(schema):
    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        """

    @schema
    class Result(dj.Computed):
        definition = """
        -> Source
        ---
        value : int32
        """

        class Detail(dj.Part):
            definition = """
            -> master
            item : int32
            """

        def make(self, key):
            self.insert1({**key, "value": key["source_id"]})
            self.Detail.insert1({**key, "item": 0})
            if key["source_id"] == 2:
                raise ValueError("boom")

    Source.insert([(1,), (2,), (3,)])
    result = Result.populate(suppress_errors=True)
    assert result["success_count"] == 2 and len(result["error_list"]) == 1
    assert result["error_list"][0][0] == {"source_id": 2}
    assert sorted(Result.to_arrays("source_id").tolist()) == [1, 3]
    assert len(Result.Detail()) == 2
    with pytest.raises(DataJointError):
        Result.insert1({"source_id": 2, "value": 0})
    with pytest.raises(ValueError):
        Result.populate()
    assert len(Result()) == 2


def test_tripartite_make(schema):
    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        ---
        x : float64
        """

    @schema
    class Doubled(dj.Computed):
        definition = """
        -> Source
        ---
        y : float64
        """

        def make_fetch(self, key):
            return ((Source & key).fetch1("x"),)

        def make_compute(self, key, x):
            return (2 * x,)

        def make_insert(self, key, y):
            self.insert1({**key, "y": y})

    Source.insert([(1, 1.5), (2, 2.5)])
    assert Doubled.populate()["success_count"] == 2
    assert sorted(Doubled.to_arrays("y").tolist()) == [3.0, 5.0]


def test_cascading_delete_and_drop(pipeline, schema):
    Subject, Session, SessionAnalysis = pipeline
    Subject.insert([(1, "a", "2020-01-01"), (2, "b", "2020-01-02")])
    Session.insert([(1, 1, "2021-01-01"), (1, 2, "2021-01-02"), (2, 1, "2021-01-03")])
    SessionAnalysis.populate()
    with pytest.raises(IntegrityError):
        (Subject & {"subject_id": 1}).delete_quick()
    assert len(Session()) == 3
    assert (Subject & {"subject_id": 1}).delete() == 1
    assert len(Subject()) == 1 and len(Session()) == 1 and len(SessionAnalysis()) == 1
    SessionAnalysis.drop()
    assert "__session_analysis" not in schema.list_tables()
    Subject.drop()
    assert schema.list_tables() == []


def test_transactions(pipeline, conn):
    Subject, _, _ = pipeline
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Subject.insert1((1, "a", "2020-01-01"))
            raise RuntimeError("roll back")
    assert len(Subject()) == 0
    with conn.transaction:
        Subject.insert1((1, "a", "2020-01-01"))
        assert len(Subject()) == 1
        with pytest.raises(DataJointError):
            conn.start_transaction()
    assert len(Subject()) == 1
    conn.start_transaction()
    Subject.insert1((2, "b", "2020-01-01"))
    conn.cancel_transaction()
    assert len(Subject()) == 1


def test_batch_insert_is_atomic(pipeline):
    Subject, _, _ = pipeline
    rows = [{"subject_id": i, "name": "x", "date_of_birth": "2020-01-01"} for i in range(5)]
    rows.append({"subject_id": 70000, "name": "x", "date_of_birth": "2020-01-01"})
    with pytest.raises(DataJointError) as e:
        Subject.insert(rows)
    assert "subject_id" in str(e.value) and "70000" in str(e.value)
    assert len(Subject()) == 0
    frame = pl.DataFrame({"subject_id": [1, 2, 1], "name": ["a", "b", "c"],
                          "date_of_birth": [dt.date(2020, 1, 1)] * 3})
    with pytest.raises(DuplicateError) as e:
        Subject.insert(frame)
    assert "subject_id" in str(e.value)
    assert len(Subject()) == 0


def test_update1(pipeline):
    Subject, _, _ = pipeline
    Subject.insert1((1, "a", "2020-01-01"))
    Subject.update1({"subject_id": 1, "name": "renamed"})
    assert (Subject & {"subject_id": 1}).fetch1("name") == "renamed"
    with pytest.raises(DataJointError):
        Subject.update1({"subject_id": 2, "name": "missing"})
    with pytest.raises(DataJointError):
        Subject.update1({"subject_id": 1, "nope": 1})
