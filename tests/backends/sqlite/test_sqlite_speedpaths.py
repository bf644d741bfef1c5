"""The SQLite backend's batched fetch and insert: columns built batch by batch must equal what one
fetchall returns, whatever mix of storage classes, NULLs and batch boundaries a result has."""

import datetime as dt
import decimal

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import djframe as dj
from djframe import errors
from djframe.backends.sqlite import driver as sqlite_backend
from djframe.backends.sqlite.driver import SQLiteBackend

ROWS = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n}) "


@pytest.fixture
def backend(tmp_path):
    b = SQLiteBackend(str(tmp_path / "speed.sqlite"))
    yield b
    b.close()


@pytest.fixture(params=[3, 8, 8192], ids=["batch3", "batch8", "batch8192"])
def fetch_rows(request, monkeypatch):
    """Small batches put every boundary case (NULL-only batches, type changes, odd lengths) in play."""
    monkeypatch.setattr(sqlite_backend, "FETCH_ROWS", request.param)
    return request.param


def rows_sql(n, *columns):
    return ROWS.format(n=n) + "SELECT " + ", ".join(columns) + " FROM r ORDER BY i"


def expected(backend, sql):
    rows = backend.fetch_rows(sql)
    return [list(c) for c in zip(*rows)] if rows else None


def check(backend, sql, types, batch_rows=10):
    table = backend.fetch_arrow(sql)
    assert [f.type for f in table.schema] == types
    want = expected(backend, sql)
    for i, column in enumerate(table.columns):
        assert column.to_pylist() == (want[i] if want else [])
    batches = list(backend.fetch_batches(sql, batch_rows))  # each batch has its own raw types; values agree
    for i, column in enumerate(table.columns):
        assert [v for b in batches for v in b.column(i).to_pylist()] == column.to_pylist()
    return table


def test_plain_types(backend, fetch_rows):
    check(backend, rows_sql(50, "i", "i * 0.5 AS x", "'s' || i AS s", "CAST('b' || i AS BLOB) AS b"),
          [pa.int64(), pa.float64(), pa.large_string(), pa.large_binary()])


def test_nulls_anywhere(backend, fetch_rows):
    """NULL-only batches first, in the middle and last; a column NULL throughout."""
    check(backend, rows_sql(40, "CASE WHEN i BETWEEN 10 AND 30 THEN i END AS a",
                            "CASE WHEN i > 20 THEN 'x' || i END AS t", "NULL AS n",
                            "CASE WHEN i % 2 THEN i * 1.5 END AS f", "CASE WHEN i < 5 THEN x'00ff' END AS b"),
          [pa.int64(), pa.large_string(), pa.null(), pa.float64(), pa.large_binary()])


def test_integers_and_reals_mix_into_doubles(backend, fetch_rows):
    """coalesce(real, 0) gives integers in some batches and reals in others."""
    table = check(backend, rows_sql(30, "CASE WHEN i > 12 THEN i + 0.25 ELSE 0 END AS c"), [pa.float64()])
    assert table.column(0).to_pylist()[:3] == [0.0, 0.0, 0.0]


def test_text_and_numbers_mix_into_text(backend, fetch_rows):
    sql = rows_sql(30, "CASE WHEN i > 20 THEN 't' || i WHEN i % 3 = 0 THEN NULL ELSE i END AS c")
    table = backend.fetch_arrow(sql)
    assert table.schema.types == [pa.large_string()]
    assert table.column(0).to_pylist() == [None if v is None else str(v) for (v,) in backend.fetch_rows(sql)]


def test_integers_beyond_doubles_mixed_with_reals(backend, fetch_rows):
    """An integer no double holds exactly cannot be promoted: the column becomes text, losing nothing."""
    sql = rows_sql(20, "CASE WHEN i = 2 THEN 9007199254740993 WHEN i > 10 THEN 0.5 ELSE i END AS c")
    values = backend.fetch_arrow(sql).column(0).to_pylist()
    assert values[1] == "9007199254740993" and values[-1] == "0.5"


def test_integer_limits_and_special_text(backend, fetch_rows):
    check(backend, ROWS.format(n=3) + "SELECT CASE i WHEN 1 THEN 9223372036854775807 WHEN 2 THEN "
          "-9223372036854775808 ELSE 0 END, CASE i WHEN 1 THEN '' WHEN 2 THEN 'ünï ✓' ELSE NULL END FROM r",
          [pa.int64(), pa.large_string()])


def test_empty_result(backend, fetch_rows):
    table = check(backend, "SELECT 1 AS a, 'x' AS b WHERE 0", [pa.null(), pa.null()])
    assert table.num_rows == 0 and table.column_names == ["a", "b"]
    assert list(backend.fetch_batches("SELECT 1 AS a WHERE 0")) == []


def test_duplicate_names_keep_their_positions(backend):
    table = backend.fetch_arrow("SELECT 1 AS a, 'x' AS a")
    assert table.column_names == ["a", "a"] and table.column(1).to_pylist() == ["x"]


def test_text_and_blobs_mix_into_blobs(backend, fetch_rows):
    sql = rows_sql(30, "CASE WHEN i > 20 THEN CAST('b' || i AS BLOB) WHEN i % 4 THEN 't' || i END AS c")
    values = backend.fetch_arrow(sql).column(0).to_pylist()
    stored = [v for (v,) in backend.fetch_rows(sql)]
    assert values == [v.encode() if isinstance(v, str) else v for v in stored]


def test_wide_and_long(backend):
    wide = backend.fetch_arrow(rows_sql(5, *(f"i * {k} AS c{k}" for k in range(300))))
    assert wide.num_columns == 300 and wide.column(299).to_pylist() == [299 * i for i in range(1, 6)]
    long = check(backend, rows_sql(200_000, "i", "CASE WHEN i % 5 THEN 'v' || (i % 97) END AS s", "i * 0.5 AS x"),
                 [pa.int64(), pa.large_string(), pa.float64()], batch_rows=30_000)
    assert long.column(0).num_chunks == -(-200_000 // sqlite_backend.GROUP_ROWS)  # not one per fetched batch


def test_long_results_come_in_few_chunks(backend, monkeypatch):
    """Small fetched batches are merged into chunks of GROUP_ROWS rows (one per group, not per batch)."""
    monkeypatch.setattr(sqlite_backend, "GROUP_ROWS", 50_000)
    table = check(backend, rows_sql(200_000, "i", "'v' || i AS s"), [pa.int64(), pa.large_string()],
                  batch_rows=150_000)
    assert [c.num_chunks for c in table.columns] == [4, 4]


@pytest.mark.parametrize("batch_rows", [1, 7, 10, 64, 100_000])
def test_stream_batches_are_exactly_batch_rows(backend, fetch_rows, batch_rows):
    sql = rows_sql(205, "i", "CASE WHEN i > 100 THEN i * 0.5 END AS f")
    batches = list(backend.fetch_batches(sql, batch_rows))
    assert [b.num_rows for b in batches[:-1]] == [batch_rows] * (len(batches) - 1)
    assert sum(b.num_rows for b in batches) == 205 and 0 < batches[-1].num_rows <= batch_rows
    assert pa.Table.from_batches(batches[-1:]).column(0).to_pylist()[-1] == 205


def test_errors_are_translated(backend):
    with pytest.raises(errors.QuerySyntaxError):
        backend.fetch_arrow("SELEC 1")
    with pytest.raises(errors.DataJointError):  # raised by SQLite in the middle of the rows
        backend.fetch_arrow(rows_sql(20_000, "CASE WHEN i = 19000 THEN abs(-9223372036854775808) ELSE i END"))
    with pytest.raises(errors.DataJointError):
        list(backend.fetch_batches(rows_sql(100, "CASE WHEN i = 90 THEN abs(-9223372036854775808) END"), 10))


def test_ingest_in_slices(backend, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "INGEST_ROWS", 7)
    backend.execute('CREATE TABLE "s.t" (k INT PRIMARY KEY, v TEXT, b BLOB, f REAL)')
    data = pa.table({"k": pa.array(range(50), pa.int64()), "v": [None if i % 5 == 0 else f"v{i}" for i in range(50)],
                     "b": [bytes([i]) for i in range(50)], "f": [i / 4 for i in range(50)]})
    assert backend.ingest("s", "t", data.slice(0, 30)) == 30
    assert backend.ingest("s", "t", data, skip_duplicates=True, primary_key=("k",)) == 20
    assert backend.ingest("s", "t", data.slice(0, 0)) in (0, -1)
    got = backend.fetch_arrow('SELECT k, v, b, f FROM "s.t" ORDER BY k')
    assert got.to_pylist() == data.to_pylist()


def test_heading_types_through_the_api(schema, backend_name, monkeypatch):
    """Text dates, datetimes, uint64 and decimals stored as text, and blobs come back typed by the heading."""
    if backend_name != "sqlite":
        pytest.skip("the SQLite batched fetch")
    monkeypatch.setattr(sqlite_backend, "FETCH_ROWS", 8)

    @schema
    class Typed(dj.Manual):
        definition = """
        k : int32
        ---
        d = null : date
        t = null : datetime(3)
        u = null : uint64
        m = null : decimal(8, 3)
        b = null : bytes
        s = null : varchar(20)
        f = null : float32
        """

    n = 45
    rows = [{"k": i, "d": None if i % 4 == 0 else dt.date(2020, 1, 1) + dt.timedelta(days=i),
             "t": None if i < 20 else dt.datetime(2021, 5, 6, 7, 8, 9, 123000) + dt.timedelta(seconds=i),
             "u": None if i % 3 == 0 else 2 ** 64 - 1 - i, "m": None if i > 30 else decimal.Decimal(i) / 8,
             "b": None if i % 2 else bytes(range(i % 256)), "s": None if i < 16 else f"s{i}",
             "f": None if i < 24 else i / 2} for i in range(n)]
    Typed.insert(rows)
    frame = Typed.to_polars()
    assert frame.schema["d"] == pl.Date and frame.schema["t"] == pl.Datetime("us")
    assert frame.schema["u"] == pl.UInt64 and frame.schema["f"] == pl.Float32
    exact = decimal.Decimal("0.001")
    assert frame.sort("k").to_dicts() == [{**r, "m": None if r["m"] is None else r["m"].quantize(exact)} for r in rows]
    batches = list(Typed().iter_batches(batch_rows=10, format="polars"))
    assert [len(b) for b in batches] == [10, 10, 10, 10, 5]
    assert pl.concat(batches).sort("k").equals(frame.sort("k"))
    empty = (Typed & "k < 0").to_polars()
    assert empty.height == 0 and empty.schema == frame.schema
    assert np.array_equal((Typed & "k < 3").to_arrow().column("k").to_numpy(), [0, 1, 2])
