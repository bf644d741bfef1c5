"""PostgreSQL-specific layout and behaviour, and interop with the reference client on PostgreSQL."""

import datetime as dt
import hashlib
import decimal
import uuid
import warnings

import numpy as np
import pyarrow as pa
import pytest

import djframe as dj
from djframe.errors import (DuplicateError, IntegrityError, InvalidValueError, QuerySyntaxError,
                            UnknownAttributeError)
from tests.conftest import BACKENDS

pytestmark = [
    pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL is not among DJ_TEST_BACKENDS"),
    pytest.mark.parametrize("connection", ["postgresql"], indirect=True),
]


def column_types(conn, schema, table) -> dict:
    """{column: (format_type, comment)} straight from the catalog."""
    rows = conn.query(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{schema}' AND c.relname = '{table}' AND a.attnum > 0 AND NOT a.attisdropped")
    return {name: (sql_type, comment) for name, sql_type, comment in rows}


def enum_types(conn, schema) -> set:
    rows = conn.query("SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                      f"WHERE n.nspname = '{schema}' AND t.typtype = 'e'")
    return {r[0] for r in rows}


def test_type_mapping_and_markers_on_every_column(schema, conn):
    @schema
    class Kinds(dj.Manual):
        definition = """
        # all the kinds
        kid : int8           # small key
        ---
        u8 : uint8
        u16 : uint16
        u32 : uint32
        u64 : uint64
        f32 : float32
        flag : bool
        amount : decimal(7,2)
        code : char(3)
        name : varchar(9)
        moment : datetime
        moment3 : datetime(3)
        doc = null : json
        ident = null : uuid
        raw = null : bytes
        blob = null : <blob>
        """

    @schema
    class Child(dj.Manual):
        definition = """
        -> Kinds
        n : int32
        """

    types = column_types(conn, schema.database, "kinds")
    assert {k: v[0] for k, v in types.items()} == {
        "kid": "smallint", "u8": "smallint", "u16": "integer", "u32": "bigint", "u64": "numeric(20,0)",
        "f32": "real", "flag": "boolean", "amount": "numeric(7,2)", "code": "character(3)",
        "name": "character varying(9)", "moment": "timestamp(0) without time zone",
        "moment3": "timestamp(3) without time zone", "doc": "jsonb", "ident": "uuid", "raw": "bytea", "blob": "bytea"}
    assert types["kid"][1] == ":int8:small key" and types["u64"][1] == ":uint64:" and types["blob"][1] == ":<blob>:"
    child = column_types(conn, schema.database, "child")
    assert child["kid"] == ("smallint", ":int8:small key")  # FK columns carry the marker too
    assert conn.query(f"SELECT obj_description('\"{schema.database}\".kinds'::regclass, 'pg_class')").fetchone()[0] \
        == "all the kinds"
    assert Child.heading["kid"].type.kind == "int8"
    with pytest.raises(InvalidValueError, match="check constraint"):
        conn.query(f'INSERT INTO "{schema.database}".kinds (kid, u8, u16, u32, u64, f32, flag, amount, code, name, '
                   "moment, moment3) VALUES (1, 256, 0, 0, 0, 0, TRUE, 0, 'a', 'b', now(), now())")


def test_enum_types_are_named_shared_and_kept_while_used(schema, conn):
    @schema
    class First(dj.Manual):
        definition = """
        first_id : int32
        ---
        sex = 'U' : enum('M', 'F', 'U')
        """

    @schema
    class Second(dj.Manual):
        definition = """
        second_id : int32
        ---
        sex : enum('F', 'M', 'U')   # same value set, other order: the same type
        kind : enum('mammal', 'bird')
        """

    @schema
    class Third(dj.Manual):
        definition = """
        -> First
        """

    name = f"{schema.database}.enum_e54fc739"
    assert column_types(conn, schema.database, "first")["sex"][0] == name
    assert column_types(conn, schema.database, "second")["sex"][0] == name
    assert column_types(conn, schema.database, "second")["kind"][0] == f"{schema.database}.enum_2ec394f5"
    assert enum_types(conn, schema.database) == {"enum_e54fc739", "enum_2ec394f5"}
    First.insert1({"first_id": 1})
    Second.insert1({"second_id": 1, "sex": "M", "kind": "bird"})
    assert First.fetch1("sex") == "U" and (Second & {"kind": "bird"}).keys() == [{"second_id": 1}]
    assert len(Second & {"kind": "fish"}) == 0 and len(Second - {"kind": "fish"}) == 1  # not a value: no match
    Second.drop()
    assert enum_types(conn, schema.database) == {"enum_e54fc739"}  # still used by first
    assert First.fetch1("sex") == "U"
    First.drop()
    assert enum_types(conn, schema.database) == set()


def test_uuid_is_native_and_round_trips(schema, conn):
    @schema
    class Item(dj.Manual):
        definition = """
        item : uuid
        ---
        other = null : uuid
        """

    ids = [uuid.uuid4() for _ in range(5)]
    Item.insert([{"item": i, "other": None if n % 2 else i} for n, i in enumerate(ids)])
    assert sorted(r[0] for r in conn.query(f'SELECT item::text FROM "{schema.database}".item')) == \
        sorted(str(i) for i in ids)
    assert (Item & {"item": ids[2]}).fetch1("other") == ids[2]
    assert (Item & {"item": str(ids[1])}).fetch1("other") is None
    frame = Item.to_arrow(order_by="item")
    assert frame.schema.field("item").type == pa.string()
    assert frame.column("item").to_pylist() == sorted(str(i) for i in ids)
    assert Item.to_arrow(limit=0).schema.field("item").type == pa.string()


def test_codec_bytes_are_stored_without_a_second_compression(schema, conn):
    """<blob> and <attach> values arrive compressed by the codec: STORAGE EXTERNAL, unlike plain bytes."""
    @schema
    class Data(dj.Manual):
        definition = """
        did : int32
        ---
        arr : <blob>
        att = null : <attach>
        raw = null : bytes
        """
    rows = conn.query("SELECT a.attname, a.attstorage FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                      f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema.database}' "
                      "AND c.relname = 'data' AND a.attnum > 0")
    assert dict(rows) == {"did": "p", "arr": "e", "att": "e", "raw": "x"}
    Data.insert1({"did": 1, "arr": np.arange(10000.0)})
    assert np.array_equal(Data.fetch1("arr"), np.arange(10000.0))


def test_indexes_are_named_and_read_back(schema, conn):
    @schema
    class Parent(dj.Manual):
        definition = """
        parent_id : int32
        ---
        label : varchar(20)
        unique index (label)
        """

    @schema
    class Kid(dj.Manual):
        definition = """
        kid_id : int32
        ---
        -> Parent
        -> [nullable, unique] Parent.proj(buddy='parent_id')
        note = '' : varchar(10)
        index (note)
        """

    rows = conn.query("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'kid'"
                      .replace("%s", f"'{schema.database}'"))
    names = {r[0] for r in rows}
    assert {"idx_kid_parent_id", "idx_kid_buddy", "idx_kid_note"} <= names
    spec = conn.table_spec(schema.database, "kid")
    assert {(ix.columns, ix.unique) for ix in spec.indexes} == {(("buddy",), True), (("note",), False)}
    assert {(ix.columns, ix.unique) for ix in conn.table_spec(schema.database, "parent").indexes} == \
        {(("label",), True)}


def test_skip_duplicates_and_replace_with_converted_types(schema):
    @schema
    class Mixed(dj.Manual):
        definition = """
        mid : uint64
        ---
        tag : enum('x', 'y')
        doc = null : json
        ident = null : uuid
        amount = 0 : decimal(6,2)
        """

    big = 2**64 - 1
    Mixed.insert([{"mid": big, "tag": "x", "doc": {"a": 1}, "ident": uuid.UUID(int=1), "amount": 1}])
    Mixed.insert([{"mid": big, "tag": "y"}, {"mid": 5, "tag": "y"}], skip_duplicates=True)
    assert Mixed.to_dicts(order_by="mid") == [
        {"mid": 5, "tag": "y", "doc": None, "ident": None, "amount": decimal.Decimal("0.00")},
        {"mid": big, "tag": "x", "doc": {"a": 1}, "ident": uuid.UUID(int=1), "amount": decimal.Decimal("1.00")}]
    Mixed.insert([{"mid": big, "tag": "y", "doc": [1], "ident": uuid.UUID(int=2), "amount": 2}], replace=True)
    assert (Mixed & {"mid": big}).fetch1("doc", "ident", "tag") == ([1], uuid.UUID(int=2), "y")
    with pytest.raises(DuplicateError):
        Mixed.insert([{"mid": 5, "tag": "x"}])
    with pytest.raises(DuplicateError):
        Mixed.insert([{"mid": 6, "tag": "x"}, {"mid": 6, "tag": "y"}], replace=True)
    assert len(Mixed()) == 2


def test_errors_are_translated(schema, conn):
    @schema
    class Root(dj.Manual):
        definition = """
        root_id : int32
        """

    @schema
    class Leaf(dj.Manual):
        definition = """
        -> Root
        leaf : int16
        """

    with pytest.raises(IntegrityError):
        Leaf.insert1({"root_id": 1, "leaf": 1})
    with pytest.raises(QuerySyntaxError):
        conn.query("SELEC 1")
    with pytest.raises(UnknownAttributeError, match="nope"):
        conn.query(f'SELECT nope FROM "{schema.database}".root')
    Root.insert1({"root_id": 1})
    Leaf.insert1({"root_id": 1, "leaf": 1})
    with pytest.raises(IntegrityError):
        (Root & {"root_id": 1}).delete_quick()


def test_ingest_joins_the_open_transaction(schema, conn):
    @schema
    class Bulk(dj.Manual):
        definition = """
        bulk_id : int64
        ---
        value : float64
        """

    data = pa.table({"bulk_id": pa.array(np.arange(1000), pa.int64()), "value": pa.array(np.ones(1000))})
    conn.start_transaction()
    Bulk.insert(data)
    assert len(Bulk()) == 1000  # the same connection sees its own uncommitted rows
    conn.cancel_transaction()
    assert len(Bulk()) == 0
    Bulk.insert(data)
    batches = list(Bulk().iter_batches(batch_rows=300))
    assert sum(b.num_rows for b in batches) == 1000 and all(b.num_rows <= 300 for b in batches)


def test_cross_schema_enum_foreign_key_and_guarded_drop(schema, conn):
    @schema
    class Species(dj.Lookup):
        definition = """
        species : enum('mouse', 'rat')
        """
        contents = [("mouse",), ("rat",)]

    other = dj.Schema(schema.database + "_b", connection=conn)
    try:
        @other
        class Animal(dj.Manual):
            definition = """
            animal : int32
            ---
            -> Species
            """

        enum = "enum_" + hashlib.md5(b"mouse_rat").hexdigest()[:8]
        assert column_types(conn, other.database, "animal")["species"][0] == f"{schema.database}.{enum}"
        assert enum_types(conn, other.database) == set()  # the FK column uses the parent's type
        Animal.insert1({"animal": 1, "species": "rat"})
        assert (Animal * Species).to_dicts() == [{"animal": 1, "species": "rat"}]
        with pytest.raises(IntegrityError, match="depend"):
            conn.backend.drop_schema(schema.database)
    finally:
        other.drop(prompt=False)


# ----- the reference client as an oracle --------------------------------------------------------
DEFINITION = """
# shared animals
animal_id : int32   # the id
---
sex = 'U' : enum('M', 'F', 'U')
weight = null : float64
small : int8
f32 : float32
flag : bool
price : decimal(8,2)
code : char(4)
name : varchar(20)
born : date
seen : datetime
seen3 : datetime(3)
doc = null : json
raw = null : bytes
arr = null : <blob>
index (name)
"""
SESSION = """
-> Animal
session : int16
---
-> [nullable] Animal.proj(buddy='animal_id')
note = '' : varchar(100)
"""
ROW = dict(animal_id=1, sex="F", weight=1.5, small=-5, f32=0.5, flag=True, price=decimal.Decimal("12.34"),
           code="abcd", name="Ann", born=dt.date(2020, 1, 2), seen=dt.datetime(2021, 1, 1, 1, 2, 3),
           seen3=dt.datetime(2021, 1, 1, 1, 2, 3, 456000), doc={"a": [1, 2]}, raw=b"\x00\x01", arr=np.arange(3))


@pytest.fixture
def reference(connection):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datajoint
        s = connection.settings
        return datajoint, datajoint.Instance(s["host"], s["user"], s["password"] or "", port=s["port"],
                                             backend="postgresql", safemode=False,
                                             database__name=s["database_name"])


def same_row(got, want):
    for key, value in want.items():
        g = got[key]
        if isinstance(value, np.ndarray):
            assert np.array_equal(g, value), key
        else:
            assert (bytes(g) if isinstance(g, memoryview) else g) == value, key


@pytest.mark.oracle
def test_reference_reads_what_djframe_declared(schema, reference):
    rdj, inst = reference

    @schema
    class Animal(dj.Manual):
        definition = DEFINITION

    @schema
    class Session(dj.Manual):
        definition = SESSION

    Animal.insert1(ROW)
    Session.insert1({"animal_id": 1, "session": 2, "note": "hi", "buddy": 1})
    module = rdj.VirtualModule("ref", schema.database, connection=inst.connection)
    same_row(module.Animal.fetch1(), ROW)
    assert module.Animal.heading.attributes["sex"].type.startswith("enum")
    joined = (module.Animal * module.Session).to_dicts()
    assert len(joined) == 1 and joined[0]["note"] == "hi" and joined[0]["buddy"] == 1
    module.Session.insert1({"animal_id": 1, "session": 3})  # the reference writes into our tables too
    assert sorted(Session.to_dicts(), key=lambda r: r["session"])[1] == \
        {"animal_id": 1, "session": 3, "buddy": None, "note": ""}
    inst.connection.close()


@pytest.mark.oracle
def test_djframe_reads_what_the_reference_declared(schema, conn, reference):
    rdj, inst = reference
    ref_schema = inst.Schema(schema.database)

    @ref_schema
    class Animal(rdj.Manual):
        definition = DEFINITION

    @ref_schema
    class Session(rdj.Manual):
        definition = SESSION

    Animal.insert1(ROW)
    Session.insert1({"animal_id": 1, "session": 2, "note": "hi", "buddy": 1})
    conn.forget()
    module = dj.VirtualModule("mine", schema.database, connection=conn)
    same_row(module.Animal.fetch1(), ROW)
    heading = module.Session.heading
    assert heading["buddy"].type.kind == "int32" and heading["buddy"].nullable  # marker-less FK column
    assert {(ix.columns, ix.unique) for ix in module.Animal().spec.indexes} == {(("name",), False)}
    assert (module.Animal * module.Session).to_dicts()[0]["note"] == "hi"
    module.Animal.insert1({**ROW, "animal_id": 2, "sex": "M"})
    module.Session.insert1({"animal_id": 2, "session": 1})
    assert sorted(r["animal_id"] for r in Animal.to_dicts()) == [1, 2]
    assert (Session & {"animal_id": 2}).fetch1("note") == ""
    inst.connection.close()


def test_writes_while_streaming(schema, conn):
    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int64
        """

    @schema
    class Sink(dj.Manual):
        definition = """
        sink_id : int64
        """

    Source.insert(pa.table({"source_id": pa.array(np.arange(5000), pa.int64())}))
    for batch in Source().iter_batches(batch_rows=1000):  # the stream does not hold the main connection
        Sink.insert(batch.rename_columns(["sink_id"]))
        assert len(Sink()) == batch.column(0).to_pylist()[-1] + 1
    assert len(Sink()) == 5000
    with conn.transaction:  # inside a transaction the stream sees uncommitted rows
        Source.insert1({"source_id": 10**6})
        assert sum(b.num_rows for b in Source().iter_batches()) == 5001
