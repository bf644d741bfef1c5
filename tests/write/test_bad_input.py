"""A catalogue of bad input, on every backend: declarations, inserts, update1, queries and
transactions, hostile values and names (quotes, `;`, SQL in an identifier or a condition) included.

Each case must fail with the exact DataJointError subclass, with a message that
names the table, the attribute and the offending value and says what to do, and
must leave every table exactly as it was (row counts and the list of tables).
Because no case may change anything, all cases share one set of tables per
backend, and the unchanged counts after each case prove it.
"""

import decimal
import uuid

import numpy as np
import polars as pl
import pytest

import djframe as dj
from djframe.connection import set_connection
from djframe.errors import (DataJointError, DeclarationError, DuplicateError, IntegrityError, InvalidValueError,
                            MissingAttributeError, MissingDefinitionError, MissingTableError, QuerySyntaxError,
                            TransactionError, UnknownAttributeError)
from djframe.define.types import INTEGER_RANGES

from support.checks import assert_clean_error, snapshot


INTS = tuple(INTEGER_RANGES)
ITEM = """
item_id : int32
---
-> [nullable] Parent
name : varchar(8)
code = 'abc' : char(3)
""" + "\n".join(f"{t} = null : {t}" for t in INTS) + """
f32 = null : float32
f64 = null : float64
color = null : enum('red', 'green')
day = null : date
moment = null : datetime
ident = null : uuid
doc = null : json
amount = null : decimal(5,2)
tag = null : varchar(16)
remark = null : text
flag = null : bool
raw = null : bytes
unique index(tag)
"""


@pytest.fixture(scope="module")
def tables(connection, tmp_path_factory):
    """The catalogue's tables with a few rows, shared by every case of one backend."""
    set_connection(connection)
    dj.config["safemode"] = False
    schema = dj.Schema(f"djbad_{uuid.uuid4().hex[:10]}", connection=connection)

    @schema
    class Parent(dj.Manual):
        definition = """
        parent_id : int32
        ---
        label : varchar(16)
        """

    @schema
    class Item(dj.Manual):
        definition = ITEM

    @schema
    class Order(dj.Manual):
        definition = """
        order_id : int32
        """

        class Line(dj.Part):
            definition = """
            -> master
            line : int16
            """

    @schema
    class Summary(dj.Computed):
        definition = """
        -> Parent
        ---
        total : int64
        """

        def make(self, key):
            self.insert1({**key, "total": 0})

    Parent.insert([(1, "one"), (2, "two")])
    Item.insert([{"item_id": 1, "parent_id": 1, "name": "first", "tag": "taken"},
                 {"item_id": 2, "parent_id": None, "name": "second", "tag": None}])
    Order.insert1((1,))
    Order.Line.insert([(1, 1), (1, 2)])
    Summary.populate()
    names = dict(Parent=Parent, Item=Item, Order=Order, Summary=Summary, schema=schema)
    yield type("Tables", (), names)
    if connection.in_transaction:
        connection.cancel_transaction()
    schema.drop(prompt=False)
    set_connection(None)


def ok(**changes):
    """A valid new Item row, changed as given (None values stay None; `omit` drops attributes)."""
    row = {"item_id": 10, "name": "new", "parent_id": 2}
    omit = changes.pop("omit", ())
    row.update(changes)
    return {k: v for k, v in row.items() if k not in omit}


def run(case, t, conn, backend):
    """Run one case; return the error it raised."""
    before = snapshot(conn, t.schema.database)
    with pytest.raises(DataJointError) as info:
        case(t, backend)
    assert snapshot(conn, t.schema.database) == before, "the failed operation changed a table"
    assert not conn.in_transaction
    return info.value


def declare(t, definition, tier=dj.Manual, name="Broken", **body):
    cls = type(name, (tier,), {"definition": definition, **body})
    t.schema(cls, context={"Parent": t.Parent, name: cls})


# ----- declaration ------------------------------------------------------------------------------
DECLARATION = {
    "unknown type": (lambda t, b: declare(t, "k : int32\n---\nx : int33"), ("broken", "`x`", "int33")),
    "bad attribute name": (lambda t, b: declare(t, "k : int32\n---\nBadName : int32"), ("broken", "BadName")),
    "default on a primary-key attribute": (lambda t, b: declare(t, "k = 1 : int32"), ("broken", "`k`", "k = 1")),
    "nullable foreign key in the primary key": (lambda t, b: declare(t, "-> [nullable] Parent\nk : int32"),
                                                ("broken", "nullable", "Parent")),
    "foreign key to an unknown table": (lambda t, b: declare(t, "k : int32\n---\n-> Nowhere"), ("Nowhere",)),
    "cyclic foreign key": (lambda t, b: declare(t, "k : int32\n---\n-> Broken.proj(other='k')"),
                           ("broken", "Broken.proj(other='k')", "cyclic")),
    "table name too long": (lambda t, b: declare(t, "k : int32", name="T" + "x" * 70), ("x" * 60, "limit")),
    "invalid class name": (lambda t, b: declare(t, "k : int32", name="lowercase"), ("lowercase", "CamelCase")),
    "blob with a non-null default": (lambda t, b: declare(t, "k : int32\n---\nb = 'x' : <blob>"),
                                     ("broken", "`b`", "'x'")),
    "bytes with a non-null default": (lambda t, b: declare(t, "k : int32\n---\nb = 'x' : bytes"),
                                      ("broken", "`b`", "'x'")),
    "attribute comment starting with a colon": (lambda t, b: declare(t, "k : int32  # :oops"),
                                                ("broken", "`k`", ":oops")),
    "table comment starting with a colon": (lambda t, b: declare(t, "# :oops\nk : int32"), ("broken", ":oops")),
    "index on an unknown attribute": (lambda t, b: declare(t, "k : int32\n---\nx : int32\nindex(y)"),
                                      ("broken", "`y`")),
    "unknown foreign key option": (lambda t, b: declare(t, "k : int32\n---\n-> [bogus] Parent"),
                                   ("broken", "bogus", "Parent")),
}
for _name in ('a"b', "a`b", "a; DROP", "a b", "sp\u00e9cial"):  # uppercase: "bad attribute name"
    DECLARATION[f"hostile attribute name {_name}"] = (lambda t, b, n=_name: declare(t, f"{n} : int32"),
                                                      ("broken", _name))


@pytest.mark.parametrize("case", list(DECLARATION))
def test_declaration_is_refused(tables, connection, case):
    action, fragments = DECLARATION[case]
    error = run(action, tables, connection, connection.backend.name)
    assert_clean_error(error, DeclarationError, *fragments)
    assert "broken" not in connection.backend.list_tables(tables.schema.database)


def test_a_class_without_definition_is_refused(tables, connection):
    """A misspelt `definition` is the reference's NotImplementedError (and a DeclarationError)."""
    class Typo(dj.Manual):
        definitions = "id : int32\n"

    error = run(lambda t, b: t.schema(Typo), tables, connection, connection.backend.name)
    assert isinstance(error, NotImplementedError)
    assert_clean_error(error, MissingDefinitionError, "Typo", "has no `definition`")


# ----- insert ------------------------------------------------------------------------------------
def _insert(**changes):
    return lambda t, b: t.Item.insert1(ok(**changes))


INSERT = {
    "wrong type": (_insert(name=[1, 2]), InvalidValueError, ("item", "name", "[1, 2]")),
    "a bool for a string": (_insert(name=True), InvalidValueError, ("item", "name", "True")),
    "wrong type for an integer": (_insert(int32="12"), InvalidValueError, ("item", "int32", "'12'")),
    "a fraction for an integer": (_insert(int16=1.5), InvalidValueError, ("item", "int16", "1.5")),
    "NaN for an integer": (_insert(int64=float("nan")), InvalidValueError, ("item", "int64", "nan")),
    "a whole float beyond the range": (_insert(uint8=256.0), InvalidValueError, ("item", "uint8", "256")),
    "a fractional Decimal for an integer": (_insert(int32=decimal.Decimal("2.5")), InvalidValueError,
                                            ("item", "int32", "2.5")),
    "float32 out of range": (_insert(f32=1e39), InvalidValueError, ("item", "f32", "1e+39", "float64")),
    "varchar too long": (_insert(name="x" * 9), InvalidValueError, ("item", "name", "x" * 9, "8")),
    "char too long": (_insert(code="abcd"), InvalidValueError, ("item", "code", "abcd", "3")),
    "enum outside its set": (_insert(color="blue"), InvalidValueError, ("item", "color", "blue", "red")),
    "invalid date": (_insert(day="2021-02-30"), InvalidValueError, ("item", "day", "2021-02-30")),
    "invalid datetime": (_insert(moment="2021-01-01 25:00"), InvalidValueError, ("item", "moment", "25:00")),
    "datetime of the wrong type": (_insert(moment=3.5), InvalidValueError, ("item", "moment", "3.5")),
    "NUL in text": (_insert(name="a\x00b"), InvalidValueError, ("item", "name", "a\\x00b")),
    "missing required attribute": (_insert(omit=("name",)), MissingAttributeError, ("item", "name")),
    "NULL into a non-nullable attribute": (_insert(name=None), MissingAttributeError, ("item", "name", "NULL")),
    "missing primary key": (_insert(omit=("item_id",)), MissingAttributeError, ("item", "item_id")),
    "NULL primary key": (_insert(item_id=None), MissingAttributeError, ("item", "item_id", "NULL")),
    "duplicate primary key": (_insert(item_id=1), DuplicateError, ("item", "item_id", "1", "skip_duplicates")),
    "duplicate on a unique index": (_insert(tag="taken"), DuplicateError, ("item", "tag", "taken")),
    "unknown attribute": (_insert(nope=1), UnknownAttributeError, ("item", "nope", "ignore_extra_fields")),
    "misspelt primary key (unknown before missing)": (_insert(omit=("item_id",), itemid=10), UnknownAttributeError,
                                                      ("item", "itemid", "ignore_extra_fields")),
    "hostile attribute name": (_insert(**{'name" = 1; --': "x"}), UnknownAttributeError,
                               ("item", 'name" = 1; --', "ignore_extra_fields")),
    "unpaired surrogate in text": (_insert(tag="a\udc80b"), InvalidValueError, ("item", "tag", "a\\udc80b")),
    "a dict for a text attribute": (_insert(remark={"not": "text"}), InvalidValueError,
                                    ("item", "remark", "{'not': 'text'}")),
    "a number other than 0 or 1 for a bool": (_insert(flag=2), InvalidValueError, ("item", "flag", "2")),
    "text for a bytes attribute": (_insert(raw="text"), InvalidValueError, ("item", "raw", "'text'")),
    "foreign key to a missing parent": (_insert(parent_id=99), IntegrityError, ("item", "parent", "99")),
    "malformed uuid": (_insert(ident="not-a-uuid"), InvalidValueError, ("item", "ident", "not-a-uuid")),
    "json that cannot be serialised": (_insert(doc={"a": {1, 2}}), InvalidValueError, ("item", "doc", "{1, 2}")),
    "json with NaN": (_insert(doc=[float("nan")]), InvalidValueError, ("item", "doc", "nan")),
    "decimal overflow": (_insert(amount=decimal.Decimal("1000")), InvalidValueError, ("item", "amount", "1000")),
    "decimal from text that is no number": (_insert(amount="lots"), InvalidValueError, ("item", "amount", "lots")),
    "uuid given as short bytes": (_insert(ident=b"short"), InvalidValueError, ("item", "ident", "short")),
    "tuple of the wrong length": (lambda t, b: t.Parent.insert1((3,)), InvalidValueError,
                                  ("parent", "(3,)", "parent_id, label")),
    "rows with different fields": (lambda t, b: t.Item.insert([ok(item_id=20), ok(item_id=21, f64=1.0)]),
                                   InvalidValueError, ("item", "row 1", "f64")),
    "a dict for insert": (lambda t, b: t.Item.insert(ok()), InvalidValueError, ("item", "dict", "insert1")),
    "batch with only the last row bad": (
        lambda t, b: t.Item.insert([ok(item_id=i, uint8=i) for i in range(20, 25)] + [ok(item_id=25, uint8=256)]),
        InvalidValueError, ("item", "uint8", "256", "row 5")),
    "frame with only the last row bad": (
        lambda t, b: t.Item.insert(pl.DataFrame({"item_id": [20, 21, 22], "name": ["a", "b", "far too long"]})),
        InvalidValueError, ("item", "name", "far too long", "row 2")),
    "batch whose last row duplicates a stored key": (
        lambda t, b: t.Item.insert([ok(item_id=i) for i in range(20, 25)] + [ok(item_id=2)]),
        DuplicateError, ("item", "item_id", "2")),
    "batch whose last row repeats a key of the batch": (
        lambda t, b: t.Item.insert([ok(item_id=i) for i in range(20, 25)] + [ok(item_id=20)]),
        DuplicateError, ("item", "item_id", "20", "twice")),
    "frame whose last row has no parent": (
        lambda t, b: t.Item.insert(pl.DataFrame({"item_id": [20, 21], "name": ["a", "b"], "parent_id": [1, 42]})),
        IntegrityError, ("item", "parent", "42")),
    "direct insert into a computed table": (lambda t, b: t.Summary.insert1({"parent_id": 2, "total": 1}),
                                            DataJointError, ("summary", "allow_direct_insert")),
    "insert from a query with an unknown attribute": (lambda t, b: t.Parent.insert(t.Item.proj("name")),
                                                      UnknownAttributeError, ("parent", "name", "ignore_extra_fields")),
    "insert from a query missing a required attribute": (
        lambda t, b: t.Parent.insert(t.Item.proj(parent_id="item_id")), MissingAttributeError, ("parent", "label")),
    "insert from a query colliding with stored keys": (
        lambda t, b: t.Parent.insert(t.Parent.proj(label="label")), DuplicateError, ("parent", "parent_id", "1")),
}
for _t in INTS:
    _lo, _hi = INTEGER_RANGES[_t]
    INSERT[f"{_t} overflow"] = (_insert(**{_t: _hi + 1}), InvalidValueError, ("item", _t, str(_hi + 1), "wider"))
    INSERT[f"{_t} underflow"] = (_insert(**{_t: _lo - 1}), InvalidValueError, ("item", _t, str(_lo - 1), "wider"))


@pytest.mark.parametrize("case", list(INSERT))
def test_insert_is_refused(tables, connection, case):
    action, cls, fragments = INSERT[case]
    assert_clean_error(run(action, tables, connection, connection.backend.name), cls, *fragments)


def test_an_unknown_attribute_is_also_a_key_error(tables, connection):
    """Code written for the reference catches KeyError."""
    assert isinstance(run(_insert(nope=1), tables, connection, connection.backend.name), KeyError)


def test_nan_where_the_backend_cannot_store_it(tables, connection):
    if connection.backend.supports_nan:
        pytest.skip(f"{connection.backend.name} stores NaN")
    error = run(_insert(f64=float("nan")), tables, connection, connection.backend.name)
    assert_clean_error(error, InvalidValueError, "item", "f64", "nan", "NaN")


def test_infinity_where_the_backend_cannot_store_it(tables, connection):
    if connection.backend.supports_inf:
        pytest.skip(f"{connection.backend.name} stores infinity")
    error = run(_insert(f64=float("inf")), tables, connection, connection.backend.name)
    assert_clean_error(error, InvalidValueError, "item", "f64", "inf")


# ----- update1, delete and queries --------------------------------------------------------------
OTHER = {
    "update1 with an unknown attribute": (lambda t, b: t.Item.update1({"item_id": 1, "nope": 2}),
                                          UnknownAttributeError, ("item", "nope")),
    "update1 of a missing row": (lambda t, b: t.Item.update1({"item_id": 99, "name": "x"}), DataJointError,
                                 ("item", "99")),
    "update1 with a bad value": (lambda t, b: t.Item.update1({"item_id": 1, "uint8": 300}), InvalidValueError,
                                 ("item", "uint8", "300")),
    "update1 to NULL a required attribute": (lambda t, b: t.Item.update1({"item_id": 1, "name": None}),
                                             MissingAttributeError, ("item", "name", "NULL")),
    "update1 without the primary key": (lambda t, b: t.Item.update1({"name": "x"}), MissingAttributeError,
                                        ("item", "item_id")),
    "update1 to a missing parent": (lambda t, b: t.Item.update1({"item_id": 1, "parent_id": 77}), IntegrityError,
                                    ("item", "parent", "77")),
    "update1 onto a used unique value": (lambda t, b: t.Item.update1({"item_id": 2, "tag": "taken"}),
                                         DuplicateError, ("item", "tag", "taken")),
    "update1 of a restricted table": (lambda t, b: (t.Item & {"item_id": 1}).update1({"item_id": 1, "name": "x"}),
                                      DataJointError, ("item", "restricted")),
    "update1 with a list": (lambda t, b: t.Item.update1([1, "x"]), InvalidValueError, ("item", "list", "dict")),
    "restriction by an unknown attribute": (lambda t, b: len(t.Item & "nope = 1"), UnknownAttributeError,
                                            ("nope", "item")),
    "delete restricted by an unknown attribute": (lambda t, b: (t.Item & "nope > 1").delete(),
                                                  UnknownAttributeError, ("nope", "item")),
    "fetch of an unknown attribute": (lambda t, b: t.Item.to_arrays("nope"), UnknownAttributeError,
                                      ("nope", "item")),
    "fetch1 on zero rows": (lambda t, b: (t.Item & {"item_id": 99}).fetch1(), DataJointError, ("item", "empty")),
    "fetch1 on many rows": (lambda t, b: t.Item.fetch1(), DataJointError, ("item", "2 rows")),
    "delete_quick of rows with children": (lambda t, b: (t.Parent & {"parent_id": 1}).delete_quick(),
                                           IntegrityError, ("parent", "item", "delete()")),
    "delete from a part table alone": (lambda t, b: t.Order.Line.delete(), DataJointError,
                                       ("order__line", "part_integrity")),
    "drop of a part table alone": (lambda t, b: t.Order.Line.drop(), DataJointError, ("order__line", "master")),
    "nested transaction": (lambda t, b: _nested(t), TransactionError, ("transaction", "Nested")),
    "declaration inside a transaction": (lambda t, b: _declare_in_transaction(t), TransactionError,
                                         ("Broken", "transaction")),
    "schema creation inside a transaction": (lambda t, b: _in_transaction(t, lambda: dj.Schema(
        f"{t.schema.database}_new", connection=t.Item.connection)), TransactionError, ("_new", "transaction")),
    "drop inside a transaction": (lambda t, b: _in_transaction(t, t.Order.drop), TransactionError,
                                  ("order", "transaction")),
    "alter inside a transaction": (lambda t, b: _in_transaction(t, t.Parent.alter), TransactionError,
                                   ("parent", "transaction")),
    "projection to a hostile name": (lambda t, b: t.Item.proj(**{'x"; DROP TABLE item; --': "name"}).to_dicts(),
                                     DataJointError, ('x"; DROP TABLE item; --', "proj")),
}
for _bad in ('x"; DROP SCHEMA y; --', "a b", "", "x`y"):
    OTHER[f"hostile schema name {_bad!r}"] = (
        lambda t, b, n=_bad: dj.Schema(n, connection=t.Item.connection), DataJointError, (repr(_bad),))
for _condition in ("name = 'a'; DROP TABLE item", "name; DELETE FROM item"):
    OTHER[f"two statements as a restriction: {_condition}"] = (
        lambda t, b, c=_condition: len(t.Item & c), QuerySyntaxError, (_condition, "2 statements"))
    OTHER[f"two statements as order_by: {_condition}"] = (
        lambda t, b, c=_condition: t.Item.to_dicts(order_by=c), QuerySyntaxError, (_condition, "2 statements"))


def _in_transaction(t, action):
    with t.Item.connection.transaction:
        action()


def _nested(t):
    with t.Item.connection.transaction:
        t.Item.insert1(ok(item_id=30))
        t.Item.connection.start_transaction()


def _declare_in_transaction(t):
    with t.Item.connection.transaction:
        declare(t, "k : int32")


@pytest.mark.parametrize("case", list(OTHER))
def test_other_operations_are_refused(tables, connection, case):
    action, cls, fragments = OTHER[case]
    assert_clean_error(run(action, tables, connection, connection.backend.name), cls, *fragments)


def test_a_hostile_table_name_is_only_a_name(tables, connection):
    """Not a catalogue case: the MissingTableError names the table but does not say what to do."""
    name = 'item"; DROP TABLE item; --'
    error = run(lambda t, b: len(dj.FreeTable(connection, t.schema.database, name)), tables, connection,
                connection.backend.name)
    assert type(error) is MissingTableError and name in str(error)


def test_the_catalogue_is_complete():
    assert len(DECLARATION) + len(INSERT) + len(OTHER) + 2 >= 40


def test_mysql_sessions_are_strict(connection):
    if connection.backend.name != "mysql":
        pytest.skip("MySQL only")
    mode = connection.backend.fetch_rows("SELECT @@SESSION.sql_mode")[0][0]
    assert "STRICT_ALL_TABLES" in mode or "STRICT_TRANS_TABLES" in mode


def test_native_binary_takes_bytes_only(schema, conn):
    """A native binary column (longblob, bytea) stores raw bytes: an array or text is refused, not its str()."""
    native = "longblob" if conn.backend.name == "mysql" else "bytes"  # longblob is MySQL's; bytes maps to it

    @schema
    class RawBinary(dj.Manual):
        definition = f"""
        id : int32
        ---
        data : {native}
        """

    for i, value in enumerate([np.arange(5, dtype="float32"), [1, 2, 3], "text"]):
        with pytest.raises(InvalidValueError, match="native binary type"):
            RawBinary.insert1({"id": i, "data": value})
    RawBinary.insert1({"id": 9, "data": b"\x00raw"})
    assert bytes(RawBinary.fetch1("data")) == b"\x00raw" and len(RawBinary()) == 1


@pytest.mark.parametrize("value", ["abc", 0, b"short"])
def test_restricting_a_uuid_by_a_non_uuid(tables, value):
    with pytest.raises(InvalidValueError, match=r"uuid attribute `ident`.*not a UUID"):
        len(tables.Item & {"ident": value})
    assert len(tables.Item & {"ident": str(uuid.UUID(int=5))}) == 0
