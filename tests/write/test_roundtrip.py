"""Every core type round-trips exactly on every backend (hypothesis)."""

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
from djframe.errors import DataJointError, InvalidValueError
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


@pytest.mark.parametrize("attribute, value", [
    ("uint8", 256), ("uint8", -1), ("int8", 128), ("int8", -129), ("uint16", 65536), ("int16", -32769),
    ("uint32", 2**32), ("int32", 2**31), ("uint64", 2**64), ("int64", -(2**63) - 1),
    ("f32", 1e39), ("code", "toolong"), ("label", "x" * 13), ("choice", "e"), ("day", "2020-13-01"),
    ("moment", "yesterday"), ("ident", "not-a-uuid"), ("doc", {1, 2}), ("amount", decimal.Decimal("1e8")),
    ("int32", "12"), ("flag", 2), ("raw", "text"),
])
def test_bad_values_are_rejected(everything, attribute, value):
    with pytest.raises(DataJointError) as e:
        everything.insert([{"id": 1}, {"id": 2, attribute: value}])
    assert attribute in str(e.value) and "everything" in str(e.value)
    assert len(everything()) == 0


def test_nan_where_backend_cannot_store_it(everything, backend_name):
    if backend_name == "postgresql":
        everything.insert1({"id": 1, "f64": float("nan")})
        assert math.isnan(everything.fetch1("f64"))
    else:
        with pytest.raises(InvalidValueError) as e:
            everything.insert1({"id": 1, "f64": float("nan")})
        assert "NaN" in str(e.value) and "f64" in str(e.value)
        assert len(everything()) == 0


def test_restrict_by_every_type(everything):
    row = {"id": 7, "uint64": 2**64 - 1, "int64": -(2**63), "label": "a'b\\c%_;--", "choice": "it's",
           "day": dt.date(2020, 2, 29), "moment": dt.datetime(2020, 2, 29, 1, 2, 3, 456789),
           "ident": uuid.UUID(int=12345), "amount": decimal.Decimal("-12.345"), "flag": True, "code": "abcd"}
    everything.insert1(row)
    everything.insert1({"id": 8, "label": "other"})
    for name, value in row.items():
        assert (everything & {name: value}).keys() == [{"id": 7}], name
    assert len(everything & "label LIKE 'a''b%'") == 1
