"""The one restriction-propagation engine over the foreign-key graph.

Seed tables carry conditions; the engine walks the graph in one direction and
gives every table it reaches the condition that restricts it:

- ``DOWN`` (toward descendants: delete's cascade, ``Diagram.cascade``,
  ``diagram.restrict``): a child row is reached through a foreign key when it
  references a restricted parent row;
- ``UP`` (toward ancestors: ``Diagram.trace``, the masters of deleted parts,
  export's ancestors): a parent row is reached when a restricted child row
  references it.

With ``ANY`` a table's condition is the OR of what reaches it (a row goes if any
path reaches it); with ``ALL`` the AND (a row stays only if every restricted
neighbour reaches it). The engine works on query nodes and the connection
alone, so delete, the diagram and export share it without depending on tables/.
"""

from __future__ import annotations

from djframe.define.declare import tier_of
from djframe.query import conditions as c
from djframe.query import nodes as n
from djframe.query.expression import QueryExpression
from djframe.query.universal import U

DOWN, UP = "down", "up"
ANY, ALL = "any", "all"


class TableRows(QueryExpression):
    """The rows of one base table, whole or restricted: what the engine hands out.

    Restricting it again keeps a TableRows, so a delete plan can name, count and delete its rows.
    """

    def __init__(self, connection, graph_node, node: n.Node | None = None):
        if node is None:
            heading = connection.table_spec(*graph_node).heading
            node = n.TableNode(heading, *graph_node)
        super().__init__(node, connection)
        self.graph_node = tuple(graph_node)

    def _derive(self, node):
        if isinstance(node, n.RestrictNode):
            return TableRows(self.connection, self.graph_node, node)
        return QueryExpression(node, self.connection)

    @property
    def database(self) -> str:
        return self.graph_node[0]

    @property
    def table_name(self) -> str:
        return self.graph_node[1]

    @property
    def full_table_name(self) -> str:
        return self.connection.backend.full_name(*self.graph_node)

    @property
    def tier(self) -> str:
        return tier_of(self.table_name)


def table_rows(connection, graph_node, condition: c.Condition | None = None) -> TableRows:
    """The rows of `graph_node` that satisfy `condition` (None: all of them)."""
    rows = TableRows(connection, graph_node)
    return rows if condition is None else rows.restrict(condition, semantic_check=False)


def own_condition(expr) -> c.Condition:
    """The restriction a restricted base table carries, as one condition on the table itself."""
    terms, node = [], expr.node
    while isinstance(node, n.RestrictNode):
        terms.append(node.condition)
        node = node.child
    return c.simplify_and(tuple(reversed(terms)))


def referenced(rows, fk, direction) -> c.Condition:
    """The condition on the other end of `fk` that `rows` reach: DOWN, `rows` are the parent's and the
    children referencing them are meant; UP, `rows` are the child's and the parents they reference.

    Renamed foreign keys go through dj.U of the foreign-key columns, so renaming them to the other
    side's names cannot clash with the rows' other attributes."""
    pairs = [(pa, ch) if direction == DOWN else (ch, pa) for ch, pa in fk.attr_map]
    source, target = [s for s, _ in pairs], tuple(t for _, t in pairs)
    renames = {t: s for s, t in pairs if s != t}
    if renames:
        rows = (U(*source) & rows).proj(**renames)
    return c.InQuery(rows.node, target)


def propagate(connection, seeds: dict, direction, *, match=ANY, within=None, through=None, combine=None) -> dict:
    """{node: restriction} for the seeds ({node: restriction}) and every table reached from them,
    parents first (DOWN) or children first (UP).

    A restriction is a condition on the table unless `through` and `combine` say otherwise:
    `through(neighbour, its restriction, fk)` is what one reached neighbour passes on through a
    foreign key (None: nothing), `combine(node, seed or None, passed)` the node's restriction from
    what reached it. `within` limits the walk to those nodes (default: every descendant or
    ancestor of a seed)."""
    deps = connection.dependencies
    reach = deps.descendants if direction == DOWN else deps.ancestors
    nodes = set(within) if within is not None else set().union(*(reach(seed) for seed in seeds))
    order = deps.topological(nodes)
    neighbours = deps.edges_to_parents if direction == DOWN else deps.edges_to_children
    if through is None:
        def through(other, restriction, fk):
            return referenced(table_rows(connection, other, restriction), fk, direction)
    combine = combine or _combine_conditions(match)
    reached, rank = {}, {}
    for node in order if direction == DOWN else reversed(order):
        hits = sorted(((other, fk) for other, fk in neighbours(node) if other in reached),
                      key=lambda hit: rank[hit[0]])  # in the order the neighbours were reached
        passed = [term for term in (through(other, reached[other], fk) for other, fk in hits) if term is not None]
        if node in seeds or passed:
            reached[node], rank[node] = combine(node, seeds.get(node), passed), len(rank)
    return reached


def _combine_conditions(match):
    simplify = c.simplify_or if match == ANY else c.simplify_and

    def combine(node, seed, passed):
        return simplify(((seed,) if seed is not None else ()) + tuple(passed))
    return combine
