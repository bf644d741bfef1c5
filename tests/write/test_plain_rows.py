"""A few plain rows (insert1 in a make) are bound as they are when every value is already valid;
anything else takes the full conversion, which reports it (the refusals: test_bad_input.py, whose
insert1 cases take this same route). Both paths store the same values."""

import numpy as np
import pytest

import djframe as dj
from djframe.errors import DataJointError, DuplicateError
from djframe.write.conform import FLOAT32_MAX, plain_rows


@pytest.fixture
def table(schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        pid : int16
        """

    @schema
    class Plain(dj.Manual):
        definition = """
        -> Parent
        n : int8
        ---
        f : float32
        d = 1.5 : float64
        s : varchar(5)
        e = 'a' : enum('a', 'b')
        """
    Parent.insert([{"pid": 1}, {"pid": 2}])
    return Plain


GOOD = {"pid": 1, "n": 127, "f": float(FLOAT32_MAX), "s": "héllo"}


@pytest.mark.parametrize("change", [
    {}, {"n": -128}, {"e": "b"}, {"d": -0.0}, {"s": ""},
], ids=["edges", "min", "enum", "negative-zero", "empty"])
def test_valid_plain_rows_are_bound_as_they_are(table, change):
    row = {**GOOD, **change}
    assert plain_rows([row], table.heading, table.connection.backend) is not None
    table.insert1(row)
    stored = table.fetch1()
    assert stored["n"] == row["n"] and stored["s"] == row["s"] and stored["f"] == pytest.approx(row["f"])
    assert stored["d"] == row.get("d", 1.5) and stored["e"] == row.get("e", "a")


@pytest.mark.parametrize("change", [
    {"n": 128}, {"n": True}, {"n": np.int8(3)}, {"f": float("nan")}, {"f": 1e39}, {"s": "toolong"},
    {"s": "a\x00b"}, {"s": "\ud800"}, {"e": "c"}, {"s": 5}, {"extra": 1}, {"n": None},
], ids=["range", "bool", "numpy", "nan", "float32-range", "length", "nul", "surrogate", "enum", "type", "extra",
        "none"])
def test_other_rows_take_the_full_conversion(table, change):
    row = {**GOOD, **change}
    assert plain_rows([row], table.heading, table.connection.backend) is None


def test_missing_key_or_required_value_takes_the_full_conversion(table):
    backend = table.connection.backend
    assert plain_rows([{k: v for k, v in GOOD.items() if k != "n"}], table.heading, backend) is None
    assert plain_rows([{k: v for k, v in GOOD.items() if k != "s"}], table.heading, backend) is None
    assert plain_rows([GOOD, {**GOOD, "n": 1, "s": "x", "f": 0.5, "e": "b"}], table.heading, backend) is None  # keys


def test_duplicate_is_explained(table):
    table.insert1(GOOD)
    with pytest.raises(DuplicateError, match="already exists"):
        table.insert1(GOOD)
    with table.connection.transaction:  # a failed insert inside a transaction leaves it usable
        with pytest.raises(DataJointError):
            table.insert1(GOOD)
        table.insert1({**GOOD, "n": 5})
    assert len(table()) == 2
