"""A large insert with in-table codec columns (`<blob>`) encodes slice by slice on a second thread while
the previous slice loads (djframe.write.insert.insert_overlapped): the rows land exactly as a one-pass
insert stores them, and a bad value or a clash anywhere leaves the table as it was, on every backend."""

import numpy as np
import pytest

import djframe as dj
from djframe.errors import DuplicateError, InvalidValueError, MissingAttributeError
from djframe.write import insert as insert_module

ROWS = 700  # past OVERLAP_MIN_ROWS: 8 slices of 88 rows


@pytest.fixture
def Trace(schema):
    @schema
    class Trace(dj.Manual):
        definition = """
        trace_id : int32
        ---
        label : varchar(8)
        samples : <blob>
        extra = null : <blob>
        """
    return Trace


def rows(n=ROWS):
    rng = np.random.default_rng(3)
    return [{"trace_id": i, "label": f"t{i}", "samples": rng.random(50 + i % 7),
             "extra": None if i % 2 else {"i": i, "name": f"x{i}"}} for i in range(n)]


def test_the_overlapped_path_is_taken_and_stores_what_one_pass_stores(Trace, monkeypatch):
    taken = []
    original = insert_module.insert_overlapped
    monkeypatch.setattr(insert_module, "insert_overlapped", lambda *a, **k: taken.append(1) or original(*a, **k))
    given = rows()
    Trace.insert(given)
    assert taken == [1]
    stored = sorted(Trace.to_dicts(), key=lambda r: r["trace_id"])
    assert [r["trace_id"] for r in stored] == list(range(ROWS))
    for want, got in zip(given, stored):
        assert got["label"] == want["label"]
        np.testing.assert_array_equal(got["samples"], want["samples"])
        assert got["extra"] == want["extra"]


def test_a_bad_value_in_the_last_slice_leaves_nothing(Trace):
    given = rows()
    given[-1]["label"] = "far too long for eight"
    with pytest.raises(InvalidValueError, match=rf"row {ROWS - 1}\b"):
        Trace.insert(given)
    given = rows()
    given[-1]["samples"] = None  # not nullable, no default: named by its row in the whole insert
    with pytest.raises(MissingAttributeError, match=rf"row {ROWS - 1}\b"):
        Trace.insert(given)
    given = rows()
    given[-1]["samples"] = lambda: 0  # no blob form
    with pytest.raises(InvalidValueError, match="samples"):
        Trace.insert(given)
    assert len(Trace()) == 0


def test_a_clash_in_a_late_slice_rolls_back_the_earlier_slices(Trace):
    Trace.insert1({"trace_id": ROWS - 1, "label": "first", "samples": np.zeros(3)})
    with pytest.raises(DuplicateError):
        Trace.insert(rows())
    assert len(Trace()) == 1
    Trace.insert(rows(), skip_duplicates=True)
    assert len(Trace()) == ROWS and (Trace & {"trace_id": ROWS - 1}).fetch1("label") == "first"
    Trace.insert(rows(), replace=True)
    assert len(Trace()) == ROWS and (Trace & {"trace_id": ROWS - 1}).fetch1("label") == f"t{ROWS - 1}"
