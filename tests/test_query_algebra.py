"""The query algebra, proven against an independent evaluator, on every backend.

The property test draws a random pipeline (tables linked by foreign keys,
rows with NULLs and values shared across tables) and a random expression
tree using every operator, nested to depth 4; it evaluates the tree with
djframe in the database and with tests/evaluator.py on Polars frames and
requires the same heading, primary key and multiset of rows.

CI runs DJ_HYPOTHESIS_EXAMPLES (default 150) examples per backend; the long
run documented in the README sets it to thousands.
"""

import os
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import djframe as dj
import evaluator as ev
from algebra_gen import Generator, base_relation, draw_rows, random_structure
from djframe.errors import DataJointError

EXAMPLES = int(os.environ.get("DJ_HYPOTHESIS_EXAMPLES", "150"))
STRUCTURE_SEED = int(os.environ.get("DJ_ALGEBRA_SEED", "20261123"))
N_STRUCTURES = 3


@pytest.fixture(scope="module")
def pipelines(connection):
    """A few random structures, declared once per backend: [(table defs, classes), ...]."""
    from djframe.connection import set_connection
    set_connection(connection)
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
    set_connection(None)


def load(tables, classes, rows):
    for t in reversed(tables):
        classes[t.name].delete_quick()
    for t in tables:
        if rows[t.name]:
            classes[t.name].insert(rows[t.name])


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
    assert actual == expected.rows, (node, expr.make_sql())
    assert len(expr) == len(expected.rows)


# ----- the property test --------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None, database=None,
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
