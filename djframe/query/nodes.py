"""Immutable relation nodes: what a query means, independent of any dialect.

Every node carries its result heading (with the primary key marked), computed
once when the node is built (rules in headings.py). Compilation to SQL
(compile.py) is a pure function of a node tree and a backend, so it can be
tested without a database and cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from djframe.define.heading import Heading
from djframe.query.conditions import Condition

# (output name, source attribute of the operand or None, user SQL or None)
Column = tuple[str, "str | None", "str | None"]


@dataclass(frozen=True, eq=False)
class Node:
    heading: Heading

    @property
    def children(self) -> tuple["Node", ...]:
        return ()


@dataclass(frozen=True, eq=False)
class TableNode(Node):
    schema: str
    table: str


@dataclass(frozen=True, eq=False)
class RestrictNode(Node):
    child: Node
    condition: Condition

    @property
    def children(self):
        return (self.child,)


@dataclass(frozen=True, eq=False)
class ProjectNode(Node):
    """Keep, rename and compute attributes; ``distinct`` for dj.U(...) & q."""

    child: Node
    columns: tuple[Column, ...]
    distinct: bool = False

    @property
    def children(self):
        return (self.child,)


@dataclass(frozen=True, eq=False)
class JoinNode(Node):
    """Inner (or left, for extend) join on the namesake attributes ``on``; NULL never matches."""

    left: Node
    right: Node
    on: tuple[str, ...]
    left_outer: bool = False

    @property
    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class TopNode(Node):
    """The first ``limit`` rows after ``offset`` in the order ``order_by`` (never empty: KEY by default)."""

    child: Node
    limit: int | None
    order_by: tuple[str, ...]
    offset: int = 0

    @property
    def children(self):
        return (self.child,)


@dataclass(frozen=True, eq=False)
class UnionNode(Node):
    """Rows of either operand (distinct). Outer unions are built from joins before they get here."""

    left: Node
    right: Node

    @property
    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class AggregateNode(Node):
    """One row per row of ``group`` with aggregates over its matching ``source`` rows.

    ``columns`` are (name, attribute of group, None) for kept attributes and
    (name, None, SQL) for computed ones. ``keep_all_rows``: LEFT JOIN, so a
    group without matches still yields a row (count(*) is then 1).
    """

    group: Node
    source: Node
    on: tuple[str, ...]
    columns: tuple[Column, ...]
    keep_all_rows: bool = True

    @property
    def children(self):
        return (self.group, self.source)


@dataclass(frozen=True, eq=False)
class GroupNode(Node):
    """dj.U(by).aggr(source, ...): group by arbitrary attributes of source."""

    source: Node
    by: tuple[str, ...]
    computed: tuple[tuple[str, str], ...]

    @property
    def children(self):
        return (self.source,)


def walk(node: Node):
    """Every node of a tree, parents first (conditions' subqueries included)."""
    yield node
    for child in node.children:
        yield from walk(child)
    if isinstance(node, RestrictNode):
        for sub in node.condition.subqueries():
            yield from walk(sub)
