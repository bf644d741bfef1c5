"""dj.U (universal sets) and dj.Top: the two query helpers that are not expressions.

``dj.U('a', 'b') & q`` gives the distinct (a, b) values of q with (a, b) as
primary key; ``dj.U('a').aggr(q, n='count(*)')`` groups q by arbitrary
attributes; ``q & dj.Top(limit, order_by, offset)`` keeps the first rows.
"""

from __future__ import annotations

from djframe.errors import DataJointError
from djframe.query import nodes as n
from djframe.query.headings import group_heading, universal_heading
from djframe.query.usersql import attributes_in


class Top:
    """``q & dj.Top(limit=1, order_by="KEY", offset=0)``: the first rows of q in the given order.

    ``order_by=None`` inherits the order of a Top directly underneath (else
    KEY). A Top of a Top is a restriction of a restriction: its rows are a
    subset of the inner Top's (the reference instead merges the two as
    min(limits) and the sum of offsets, which can return rows outside the
    inner Top when the outer offset is positive).
    """

    def __init__(self, limit=1, order_by="KEY", offset=0):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise DataJointError(f"Top limit must be a non-negative integer or None, got {limit!r}.")
        if not isinstance(offset or 0, int) or (offset or 0) < 0:
            raise DataJointError(f"Top offset must be a non-negative integer, got {offset!r}.")
        if order_by is not None:
            order_by = [order_by] if isinstance(order_by, str) else list(order_by)
            if not all(isinstance(t, str) for t in order_by):
                raise DataJointError(f"Top order_by must be a string or a list of strings, got {order_by!r}.")
        self.limit, self.offset = limit, int(offset or 0)
        self.order_by = None if order_by is None else tuple(order_by)

    def __repr__(self):
        return f"Top(limit={self.limit}, order_by={self.order_by}, offset={self.offset})"


def as_expression(obj, what="operand"):
    """A query expression from an expression, a table class, or a dj.U."""
    if isinstance(obj, type) and hasattr(obj, "_node_for_class"):
        return obj()
    if hasattr(obj, "_node") or getattr(obj, "_is_universal", False):
        return obj
    raise DataJointError(f"Expected a query expression or a table as the {what}, got {type(obj).__name__}.")


class U:
    """dj.U(*attrs): the universal set over some attributes, for distinct values and grouping."""

    _is_universal = True

    def __init__(self, *attributes):
        for a in attributes:
            if not isinstance(a, str):
                raise DataJointError(f"dj.U takes attribute names, got {a!r}.")
        self.attributes = tuple(attributes)

    def __repr__(self):
        return f"dj.U({', '.join(map(repr, self.attributes))})"

    @property
    def primary_key(self):
        return list(self.attributes)

    def _source(self, other, what):
        other = as_expression(other, what)
        if getattr(other, "_is_universal", False):
            raise DataJointError("dj.U(...) can only be combined with a query expression.")
        for a in self.attributes:
            other.heading[a]  # raises, listing the available attributes
        return other

    def __and__(self, other):
        """The distinct values of these attributes in `other`, with them as the primary key."""
        other = self._source(other, "restriction of dj.U")
        columns = tuple((a, a, None) for a in self.attributes)
        node = n.ProjectNode(universal_heading(other.heading, self.attributes), other.node, columns, distinct=True)
        from djframe.query.expression import QueryExpression
        return QueryExpression(node, other.connection)  # a projection, never a restricted table

    def __sub__(self, other):
        raise DataJointError("dj.U(...) - q is not allowed: the universal set is infinite.")

    def __mul__(self, other):
        raise DataJointError("Joining with dj.U(...) is no longer supported (removed in DataJoint 2.0): "
                             "restrict instead, dj.U(...) & q.")

    __rmul__ = __mul__

    def aggr(self, group, *attributes, exclude_nonmatching=True, **computed):
        """Group `group` by these attributes and compute aggregates per group (one row if no attributes)."""
        if not exclude_nonmatching:
            raise DataJointError("dj.U(...).aggr() cannot keep non-matching rows (the universal set is "
                                 "infinite); exclude_nonmatching=False is not allowed.")
        if attributes:
            raise DataJointError("dj.U(...).aggr() takes only computed attributes (name='sql expression').")
        group = self._source(group, "argument of dj.U(...).aggr()")
        for name, sql in computed.items():
            if not isinstance(sql, str):
                raise DataJointError(f"aggr({name}=...) takes an SQL expression string, got {sql!r}.")
            if name in self.attributes:
                raise DataJointError(f"Attribute `{name}` already exists in the grouping attributes.")
            for ref in attributes_in(sql):
                group.heading[ref]
        node = n.GroupNode(group_heading(group.heading, self.attributes, computed), group.node,
                           self.attributes, tuple(computed.items()))
        from djframe.query.expression import QueryExpression
        return QueryExpression(node, group.connection)

    aggregate = aggr
