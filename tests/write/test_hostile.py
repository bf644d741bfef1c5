"""Hostile input, on every backend: values are stored and matched literally, identifiers are validated."""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import djframe as dj
from djframe.errors import DataJointError, DeclarationError, MissingTableError, UnknownAttributeError
from support.checks import assert_clean_error

HOSTILE = [
    "it's", 'say "hi"', "back\\slash", "trailing\\", "semi;colon; DROP TABLE x;", "-- comment", "/* c */",
    "# hash", "100%", "a_b", "%", "_", "\\%", "'; DELETE FROM t; --", "ünïcødé", "日本語", "emoji 🎉",
    "tab\there", "new\nline", "x' OR '1'='1", "$1", ":name", "?", "{}", "`tick`", "NULL", "",
]


@pytest.fixture
def notes(schema):
    @schema
    class Note(dj.Manual):
        definition = """
        title : varchar(40)
        ---
        body = null : varchar(200)
        long = null : text
        raw = null : bytes
        """

    return Note


def test_hostile_strings_are_stored_and_matched_literally(notes):
    rows = [{"title": v, "body": v * 2, "long": v * 3, "raw": v.encode()} for v in HOSTILE]
    notes.insert(rows)
    assert sorted(notes.to_arrays("title").tolist()) == sorted(HOSTILE)
    for row in rows:
        for attribute in ("title", "body", "long", "raw"):
            matched = (notes & {attribute: row[attribute]}).to_dicts()
            assert matched == [row], (attribute, row[attribute])
    assert len(notes & [{"title": "%"}, {"title": "_"}]) == 2
    assert len(notes - {"title": "a_b"}) == len(HOSTILE) - 1
    (notes & {"title": "'; DELETE FROM t; --"}).delete()
    notes.update1({"title": "it's", "body": "x'); DROP TABLE note; --"})
    assert (notes & {"body": "x'); DROP TABLE note; --"}).fetch1("title") == "it's"
    assert len(notes()) == len(HOSTILE) - 1


def test_case_trailing_spaces_and_supplementary_characters_are_distinct(notes):
    keys = ["a", "A", "a ", " a", "ß", "ss", "é", "e\u0301", "𐀀", "𐀁"]
    notes.insert([{"title": k, "body": k} for k in keys])
    assert sorted(notes.to_arrays("title").tolist()) == sorted(keys)
    for k in keys:
        assert (notes & {"body": k}).keys() == [{"title": k}], repr(k)
    assert len(notes & "title = 'a'") == 1 and len(notes & "body LIKE 'a%'") == 2


def test_identifiers_are_validated(schema, notes, conn):
    for name in ('a"b', "a`b", "a; DROP", "Upper", "a b", "sp\u00e9cial"):
        with pytest.raises(DeclarationError) as e:
            schema(type("Bad", (dj.Manual,), {"definition": f"{name} : int32"}))
        assert_clean_error(e.value, DeclarationError, name)
    for bad_schema in ('x"; DROP SCHEMA y; --', "a b", "", "x`y"):
        with pytest.raises(DataJointError):
            dj.Schema(bad_schema, connection=conn)
    with pytest.raises(UnknownAttributeError):
        notes.insert1({"title": "t", 'body" = 1; --': "x"})
    with pytest.raises(DataJointError):
        notes.proj(**{'x"; DROP TABLE note; --': "body"}).to_dicts()
    for condition in ("title = 'a'; DROP TABLE note", "title; DELETE FROM note"):
        with pytest.raises(DataJointError):
            len(notes & condition)
        with pytest.raises(DataJointError):
            notes.to_dicts(order_by=condition)
    with pytest.raises(MissingTableError):
        len(dj.FreeTable(conn, schema.database, 'note"; DROP TABLE note; --'))
    assert len(notes()) == 0 and notes.is_declared


text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=16)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(text, st.binary(max_size=24)), min_size=1, max_size=6, unique_by=lambda v: v[0]))
def test_random_strings_and_bytes_round_trip_and_match(notes, values):
    notes.delete_quick()
    rows = [{"title": f"{i}:{s}", "body": s, "long": s, "raw": b} for i, (s, b) in enumerate(values)]
    notes.insert(rows)
    for row in rows:
        assert (notes & {"body": row["body"], "raw": row["raw"]}).to_dicts() == \
            [r for r in rows if r["body"] == row["body"] and r["raw"] == row["raw"]]
        assert (notes & {"title": row["title"]}).fetch1() == row


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(text, min_size=1, max_size=6, unique=True))
def test_distinct_strings_are_distinct_keys(notes, keys):
    notes.delete_quick()
    notes.insert([{"title": k} for k in keys])
    assert sorted(notes.to_arrays("title").tolist()) == sorted(keys)
    for k in keys:
        assert (notes & {"title": k}).keys() == [{"title": k}]


def test_nul_and_surrogates_are_refused_everywhere(notes):
    for value in ("a\x00b", "lone \udc80 surrogate"):
        with pytest.raises(DataJointError) as e:
            notes.insert1({"title": "t", "body": value})
        assert "body" in str(e.value)
    with pytest.raises(DataJointError):
        notes.insert1({"title": "t", "long": {"not": "text"}})
    assert len(notes()) == 0
    notes.insert1({"title": str(uuid.uuid4()), "raw": b"\x00\xff\x00"})
    assert notes.fetch1("raw") == b"\x00\xff\x00"
