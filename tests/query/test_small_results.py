"""Small results (fetch1, key lookups, existence) take the driver's rows and convert them by the heading
in Python; the frames path builds Arrow columns. Both must give the same values, of the same types, on
every backend; the key-lookup statements are compiled once per (table, key names) and say what the
compiler says."""

import datetime as dt
import decimal
import math
import uuid

import numpy as np
import pytest

import djframe as dj
from djframe.define.types import INTEGER_RANGES
from djframe.query.compile import Compiler
from djframe.query.expression import exists_statement
from djframe.query.fetch import bound_statement, fetch_table, small_rows, to_dicts

INTS = tuple(INTEGER_RANGES)

DEFINITION = """
id : int32
---
""" + "\n".join(f"{t} = null : {t}" for t in INTS) + """
f32 = null : float32
f64 = null : float64
flag = null : bool
amount = null : decimal(12,3)
whole = null : decimal(5,0)
code = null : char(4)
label = null : varchar(40)
choice = null : enum('a', 'it''s')
day = null : date
moment = null : datetime
moment3 = null : datetime(3)
moment6 = null : datetime(6)
doc = null : json
ident = null : uuid
raw = null : bytes
blob = null : <blob>
"""

ROWS = [
    {"id": 1, **{t: INTEGER_RANGES[t][0] for t in INTS}, "f32": 15.3, "f64": -0.1, "flag": True,
     "amount": decimal.Decimal("-12.345"), "whole": decimal.Decimal("7"), "code": "abcd", "label": "it's a '?' %s $1",
     "choice": "it's", "day": dt.date(2020, 2, 29), "moment": dt.datetime(2020, 2, 29, 1, 2, 3),
     "moment3": dt.datetime(2021, 5, 6, 7, 8, 9, 123000), "moment6": dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
     "doc": {"a": [1, 2.5, None, "x"], "b": {"c": True}}, "ident": uuid.UUID(int=2**127 + 12345),
     "raw": b"\x00\x01'\\\xff", "blob": np.arange(6, dtype=np.float32).reshape(2, 3)},
    {"id": 2, **{t: INTEGER_RANGES[t][1] for t in INTS}, "f32": 1e-7, "f64": 1e300, "flag": False,
     "amount": decimal.Decimal("1.5"), "whole": decimal.Decimal("-99999"), "code": "x", "label": "",
     "choice": "a", "day": dt.date(1000, 1, 1), "moment": dt.datetime(9999, 12, 31, 23, 59, 59),
     "moment3": dt.datetime(2000, 1, 1), "moment6": dt.datetime(2000, 1, 1, 0, 0, 0, 1),
     "doc": [1, "two"], "ident": uuid.UUID(int=0), "raw": b"", "blob": {"nested": [1, 2]}},
    {"id": 3},  # every attribute NULL
]


@pytest.fixture
def everything(schema):
    @schema
    class Everything(dj.Manual):
        definition = DEFINITION

    Everything.insert(ROWS[:2])
    Everything.insert1(ROWS[2])
    return Everything


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, decimal.Decimal):  # the same digits: 1.500 is not 1.5
        return isinstance(b, decimal.Decimal) and a.as_tuple() == b.as_tuple()
    return type(a) is type(b) and a == b


def frames(expr, names=None) -> list[dict]:
    """The rows as the frames path gives them (Arrow, typed by the heading, then decoded)."""
    return to_dicts(fetch_table(expr, names), expr.heading, expr.connection)


def assert_same_rows(got: list[dict], want: list[dict]):
    assert len(got) == len(want)
    for g, w in zip(sorted(got, key=lambda r: r["id"]), sorted(want, key=lambda r: r["id"])):
        assert list(g) == list(w)
        for name in w:
            assert same(w[name], g[name]), (name, w[name], g[name])


def test_fetch1_gives_what_the_frames_path_gives_for_every_core_type(everything):
    for row in ROWS:
        key = {"id": row["id"]}
        assert_same_rows([(everything & key).fetch1()], frames(everything & key))


def test_small_rows_of_a_whole_table_and_of_some_columns_match_the_frames_path(everything, conn):
    if not hasattr(conn.backend, "fetch_values"):
        assert small_rows(everything()) is None  # this backend reads every result as frames
        return
    assert_same_rows(small_rows(everything(), limit=10), frames(everything()))
    names = ["id", "f32", "amount", "ident", "blob"]
    assert_same_rows(small_rows(everything & "id > 1", names, limit=10), frames(everything & "id > 1", names))


def test_fetch1_reads_no_arrow_where_the_driver_has_a_row_path(everything, conn, monkeypatch):
    if not hasattr(conn.backend, "fetch_values"):
        pytest.skip(f"{conn.backend.name} has no row path yet (fetch1 reads frames)")

    def no_frames(*args, **kwargs):
        raise AssertionError("fetch1 went through the frames path")

    monkeypatch.setattr(conn.backend, "fetch_parts", no_frames)
    assert (everything & {"id": 1}).fetch1("code") == "abcd"
    assert (everything & {"id": 3}).fetch1("KEY", "label") == ({"id": 3}, None)
    assert (everything & "label = ''").fetch1("id") == 2  # not a key lookup: compiled per call


def test_fetch1_still_counts_its_rows(everything):
    with pytest.raises(dj.DataJointError, match="empty"):
        (everything & {"id": 99}).fetch1()
    with pytest.raises(dj.DataJointError, match="3 rows|only return one row"):
        everything.fetch1()


def test_fetch1_with_a_computed_column_keeps_the_server_type(everything):
    assert (everything & {"id": 2}).proj(twice="id * 2").fetch1("twice") == 4


@pytest.fixture
def keyed(schema):
    @schema
    class Keyed(dj.Manual):
        definition = """
        name : varchar(40)
        n : int32
        ---
        big = null : uint64
        """

    return Keyed


HOSTILE = ["it's", "?", "%s", "$1", "a\\b", "", "ünï 日本", "x' OR '1'='1"]


def test_existence_of_composite_keys_with_hostile_strings(keyed):
    keyed.insert([{"name": s, "n": i, "big": 2**64 - 1} for i, s in enumerate(HOSTILE)])
    for i, s in enumerate(HOSTILE):
        assert bool(keyed & {"name": s, "n": i}), s
        assert {"name": s, "n": i} in keyed
        assert not bool(keyed & {"name": s, "n": i + 1}), s
        assert (keyed & {"n": i, "name": s}).fetch1("big") == 2**64 - 1  # the other order: its own statement
    assert bool(keyed & {"n": "3"})  # an int attribute matched by text, as a literal would
    assert bool(keyed & {"big": 2**64 - 1}) and not bool(keyed & {"big": 5})
    assert not bool(keyed & {"name": None})


def test_a_key_lookup_says_what_the_compiler_says(keyed, conn):
    """Where the dialect binds a kind, the statement has a parameter; otherwise the literal the
    compiler writes. Either way the text is the compiler's."""
    dialect = conn.backend.dialect
    for key in ({"name": "it's", "n": 5}, {"n": 7}, {"big": 12}, {"name": "?"}):
        node = (keyed & key).node
        sql, params = bound_statement(node, dialect, ("exists",), exists_statement)
        expected, bound = Compiler(dialect).exists_sql(node), []
        for name, value in key.items():
            attribute = keyed.heading[name]
            if attribute.type.kind in dialect.bound_key_kinds:
                expected = expected.replace(f"= {dialect.typed_literal(value, attribute)}",
                                            f"= {dialect.param_marker(len(bound))}", 1)
                bound.append(value)
        assert (sql, params) == (expected, bound or None)
        assert bool(keyed & key) == bool(conn.backend.fetch_rows(Compiler(dialect).exists_sql(node)))


def test_a_redeclared_table_gets_new_statements(schema, conn):
    """Templates hang off the heading object: DDL (and conn.forget()) hand out a new one."""
    @schema
    class Item(dj.Manual):
        definition = """
        a : int32
        """

    Item.insert1({"a": 1})
    assert bool(Item & {"a": 1})
    old = Item.heading
    Item.drop_quick()
    conn.forget()

    @schema
    class Item(dj.Manual):  # noqa: F811 - the same table, declared anew with another key
        definition = """
        a : varchar(8)
        """

    Item.insert1({"a": "x"})
    assert Item.heading is not old
    assert bool(Item & {"a": "x"}) and not bool(Item & {"a": "1"})
    assert (Item & {"a": "x"}).fetch1() == {"a": "x"}


def test_lookups_inside_a_transaction_see_its_writes(keyed, conn):
    with conn.transaction:
        keyed.insert1({"name": "t", "n": 1})
        assert bool(keyed & {"name": "t", "n": 1})
        assert (keyed & {"name": "t", "n": 1}).fetch1("big") is None
    assert bool(keyed & {"name": "t", "n": 1})


def test_to_dicts_and_keys_of_small_results_match_the_frames_path(everything, conn, monkeypatch):
    whole, second = frames(everything()), frames(everything & {"id": 2})
    if hasattr(conn.backend, "fetch_values"):  # then none of these may read frames
        monkeypatch.setattr(conn.backend, "fetch_parts", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
    assert_same_rows(everything.to_dicts(limit=10), whole)
    assert_same_rows(everything.head(), whole)
    assert [r["id"] for r in everything.tail(2)] == [2, 3]
    assert everything.keys(order_by="KEY DESC", limit=2) == [{"id": 3}, {"id": 2}]
    assert [r["id"] for r in everything.to_dicts(order_by="id", limit=1, offset=1)] == [2]
    assert_same_rows((everything & {"id": 2}).to_dicts(), second)
    assert_same_rows((everything & {"id": 2}).fetch(as_dict=True), second)
    assert (everything & {"id": 2}).keys() == [{"id": 2}] and (everything & {"id": 9}).to_dicts() == []
