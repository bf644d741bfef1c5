"""SQL written by users: restriction strings and computed attributes.

DataJoint code writes conditions and expressions in the MySQL dialect
(``'name = "abc"'``, ``'count(*)'``, ``'timestampdiff(day, a, b)'``). They are
parsed once with sqlglot, the attribute names they use are collected (so an
unknown name is a clear error before any SQL runs), and they are rendered for
the target dialect with each attribute replaced by a marker that the compiler
substitutes with the column expression of the current query. The few MySQL
idioms sqlglot does not translate are rewritten by small tree transforms that
each dialect lists (``Dialect.user_sql_transforms``).
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

from djframe.errors import DataJointError, QuerySyntaxError

MARK = "__djcol{}__"


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
def template(text: str, dialect) -> tuple[str, tuple[str, ...]]:
    """User SQL rendered for `dialect` (a backends Dialect: its sqlglot dialect and its rewrites of
    MySQL idioms), with markers where attributes go, and the attribute names."""
    tree, names = parse(text)
    if dialect.user_sql_transforms and tree.find(*dialect.user_sql_rewritten):
        tree = tree.copy()  # the parsed tree is shared by every dialect
        for transform in dialect.user_sql_transforms:
            tree = tree.transform(transform, copy=False)
    return tree.sql(dialect=dialect.sqlglot_dialect), names


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
