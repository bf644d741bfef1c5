"""QueryExpression: the user-facing operators over immutable relation nodes.

Every operator returns a new expression holding a new node; the heading and
primary key of each result follow DataJoint's rules (headings.py), so any
result can again be restricted, joined, projected, aggregated, fetched or
inserted from. Binary operators first apply the semantic check: namesake
attributes must share their lineage (`semantic_check=False` turns it off).

Where djframe deliberately differs from the reference client (each keeps a
law of the algebra that the reference breaks in an edge case):
- ``q & r`` / ``q - r`` are correlated [NOT] EXISTS, not ``(a, b) [NOT] IN``, so
  they partition q even when the matched attributes hold NULLs;
- a Top of a Top is a restriction of it (the reference merges them as
  min(limits) and the sum of offsets);
- NULLs sort first ascending, last descending, on every backend;
- user SQL is translated per dialect (the reference passes it verbatim);
- ``len(q)`` counts rows (the reference counts distinct keys, skipping NULL).
"""

from __future__ import annotations

from djframe.errors import DataJointError
from djframe.define.heading import Heading
from djframe.query import conditions as c
from djframe.query import nodes as n
from djframe.query.compile import Compiler, order_spec, split_direction
from djframe.query.fetch import FetchMethods, bound_statement, stream_batches, to_dicts
from djframe.query.headings import determines, join_heading, plan_projection, union_heading
from djframe.query.universal import Top, U, as_expression
from djframe.query.usersql import attributes_in

__all__ = ["QueryExpression", "Top", "U", "check_lineage"]


class QueryExpression(FetchMethods):
    """A query: a node tree bound to a connection. Immutable; operators return new expressions."""

    _node: n.Node
    _connection = None

    def __init__(self, node: n.Node, connection):
        self._node, self._connection = node, connection

    def _derive(self, node: n.Node) -> "QueryExpression":
        return QueryExpression(node, self.connection)

    # ----- introspection ---------------------------------------------------------------------
    @property
    def node(self) -> n.Node:
        """The immutable operation tree this query stands for: what compile, fetch and the graph read."""
        return self._node

    @property
    def connection(self):
        return self._connection

    @property
    def heading(self) -> Heading:
        return self._node.heading

    @property
    def primary_key(self) -> list[str]:
        return self.heading.primary_key

    @property
    def original_heading(self) -> Heading:
        return self.heading

    @property
    def restriction(self) -> c.AndList:
        """The conditions applied last (the outermost chain of restrictions), as an AndList."""
        out, node = [], self._node
        while isinstance(node, n.RestrictNode):
            out.append(node.condition)
            node = node.child
        return c.AndList(reversed(out))

    @property
    def restriction_attributes(self) -> set[str]:
        return set().union(*(c.referenced_attributes(x, attributes_in) for x in self.restriction))

    def make_sql(self, fields=None) -> str:
        """The SELECT statement of this query for its backend."""
        return Compiler(self.connection.backend).sql(self._node, fields)

    # ----- restriction -----------------------------------------------------------------------
    def restrict(self, cond, semantic_check=True) -> "QueryExpression":
        """Rows that satisfy `cond` (dict, SQL string, list = OR, AndList, Not, query, Top, bool)."""
        if type(cond) is dict and cond:  # a key: the per-call hot path, built directly
            heading = self.heading
            if all(name in heading for name in cond):
                return self._derive(n.RestrictNode(heading, self._node, equalities(cond)))
        if isinstance(cond, Top):
            return self._top(cond)
        if isinstance(cond, (list, tuple, c.AndList)) and any(isinstance(x, Top) for x in cond):
            raise DataJointError("dj.Top cannot be combined with other restrictions in a list; "
                                 "apply it on its own: (q & conditions) & dj.Top(...).")
        condition = c.make_condition(cond, self.heading, semantic_check=semantic_check,
                                     join_check=lambda expr, check: self._check_operand(expr, check, "restrict"))
        self._check_condition_attributes(condition)
        if isinstance(condition, c.TrueCond):
            return self
        return self._derive(n.RestrictNode(self.heading, self._node, condition))

    def __and__(self, cond):
        return self.restrict(cond)

    def __sub__(self, cond):
        return self.restrict(c.Not(cond))

    def __neg__(self):
        return c.Not(self)

    def restrict_in_place(self, cond):
        """Legacy: restrict this object itself (expressions are otherwise immutable)."""
        self.__dict__.update(self.restrict(cond).__dict__)

    def _top(self, top: Top) -> "QueryExpression":
        if top.order_by is not None:
            order = order_spec(top.order_by)
        else:
            order = self._node.order_by if isinstance(self._node, n.TopNode) else ("KEY",)
        for term in order:
            self._check_order_term(term)
        return self._derive(n.TopNode(self.heading, self._node, top.limit, order, top.offset))

    def _check_order_term(self, term: str):
        body, _ = split_direction(term)
        if body.upper() != "KEY" and body not in self.heading.names:  # attributes may be named `select`, `key`
            for name in attributes_in(body):
                self.heading[name]  # raises, listing the available attributes

    def _check_condition_attributes(self, condition):
        for name in c.referenced_attributes(condition, attributes_in):
            self.heading[name]  # raises UnknownAttributeError listing what exists

    def _check_operand(self, other, semantic_check=True, operation="join"):
        if other.connection is not self.connection:
            raise DataJointError("Cannot operate on expressions from different connections; "
                                 "build both from the same dj.conn() or Instance.")
        if semantic_check:
            check_lineage(self.heading, other.heading, operands=(self._node, other._node), operation=operation)

    # ----- projection ------------------------------------------------------------------------
    def proj(self, *attributes, **named) -> "QueryExpression":
        """Keep ('a', ... , '-b'), rename (new='old'), duplicate (new='(old)') or compute (new='a + 1')."""
        plan = plan_projection(self.heading, attributes, named)
        heading = Heading(plan.attributes)
        return self._derive(n.ProjectNode(heading, self._node, plan.columns))

    # ----- join ------------------------------------------------------------------------------
    def join(self, other, semantic_check=True, left=False, allow_nullable_pk=False) -> "QueryExpression":
        """Natural join on namesake attributes; `left=True` keeps every row of self (self must determine other)."""
        other = as_expression(other, "join operand")
        if getattr(other, "_is_universal", False):
            raise DataJointError("Joining with dj.U(...) is no longer supported (removed in DataJoint 2.0): "
                                 "restrict instead, dj.U(...) & q.")
        self._check_operand(other, semantic_check)
        nullable_pk = False
        if left and not determines(self.heading, other.heading):
            if not allow_nullable_pk:
                missing = [x for x in other.primary_key if x not in self.heading.names]
                raise DataJointError(f"A left join (extend) requires the left operand to determine the right one: "
                                     f"the right's primary-key attribute(s) {missing} are not in the left operand.")
            nullable_pk = True
        on = tuple(x for x in self.heading.names if x in other.heading.names)
        heading = join_heading(self.heading, other.heading, left=left, nullable_pk=nullable_pk)
        return self._derive(n.JoinNode(heading, self._node, other._node, on, left))

    def __mul__(self, other):
        return self.join(other)

    def __rmul__(self, other):
        return as_expression(other).join(self)

    def extend(self, other, semantic_check=True):
        """Add other's attributes to every row of self (a left join; self must determine other)."""
        return self.join(other, semantic_check=semantic_check, left=True)

    def __xor__(self, other):
        raise DataJointError("The ^ operator was removed in DataJoint 2.0; use .restrict(q, semantic_check=False).")

    def __matmul__(self, other):
        raise DataJointError("The @ operator was removed in DataJoint 2.0; use .join(q, semantic_check=False).")

    # ----- union -----------------------------------------------------------------------------
    def __add__(self, other):
        """Rows of either operand; both need the same primary key and no common secondary attribute."""
        other = as_expression(other, "union operand")
        if getattr(other, "_is_universal", False) or other.connection is not self.connection:
            raise DataJointError("A union needs two query expressions on the same connection.")
        if set(self.primary_key) != set(other.primary_key):
            raise DataJointError(f"The operands of a union must have the same primary key: "
                                 f"{self.primary_key} vs {other.primary_key}.")
        common = [x for x in self.heading.secondary_attributes if x in other.heading.secondary_attributes]
        if common:
            raise DataJointError(f"The operands of a union must not share secondary attributes: {common}. "
                                 "Project or rename them first.")
        heading = union_heading(self.heading, other.heading)
        if not (self.heading.secondary_attributes or other.heading.secondary_attributes):
            return self._derive(n.UnionNode(heading, self._node, other._node))
        # outer union: self's rows extended with other's attributes, then other's rows not in self
        left = self.extend(other, semantic_check=False)
        right = other.restrict(c.Not(self.proj()), semantic_check=False).extend(self, semantic_check=False)
        return self._derive(n.UnionNode(heading, left._node, right._node))

    # ----- aggregation -----------------------------------------------------------------------
    def aggr(self, group, *attributes, exclude_nonmatching=False, keep_all_rows=None, **computed):
        """One row per row of self with aggregates over the matching rows of `group`.

        As in the reference, every row of self is kept by default (a LEFT JOIN):
        for a row without matches ``count(*)`` is 1 (the row itself) while
        ``count(attr)`` is 0 and ``sum(attr)`` is NULL. ``exclude_nonmatching=True``
        keeps only rows of self that have matches (an inner join).
        """
        group = as_expression(group, "aggr() argument")
        if getattr(group, "_is_universal", False):
            raise DataJointError("aggr() aggregates a query expression, not dj.U(...); "
                                 "to group by attributes use dj.U(...).aggr(q, ...).")
        if keep_all_rows is not None:
            exclude_nonmatching = not keep_all_rows
        self._check_operand(group, True, "aggr")
        missing = [k for k in self.primary_key if k not in group.heading.names]
        if missing:
            raise DataJointError(f"aggr() requires the aggregated expression to contain the primary key "
                                 f"{self.primary_key} of the grouping one; missing {missing}.")
        scope = Heading(tuple({a.name: a for a in (*group.heading.all_attributes,
                                                    *self.heading.all_attributes)}.values()))
        plan = plan_projection(self.heading, attributes, computed, scope=scope)
        on = tuple(x for x in self.heading.names if x in group.heading.names)
        node = n.AggregateNode(Heading(plan.attributes), self._node, group._node, on, plan.columns,
                               not exclude_nonmatching)
        return self._derive(node)

    aggregate = aggr

    # ----- size, membership, iteration -------------------------------------------------------
    def __len__(self):
        """The number of rows (the reference counts DISTINCT keys, which skips a NULL key of dj.U('a') & q)."""
        sql = Compiler(self.connection.backend).count_sql(self._node)
        return int(self.connection.read_rows(sql)[0][0])

    def __bool__(self):
        connection = self.connection
        backend = connection.backend
        if connection.query_cache is None:  # the cache keys results by statement text: no parameters
            bound = bound_statement(self._node, backend.dialect, ("exists",), exists_statement)
            if bound is not None:
                return bool(backend.fetch_rows(*bound))
        return bool(connection.read_rows(Compiler(backend).exists_sql(self._node)))

    def __contains__(self, item):
        """``item in q`` is ``bool(q & item)``: item may be any restriction (a key dict, a query...)."""
        return bool(self & item)

    def __iter__(self):
        """Rows as dicts, streamed batch by batch."""
        for batch in stream_batches(self):
            import pyarrow as pa
            yield from to_dicts(pa.Table.from_batches([batch]), self.heading, self.connection)

    # ----- display ---------------------------------------------------------------------------
    def preview(self, limit=None, width=None):
        from djframe.query.display import preview
        return preview(self, limit, width)

    def __repr__(self):
        return self.preview()

    def _repr_html_(self):
        from djframe.query.display import html_preview
        return html_preview(self)

    def describe(self, **kwargs):
        """The heading as definition-like text (the primary key above the ``---``)."""
        return repr(self.heading)

    def __str__(self):
        return self.preview()


def equalities(key: dict) -> c.Condition:
    """The AND of ``attribute = value`` of a dict whose keys are all attributes (as make_condition
    gives it, without its general normalising)."""
    items = tuple(c.Equals(name, c.plain(value)) for name, value in key.items())
    return items[0] if len(items) == 1 else c.AllOf(items)


def exists_statement(compiler: Compiler, node: n.Node) -> str:
    return compiler.exists_sql(node)


def base_table(connection, schema: str, table: str) -> QueryExpression:
    """All rows of a declared table as a query: for the layers below the table classes."""
    spec = connection.table_spec(schema, table)
    return QueryExpression(n.TableNode(spec.heading, schema, table), connection)


def check_lineage(left: Heading, right: Heading, *, operands=None, operation="join"):
    """Semantic matching: namesakes must trace to the same original attribute.

    ``operands`` (the two nodes) let the error name the tables the colliding attribute comes from.
    """
    for name in left.names:
        if name not in right.names:
            continue
        a, b = left[name].lineage, right[name].lineage
        if a is not None and a == b:
            continue
        sides = [_attribute_origin(node, name) for node in operands] if operands else ["the left operand",
                                                                                     "the right operand"]
        if a is None or b is None:
            unrelated = " and ".join(side for side, lineage in zip(sides, (a, b)) if lineage is None)
            why = (f"on {unrelated} it has no lineage (it is neither a primary-key nor a foreign-key attribute, or "
                   "it is computed), so nothing says the two mean the same thing")
        else:
            why = f"they have different lineages ({a} vs {b}): they are different things"
        raise DataJointError(
            f"Cannot {operation} {sides[0]} with {sides[1]}: both have an attribute `{name}`, but {why}; "
            f"DataJoint matches only attributes of the same origin. {_collision_fixes(name, operation, sides)}"
            + (" If it is a key attribute whose lineage is missing (a schema declared by an older client), run "
               "schema.rebuild_lineage()." if a is None or b is None else ""))


def _collision_fixes(name: str, operation: str, sides: list) -> str:
    """How to resolve a namesake collision, in the words of the operation that hit it."""
    left, right = (side if " " not in side else placeholder for side, placeholder in zip(sides, ("q", "other")))
    prefix = _snake(right.rsplit(".", 1)[-1])
    rename = f"Rename it on one side with proj, e.g. `{right}.proj(..., {prefix}_{name}='{name}')`"
    if operation == "aggr":
        return rename + "."
    method = "restrict" if operation == "restrict" else "join"
    return (f"{rename}, or, to match on `{name}` anyway, skip the check with "
            f"`{left}.{method}({right}, semantic_check=False)`.")


def _snake(label: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in label).lstrip("_")


def _attribute_origin(node, name: str) -> str:
    """'Subject' or 'the query of Session, Subject (`name` from Subject)': the tables behind an operand."""
    tables = _base_tables(node)
    labels = list(dict.fromkeys(_table_label(t.table) for t in tables))
    holders = list(dict.fromkeys(_table_label(t.table) for t in tables if name in t.heading.names))
    if len(labels) == 1 and holders == labels:
        return labels[0]
    origin = f"from {', '.join(holders)}" if holders else "computed"
    return f"the query of {', '.join(labels) or 'no table'} (`{name}` {origin})"


def _base_tables(node) -> list:
    """The base tables an operand reads (not those of its restrictions' subqueries)."""
    if isinstance(node, n.TableNode):
        return [node]
    return [t for child in node.children for t in _base_tables(child)]


def _table_label(table: str) -> str:
    """The class name a stored table name stands for: '#subject' -> 'Subject', 'a__b' -> 'A.B'."""
    from djframe.define.declare import to_camel_case
    return ".".join(to_camel_case(part) for part in table.lstrip("#_~").split("__"))


