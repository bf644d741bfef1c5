"""Fetches split into slices of one table and read in parallel (PostgreSQL) return exactly what a
single SELECT returns; queries that cannot be split, and fetches inside a transaction, take one stream.

On backends without parallel fetch the same assertions run on the single-stream path."""

import numpy as np
import polars as pl
import pytest

import djframe as dj
from djframe.query.compile import Compiler

ROWS = 20_000


@pytest.fixture
def tables(schema, conn):
    @schema
    class Group(dj.Lookup):
        definition = """
        g : int16
        ---
        label : varchar(20)
        """
        contents = [(g, f"group {g}") for g in range(10)]

    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        ---
        -> Group
        x : float64
        note = null : varchar(100)
        """

    @schema
    class Tag(dj.Manual):
        definition = """
        -> Item
        tag : varchar(8)
        """

    rng = np.random.default_rng(1)
    Item.insert(pl.DataFrame({"item": np.arange(ROWS, dtype=np.int32), "g": (np.arange(ROWS) % 10).astype(np.int16),
                              "x": rng.random(ROWS), "note": [None if i % 7 else "n" * 60 for i in range(ROWS)]}))
    Tag.insert([{"item": i, "tag": t} for i in range(0, ROWS, 50) for t in ("a", "b")])
    backend = conn.backend
    saved = {k: getattr(backend, k) for k in ("parallel_min_pages", "parallel_min_rows") if hasattr(backend, k)}
    for k in saved:
        setattr(backend, k, 0)  # split even this small table
    getattr(backend, "_slice_bounds", {}).clear()
    yield Group, Item, Tag
    for k, v in saved.items():
        setattr(backend, k, v)


def _slices(query):
    backend = query.connection.backend
    return Compiler(backend).split_sql(query.node, slices=backend.table_slices)


def _same(query):
    """The default fetch (split where possible) equals the ordered single-stream fetch."""
    split = query.to_polars()
    single = query.to_polars(order_by="KEY")  # ordering disables splitting
    assert split.schema == single.schema
    assert split.sort(query.primary_key).equals(single)
    return split


@pytest.mark.parametrize("build", [
    lambda G, I, T: I(),
    lambda G, I, T: I & "x > 0.5",
    lambda G, I, T: (I & "x < 0.3") * (G & "label < 'group 5'"),
    lambda G, I, T: I.proj("x", twice="2 * x"),
    lambda G, I, T: I & T,
    lambda G, I, T: I - T,
    lambda G, I, T: I * T,
    lambda G, I, T: I.extend(G),
    lambda G, I, T: I.proj(),
], ids=["table", "restricted", "join", "computed", "semijoin", "antijoin", "join-many", "left-join", "pk-only"])
def test_split_fetch_equals_single_stream(tables, build, backend_name):
    query = build(*tables)
    if backend_name == "postgresql":
        assert _slices(query) and len(_slices(query)) >= 2, "the test table should be split"
    frame = _same(query)
    assert frame.height == len(query)


@pytest.mark.parametrize("build", [
    lambda G, I, T: dj.U("g") & I,
    lambda G, I, T: G.aggr(I, n="count(*)"),
    lambda G, I, T: I & dj.Top(5, "x DESC"),
    lambda G, I, T: I.proj() + I.proj(),
], ids=["distinct", "aggregate", "top", "union"])
def test_queries_that_cannot_be_split_still_fetch_correctly(tables, build):
    query = build(*tables)
    assert _slices(query) is None
    _same(query)


def test_no_split_inside_a_transaction(tables, conn):
    _, Item, _ = tables
    with conn.transaction:
        Item.insert1({"item": ROWS + 1, "g": 1, "x": 0.5})
        assert _slices(Item()) is None  # other connections could not see the uncommitted row
        assert Item.to_polars().height == ROWS + 1
    assert Item.to_polars().height == ROWS + 1


def test_split_fetch_after_a_delete(tables):
    _, Item, _ = tables
    (Item & "item < 100").delete()
    frame = Item.to_polars()
    assert frame.height == ROWS - 100 and frame["item"].min() == 100 and frame["item"].n_unique() == frame.height


def test_split_fetch_reads_one_snapshot(tables, conn, backend_name, monkeypatch):
    """A row committed by another client after the first slice's snapshot is seen by no slice."""
    if backend_name != "postgresql":
        pytest.skip("parallel fetch with a shared snapshot is PostgreSQL's")
    from djframe.backends.postgres.driver import PostgresBackend
    from djframe.connection import Connection, make_backend
    _, Item, _ = tables
    other = Connection.over(make_backend(conn.settings), conn.settings)
    begin = PostgresBackend._begin_snapshot

    def begin_then_commit_elsewhere(conns, started):
        snapshot = begin(conns, started)
        other.backend.execute(f"INSERT INTO {Item.full_table_name} (item, g, x) VALUES ({ROWS + 5}, 1, 0.5)")
        return snapshot

    monkeypatch.setattr(PostgresBackend, "_begin_snapshot", staticmethod(begin_then_commit_elsewhere))
    try:
        assert Item.to_polars().height == ROWS  # the concurrent insert is after the snapshot
    finally:
        monkeypatch.undo()
        other.close()
    assert Item.to_polars().height == ROWS + 1
