"""The heading (attributes, their order, the primary key) of every operator's result.

These are DataJoint's rules, kept apart from the operators so that each is one
small function: algebraic closure means every result has a well-defined
heading and primary key, so it can again be restricted, joined, projected,
aggregated, fetched and inserted from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from djframe.errors import DataJointError
from djframe.define.heading import Attribute, Heading
from djframe.define.types import CoreType
from djframe.query.jsonpath import parse_json_path
from djframe.query.usersql import attributes_in

EXPRESSION_TYPE = CoreType("native", "expression")
_NAME = re.compile(r"^\s*([A-Za-z_]\w*)\s*$")
_PAREN_NAME = re.compile(r"^\s*\(\s*([A-Za-z_]\w*)\s*\)\s*$")


def computed_attribute(name: str, sql: str) -> Attribute:
    """A computed attribute: no lineage (so it never matches a namesake), nullable, typed by the server."""
    return Attribute(name=name, type=EXPRESSION_TYPE, nullable=True, expression=sql)


def determines(a: Heading, b: Heading) -> bool:
    """A determines B (A -> B) when every primary-key attribute of B is an attribute of A."""
    names = set(a.names)
    return all(k in names for k in b.primary_key)


def visible(heading: Heading) -> list[Attribute]:
    return [a for a in heading.all_attributes if not a.hidden]


# ----- join -------------------------------------------------------------------------------------
def join_heading(a: Heading, b: Heading, left: bool = False, nullable_pk: bool = False) -> Heading:
    """Result of A * B: the primary key follows the functional dependencies.

    A -> B gives PK(A) (A's attributes first); else B -> A gives PK(B) (B's
    first); else PK(A) followed by the new attributes of PK(B). In a left join
    the attributes that come from B become nullable.
    """
    a_to_b = not nullable_pk and determines(a, b)
    b_to_a = not nullable_pk and not a_to_b and determines(b, a)
    if a_to_b:
        attrs = _dependent(a, b)
    elif b_to_a:
        attrs = _dependent(b, a)
    else:
        attrs = _neither(a, b)
    if left:
        from_b = {x.name for x in visible(b)} - set(a.names)
        attrs = [x.evolve(nullable=True) if x.name in from_b else x for x in attrs]
    return Heading(tuple(attrs))


def _dependent(first: Heading, second: Heading) -> list[Attribute]:
    """first -> second: first's key, first's other attributes, then what second adds."""
    names = set(first.names)
    return [*visible(first), *(x.evolve(in_key=False) for x in visible(second) if x.name not in names)]


def _neither(a: Heading, b: Heading) -> list[Attribute]:
    out: dict[str, Attribute] = {}
    for x in visible(a):
        if x.in_key:
            out[x.name] = x
    for x in visible(b):
        if x.in_key and x.name not in out:
            out[x.name] = (a.get(x.name) or x).evolve(in_key=True)
    for x in [*visible(a), *visible(b)]:
        if x.name not in out:
            out[x.name] = x.evolve(in_key=False)
    return list(out.values())


# ----- projection --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Projection:
    """A planned proj(): output attributes with, for each, its source attribute or its SQL."""

    attributes: tuple[Attribute, ...]
    columns: tuple[tuple[str, str | None, str | None], ...]  # (name, source attribute, SQL expression)


def plan_projection(heading: Heading, attributes, named: dict, scope: Heading | None = None) -> Projection:
    """DataJoint's proj(): keep, rename (new='old'), duplicate (new='(old)') and compute (new='sql').

    The primary key is always kept; a renamed key attribute leaves under its
    new name. ``...`` adds every secondary attribute not renamed; ``'-x'``
    drops x (never a key attribute). Renamed and duplicated attributes keep
    their lineage and their place in the key (as in the reference, a duplicate
    of a key attribute is also in the key); computed ones have neither.
    ``scope`` is the heading computed expressions may use (aggr: both operands).
    """
    renames, duplicates, computed = _classify(heading, named, scope or heading)
    kept = _kept_names(heading, attributes, renames)
    _check_clashes(kept, renames, duplicates, computed)
    out, columns = [], []
    copies = {**renames, **duplicates}
    for attr in visible(heading):
        if attr.name in kept:
            out.append(attr)
            columns.append((attr.name, attr.name, None))
        for new, old in copies.items():
            if old == attr.name:
                out.append(attr.evolve(name=new))
                columns.append((new, old, None))
    for new, sql in computed.items():
        out.append(computed_attribute(new, sql))
        columns.append((new, None, sql))
    order = sorted(range(len(out)), key=lambda i: not out[i].in_key)
    return Projection(tuple(out[i] for i in order), tuple(columns[i] for i in order))


def _classify(heading: Heading, named: dict, scope: Heading):
    renames, duplicates, computed = {}, {}, {}
    for new, spec in named.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new):
            raise DataJointError(f"Invalid attribute name {new!r} in proj(): use letters, digits and underscores, "
                                 "starting with a letter.")
        if not isinstance(spec, str):
            raise DataJointError(f"proj({new}=...) takes a string: an attribute name, '(name)', or an SQL "
                                 f"expression; got {spec!r}.")
        rename, dup = _NAME.match(spec), _PAREN_NAME.match(spec)
        if rename and rename.group(1) in heading:
            renames[new] = rename.group(1)
        elif dup and dup.group(1) in heading:
            duplicates[new] = dup.group(1)
        elif parse_json_path(spec, scope) is not None:  # "meta.subject.age:int"
            computed[new] = spec
        else:
            for name in attributes_in(spec):
                if scope.get(name) is None:
                    scope[name]  # raises, listing the available attributes
            computed[new] = spec
    return renames, duplicates, computed


def _kept_names(heading: Heading, attributes, renames: dict) -> set[str]:
    renamed = set(renames.values())
    kept = {k for k in heading.primary_key if k not in renamed}
    excluded = set()
    for a in attributes:
        if a is Ellipsis:
            kept |= {x for x in heading.secondary_attributes if x not in renamed}
        elif not isinstance(a, str):
            raise DataJointError(f"{a!r} is not a valid attribute for proj(): use names, '...', or '-name'.")
        elif a.strip().startswith("-"):
            excluded.add(a.strip()[1:].strip())
        else:
            heading[a]  # raises, listing the available attributes
            kept.add(a)
    for name in excluded:
        heading[name]
        if name in heading.primary_key:
            raise DataJointError(f"Cannot exclude the primary-key attribute `{name}` in proj(); "
                                 "rename it instead (proj(new_name='" + name + "')).")
    return kept - excluded


def _check_clashes(kept, renames, duplicates, computed):
    seen = set(kept)
    for new in [*renames, *duplicates, *computed]:
        if new in seen:
            raise DataJointError(f"Attribute `{new}` already exists in the projection; choose another name.")
        seen.add(new)


# ----- grouping, distinct, union ----------------------------------------------------------
def universal_heading(heading: Heading, names) -> Heading:
    """dj.U(names) & q: the distinct values of names, which form the primary key."""
    return Heading(tuple(heading[n].evolve(in_key=True) for n in names))


def group_heading(heading: Heading, names, computed: dict) -> Heading:
    """dj.U(names).aggr(q, ...): one row per distinct value of names."""
    return Heading(tuple([heading[n].evolve(in_key=True) for n in names] +
                         [computed_attribute(k, v) for k, v in computed.items()]))


def union_heading(a: Heading, b: Heading) -> Heading:
    """A + B: A's key and attributes, then B's; attributes only one side has become nullable."""
    names = set(a.names)
    return Heading(tuple([x.evolve(nullable=x.nullable or not x.in_key) for x in visible(a)] +
                         [x.evolve(in_key=False, nullable=True) for x in visible(b) if x.name not in names]))
