"""Restriction forms -> a small, immutable tree of predicates.

Users restrict by dicts, SQL strings, lists (OR), `AndList`, `Not`, other query
expressions, booleans, numpy records and DataFrames. They are normalised here
into `Condition` nodes that the compiler renders for one dialect. The rules
are the reference's: a dict matches on the keys the heading has (none ->
no restriction), an empty list is False, an empty AndList is True, a query
expression is a semijoin on the namesake attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from djframe.errors import DataJointError


class Condition:
    """Base of the predicate tree."""

    def subqueries(self) -> tuple:
        """Query nodes used inside the condition (semijoins)."""
        return ()


@dataclass(frozen=True)
class TrueCond(Condition):
    pass


@dataclass(frozen=True)
class FalseCond(Condition):
    pass


@dataclass(frozen=True)
class Equals(Condition):
    attribute: str
    value: Any  # None means IS NULL


@dataclass(frozen=True)
class JsonEquals(Condition):
    """A value inside a json attribute equals ``value`` (None: is missing or null)."""
    path: Any  # jsonpath.JsonPath
    value: Any


@dataclass(frozen=True)
class SqlText(Condition):
    text: str


@dataclass(frozen=True)
class AnyOf(Condition):
    items: tuple

    def subqueries(self):
        return tuple(q for i in self.items for q in i.subqueries())


@dataclass(frozen=True)
class AllOf(Condition):
    items: tuple

    def subqueries(self):
        return tuple(q for i in self.items for q in i.subqueries())


@dataclass(frozen=True)
class Negation(Condition):
    item: Condition

    def subqueries(self):
        return self.item.subqueries()


@dataclass(frozen=True, eq=False)
class InQuery(Condition):
    """Semijoin: rows with a matching row in the subquery on ``attributes`` (none: any row at all).

    Compiled as a correlated EXISTS (NOT EXISTS when negated) rather than the
    reference's ``(a, b) IN (subquery)``: NULL never matches either way, but
    with EXISTS ``q & r`` and ``q - r`` partition q even when the matched
    attributes hold NULLs (``NOT IN`` would drop those rows from both).
    """

    node: Any
    attributes: tuple[str, ...]

    def subqueries(self):
        return (self.node,)


class AndList(list):
    """A list of restrictions that must all hold (a plain list means OR)."""

    def append(self, restriction):
        if isinstance(restriction, AndList):
            self.extend(restriction)
        else:
            super().append(restriction)


class Not:
    """Negate a restriction: ``q & dj.Not(cond)`` is ``q - cond``."""

    def __init__(self, restriction):
        self.restriction = restriction

    def __repr__(self):
        return f"Not({self.restriction!r})"


def make_condition(cond, heading, *, semantic_check=True, join_check=None) -> Condition:
    """Normalise any accepted restriction form against the heading of the restricted expression.

    ``join_check(expr, semantic_check)`` validates an expression operand (same
    connection, lineage of namesakes) before it becomes a semijoin.
    """
    if isinstance(cond, Condition):
        return cond
    if isinstance(cond, (bool, np.bool_)):
        return TrueCond() if cond else FalseCond()
    recurse = lambda x: make_condition(x, heading, semantic_check=semantic_check, join_check=join_check)  # noqa: E731
    if isinstance(cond, Not):
        return negate(recurse(cond.restriction))
    if isinstance(cond, str):
        return SqlText(cond.strip()) if cond.strip() else TrueCond()
    if isinstance(cond, Mapping):
        return _from_mapping(cond, heading)
    if isinstance(cond, np.void):
        return _from_mapping(dict(zip(cond.dtype.names, cond.tolist())), heading)
    if getattr(cond, "_is_universal", False):
        return TrueCond()  # dj.U(...) contains every row
    if _is_expression(cond):
        return _semijoin(cond() if isinstance(cond, type) else cond, heading, semantic_check, join_check)
    if _is_dataframe(cond):
        return recurse(_frame_records(cond))
    if isinstance(cond, AndList):
        return simplify_and(tuple(recurse(c) for c in cond))
    if isinstance(cond, (list, tuple, set, frozenset)) or _is_iterable(cond):
        return simplify_or(tuple(recurse(c) for c in cond))
    raise DataJointError(f"Invalid restriction of type {type(cond).__name__}: {cond!r}. Use a dict, "
                         "a SQL string, a list (OR), dj.AndList, dj.Not, True/False, or another query expression.")


def _is_expression(obj) -> bool:
    return hasattr(obj, "_node") and not isinstance(obj, type) or \
        isinstance(obj, type) and hasattr(obj, "_node_for_class")


def _semijoin(expr, heading, semantic_check, join_check) -> Condition:
    if getattr(expr, "_is_universal", False):
        return TrueCond()
    if join_check is not None:
        join_check(expr, semantic_check)
    common = tuple(n for n in heading.names if n in expr.heading.names)
    return InQuery(expr.node, common)


def _from_mapping(mapping, heading) -> Condition:
    """AND of the keys the heading has; ``attr.path[:type]`` keys reach into json attributes."""
    from djframe.query.jsonpath import parse_json_path
    items = []
    for key, value in mapping.items():
        if key in heading.names:
            items.append(Equals(key, plain(value)))
            continue
        path = parse_json_path(key, heading) if isinstance(key, str) else None
        if path is not None:
            items.append(JsonEquals(path, None if value is None else path.literal_value(plain(value))))
    return simplify_and(tuple(items))


def plain(value):
    """numpy scalars -> Python values so literals render the same everywhere."""
    return value.item() if isinstance(value, np.generic) else value


def simplify_and(items) -> Condition:
    items = tuple(i for i in items if not isinstance(i, TrueCond))
    if any(isinstance(i, FalseCond) for i in items):
        return FalseCond()
    if not items:
        return TrueCond()
    return items[0] if len(items) == 1 else AllOf(items)


def simplify_or(items) -> Condition:
    items = tuple(i for i in items if not isinstance(i, FalseCond))
    if any(isinstance(i, TrueCond) for i in items):
        return TrueCond()
    if not items:
        return FalseCond()
    return items[0] if len(items) == 1 else AnyOf(items)


def negate(cond: Condition) -> Condition:
    if isinstance(cond, TrueCond):
        return FalseCond()
    if isinstance(cond, FalseCond):
        return TrueCond()
    if isinstance(cond, Negation):
        return cond.item
    return Negation(cond)


def _is_dataframe(obj) -> bool:
    name = type(obj).__name__
    return name == "DataFrame" or name == "Table" and hasattr(obj, "to_pylist")


def _frame_records(frame):
    if hasattr(frame, "to_dicts"):  # polars
        return frame.to_dicts()
    if hasattr(frame, "to_pylist"):  # arrow
        return frame.to_pylist()
    named_index = any(name is not None for name in frame.index.names)
    return (frame.reset_index() if named_index else frame).to_dict("records")


def _is_iterable(obj) -> bool:
    if isinstance(obj, (str, bytes, Mapping)):
        return False
    try:
        iter(obj)
        return True
    except TypeError:
        return False


def referenced_attributes(cond: Condition, parse) -> set[str]:
    """Attribute names a condition uses (``parse`` maps SQL text to its names)."""
    if isinstance(cond, Equals):
        return {cond.attribute}
    if isinstance(cond, JsonEquals):
        return {cond.path.attribute}
    if isinstance(cond, SqlText):
        return set(parse(cond.text))
    if isinstance(cond, (AnyOf, AllOf)):
        return set().union(*(referenced_attributes(i, parse) for i in cond.items))
    if isinstance(cond, Negation):
        return referenced_attributes(cond.item, parse)
    if isinstance(cond, InQuery):
        return set(cond.attributes)
    return set()
