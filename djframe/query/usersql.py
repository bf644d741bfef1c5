"""SQL written by users: restriction strings and computed attributes.

DataJoint code writes conditions and expressions in the MySQL dialect
(``'name = "abc"'``, ``'count(*)'``, ``'timestampdiff(day, a, b)'``). They are
parsed once with sqlglot, the attribute names they use are collected (so an
unknown name is a clear error before any SQL runs), and they are rendered for
the target dialect with each attribute replaced by a marker that the compiler
substitutes with the column expression of the current query. The few MySQL
idioms sqlglot does not translate are rewritten here, as small tree
transforms per dialect.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

from djframe.errors import DataJointError, QuerySyntaxError

MARK = "__djcol{}__"
_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Like, exp.In, exp.Between,
               exp.And, exp.Or, exp.Not)
_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}


def load_dialects(dialect: str) -> None:
    """Import the sqlglot dialects a connection will use (once, when it opens, not at its first query)."""
    for name in ("mysql", dialect):
        if name:
            sqlglot.parse_one("a = 1", read="mysql").sql(dialect=name)  # builds the parser and generator


@lru_cache(maxsize=8192)
def parse(text: str) -> tuple[exp.Expression, tuple[str, ...]]:
    """Parse user SQL (MySQL dialect); return the tree with markers and the attribute names in order."""
    try:
        trees = [t for t in sqlglot.parse(text, read="mysql") if t is not None]
        if len(trees) > 1:  # "x = 1; DROP TABLE t" must never reach the server
            raise QuerySyntaxError(f"{text!r} holds {len(trees)} statements; give one condition or expression "
                                   "(remove the `;`).")
        tree = trees[0] if trees else None
    except sqlglot.errors.ParseError as e:
        raise QuerySyntaxError(f"Cannot parse the SQL condition or expression {text!r}: {e.errors[0]['description'] if e.errors else e}") from None
    if tree is None:
        raise QuerySyntaxError(f"Empty SQL condition or expression {text!r}.")
    if isinstance(tree, (exp.Select, exp.Union, exp.Insert, exp.Delete, exp.Update, exp.Drop, exp.Create)):
        raise QuerySyntaxError(f"{text!r} is a statement; a condition or expression was expected.")
    names: list[str] = []
    for col in list(tree.find_all(exp.Column, bfs=False)):  # in reading order
        if col.table:
            raise DataJointError(f"Qualified column `{col.sql()}` in {text!r}: refer to attributes by name only.")
        if col.name not in names:
            names.append(col.name)
        marker = exp.column(MARK.format(names.index(col.name)))
        tree = marker if col is tree else tree  # a bare attribute is the whole tree: replace() cannot reach it
        col.replace(marker)
    return tree, tuple(names)


def attributes_in(text: str) -> tuple[str, ...]:
    """The attribute names a piece of user SQL refers to."""
    return parse(text)[1]


@lru_cache(maxsize=8192)
def template(text: str, dialect: str) -> tuple[str, tuple[str, ...]]:
    """User SQL rendered for `dialect`, with markers where attributes go, and the attribute names."""
    tree, names = parse(text)
    transforms = _TRANSFORMS.get(dialect, ())
    if transforms and tree.find(*_REWRITTEN):
        tree = tree.copy()  # the parsed tree is shared by every dialect
        for transform in transforms:
            tree = tree.transform(transform, copy=False)
    return tree.sql(dialect=dialect), names


def bare_value(text: str) -> tuple[int, str] | None:
    """(negations, the value) when a condition is a value, not a predicate (``cond_in_l``, ``NOT(flag)``):
    MySQL and SQLite read a number as true or false, PostgreSQL needs the comparison written out."""
    tree, names = parse(text)
    negations = 0
    while isinstance(tree, (exp.Not, exp.Paren)):
        negations, tree = negations + isinstance(tree, exp.Not), tree.this
    if isinstance(tree, exp.Column):
        return negations, names[0]
    return (negations, tree.sql()) if isinstance(tree, exp.Literal) else None


def is_aggregate(text: str) -> bool:
    """True if the expression uses an aggregate function (count, sum, ...)."""
    return parse(text)[0].find(exp.AggFunc) is not None


# ----- per-dialect rewrites of MySQL idioms ---------------------------------------------------
def _bool_to_int(node):
    """PostgreSQL cannot SUM/AVG booleans (MySQL's ``sum(a = b)`` counts matches)."""
    if isinstance(node, (exp.Sum, exp.Avg)) and isinstance(node.this, _PREDICATES):
        node.set("this", exp.cast(node.this, "INT"))
    return node


def _char_to_text(node):
    """MySQL ``CAST(x AS CHAR)`` is an unbounded string; PostgreSQL CHAR means char(1)."""
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.CHAR and not node.to.expressions:
        node.set("to", exp.DataType.build("TEXT"))
    return node


def _timestampdiff(dialect):
    def rewrite(node):
        if not isinstance(node, exp.TimestampDiff):
            return node
        unit = (node.unit.name if node.unit else "SECOND").upper()
        if unit not in _SECONDS:
            raise DataJointError(f"timestampdiff unit {unit} is supported on MySQL only; use one of {sorted(_SECONDS)}.")
        start, end = node.expression, node.this
        if dialect == "postgres":
            seconds = f"EXTRACT(EPOCH FROM (CAST({end.sql('postgres')} AS TIMESTAMP) - " \
                      f"CAST({start.sql('postgres')} AS TIMESTAMP)))"
        else:
            seconds = f"((JULIANDAY({end.sql('sqlite')}) - JULIANDAY({start.sql('sqlite')})) * 86400)"
        return sqlglot.parse_one(f"CAST(TRUNC({seconds} / {_SECONDS[unit]}) AS BIGINT)", read="postgres") \
            if dialect == "postgres" else \
            sqlglot.parse_one(f"CAST({seconds} / {_SECONDS[unit]} AS INTEGER)", read="sqlite")
    return rewrite


def _now_sqlite(node):
    """SQLite has no NOW(); CURRENT_TIMESTAMP is the same instant in UTC."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "now" and not node.expressions:
        return exp.CurrentTimestamp()
    return node


_DATE_PARTS = {exp.Year: "%Y", exp.Month: "%m", exp.Day: "%d", exp.DayOfMonth: "%d"}


def _date_part(dialect):
    """YEAR(d), MONTH(d), DAY(d): SQLite has strftime; PostgreSQL has EXTRACT (no DAY_OF_MONTH)."""
    def rewrite(node):
        for cls, fmt in _DATE_PARTS.items():
            if type(node) is cls:
                arg = node.this.this if isinstance(node.this, exp.TsOrDsToDate) else node.this
                if dialect == "sqlite":
                    return exp.cast(exp.func("STRFTIME", exp.Literal.string(fmt), arg), "INTEGER")
                if cls is exp.DayOfMonth:
                    return exp.Day(this=node.this)
        return node
    return rewrite


_REWRITTEN = (exp.Sum, exp.Avg, exp.Cast, exp.TimestampDiff, exp.Anonymous, *_DATE_PARTS)
_TRANSFORMS = {
    "postgres": (_bool_to_int, _char_to_text, _timestampdiff("postgres"), _date_part("postgres")),
    "sqlite": (_now_sqlite, _timestampdiff("sqlite"), _date_part("sqlite")),
}
