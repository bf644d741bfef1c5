"""The query algebra, proven against an independent evaluator, on every backend.

The property test draws a random pipeline (tables linked by foreign keys,
rows with NULLs and values shared across tables) and a random expression
tree using every operator, nested to depth 4; it evaluates the tree with
djframe in the database and with tests/support/evaluator.py on Polars frames and
requires the same heading, primary key and multiset of rows.

CI runs DJ_HYPOTHESIS_EXAMPLES (default 300) examples per backend; the long
run documented in the README sets it to thousands.
"""

import os
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import djframe as dj
from support import evaluator as ev
from support.algebra_gen import Generator, base_relation, draw_rows, random_structure
from djframe.errors import DataJointError

EXAMPLES = int(os.environ.get("DJ_HYPOTHESIS_EXAMPLES", "300"))
STRUCTURE_SEED = int(os.environ.get("DJ_ALGEBRA_SEED", "20261123"))
N_STRUCTURES = int(os.environ.get("DJ_ALGEBRA_STRUCTURES", "3"))


@pytest.fixture(scope="module")
def pipelines(connection):
    """A few random structures, declared once per backend: [(table defs, classes), ...]."""
    rng = random.Random(STRUCTURE_SEED)
    out, schemas = [], []
    for i in range(N_STRUCTURES):
        tables = random_structure(rng, i)
        schema = dj.Schema(f"djalg_{uuid.uuid4().hex[:8]}", connection=connection)
        schemas.append(schema)
        classes = {}
        for t in tables:
            cls = type(t.name, (dj.Manual,), {"definition": t.definition()})
            classes[t.name] = schema(cls, context=dict(classes))
        out.append((tables, classes))
    yield out
    for schema in schemas:
        schema.drop(prompt=False)


ANALYZE = {"mysql": "ANALYZE TABLE {}", "postgresql": "ANALYZE {}", "sqlite": "ANALYZE {}"}


def load(tables, classes, rows):
    """Replace the rows; refresh the planner statistics so that a failing plan is reproducible."""
    for t in reversed(tables):
        classes[t.name].delete_quick()
    for t in tables:
        if rows[t.name]:
            classes[t.name].insert(rows[t.name])
    for t in tables:
        table = classes[t.name]()
        backend = table.connection.backend
        backend.fetch_rows(ANALYZE[backend.name].format(table.full_table_name)) if backend.name == "mysql" \
            else backend.execute(ANALYZE[backend.name].format(table.full_table_name))


# ----- building the djframe expression from a tree ---------------------------------------------
def build(node, classes):
    b = lambda x: build(x, classes)  # noqa: E731
    if isinstance(node, ev.Table):
        return classes[node.name]()
    if isinstance(node, ev.Restrict):
        return b(node.child).restrict(restriction(node.cond, classes), semantic_check=node.semantic_check)
    if isinstance(node, ev.Proj):
        keep = [Ellipsis if k == "..." else k for k in node.keep]
        named = {new: old if kind == "rename" else f"({old})" if kind == "dup" else ev.sql(old)
                 for new, (kind, old) in node.named}
        return b(node.child).proj(*keep, **named)
    if isinstance(node, ev.Join):
        if node.left_outer:
            return b(node.left).extend(b(node.right), semantic_check=node.semantic_check)
        if node.semantic_check:
            return b(node.left) * b(node.right)
        return b(node.left).join(b(node.right), semantic_check=False)
    if isinstance(node, ev.Union):
        return b(node.left) + b(node.right)
    if isinstance(node, ev.Aggr):
        keep = [Ellipsis if k == "..." else k for k in node.keep]
        computed = {name: ev.sql(agg) for name, agg in node.computed}
        return b(node.child).aggr(b(node.group), *keep, exclude_nonmatching=node.exclude_nonmatching, **computed)
    if isinstance(node, ev.UDistinct):
        return dj.U(*node.attrs) & b(node.child)
    if isinstance(node, ev.UAggr):
        return dj.U(*node.attrs).aggr(b(node.child), **{name: ev.sql(agg) for name, agg in node.computed})
    if isinstance(node, ev.Top):
        order = None if node.order_by is None else list(node.order_by)
        return b(node.child) & dj.Top(node.limit, order, node.offset)
    raise TypeError(node)


def restriction(cond, classes):
    r = lambda x: restriction(x, classes)  # noqa: E731
    if isinstance(cond, ev.CBool):
        return cond.value
    if isinstance(cond, ev.CDict):
        return dict(cond.items)
    if isinstance(cond, ev.CSql):
        return ev.sql(cond.pred)
    if isinstance(cond, ev.COr):
        return [r(x) for x in cond.items]
    if isinstance(cond, ev.CAnd):
        return dj.AndList([r(x) for x in cond.items])
    if isinstance(cond, ev.CNot):
        return dj.Not(r(cond.item))
    if isinstance(cond, ev.CQuery):
        return build(cond.expr, classes)
    raise TypeError(cond)


def check(node, classes, tables):
    expected = ev.evaluate(node, tables)
    expr = build(node, classes)
    assert expr.heading.names == expected.names, node
    assert expr.primary_key == expected.primary_key, node
    actual = ev.canonical_rows(expr.to_dicts(), expected.names)
    if actual != expected.rows:
        session = expr.connection.backend.fetch_rows(expr.make_sql())
        raise AssertionError(f"{node}\nSQL: {expr.make_sql()}\ndjframe:   {actual}\nevaluator: {expected.rows}\n"
                             f"rows from the SQL session: {session}\ntables: {dict((k, v.frame.to_dicts()) for k, v in tables.items())}")
    assert len(expr) == len(expected.rows)


# ----- the property test --------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_expressions_match_the_evaluator(pipelines, data):
    tables, classes = data.draw(st.sampled_from(pipelines))
    rows = draw_rows(data.draw, tables)
    load(tables, classes, rows)
    relations = {t.name: base_relation(t, rows[t.name]) for t in tables}
    gen = Generator(data.draw, relations)
    node, _ = gen.rel(4)
    check(node, classes, relations)
    for bad in gen.expected_errors:
        with pytest.raises(DataJointError):
            build(bad, classes)


# ----- specific behaviours on every backend ----------------------------------------------------
@pytest.fixture
def lab(schema):
    """Subjects, an optional buddy (a nullable secondary foreign key), sessions."""

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(20)
        weight = null : float64
        """

    @schema
    class Pairing(dj.Manual):
        definition = """
        pairing : int16
        ---
        -> [nullable] Subject
        note = null : varchar(20)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        note = null : varchar(20)
        """

    Subject.insert([(1, "a", 20.0), (2, "b", None), (3, "c", 31.5)])
    Pairing.insert([(1, 1, "x"), (2, None, None), (3, 3, "y")])
    Session.insert([(1, 1, "x"), (1, 2, None), (2, 1, "z")])
    return Subject, Pairing, Session


def test_semijoin_and_antijoin_partition_even_with_nulls(lab):
    Subject, Pairing, Session = lab
    inside, outside = Pairing & Session.proj(), Pairing - Session.proj()
    assert sorted(inside.to_arrays("pairing").tolist()) == [1]
    assert sorted(outside.to_arrays("pairing").tolist()) == [2, 3]  # the NULL subject is never matched
    assert len(inside) + len(outside) == len(Pairing())


def test_semantic_check_and_its_escape(lab):
    Subject, Pairing, Session = lab
    with pytest.raises(DataJointError, match="lineage"):
        Pairing * Session  # `note` is a secondary attribute of both: no lineage
    joined = Pairing.join(Session, semantic_check=False)
    assert joined.to_dicts() == [{"pairing": 1, "subject_id": 1, "session": 1, "note": "x"}]
    assert len(Pairing.proj("subject_id") * Session) == 2
    assert len(Session.restrict(Pairing, semantic_check=False)) == 1
    with pytest.raises(DataJointError, match="different lineages"):
        Subject * Pairing.proj(subject_id="pairing")


def test_aggregation_defaults_and_exclusion(lab):
    Subject, _, Session = lab
    rows = Subject.aggr(Session, star="count(*)", n="count(session)", s="sum(session)").to_dicts(order_by="KEY")
    assert [(r["star"], r["n"], r["s"]) for r in rows] == [(2, 2, 3), (1, 1, 1), (1, 0, None)]
    assert Subject.aggr(Session, n="count(*)", exclude_nonmatching=True).keys(order_by="KEY") == \
        [{"subject_id": 1}, {"subject_id": 2}]
    with_name = Subject.aggr(Session, ..., n="count(session)") & "n = 0"
    assert with_name.to_dicts() == [{"subject_id": 3, "name": "c", "weight": 31.5, "n": 0}]
    assert dj.U().aggr(Session & "session > 5", n="count(*)").fetch1("n") == 0


def test_top_of_top_is_a_subset(lab):
    Subject, _, _ = lab
    first_two = Subject & dj.Top(2, "KEY")
    assert (first_two & dj.Top(5, None, offset=1)).keys() == [{"subject_id": 2}]
    assert (Subject & dj.Top(None, "weight DESC", offset=1)).keys(order_by="KEY") == \
        [{"subject_id": 1}, {"subject_id": 2}]  # NULL weights sort last when descending
    assert (Subject & dj.Top(1, "weight")).keys() == [{"subject_id": 2}]  # ... and first ascending


def test_restriction_by_frames_records_and_user_sql(lab):
    import pandas as pd
    import polars as pl
    Subject, _, Session = lab
    assert len(Subject & pd.DataFrame({"subject_id": [1, 3]})) == 2
    assert len(Subject & pl.DataFrame({"subject_id": [2], "other": [0]})) == 1
    assert len(Subject & Subject.to_arrays()[:1][0]) == 1
    assert len(Subject & 'name in ("a", "b") and weight is null') == 1
    with pytest.raises(DataJointError, match="available attributes: subject_id, name, weight"):
        Subject & "height > 2"


def test_closure_insert_from_aggregation(lab, schema):
    Subject, _, Session = lab

    @schema
    class Summary(dj.Manual):
        definition = """
        -> Subject
        ---
        n : int32
        """

    Summary.insert(Subject.aggr(Session, n="count(session)"))
    assert dict(zip(*Summary.to_arrays("subject_id", "n"))) == {1: 2, 2: 1, 3: 0}
    again = (Summary * Subject & "n > 0").proj("name", twice="2 * n")
    assert sorted(again.to_arrays("twice").tolist()) == [2, 4]


def test_looking_at_results(lab):
    Subject, _, Session = lab
    text = repr(Session * Subject)
    assert text.splitlines()[0].split()[:3] == ["*subject_id", "*session", "note"] and "(Total: 3)" in text
    html = (Session * Subject)._repr_html_()
    assert "<table" in html and "class=pk" in html and "Total: 3" in html
    assert (Session * Subject).describe().splitlines()[2] == "---"
    assert [r["session"] for r in Session.head(2)] == [1, 2] and Session.tail(1)[0]["subject_id"] == 2
    assert {"subject_id": 2, "session": 1} in Session() and "note = 'q'" not in Session()
    assert sorted(r["session"] for r in iter(Session & {"subject_id": 1})) == [1, 2]
    assert bool(Session) and not (Session & False) and len(dj.U("note") & Session) == 3


def test_preview_never_reads_large_columns(schema):
    import numpy as np

    @schema
    class Scan(dj.Manual):
        definition = """
        scan : int32
        ---
        image : <blob>
        meta = null : json
        """

    Scan.insert([(i, np.zeros((2, 2)), {"i": i}) for i in range(15)])
    text = repr(Scan())
    assert "<blob>" in text and "json" in text and "   ..." in text and "(Total: 15)" in text
    assert "&lt;blob&gt;" in Scan()._repr_html_()
    restricted = Scan & "scan > 3"
    sql = restricted.make_sql(["scan"])
    assert sql.count("SELECT") == 1 and "image" not in sql


def test_aggregation_keeps_large_attributes(schema):
    import numpy as np

    @schema
    class Scan(dj.Manual):
        definition = """
        scan : int32
        ---
        image : <blob>
        meta = null : json
        """

    @schema
    class Roi(dj.Manual):
        definition = """
        -> Scan
        roi : int16
        """

    Scan.insert([(1, np.ones(3), {"a": 1}), (2, np.zeros(2), None)])
    Roi.insert([(1, 0), (1, 1)])
    rows = Scan.aggr(Roi, ..., n="count(roi)").to_dicts(order_by="KEY")
    assert [r["n"] for r in rows] == [2, 0] and rows[0]["meta"] == {"a": 1}
    np.testing.assert_array_equal(rows[0]["image"], np.ones(3))


def test_grouping_by_computed_attributes(lab):
    Subject, _, Session = lab
    doubled = Session.proj(..., twice="session * 2")
    assert sorted(dj.U("twice").aggr(doubled, n="count(*)").to_arrays("n").tolist()) == [1, 2]
    same = "coalesce(weight, 0) > 25"  # the same expression twice once made MariaDB refuse the GROUP BY
    kept = Subject.proj(heavy=same, again=same).aggr(Session, ..., n="count(session)", exclude_nonmatching=True)
    assert sorted((bool(r["heavy"]), bool(r["again"]), r["n"]) for r in kept.to_dicts()) == \
        [(False, False, 1), (False, False, 2)]


def test_outer_joins_compute_the_right_side_first(lab):
    Subject, _, Session = lab
    scored = Session.proj(filled="coalesce(note, 'none')", one="1")
    counts = Subject.aggr(scored, n="count(filled)", m="max(one)")
    assert {r["subject_id"]: (r["n"], r["m"]) for r in counts.to_dicts()} == {1: (2, 1), 2: (1, 1), 3: (0, None)}
    extended = Subject.extend(Subject.proj(w="coalesce(weight, 0)") & "subject_id < 3")
    assert {r["subject_id"]: r["w"] for r in extended.to_dicts()} == {1: 20.0, 2: 0.0, 3: None}
    assert dj.U().aggr(extended & {"subject_id": 3}, w="max(w)").fetch1("w") is None
    nothing = Subject.extend(Subject.proj(w="weight") & "subject_id = 2.5")  # MariaDB once matched 3
    assert [r["w"] for r in nothing.to_dicts()] == [None, None, None]


def test_computed_columns_mixing_integers_and_reals(lab):
    Subject, _, _ = lab
    values = sorted(Subject.proj(w="coalesce(weight, 0)").to_arrays("w").tolist())
    assert values == [0, 20.0, 31.5] and all(isinstance(v, float) for v in values)


def test_top_orders_by_attributes_named_like_keywords_and_fetch_keeps_its_order(schema):
    @schema
    class Keyworded(dj.Lookup):
        definition = """
        id : int32
        select : int32
        ---
        key = null : int32
        """
        contents = [(i, j, 10 - j) for i in range(3) for j in range(i, i + 3)]

    top = Keyworded & dj.Top(4, order_by=["select desc", "id"])
    assert [(r["id"], r["select"]) for r in top.to_dicts()] == [(2, 4), (1, 3), (2, 3), (0, 2)]
    assert list((Keyworded & dj.Top(None, "key")).to_arrays("key", limit=2)) == [6, 7]
    unlimited = Keyworded & dj.Top(None, order_by="select desc, id desc")
    assert [tuple(r.values()) for r in unlimited.keys(limit=3)] == [(2, 4), (2, 3), (1, 3)]


def test_a_number_as_a_condition_is_true_when_not_zero_on_every_backend(schema):
    @schema
    class Flagged(dj.Lookup):
        definition = """
        flagged_id : int32
        ---
        flag : bool
        level : int16
        """
        contents = [{"flagged_id": i, "flag": i % 2 == 1, "level": i - 1} for i in range(4)]

    assert (Flagged & "flag").keys(order_by="KEY") == [{"flagged_id": 1}, {"flagged_id": 3}]
    assert (Flagged & "NOT flag").keys(order_by="KEY") == [{"flagged_id": 0}, {"flagged_id": 2}]
    assert len(Flagged & "NOT(level)") == 1 and len(Flagged & "NOT (NOT (level))") == 3
    assert (Flagged & "(level)").keys(order_by="KEY") == [{"flagged_id": 0}, {"flagged_id": 2}, {"flagged_id": 3}]
    assert len(Flagged & ["flag", "flagged_id = 0"]) == 3 and len(Flagged - "flag") == 2
    renamed = Flagged.proj(is_on="flag", lvl="level") * Flagged.proj(flag="level")
    assert len(renamed & "is_on") == 2 and len(renamed & "NOT lvl") == 1  # a bare attribute follows its rename
