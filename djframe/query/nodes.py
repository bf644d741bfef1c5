"""Immutable relation nodes: what a query means, independent of any dialect.

Every node carries its result heading (with the primary key marked), computed
once when the node is built. Compilation to SQL (compile.py) is a pure
function of a node tree and a backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..heading import Heading
from .conditions import Condition


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
    """Keep, rename and compute attributes. ``columns``: (name, source attribute or None, SQL or None)."""

    child: Node
    columns: tuple[tuple[str, str | None, str | None], ...]
    distinct: bool = False

    @property
    def children(self):
        return (self.child,)


@dataclass(frozen=True, eq=False)
class JoinNode(Node):
    left: Node
    right: Node
    on: tuple[str, ...]
    left_outer: bool = False

    @property
    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class TopNode(Node):
    child: Node
    limit: int | None
    order_by: tuple[str, ...]
    offset: int = 0

    @property
    def children(self):
        return (self.child,)


@dataclass(frozen=True, eq=False)
class UnionNode(Node):
    left: Node
    right: Node

    @property
    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class AggregateNode(Node):
    """Group ``group`` rows with matching ``source`` rows; compute ``computed`` per group."""

    group: Node
    source: Node
    on: tuple[str, ...]
    keep: tuple[str, ...]  # attributes of `group` kept in the result
    computed: tuple[tuple[str, str], ...]  # (name, SQL aggregate expression)
    keep_all_rows: bool = True

    @property
    def children(self):
        return (self.group, self.source)


@dataclass(frozen=True, eq=False)
class GroupNode(Node):
    """dj.U(attrs).aggr(source, ...): group by arbitrary attributes of source."""

    source: Node
    by: tuple[str, ...]
    computed: tuple[tuple[str, str], ...]

    @property
    def children(self):
        return (self.source,)
