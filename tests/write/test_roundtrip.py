"""Values stored and read back exactly, on every backend: every core type (hypothesis), the limits and
frame types, datetimes at their declared precision, and hostile strings and bytes, which are stored and
matched literally. (Values that must be refused: test_bad_input.py.)"""

import datetime as dt
import decimal
import math
import uuid

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import djframe as dj
from djframe.define.types import INTEGER_RANGES

INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")

DEFINITION = """
id : int32
---
""" + "\n".join(f"{t} = null : {t}" for t in INTS) + """
f32 = null : float32
f64 = null : float64
flag = null : bool
amount = null : decimal(10,3)
code = null : char(4)
label = null : varchar(12)
choice = null : enum('a', 'b', 'c d', 'it''s')
day = null : date
moment = null : datetime(6)
doc = null : json
ident = null : uuid
raw = null : bytes
blob = null : <blob>
"""

text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(st.characters(exclude_categories=("Cs",),
                                                                                      exclude_characters="\x00"),
                                                                       max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("abcxyz", min_size=1, max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)


def row_strategy(backend):
    floats = st.floats(allow_nan=backend == "postgresql", allow_infinity=backend != "mysql")
    fields = {t: st.none() | st.integers(*INTEGER_RANGES[t]) for t in INTS}
    fields.update(
        f32=st.none() | st.floats(width=32, allow_nan=False, allow_infinity=backend != "mysql"),
        f64=st.none() | floats,
        flag=st.none() | st.booleans(),
        amount=st.none() | st.decimals(min_value=-9999999, max_value=9999999, places=3, allow_nan=False,
                                       allow_infinity=False),
        code=st.none() | st.text("abcdXYZ0123", min_size=4, max_size=4),
        label=st.none() | text,
        choice=st.none() | st.sampled_from(["a", "b", "c d", "it's"]),
        day=st.none() | st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)),
        moment=st.none() | st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)),
        doc=st.none() | json_values,
        ident=st.none() | st.uuids(),
        raw=st.none() | st.binary(max_size=40),
        blob=st.none() | st.lists(st.integers(-5, 5), max_size=4).map(lambda v: np.array(v, dtype=np.int64)),
    )
    return st.fixed_dictionaries(fields)


@pytest.fixture
def everything(schema):
    @schema
    class Everything(dj.Manual):
        definition = DEFINITION

    return Everything


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b and type(a) is type(b)


def expected(row):
    out = dict(row)
    if out["f32"] is not None:
        out["f32"] = float(str(np.float32(out["f32"])))  # the shortest text of the 32-bit value
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_core_type_round_trips(everything, backend_name, data):
    rows = data.draw(st.lists(row_strategy(backend_name), min_size=1, max_size=4))
    rows = [{"id": i, **r} for i, r in enumerate(rows)]
    everything.delete_quick()
    everything.insert(rows)
    fetched = everything.to_dicts(order_by="id")
    assert len(fetched) == len(rows)
    for got, row in zip(fetched, rows):
        want = expected(row)
        for name, value in want.items():
            assert same(value, got[name]), (name, value, got[name])


def test_float32_comes_back_as_typed_in_rows_and_as_float32_in_frames(everything):
    everything.insert([{"id": 1, "f32": 15.3}, {"id": 2, "f32": 0.1}, {"id": 3, "f32": None}])
    assert [r["f32"] for r in everything.to_dicts(order_by="id")] == [15.3, 0.1, None]
    assert (everything & {"id": 1}).fetch1("f32") == 15.3
    assert everything.to_polars(order_by="id").schema["f32"] == pl.Float32


def test_limits_and_types_in_frames(everything):
    lows = {t: INTEGER_RANGES[t][0] for t in INTS}
    highs = {t: INTEGER_RANGES[t][1] for t in INTS}
    everything.insert([{"id": 1, **lows}, {"id": 2, **highs}])
    frame = everything.to_polars(order_by="id")
    for t in INTS:
        assert frame.schema[t] == getattr(pl, t.replace("int", "Int").replace("uInt", "UInt"))
        assert frame[t].to_list() == [lows[t], highs[t]]
    assert frame.schema["amount"] == pl.Decimal(10, 3)
    assert frame.schema["moment"] == pl.Datetime("us")
    assert frame.schema["day"] == pl.Date
    assert frame.schema["flag"] == pl.Boolean


def test_nan_round_trips_where_the_backend_stores_it(everything, conn):
    if not conn.backend.supports_nan:
        pytest.skip(f"{conn.backend.name} refuses NaN (tests/write/test_bad_input.py)")
    everything.insert1({"id": 1, "f64": float("nan")})
    assert math.isnan(everything.fetch1("f64"))


def test_restrict_by_every_type(everything):
    row = {"id": 7, "uint64": 2**64 - 1, "int64": -(2**63), "label": "a'b\\c%_;--", "choice": "it's",
           "day": dt.date(2020, 2, 29), "moment": dt.datetime(2020, 2, 29, 1, 2, 3, 456789),
           "ident": uuid.UUID(int=12345), "amount": decimal.Decimal("-12.345"), "flag": True, "code": "abcd"}
    everything.insert1(row)
    everything.insert1({"id": 8, "label": "other"})
    for name, value in row.items():
        assert (everything & {name: value}).keys() == [{"id": 7}], name
    assert len(everything & "label LIKE 'a''b%'") == 1


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


def test_a_free_table_says_what_it_is_and_queries_like_its_class(schema, conn):
    """A FreeTable rebuilds the heading from the catalog: it reads the stored rows as the class does."""

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


# ----- hostile strings and bytes: stored and matched literally ------------------------------------
HOSTILE = [
    "it's", 'say "hi"', "back\\slash", "trailing\\", "semi;colon; DROP TABLE x;", "-- comment", "/* c */",
    "# hash", "100%", "a_b", "%", "_", "\\%", "'; DELETE FROM t; --", "ünïcødé", "日本語", "emoji 🎉",
    "tab\there", "new\nline", "x' OR '1'='1", "$1", ":name", "?", "{}", "`tick`", "NULL", "",
]


@pytest.fixture
def notes(schema):
    @schema
    class Note(dj.Manual):
        definition = """
        title : varchar(40)
        ---
        body = null : varchar(200)
        long = null : text
        raw = null : bytes
        """

    return Note


def test_hostile_strings_are_stored_and_matched_literally(notes):
    rows = [{"title": v, "body": v * 2, "long": v * 3, "raw": v.encode()} for v in HOSTILE]
    notes.insert(rows)
    assert sorted(notes.to_arrays("title").tolist()) == sorted(HOSTILE)
    for row in rows:
        for attribute in ("title", "body", "long", "raw"):
            matched = (notes & {attribute: row[attribute]}).to_dicts()
            assert matched == [row], (attribute, row[attribute])
    assert len(notes & [{"title": "%"}, {"title": "_"}]) == 2
    assert len(notes - {"title": "a_b"}) == len(HOSTILE) - 1
    (notes & {"title": "'; DELETE FROM t; --"}).delete()
    notes.update1({"title": "it's", "body": "x'); DROP TABLE note; --"})
    assert (notes & {"body": "x'); DROP TABLE note; --"}).fetch1("title") == "it's"
    assert len(notes()) == len(HOSTILE) - 1


def test_case_trailing_spaces_and_supplementary_characters_are_distinct(notes):
    keys = ["a", "A", "a ", " a", "ß", "ss", "é", "e\u0301", "𐀀", "𐀁"]
    notes.insert([{"title": k, "body": k} for k in keys])
    assert sorted(notes.to_arrays("title").tolist()) == sorted(keys)
    for k in keys:
        assert (notes & {"body": k}).keys() == [{"title": k}], repr(k)
    assert len(notes & "title = 'a'") == 1 and len(notes & "body LIKE 'a%'") == 2


def test_bytes_keep_their_nul_bytes(notes):
    notes.insert1({"title": str(uuid.uuid4()), "raw": b"\x00\xff\x00"})
    assert notes.fetch1("raw") == b"\x00\xff\x00"


key_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=16)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(key_text, st.binary(max_size=24)), min_size=1, max_size=6,
                       unique_by=lambda v: v[0]))
def test_random_strings_and_bytes_round_trip_and_match(notes, values):
    notes.delete_quick()
    rows = [{"title": f"{i}:{s}", "body": s, "long": s, "raw": b} for i, (s, b) in enumerate(values)]
    notes.insert(rows)
    for row in rows:
        assert (notes & {"body": row["body"], "raw": row["raw"]}).to_dicts() == \
            [r for r in rows if r["body"] == row["body"] and r["raw"] == row["raw"]]
        assert (notes & {"title": row["title"]}).fetch1() == row


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(key_text, min_size=1, max_size=6, unique=True))
def test_distinct_strings_are_distinct_keys(notes, keys):
    notes.delete_quick()
    notes.insert([{"title": k} for k in keys])
    assert sorted(notes.to_arrays("title").tolist()) == sorted(keys)
    for k in keys:
        assert (notes & {"title": k}).keys() == [{"title": k}]
