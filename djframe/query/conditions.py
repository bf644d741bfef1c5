"""Restriction forms -> a small tree of predicates.

Users restrict by dicts, SQL strings, lists (OR), `AndList`, `Not`, other query
expressions, booleans, numpy records and DataFrames. They are normalised here
into immutable `Condition` nodes that the compiler renders for one dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataJointError


class Condition:
    """Base of the predicate tree."""


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
class SqlText(Condition):
    text: str


@dataclass(frozen=True)
class AnyOf(Condition):
    items: tuple


@dataclass(frozen=True)
class AllOf(Condition):
    items: tuple


@dataclass(frozen=True)
class Negation(Condition):
    item: Condition


@dataclass(frozen=True, eq=False)
class InQuery(Condition):
    """Semijoin: rows whose values of ``attributes`` appear in the subquery."""

    node: Any
    attributes: tuple[str, ...]


class AndList(list):
    """A list of restrictions that must all hold (a plain list means OR)."""


class Not:
    """Negate a restriction: ``q & dj.Not(cond)`` is ``q - cond``."""

    def __init__(self, restriction):
        self.restriction = restriction


def make_condition(cond, heading, *, semantic_check=True, join_check=None) -> Condition:
    """Normalise any accepted restriction form against the heading of the restricted expression."""
    if isinstance(cond, Condition):
        return cond
    if cond is True or (isinstance(cond, np.bool_) and cond):
        return TrueCond()
    if cond is False or (isinstance(cond, np.bool_) and not cond):
        return FalseCond()
    if isinstance(cond, Not):
        return negate(make_condition(cond.restriction, heading, semantic_check=semantic_check,
                                     join_check=join_check))
    if isinstance(cond, str):
        return SqlText(cond.strip()) if cond.strip() else TrueCond()
    if isinstance(cond, Mapping):
        return _from_mapping(cond, heading)
    if isinstance(cond, np.void):
        return _from_mapping(dict(zip(cond.dtype.names, cond.tolist())), heading)
    if hasattr(cond, "_node") or isinstance(cond, type) and hasattr(cond, "_node_for_class"):
        expr = cond() if isinstance(cond, type) else cond
        if getattr(expr, "_is_universal", False):
            return TrueCond()
        if join_check is not None:
            join_check(expr, semantic_check)
        common = tuple(n for n in heading.names if n in expr.heading.names)
        return InQuery(expr._node, common)
    if _is_dataframe(cond):
        return make_condition(_frame_records(cond), heading, semantic_check=semantic_check, join_check=join_check)
    if isinstance(cond, AndList):
        items = tuple(make_condition(c, heading, semantic_check=semantic_check, join_check=join_check)
                      for c in cond)
        return simplify_and(items)
    if isinstance(cond, (list, tuple, set, frozenset)) or _is_iterable(cond):
        items = tuple(make_condition(c, heading, semantic_check=semantic_check, join_check=join_check)
                      for c in cond)
        return simplify_or(items)
    raise DataJointError(f"Invalid restriction of type {type(cond).__name__}: {cond!r}. Use a dict, "
                         "a SQL string, a list (OR), dj.AndList, dj.Not, or another query expression.")


def _from_mapping(mapping, heading) -> Condition:
    items = tuple(Equals(k, _plain(v)) for k, v in mapping.items() if k in heading.names)
    return simplify_and(items)


def _plain(value):
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
    return type(obj).__name__ == "DataFrame" or type(obj).__name__ == "Table" and hasattr(obj, "to_pylist")


def _frame_records(frame):
    if hasattr(frame, "to_dicts"):  # polars
        return frame.to_dicts()
    if hasattr(frame, "to_pylist"):  # arrow
        return frame.to_pylist()
    return frame.reset_index().to_dict("records") if frame.index.name or frame.index.names[0] else \
        frame.to_dict("records")


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
    if isinstance(cond, SqlText):
        return set(parse(cond.text))
    if isinstance(cond, (AnyOf, AllOf)):
        return set().union(*(referenced_attributes(i, parse) for i in cond.items))
    if isinstance(cond, Negation):
        return referenced_attributes(cond.item, parse)
    if isinstance(cond, InQuery):
        return set(cond.attributes)
    return set()
