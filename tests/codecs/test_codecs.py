"""The codec API: registration, chaining, type reconstruction, in-table <blob>, column decoding."""

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import djframe as dj
from djframe.codecs import resolve_chain
from djframe.errors import DataJointError, InvalidValueError


@pytest.fixture
def stores(tmp_path):
    location = tmp_path / "store"
    location.mkdir()
    with dj.config.override(stores={"default": "main", "main": {"protocol": "file", "location": str(location)}},
                            download_path=str(tmp_path / "downloads")):
        yield location


# ----- registry -----------------------------------------------------------------------------------
def test_builtin_codecs_listed():
    assert {"attach", "blob", "filepath", "hash", "npy", "object"} <= set(dj.list_codecs())
    assert dj.get_codec("blob").name == "blob"


def test_unknown_codec_error_names_known_codecs():
    with pytest.raises(DataJointError, match=r"Codec <nope> is not registered.*blob"):
        dj.get_codec("nope")


def test_subclass_registers_and_duplicates_fail():
    class Celsius(dj.Codec):
        name = "test_celsius"

        def get_dtype(self, is_store):
            return "<blob>"

        def encode(self, value, *, key=None):
            return value

        def decode(self, stored, *, key=None):
            return stored

    assert isinstance(dj.get_codec("test_celsius"), Celsius)
    with pytest.raises(DataJointError, match="already registered"):
        class Other(dj.Codec):
            name = "test_celsius"

    class Abstract(dj.Codec, register=False):
        name = "test_abstract"
    assert "test_abstract" not in dj.list_codecs()


def test_chain_resolution_and_store_propagation():
    chain, dtype = resolve_chain("blob", "main")
    assert [(c.name, s) for c, s in chain] == [("blob", "main"), ("hash", "main")] and dtype == "json"
    chain, dtype = resolve_chain("blob", None)
    assert [c.name for c, _ in chain] == ["blob"] and dtype == "bytes"
    with pytest.raises(DataJointError, match="<hash@store>"):
        resolve_chain("hash", None)
    with pytest.raises(DataJointError, match="<npy@store>"):
        resolve_chain("npy", None)


def test_cycle_is_an_error():
    class A(dj.Codec):
        name = "test_cycle_a"

        def get_dtype(self, is_store):
            return "<test_cycle_b>"

    class B(dj.Codec):
        name = "test_cycle_b"

        def get_dtype(self, is_store):
            return "<test_cycle_a>"

    with pytest.raises(DataJointError, match="circular"):
        resolve_chain("test_cycle_a", None)


# ----- user codecs in tables -------------------------------------------------------------------
class Interval(dj.Codec):
    """A (start, stop) pair stored as a blob; records the keys it saw."""

    name = "test_interval"
    seen = []

    def get_dtype(self, is_store):
        return "<blob>"

    def validate(self, value):
        if not (isinstance(value, tuple) and len(value) == 2):
            raise TypeError("an interval is a (start, stop) tuple")

    def encode(self, value, *, key=None, store_name=None):
        Interval.seen.append((dict(key), store_name))
        return np.array(value, dtype=float)

    def decode(self, stored, *, key=None):
        return tuple(stored.tolist())


def test_user_codec_chained_to_blob(schema):
    @schema
    class Span(dj.Manual):
        definition = """
        span_id : int32
        ---
        span : <test_interval>
        """
    Interval.seen.clear()
    Span.insert([{"span_id": 1, "span": (0.5, 2.0)}, {"span_id": 2, "span": (3.0, 4.0)}])
    assert Span.heading["span"].codec == "test_interval" and Span.heading["span"].store is None
    assert (Span & {"span_id": 2}).fetch1("span") == (3.0, 4.0)
    key, store = Interval.seen[0]
    assert key["_schema"] == schema.database and key["_table"] == "span" and key["_field"] == "span"
    assert key["span_id"] == 1 and store is None
    with pytest.raises(InvalidValueError, match="interval"):
        Span.insert1({"span_id": 3, "span": [1, 2, 3]})


def test_user_codec_chained_through_a_store(schema, stores):
    @schema
    class Span(dj.Manual):
        definition = """
        span_id : int32
        ---
        span : <test_interval@main>
        """
    Span.insert1({"span_id": 1, "span": (1.0, 9.0)})
    assert Span.fetch1("span") == (1.0, 9.0)
    assert any((stores / "_hash" / schema.database).iterdir())


def test_type_reconstructed_from_column_comment(schema):
    @schema
    class Thing(dj.Manual):
        definition = """
        thing_id : int32
        ---
        payload = null : <blob>
        """
    Thing.insert1({"thing_id": 1, "payload": {"a": [1, 2]}})
    free = dj.FreeTable(schema.connection, schema.database, "thing")
    assert free.heading["payload"].codec == "blob"
    assert free.fetch1("payload") == {"a": [1, 2]}


def test_unregistered_codec_loads_heading_then_fails_on_use(schema):
    class Temporary(dj.Codec):
        name = "test_temporary"

        def get_dtype(self, is_store):
            return "bytes"

        def encode(self, value, *, key=None):
            return bytes(value)

        def decode(self, stored, *, key=None):
            return bytes(stored)

    @schema
    class Holder(dj.Manual):
        definition = """
        holder_id : int32
        ---
        raw : <test_temporary>
        """
    Holder.insert1({"holder_id": 1, "raw": b"xyz"})
    from djframe.codecs import _codec_registry as _registry
    del _registry["test_temporary"]
    try:
        schema.connection.forget()
        free = dj.FreeTable(schema.connection, schema.database, "holder")
        assert free.heading["raw"].codec == "test_temporary"
        with pytest.raises(DataJointError, match="not registered"):
            free.to_dicts()
    finally:
        _registry["test_temporary"] = Temporary()


# ----- in-table <blob> ------------------------------------------------------------------------------
VALUES = [
    np.arange(12, dtype=np.int32).reshape(3, 4),
    {"name": "x", "vals": [1, 2.5, None], "nested": (1, "a")},
    "text", 42, 3.25, None, np.float64(2.0), np.array(["a", "bc"]), [np.zeros(2), np.ones(3)],
]


def test_blob_roundtrip(schema):
    @schema
    class Blobs(dj.Manual):
        definition = """
        blob_id : int32
        ---
        value = null : <blob>
        """
    Blobs.insert([{"blob_id": i, "value": v} for i, v in enumerate(VALUES)])
    got = {r["blob_id"]: r["value"] for r in Blobs.to_dicts()}
    assert np.array_equal(got[0], VALUES[0]) and got[0].dtype == np.int32
    assert got[1] == VALUES[1] and got[2] == "text" and got[3] == 42 and got[4] == 3.25 and got[5] is None
    assert got[6] == 2.0 and list(got[7]) == ["a", "bc"] and np.array_equal(got[8][1], np.ones(3))


def test_uniform_arrays_become_fixed_size_array_column(schema):
    @schema
    class Traces(dj.Manual):
        definition = """
        trace_id : int32
        ---
        trace : <blob>
        """
    data = np.random.default_rng(0).normal(size=(20, 1500))
    Traces.insert([{"trace_id": i, "trace": data[i]} for i in range(20)])
    frame = Traces.to_polars(order_by="trace_id")
    assert frame.schema["trace"] == pl.Array(pl.Float64, 1500)
    assert np.array_equal(frame["trace"].to_numpy(), data)


@pytest.fixture
def many_traces(schema, monkeypatch):
    """Blob rows fetched in several decode batches (the batch size made small)."""
    from djframe.query import fetch
    monkeypatch.setattr(fetch, "DECODE_BATCH_ROWS", 16)

    @schema
    class Traces(dj.Manual):
        definition = """
        trace_id : int32
        ---
        trace = null : <blob>
        """
    return Traces


def test_uniform_arrays_across_decode_batches(many_traces):
    data = np.random.default_rng(1).normal(size=(53, 40))  # 3 full batches and a last one of 5 rows
    many_traces.insert([{"trace_id": i, "trace": data[i]} for i in range(53)])
    frame = many_traces.to_polars(order_by="trace_id")
    assert frame.schema["trace"] == pl.Array(pl.Float64, 40)
    assert np.array_equal(frame["trace"].to_numpy(), data) and frame["trace_id"].to_list() == list(range(53))
    window = many_traces.to_polars(order_by="trace_id DESC", limit=20, offset=3)
    assert window["trace_id"].to_list() == list(range(49, 29, -1))
    assert np.array_equal(window["trace"].to_numpy(), data[49:29:-1])


def test_mixed_values_across_decode_batches_become_objects(many_traces):
    rows = [{"trace_id": i, "trace": np.arange(float(i % 3 + 1)) if i != 40 else None} for i in range(50)]
    many_traces.insert(rows)
    frame = many_traces.to_polars(order_by="trace_id")
    assert frame.schema["trace"] == pl.Object
    values = frame["trace"].to_list()
    assert values[40] is None and all(np.array_equal(values[i], np.arange(float(i % 3 + 1)))
                                      for i in range(50) if i != 40)


def test_computed_column_typed_by_a_later_decode_batch(many_traces):
    """A computed column NULL throughout the first batches takes the type a later batch shows."""
    many_traces.insert([{"trace_id": i, "trace": np.ones(3)} for i in range(40)])
    frame = many_traces.proj("trace", late="CASE WHEN trace_id >= 30 THEN trace_id END").to_polars(
        order_by="trace_id")
    assert frame["late"].to_list() == [None] * 30 + list(range(30, 40))
    assert frame.schema["late"].is_integer()


def test_empty_blob_fetch_keeps_the_heading(many_traces):
    frame = many_traces.to_polars()
    assert frame.columns == ["trace_id", "trace"] and frame.height == 0


def test_compressed_blob_is_byte_identical_to_pack(schema):
    from djframe.codecs.blob import pack
    @schema
    class Zeros(dj.Manual):
        definition = """
        zid : int32
        ---
        z : <blob>
        """
    Zeros.insert1({"zid": 1, "z": np.zeros(300)})
    raw = schema.connection.backend.fetch_arrow(
        f"SELECT {schema.connection.backend.quote('z')} FROM {Zeros.full_table_name}").column(0)[0].as_py()
    assert bytes(raw) == pack(np.zeros(300)) and bytes(raw).startswith(b"ZL123\0")


def test_arrow_and_polars_list_columns_insert_as_arrays(schema):
    @schema
    class Vectors(dj.Manual):
        definition = """
        vid : int32
        ---
        vec : <blob>
        """
    frame = pl.DataFrame({"vid": [1, 2], "vec": np.arange(6.0).reshape(2, 3)})
    Vectors.insert(frame)
    Vectors.insert(pa.table({"vid": [3], "vec": pa.array([[7.0, 8.0]], pa.list_(pa.float64()))}))
    got = {r["vid"]: r["vec"] for r in Vectors.to_dicts()}
    assert isinstance(got[1], np.ndarray) and np.array_equal(got[2], [3.0, 4.0, 5.0])
    assert np.array_equal(got[3], [7.0, 8.0])


def test_validate_checks_codec_values_without_writing(schema, stores):
    @schema
    class Arrays(dj.Manual):
        definition = """
        aid : int32
        ---
        arr : <npy@main>
        """
    assert Arrays.validate([{"aid": 1, "arr": np.ones(3)}])
    assert not Arrays.validate([{"aid": 1, "arr": [1, 2]}])
    assert not any(stores.rglob("*.npy"))
    with pytest.raises(InvalidValueError, match="numpy.ndarray"):
        Arrays.insert1({"aid": 1, "arr": "not an array"})


class Point(dj.Codec):
    """A 2-D point kept in a JSON column in the table (chain ends in a core type other than bytes)."""

    name = "test_point"

    def get_dtype(self, is_store):
        return "json"

    def encode(self, value, *, key=None):
        return {"x": value[0], "y": value[1]}

    def decode(self, stored, *, key=None):
        return (stored["x"], stored["y"])


class Label(dj.Codec):
    name = "test_label"

    def get_dtype(self, is_store):
        return "varchar(16)"

    def encode(self, value, *, key=None):
        return value.upper()

    def decode(self, stored, *, key=None):
        return stored.lower()


def test_user_codecs_stored_as_other_core_types(schema):
    @schema
    class Place(dj.Manual):
        definition = """
        place_id : int32
        ---
        where_ : <test_point>
        label : <test_label>
        """
    Place.insert1({"place_id": 1, "where_": (1.5, -2), "label": "home"})
    assert Place.fetch1("where_", "label") == ((1.5, -2), "home")
    assert Place.heading["label"].type.storage.text == "varchar(16)"
    with pytest.raises(InvalidValueError, match="at most 16"):
        Place.insert1({"place_id": 2, "where_": (0, 0), "label": "x" * 17})


def test_declaration_rejects_unknown_codecs_and_modes(schema):
    from djframe.errors import DeclarationError
    for text in ("<no_such_codec>", "<hash>", "<object>"):
        with pytest.raises(DeclarationError):
            schema(type("Bad", (dj.Manual,), {"definition": f"bid : int32\n---\nv : {text}\n"}))


# ----- whole-column decoding ------------------------------------------------------------------------
@pytest.mark.parametrize("arrays", [
    [np.random.default_rng(i).normal(size=400) for i in range(12)],  # compressed rows
    [np.arange(12, dtype=np.int16).reshape(3, 4) + i for i in range(12)],  # raw, 2-d (column-major)
    [np.zeros((2, 3, 2)) + i for i in range(12)],  # compressed, 3-d
    [np.array([True, False, True])] * 12,
], ids=["float-compressed", "int16-2d", "float-3d", "bool"])
def test_uniform_column_decodes_like_unpack(arrays):
    from djframe.codecs.blob import pack_many, stack_if_uniform, unpack
    from djframe.codecs.columns import unpack_uniform
    blobs = pack_many(arrays)
    stacked = unpack_uniform(blobs)
    assert stacked is not None and stacked.shape == (12,) + arrays[0].shape
    for row, blob in zip(stacked, blobs):
        expected = unpack(blob)
        assert row.dtype == expected.dtype and np.array_equal(row, expected)
    assert stack_if_uniform(list(stacked)) is not None  # rows of one array are recognised, not copied
    assert np.shares_memory(stack_if_uniform(list(stacked)), stacked)


def test_non_uniform_or_corrupt_columns_take_the_general_path():
    from djframe.codecs.blob import pack_many, unpack_many
    from djframe.codecs.columns import unpack_uniform
    assert unpack_uniform(pack_many([np.arange(3.0)] * 9 + [np.arange(4.0)])) is None
    assert unpack_uniform(pack_many([np.arange(3.0)] * 9 + [None])) is None
    assert unpack_uniform(pack_many([np.arange(3.0)] * 9 + ["text"])) is None
    blobs = pack_many([np.zeros(300)] * 9)
    blobs[3] = blobs[3][:-1] + bytes([blobs[3][-1] ^ 1])  # breaks the zlib checksum
    assert unpack_uniform(blobs) is None
    with pytest.raises(DataJointError, match="Not a valid DataJoint blob"):
        unpack_many(blobs)


def test_resolve_dtype_gives_the_chain_and_store():
    """The reference's `resolve_dtype`: (final dtype, codecs outermost first, store)."""
    from djframe.codecs import _codec_registry, resolve_dtype
    dtype, chain, store = resolve_dtype("<blob@archive>")
    assert dtype == "json" and [c.name for c in chain] == ["blob", "hash"] and store == "archive"
    assert resolve_dtype("<blob>")[0] == "bytes" and resolve_dtype("<blob>")[2] is None
    assert resolve_dtype("int32") == ("int32", [], None)
    assert _codec_registry["npy"] is dj.get_codec("npy") and repr(dj.get_codec("blob")) == "<BlobCodec(name='blob')>"


def test_object_ref_from_fields_and_store_codecs_need_a_store():
    from datetime import datetime, timezone
    from djframe.compat.objectref import ObjectRef
    when = datetime(2025, 1, 15, 10, 30, tzinfo=timezone.utc)
    ref = ObjectRef(path="s/T/id=1/data.dat", size=10, hash=None, ext=".dat", is_dir=False, timestamp=when)
    assert str(ref) == "s/T/id=1/data.dat" and "file" in repr(ref) and ref.timestamp == when
    assert ref.to_json()["size"] == 10 and ObjectRef.from_json(ref.to_json()).path == ref.path
    for name in ("npy", "object"):
        with pytest.raises(DataJointError, match="requires @"):
            dj.get_codec(name).get_dtype(is_store=False)
