"""MySQL/MariaDB specifics: DDL layout, escaping, strict LOAD DATA, both fetch paths, reference interop."""

import datetime as dt
import decimal
import uuid

import numpy as np
import pyarrow as pa
import pytest

import djframe as dj
from djframe.errors import (DataJointError, DuplicateError, IntegrityError, InvalidValueError, MissingTableError,
                            QueryError, QuerySyntaxError)

HOSTILE = ["a'b", 'say "hi"', "back\\slash", "\\", "\\N", "NULL", "", "100%", "_x_", "a;b", "-- c", "/* c */",
           "tab\there", "line\nbreak", "cr\rhere", "trailing ", "ünï😀", "'; DROP TABLE x; --", "\\'",
           "%s", "{}", "\\t literally"]


@pytest.fixture
def my(conn):
    if conn.backend.name != "mysql":
        pytest.skip("MySQL-specific")
    return conn


@pytest.fixture
def texts(my, schema):
    @schema
    class Text(dj.Manual):
        definition = """
        # comment with "double", 'single' and \\ backslash
        id : int32
        ---
        s = null : varchar(64)   # user's "note" \\ here
        u = null : uuid
        b = null : bytes
        """

    return Text


def create_sql(conn, schema, table):
    return conn.backend.fetch_rows(f"SHOW CREATE TABLE `{schema}`.`{table}`")[0][1]


def test_session_is_strict(my):
    mode = my.backend.fetch_rows("SELECT @@SESSION.sql_mode")[0][0]
    for flag in ("STRICT_ALL_TABLES", "ONLY_FULL_GROUP_BY", "NO_ZERO_DATE", "ERROR_FOR_DIVISION_BY_ZERO"):
        assert flag in mode
    assert my.backend.fetch_arrow("SELECT @@SESSION.sql_mode AS m").column(0)[0].as_py() == mode  # connectorx too
    loose = "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES GROUP BY TABLE_SCHEMA"
    with pytest.raises(QueryError, match="GROUP BY"):
        my.backend.fetch_arrow(loose)
    assert my.backend.fetch_arrow("SELECT NULL AS z, 1 AS a").num_rows == 1  # connectorx cannot type NULL


def test_ddl_layout(my, schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        # the "parent" table's comment \\ ok
        p : uint8       # parent id
        ---
        d = '2020-01-01' : date
        """

    @schema
    class Child(dj.Manual):
        definition = """
        -> Parent
        c : uint64
        ---
        -> [nullable] Parent.proj(other='p')
        kind = 'a' : enum('a', 'it''s', 'back\\slash')
        index(kind)
        """

    ddl = create_sql(my, schema.database, "child")
    assert "`p` tinyint(3) unsigned NOT NULL COMMENT ':uint8:parent id'" in ddl
    assert "`c` bigint(20) unsigned NOT NULL COMMENT ':uint64:'" in ddl
    assert "`other` tinyint(3) unsigned DEFAULT NULL COMMENT ':uint8:parent id'" in ddl
    assert "ENGINE=InnoDB" in ddl and "ON UPDATE CASCADE" in ddl
    assert Parent().spec.comment == 'the "parent" table\'s comment \\ ok'
    my.forget()
    spec = Child().spec
    assert spec.heading["kind"].type.enum_values == ("a", "it's", "back\\slash")
    assert [i.columns for i in spec.indexes] == [("kind",)]  # InnoDB's own FK index is not reported
    assert [fk.attr_map for fk in spec.foreign_keys] == [(("p", "p"),), (("other", "p"),)]
    Parent.insert1({"p": 1})
    Child.insert1({"p": 1, "c": 2**64 - 1, "kind": "back\\slash"})
    assert Child.fetch1("kind") == "back\\slash" and Parent.fetch1("d") == dt.date(2020, 1, 1)


def test_hostile_strings_round_trip_and_match(texts, my):
    texts.insert([{"id": i, "s": s} for i, s in enumerate(HOSTILE)])
    assert texts.to_arrays("s", order_by="id").tolist() == HOSTILE
    for i, s in enumerate(HOSTILE):
        assert (texts & {"s": s}).keys() == [{"id": i}] or s.endswith(" "), repr(s)  # PAD SPACE collation
    with my.transaction:  # the pymysql session path
        assert texts.to_arrays("s", order_by="id").tolist() == HOSTILE
    assert texts.heading["s"].comment == "user's \"note\" \\ here"
    assert texts().spec.comment == "comment with \"double\", 'single' and \\ backslash"


def test_insert_fallback_without_local_infile(texts, my):
    my.backend._local_infile = False
    try:
        texts.insert([{"id": i, "s": s, "u": uuid.uuid4(), "b": s.encode()} for i, s in enumerate(HOSTILE)])
        texts.insert([{"id": 0, "s": "new"}], replace=True)
    finally:
        my.backend._local_infile = True
    got = texts.to_dicts(order_by="id")
    assert [r["s"] for r in got] == ["new"] + HOSTILE[1:]
    assert [r["b"] for r in got[1:]] == [s.encode() for s in HOSTILE[1:]]


def test_uuid_and_bytes(texts, my):
    ids = [uuid.uuid4() for _ in range(3)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    blobs = [b"", b"\0", bytes(range(256)), b"\\N\t\n", None]
    texts.insert([{"id": i, "u": u, "b": b} for i, (u, b) in enumerate(zip(ids, blobs))])
    raw = my.backend.fetch_rows(f"SELECT u FROM {texts.full_table_name} ORDER BY id")
    assert [r[0] for r in raw] == [u.bytes for u in ids]  # RFC byte order, as the reference stores it
    assert texts.to_arrays("u", order_by="id").tolist() == ids
    assert (texts & {"u": ids[2]}).fetch1("id") == 2
    assert (texts & {"u": str(ids[3])}).fetch1("id") == 3
    assert texts.to_arrays("b", order_by="id").tolist() == blobs
    assert texts.to_arrow().schema.field("u").type == pa.string()


def test_load_data_warnings_become_errors(texts, my):
    backend = my.backend
    name = texts.full_table_name
    with pytest.raises(InvalidValueError, match="Data too long|truncated"):
        backend.ingest(texts.database, texts.table_name, pa.table({"id": [1], "s": ["x" * 65]}))
    with pytest.raises(DuplicateError):
        backend.ingest(texts.database, texts.table_name, pa.table({"id": [1, 1], "s": ["a", "b"]}))
    with pytest.raises(InvalidValueError):
        backend.ingest(texts.database, texts.table_name, pa.table({"id": [2**40]}))
    assert backend.fetch_rows(f"SELECT COUNT(*) FROM {name}")[0][0] == 0


def test_replace_and_skip_keep_children(my, schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        p : int32
        ---
        v : varchar(10)
        """

    @schema
    class Kid(dj.Manual):
        definition = """
        -> Parent
        k : int32
        """

    Parent.insert([(1, "a"), (2, "b")])
    Kid.insert([(1, 1), (2, 1)])
    Parent.insert([(1, "A"), (3, "c")], replace=True)  # REPLACE INTO would fail: row 1 has a child
    Parent.insert([(2, "B"), (4, "d"), (4, "e")], skip_duplicates=True)
    assert dict(zip(*Parent.to_arrays("p", "v", order_by="p"))) == {1: "A", 2: "b", 3: "c", 4: "d"}
    assert len(Kid()) == 2
    Parent.insert(Parent.proj(v="concat(v, '!')"), replace=True)
    assert Parent.fetch("v", order_by="p").tolist() == ["A!", "b!", "c!", "d!"]
    with pytest.raises(DuplicateError):
        Parent.insert1((1, "x"))
    with pytest.raises(IntegrityError):
        Kid.insert1((9, 1))


def test_skip_duplicates_fast_path(my, schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        p : int32
        ---
        v : varchar(10)
        """

    @schema
    class Kid(dj.Manual):
        definition = """
        -> Parent
        k : int32
        """

    Parent.insert([(i, "a") for i in range(100)])
    Parent.insert([(i, "b") for i in range(150)], skip_duplicates=True)  # LOCAL load, 100 duplicate warnings
    assert Parent.fetch("v", order_by="p").tolist() == ["a"] * 100 + ["b"] * 50
    n = 70000  # more duplicate warnings than the server keeps (65535): the staging path decides
    Parent.insert(pa.table({"p": np.arange(n), "v": ["c"] * n}), skip_duplicates=True)
    assert len(Parent & "v = 'c'") == n - 150
    with pytest.raises(IntegrityError):  # a missing parent is not a duplicate: nothing lands
        Kid.insert([(1, 1), (10**6, 1)], skip_duplicates=True)
    with pytest.raises(InvalidValueError):
        my.backend.ingest(schema.database, "parent", pa.table({"p": [500], "v": ["x" * 11]}), skip_duplicates=True,
                          primary_key=["p"])
    assert len(Kid()) == 0 and len(Parent()) == n


def test_numeric_limits_and_types(my, schema):
    @schema
    class Num(dj.Manual):
        definition = """
        id : int32
        ---
        f32 = null : float32
        f64 = null : float64
        big = null : uint64
        small = null : int64
        amount = null : decimal(38,20)
        flag = null : bool
        """

    f32_max = float(np.finfo(np.float32).max)
    rows = [{"id": 0, "f32": f32_max, "f64": 5e-324, "big": 2**64 - 1, "small": -(2**63),
             "amount": decimal.Decimal("123456789012345678.12345678901234567891"), "flag": True},
            {"id": 1, "f32": float(np.float32(1e-45)), "f64": -1.7976931348623157e308, "big": 0, "small": 2**63 - 1,
             "amount": decimal.Decimal("-0.00000000000000000001"), "flag": False},
            {"id": 2, "f32": None, "f64": None, "big": None, "small": None, "amount": None, "flag": None}]
    Num.insert(rows)
    for fetched in (Num.to_dicts(order_by="id"), _in_transaction(my, lambda: Num.to_dicts(order_by="id"))):
        for got, want in zip(fetched, rows):
            if want["f32"] is not None:  # rows give the shortest text of the 32-bit value: 3.4028235e+38
                want = {**want, "f32": float(str(np.float32(want["f32"])))}
            assert {k: got[k] for k in want} == want
    empty = (Num & "id > 10").to_arrow()
    assert empty.num_rows == 0 and empty.schema.field("amount").type == pa.decimal128(38, 20)
    with pytest.raises(InvalidValueError, match="NaN"):
        Num.insert1({"id": 5, "f64": float("nan")})


def _in_transaction(conn, fn):
    with conn.transaction:
        return fn()


def test_both_fetch_paths_agree(texts, my):
    texts.insert([{"id": i, "s": f"s{i}", "u": uuid.UUID(int=i), "b": bytes([i])} for i in range(5)])
    outside = texts.to_arrow(order_by="id")
    inside = _in_transaction(my, lambda: texts.to_arrow(order_by="id"))
    assert outside.equals(inside)
    batches = list(texts().iter_batches(batch_rows=2))
    assert sum(b.num_rows for b in batches) == 5
    with my.transaction:
        texts.insert1({"id": 99, "s": "mine"})
        assert (texts & {"id": 99}).fetch1("s") == "mine"
        assert sum(b.num_rows for b in texts().iter_batches(batch_rows=4)) == 6


def test_large_blob(texts):
    big = np.random.default_rng(0).bytes(5 << 20)
    texts.insert1({"id": 1, "b": big})
    assert (texts & {"id": 1}).fetch1("b") == big


def test_error_translation(my):
    with pytest.raises(MissingTableError):
        my.backend.fetch_arrow("SELECT * FROM `djf_nope`.`nope`")
    with pytest.raises(QuerySyntaxError):
        my.backend.fetch_arrow("SELEC 1")
    with pytest.raises(QuerySyntaxError):
        my.backend.execute("SELEC 1")


def test_declare_is_undone_when_lineage_fails(my, schema, monkeypatch):
    def fail(*args):
        raise DataJointError("lineage write failed")

    monkeypatch.setattr(my.backend, "write_lineage", fail)
    with pytest.raises(DataJointError, match="lineage"):
        @schema
        class Doomed(dj.Manual):
            definition = """
            x : int32
            """
    assert not my.backend.table_exists(schema.database, "doomed")


def test_defaults_read_back(my, schema):
    @schema
    class Defaults(dj.Manual):
        definition = """
        id : int32
        ---
        s = "it's \\ here" : varchar(20)
        n = 7 : int16
        f = 1.5 : float64
        t = CURRENT_TIMESTAMP : datetime
        e = 'b' : enum('a', 'b')
        """

    my.forget()
    heading = Defaults.heading
    assert heading["s"].default == "it's \\ here"
    assert heading["n"].default == "7" and heading["e"].default == "b"
    assert heading["t"].default_is_expression
    Defaults.insert1({"id": 1})
    row = Defaults.fetch1()
    assert row["s"] == "it's \\ here" and row["n"] == 7 and row["f"] == 1.5 and row["e"] == "b"


@pytest.mark.oracle
def test_reference_client_reads_and_writes_djframe_tables(my, schema):
    datajoint = __import__("datajoint")  # a test dependency: never skipped

    @schema
    class Animal(dj.Manual):
        definition = """
        # animals with 'quotes' and \\ backslash
        animal_id : int32   # the "id"
        ---
        name : varchar(32)
        born : date
        seen = null : datetime(3)
        ident = null : uuid
        kind = 'cat' : enum('cat', 'it''s')
        amount = null : decimal(8,2)
        meta = null : json
        flag = 0 : bool
        data = null : <blob>
        """

    @schema
    class Visit(dj.Manual):
        definition = """
        -> Animal
        visit : int16
        """

    row = dict(animal_id=1, name='Tom "t" \\ %', born=dt.date(2020, 1, 1),
               seen=dt.datetime(2024, 1, 2, 3, 4, 5, 678000), ident=uuid.UUID(int=7), kind="it's", amount=decimal.Decimal("12.34"), meta={"a": [1, 2]}, flag=True,
               data=np.arange(5))
    Animal.insert1(row)
    Visit.insert1((1, 1))
    settings = my.settings
    ref = datajoint.Instance(host=settings["host"], user=settings["user"], password=settings["password"] or "",
                             port=settings["port"], backend="mysql", safemode=False)
    try:
        vm = datajoint.virtual_schema(schema.database, connection=ref.connection)
        got = vm.Animal.fetch(as_dict=True)[0]
        assert {k: got[k] for k in row if k not in ("flag", "data")} == {k: v for k, v in row.items()
                                                                        if k not in ("flag", "data")}
        assert got["flag"] == 1 and np.array_equal(got["data"], row["data"])
        assert len(vm.Animal * vm.Visit) == 1
        assert "animals with 'quotes'" in vm.Animal.describe()
        vm.Animal.insert1(dict(animal_id=2, name="ref", born=dt.date(2022, 1, 1), ident=uuid.UUID(int=9),
                               meta={"z": 1}, data=np.eye(2)))
        vm.Visit.insert1({"animal_id": 2, "visit": 3})
    finally:
        ref.connection.close()
    my.forget()
    mine = (Animal & {"animal_id": 2}).fetch1()
    assert mine["ident"] == uuid.UUID(int=9) and mine["meta"] == {"z": 1} and np.array_equal(mine["data"], np.eye(2))
    assert (Animal * Visit).keys(order_by="KEY") == [{"animal_id": 1, "visit": 1}, {"animal_id": 2, "visit": 3}]


@pytest.mark.oracle
def test_djframe_reads_reference_tables(my, schema_name):
    datajoint = __import__("datajoint")  # a test dependency: never skipped
    settings = my.settings
    ref = datajoint.Instance(host=settings["host"], user=settings["user"], password=settings["password"] or "",
                             port=settings["port"], backend="mysql", safemode=False)
    try:
        sch = ref.Schema(schema_name)

        @sch
        class Species(datajoint.Lookup):
            definition = """
            species : varchar(30)   # species name
            """
            contents = [("mouse",), ("rat",)]

        @sch
        class Subject(datajoint.Manual):
            definition = """
            subject_id : int32   # subject id
            ---
            -> Species
            tag : uuid
            weight = null : float32
            """

        @sch
        class Session(datajoint.Manual):
            definition = """
            -> Subject
            session_idx : int16
            ---
            -> [nullable] Subject.proj(buddy_id='subject_id')
            """

        Subject.insert1(dict(subject_id=1, species="mouse", tag=uuid.UUID(int=5), weight=1.5))
        Session.insert1(dict(subject_id=1, session_idx=1))
        vm = dj.virtual_schema(schema_name, connection=my)
        assert vm.Subject.heading["subject_id"].type.text == "int32"
        assert vm.Subject.heading["species"].type.text == "varchar(30)"  # FK column: no marker
        assert vm.Subject.fetch1("tag") == uuid.UUID(int=5)
        vm.Session.insert1({"subject_id": 1, "session_idx": 2, "buddy_id": 1})
        assert len(Session()) == 2
        assert (vm.Session * vm.Subject).keys(order_by="KEY")[1] == {"subject_id": 1, "session_idx": 2}
    finally:
        my.backend.drop_schema(schema_name)
        ref.connection.close()
