"""insert and insert1, on every backend: the inputs they accept and what they store for them,
skip_duplicates / replace / ignore_extra_fields, inserts from a query, and transactions: every insert
fully lands or changes nothing. (Inputs that must be refused: test_bad_input.py; values read back
exactly: test_roundtrip.py.)"""

import datetime as dt
import decimal
import uuid
import warnings

import numpy as np
import polars as pl
import pytest

import djframe as dj
from djframe.errors import DataJointError, DuplicateError, InvalidValueError, TransactionError
from support.checks import assert_clean_error, counts, declare_lab


@pytest.fixture
def lab(schema):
    return declare_lab(schema)


# ----- insert options -----------------------------------------------------------------------------
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


# ----- accepted inputs: missing values, defaults, positional rows, frames -------------------------
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


# ----- accepted spellings of values ---------------------------------------------------------------
@pytest.fixture
def item(schema):
    """An attribute of each kind the accepted spellings below reach."""

    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        name : varchar(8)
        tag = null : varchar(16)
        int8 = null : int8
        uint8 = null : uint8
        int16 = null : int16
        int32 = null : int32
        int64 = null : int64
        uint64 = null : uint64
        f32 = null : float32
        color = null : enum('red', 'green')
        day = null : date
        moment = null : datetime
        ident = null : uuid
        amount = null : decimal(5,2)
        """

    return Item


def test_values_the_reference_stores_are_accepted(item):
    """bool -> 0/1 and a whole float -> int in an integer attribute, a number -> its text in a string
    attribute: what the reference stores for these, on every backend (docs/compatibility.md)."""
    rows = [dict(item_id=50, uint8=True, int8=False, int16=3.0, int64=np.float64(-7.0), int32=decimal.Decimal("4"),
                 name=123, tag=7.5),
            dict(item_id=51, uint8=np.bool_(True), int8=None, int16=None, int64=None, int32=None, name=np.int64(5),
                 tag=decimal.Decimal("1.25"))]
    item.insert(rows)
    got = item.to_dicts(order_by="item_id")
    assert [(g["uint8"], g["int8"], g["int16"], g["int64"], g["int32"]) for g in got] == [
        (1, 0, 3, -7, 4), (1, None, None, None, None)]
    assert [(g["name"], g["tag"]) for g in got] == [("123", "7.5"), ("5", "1.25")]
    frame = pl.DataFrame({"item_id": range(52, 52 + 40), "name": "a",
                          "int32": [float(i) for i in range(40)], "uint8": [i % 2 == 0 for i in range(40)]})
    item.insert(frame)  # the column paths (more rows than the few-row path takes)
    got = (item & "item_id >= 52").to_polars(order_by="item_id")
    assert got["int32"].to_list() == list(range(40)) and got["uint8"].to_list()[:3] == [1, 0, 1]
    with pytest.raises(InvalidValueError, match="round"):
        item.insert(frame.with_columns(item_id=pl.col("item_id") + 100, int32=pl.col("int32") + 0.5))


def test_values_numpy_and_dates_accepted(item):
    """The strict checks (tests/write/test_bad_input.py) still accept every ordinary spelling of a valid value."""
    item.insert1(dict(item_id=40, name="new", int8=np.int8(-3), uint64=np.uint64(2**64 - 1), f32=np.float32(1.5),
                      day=dt.date(2020, 1, 2), moment="2020-01-02 03:04:05", ident=str(uuid.UUID(int=5)),
                      amount="12.5", color="red"))
    got = item.fetch1()
    assert got["uint64"] == 2**64 - 1 and got["amount"] == decimal.Decimal("12.50")
    assert got["moment"] == dt.datetime(2020, 1, 2, 3, 4, 5) and got["ident"] == uuid.UUID(int=5)


# ----- insert from a query ------------------------------------------------------------------------
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


# ----- transactions -------------------------------------------------------------------------------
def test_chunked_insert_is_still_one_transaction(lab):
    Subject, _, _ = lab
    rows = [{"subject_id": i, "name": "x"} for i in range(10, 20)] + [{"subject_id": 1, "name": "dup"}]
    with pytest.raises(DuplicateError):
        Subject.insert(rows, chunk_size=3)
    assert len(Subject()) == 3
    Subject.insert(rows[:-1], chunk_size=3)
    assert len(Subject()) == 13


def test_bulk_load_sent_in_slices_lands_whole_or_not_at_all(lab, monkeypatch):
    """A large frame is encoded and sent slice by slice (memory stays near the frame's): every slice
    lands, and a clash in the last slice leaves the table as it was."""
    from djframe.backends import base
    from djframe.backends.mysql import tsv
    from djframe.backends.sqlite import driver as sqlite_driver
    monkeypatch.setattr(base, "INGEST_BATCH_BYTES", 1)  # slices of 1,024 rows, the smallest
    monkeypatch.setattr(tsv, "BATCH_BYTES", 1)
    monkeypatch.setattr(sqlite_driver, "INGEST_ROWS", 1000)
    Subject, _, _ = lab
    ids = np.arange(100, 5100, dtype=np.int32)
    frame = pl.DataFrame({"subject_id": ids, "name": [f"n{i}\tx" for i in ids],
                          "weight": [None if i % 3 else i / 4 for i in ids.tolist()]})
    with pytest.raises(DuplicateError):
        Subject.insert(pl.concat([frame, pl.DataFrame({"subject_id": [1], "name": ["dup"], "weight": [None]},
                                                      schema=frame.schema)]))
    assert len(Subject()) == 3
    Subject.insert(frame)
    stored = (Subject & "subject_id >= 100").to_polars().sort("subject_id")
    assert stored["subject_id"].to_list() == ids.tolist()
    assert stored["name"].to_list() == frame["name"].to_list()
    assert stored["weight"].to_list() == frame["weight"].to_list()


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
