"""QueryExpression: the user-facing operators over immutable relation nodes.

Every operator returns a new expression holding a new node; the heading and
primary key of each result follow DataJoint's rules, so any result can again
be restricted, joined, projected, aggregated, fetched or inserted from.
"""

from __future__ import annotations

import re

from ..errors import DataJointError
from ..heading import Heading
from ..types import CoreType
from . import conditions as c
from . import fetch as f
from . import nodes as n
from .compile import Compiler, attributes_in

_RENAME = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*$")
_EXPRESSION_TYPE = CoreType("native", "expression")


class Top:
    """``q & dj.Top(limit, order_by, offset)``: the first rows of q in the given order."""

    def __init__(self, limit=1, order_by="KEY", offset=0):
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise DataJointError(f"Top limit must be a non-negative integer or None, got {limit!r}")
        self.limit, self.offset = limit, int(offset or 0)
        self.order_by = (order_by,) if isinstance(order_by, str) else tuple(order_by or ())


class QueryExpression:
    """A query: a node tree bound to a connection."""

    _node: n.Node
    _connection = None

    def __init__(self, node: n.Node, connection):
        self._node, self._connection = node, connection

    def _derive(self, node: n.Node) -> "QueryExpression":
        return QueryExpression(node, self.connection)

    # ----- introspection ---------------------------------------------------------------------
    @property
    def connection(self):
        return self._connection

    @property
    def heading(self) -> Heading:
        return self._node.heading

    @property
    def primary_key(self) -> list[str]:
        return self.heading.primary_key

    def make_sql(self, names=None) -> str:
        return Compiler(self.connection.backend).sql(self._node, names)

    # ----- restriction -----------------------------------------------------------------------
    def restrict(self, cond, semantic_check=True) -> "QueryExpression":
        if isinstance(cond, Top):
            return self._derive(n.TopNode(self.heading, self._node, cond.limit, cond.order_by, cond.offset))
        if isinstance(cond, (list, tuple)) and not isinstance(cond, c.AndList) and \
                any(isinstance(x, Top) for x in cond):
            raise DataJointError("dj.Top cannot be combined with other restrictions in one list.")
        condition = c.make_condition(cond, self.heading, semantic_check=semantic_check,
                                     join_check=self._check_operand)
        self._check_condition_attributes(condition)
        if isinstance(condition, c.TrueCond):
            return self
        return self._derive(n.RestrictNode(self.heading, self._node, condition))

    def __and__(self, cond):
        return self.restrict(cond)

    def __sub__(self, cond):
        if isinstance(cond, type) and hasattr(cond, "_node_for_class") or getattr(cond, "_is_universal", False):
            if getattr(cond, "_is_universal", False):
                raise DataJointError("Cannot subtract a universal set dj.U(...): it is infinite.")
        return self.restrict(c.Not(cond))

    def _check_condition_attributes(self, condition):
        for name in c.referenced_attributes(condition, attributes_in):
            if name not in self.heading.names and not name.startswith("_"):
                self.heading[name]  # raises UnknownAttributeError listing what exists

    def _check_operand(self, other, semantic_check=True):
        if other.connection is not self.connection:
            raise DataJointError("Cannot operate on expressions from different connections; "
                                 "build both from the same dj.conn() or Instance.")
        if semantic_check:
            check_lineage(self.heading, other.heading)

    # ----- projection ------------------------------------------------------------------------
    def proj(self, *attributes, **named) -> "QueryExpression":
        heading = self.heading
        keep = list(heading.primary_key)
        for a in attributes:
            if a is Ellipsis:
                keep += [x for x in heading.secondary_attributes if x not in keep]
            elif isinstance(a, str) and a.startswith("-"):
                name = a[1:].strip()
                if name in heading.primary_key:
                    raise DataJointError(f"Cannot exclude primary-key attribute `{name}` in proj().")
                heading[name]
                keep = [x for x in keep if x != name]
            elif isinstance(a, str):
                heading[a]
                if a not in keep:
                    keep.append(a)
            else:
                raise DataJointError(f"proj() takes attribute names, '...', or '-name'; got {a!r}")
        columns, attrs, renamed_sources = [], [], set()
        for new, spec in named.items():
            m = _RENAME.match(spec) if isinstance(spec, str) else None
            if m and m.group(1) in heading.names:
                source = heading[m.group(1)]
                renamed_sources.add(source.name)
                columns.append((new, source.name, None))
                attrs.append(source.evolve(name=new))
            elif isinstance(spec, str):
                dup = re.match(r"^\s*\(\s*([a-z_][a-z0-9_]*)\s*\)\s*$", spec)
                if dup and dup.group(1) in heading.names:
                    source = heading[dup.group(1)]
                    columns.append((new, source.name, None))
                    attrs.append(source.evolve(name=new, in_key=False))
                    continue
                for name in attributes_in(spec):
                    heading[name]
                columns.append((new, None, spec))
                attrs.append(_computed_attribute(new))
            else:
                raise DataJointError(f"proj({new}=...) needs an attribute name or a SQL expression string")
        kept = [x for x in keep if x not in renamed_sources or x in attributes]
        kept_attrs = [heading[x] for x in kept]
        names = [a.name for a in kept_attrs] + [a.name for a in attrs]
        duplicates = {x for x in names if names.count(x) > 1}
        if duplicates:
            raise DataJointError(f"proj() would create duplicate attribute(s) {sorted(duplicates)}.")
        all_columns = tuple((a.name, a.name, None) for a in kept_attrs) + tuple(columns)
        out = [a for a in kept_attrs] + attrs
        out = [a for a in out if a.in_key] + [a for a in out if not a.in_key]
        order = {a.name: i for i, a in enumerate(out)}
        all_columns = tuple(sorted(all_columns, key=lambda col: order[col[0]]))
        return self._derive(n.ProjectNode(heading.with_attributes(out, ""), self._node, all_columns))

    # ----- join ------------------------------------------------------------------------------
    def join(self, other, semantic_check=True, left=False, allow_nullable_pk=False) -> "QueryExpression":
        other = _as_expression(other)
        if getattr(other, "_is_universal", False):
            raise DataJointError("Joining with dj.U(...) was removed in DataJoint 2.0; use dj.U(...) & q.")
        self._check_operand(other, semantic_check)
        on = tuple(x for x in self.heading.names if x in other.heading.names)
        a_pk, b_pk = self.heading.primary_key, other.heading.primary_key
        a_determines_b = set(b_pk) <= set(self.heading.names)
        b_determines_a = set(a_pk) <= set(other.heading.names)
        if left and not a_determines_b:
            missing = [x for x in b_pk if x not in self.heading.names]
            raise DataJointError(f"A left join (extend) requires the left operand to contain the right's "
                                 f"primary key; missing: {missing}")
        if a_determines_b:
            key = list(a_pk)
        elif b_determines_a:
            key = list(b_pk)
        else:
            key = list(a_pk) + [x for x in b_pk if x not in a_pk]
        attrs = {a.name: a for a in self.heading.all_attributes if not a.hidden}
        for a in other.heading.all_attributes:
            if not a.hidden and a.name not in attrs:
                attrs[a.name] = a.evolve(nullable=a.nullable or left)
        ordered = [attrs[k].evolve(in_key=True) for k in key] + \
                  [a.evolve(in_key=False) for name, a in attrs.items() if name not in key]
        heading = Heading(tuple(ordered))
        return self._derive(n.JoinNode(heading, self._node, other._node, on, left))

    def __mul__(self, other):
        return self.join(other)

    def extend(self, other, semantic_check=True):
        return self.join(other, semantic_check=semantic_check, left=True)

    def __xor__(self, other):
        raise DataJointError("The ^ operator was removed in DataJoint 2.0; use .restrict(q, semantic_check=False).")

    def __matmul__(self, other):
        raise DataJointError("The @ operator was removed in DataJoint 2.0; use .join(q, semantic_check=False).")

    # ----- union -----------------------------------------------------------------------------
    def __add__(self, other):
        other = _as_expression(other)
        self._check_operand(other, semantic_check=False)
        if set(self.primary_key) != set(other.primary_key):
            raise DataJointError(f"Union requires the same primary key: {self.primary_key} vs {other.primary_key}")
        common_secondary = set(self.heading.secondary_attributes) & set(other.heading.secondary_attributes)
        if common_secondary:
            raise DataJointError(f"Union operands cannot share secondary attributes: {sorted(common_secondary)}")
        if self.heading.secondary_attributes or other.heading.secondary_attributes:
            return self._outer_union(other)
        heading = self.heading
        return self._derive(n.UnionNode(heading, self._node, other._node))

    def _outer_union(self, other):
        """Rows of either side; attributes only one side has are NULL for the other's rows."""
        left = self.extend(other, semantic_check=False)
        missing = other - self.proj()
        right = missing.extend(self, semantic_check=False)
        names = left.heading.names
        right = right.proj(*[x for x in names if x not in right.primary_key])
        return self._derive(n.UnionNode(left.heading, left._node, right._node))

    # ----- aggregation -----------------------------------------------------------------------
    def aggr(self, group, *attributes, exclude_nonmatching=False, keep_all_rows=None, **computed):
        group = _as_expression(group)
        if keep_all_rows is not None:
            exclude_nonmatching = not keep_all_rows
        self._check_operand(group, True)
        missing = [k for k in self.primary_key if k not in group.heading.names]
        if missing:
            raise DataJointError(f"aggr() requires the aggregated expression to contain the primary key "
                                 f"{self.primary_key}; missing {missing}.")
        keep = list(self.primary_key)
        for a in attributes:
            if a is Ellipsis:
                keep += [x for x in self.heading.secondary_attributes if x not in keep]
            elif isinstance(a, str):
                self.heading[a]
                keep.append(a)
        scope = set(self.heading.names) | set(group.heading.names)
        for name, sql in computed.items():
            for ref in attributes_in(sql):
                if ref not in scope:
                    raise DataJointError(f"Unknown attribute `{ref}` in aggr({name}={sql!r}); "
                                         f"available: {sorted(scope)}")
        on = tuple(x for x in self.heading.names if x in group.heading.names)
        attrs = [self.heading[k] for k in keep] + [_computed_attribute(k) for k in computed]
        node = n.AggregateNode(self.heading.with_attributes(attrs, ""), self._node, group._node, on,
                               tuple(keep), tuple(computed.items()), not exclude_nonmatching)
        return self._derive(node)

    aggregate = aggr

    # ----- fetch -----------------------------------------------------------------------------
    def _arrow(self, names=None, order_by=None, limit=None, offset=None):
        return f.fetch_table(self, names, order_by, limit, offset)

    def to_arrow(self, *, order_by=None, limit=None, offset=None, decode=False):
        return self._arrow(None, order_by, limit, offset)

    def to_polars(self, *, order_by=None, limit=None, offset=None):
        return f.to_polars(self._arrow(None, order_by, limit, offset), self.heading, self.connection)

    def to_pandas(self, *, order_by=None, limit=None, offset=None):
        return f.to_pandas(self._arrow(None, order_by, limit, offset), self.heading, self.connection)

    def to_dicts(self, *, order_by=None, limit=None, offset=None, squeeze=False):
        return f.to_dicts(self._arrow(None, order_by, limit, offset), self.heading, self.connection)

    def to_arrays(self, *attrs, include_key=False, order_by=None, limit=None, offset=None, squeeze=False):
        if not attrs:
            return f.to_arrays(self._arrow(None, order_by, limit, offset), self.heading, self.connection)
        names = list(dict.fromkeys(list(self.primary_key) * include_key + list(attrs)))
        table = self._arrow(names, order_by, limit, offset)
        arrays = f.to_arrays(table, self.heading, self.connection)
        out = tuple(arrays[a] for a in attrs)
        result = out[0] if len(out) == 1 else out
        if include_key:
            keys = f.to_dicts(table.select(self.primary_key), self.heading, self.connection)
            return (keys, *out) if isinstance(result, tuple) else (keys, result)
        return result

    def keys(self, *, order_by=None, limit=None, offset=None):
        table = self._arrow(self.primary_key, order_by, limit, offset)
        return f.to_dicts(table, self.heading, self.connection)

    def iter_batches(self, batch_rows=65536, format="arrow"):
        """Stream the result as Arrow record batches (or Polars frames) with flat memory."""
        import polars as pl
        for batch in f.stream_batches(self, batch_rows):
            yield pl.from_arrow(batch) if format == "polars" else batch

    def fetch(self, *attrs, offset=None, limit=None, order_by=None, format=None, as_dict=None, squeeze=False,
              download_path="."):
        """Legacy fetch; prefer to_polars / to_dicts / to_arrays."""
        if format in ("polars", "arrow", "pandas", "frame") and not attrs:
            method = {"polars": self.to_polars, "arrow": self.to_arrow, "pandas": self.to_pandas,
                      "frame": self.to_pandas}[format]
            return method(order_by=order_by, limit=limit, offset=offset)
        if format not in (None, "array", "dict", "polars", "arrow", "pandas", "frame"):
            raise DataJointError(f"Unknown fetch format {format!r}: use polars, arrow, pandas, array or dict.")
        if attrs == ("KEY",) or (len(attrs) == 1 and attrs[0] == "KEY"):
            return self.keys(order_by=order_by, limit=limit, offset=offset)
        if attrs:
            names = [self.primary_key if a == "KEY" else a for a in attrs]
            if as_dict:
                flat = list(dict.fromkeys(x for a in names for x in (a if isinstance(a, list) else [a])))
                return f.to_dicts(self._arrow(flat, order_by, limit, offset), self.heading, self.connection)
            results = []
            for a in attrs:
                if a == "KEY":
                    results.append(self.keys(order_by=order_by, limit=limit, offset=offset))
                else:
                    results.append(self.to_arrays(a, order_by=order_by, limit=limit, offset=offset))
            return results[0] if len(results) == 1 else tuple(results)
        if as_dict or format == "dict":
            return self.to_dicts(order_by=order_by, limit=limit, offset=offset)
        return self.to_arrays(order_by=order_by, limit=limit, offset=offset)

    def fetch1(self, *attrs, squeeze=False):
        names = None
        if attrs:
            names = list(dict.fromkeys(x for a in attrs for x in (self.primary_key if a == "KEY" else [a])))
        table = self._arrow(names, limit=2)
        f.require_one(table, self._describe_self())
        row = f.to_dicts(table, self.heading, self.connection)[0]
        if not attrs:
            return row
        values = tuple({k: row[k] for k in self.primary_key} if a == "KEY" else row[a] for a in attrs)
        return values[0] if len(values) == 1 else values

    def head(self, limit=25, **kwargs):
        return self.to_dicts(order_by="KEY", limit=limit)

    def tail(self, limit=25, **kwargs):
        return self.to_dicts(order_by="KEY DESC", limit=limit)[::-1]

    def _describe_self(self) -> str:
        return getattr(self, "full_table_name", None) or "the query"

    # ----- size and membership ---------------------------------------------------------------
    def __len__(self):
        sql = Compiler(self.connection.backend).count_sql(self._node)
        return int(self.connection.backend.fetch_rows(sql)[0][0])

    def __bool__(self):
        sql = Compiler(self.connection.backend).exists_sql(self._node)
        return bool(self.connection.backend.fetch_rows(sql))

    def __contains__(self, item):
        return bool(self & item)

    def __iter__(self):
        for batch in f.stream_batches(self):
            table = __import__("pyarrow").Table.from_batches([batch])
            yield from f.to_dicts(table, self.heading, self.connection)

    # ----- display ---------------------------------------------------------------------------
    def preview(self, limit=None, width=None):
        from ..display import preview
        return preview(self, limit, width)

    def __repr__(self):
        return self.preview()

    def _repr_html_(self):
        from ..display import html_preview
        return html_preview(self)

    def describe(self, **kwargs):
        return repr(self.heading)


def _computed_attribute(name: str):
    from ..heading import Attribute
    return Attribute(name=name, type=_EXPRESSION_TYPE, nullable=True, expression=name)


def _as_expression(obj):
    if isinstance(obj, type) and hasattr(obj, "_node_for_class"):
        return obj()
    if isinstance(obj, QueryExpression) or getattr(obj, "_is_universal", False):
        return obj
    raise DataJointError(f"Expected a query expression or table, got {type(obj).__name__}")


def check_lineage(left: Heading, right: Heading):
    """Semantic matching: namesakes must trace to the same original attribute."""
    for name in left.names:
        if name not in right.names:
            continue
        a, b = left[name].lineage, right[name].lineage
        if a is None or b is None:
            raise DataJointError(
                f"Cannot join on attribute `{name}`: lineage missing on one side ({a} vs {b}). "
                "Rename it with .proj(), or pass semantic_check=False.")
        if a != b:
            raise DataJointError(
                f"Cannot join on attribute `{name}`: different lineages ({a} vs {b}). "
                "Use .proj() to rename one of the attributes, or pass semantic_check=False.")


class U:
    """dj.U(*attrs): the universal set over some attributes, for distinct values and grouping."""

    _is_universal = True

    def __init__(self, *attributes):
        self.attributes = attributes

    @property
    def primary_key(self):
        return list(self.attributes)

    def __and__(self, other):
        other = _as_expression(other)
        heading = other.heading
        for a in self.attributes:
            heading[a]
        attrs = [heading[a].evolve(in_key=True) for a in self.attributes]
        columns = tuple((a, a, None) for a in self.attributes)
        node = n.ProjectNode(heading.with_attributes(attrs, ""), other._node, columns, distinct=True)
        return other._derive(node)

    def __sub__(self, other):
        raise DataJointError("dj.U(...) - q is not allowed: the universal set is infinite.")

    def __mul__(self, other):
        raise DataJointError("Joining with dj.U(...) was removed in DataJoint 2.0; use dj.U(...) & q.")

    __rmul__ = __mul__

    def aggr(self, group, *attributes, exclude_nonmatching=True, **computed):
        if not exclude_nonmatching:
            raise DataJointError("dj.U(...).aggr() always excludes non-matching rows; "
                                 "exclude_nonmatching=False is not allowed.")
        group = _as_expression(group)
        for a in self.attributes:
            group.heading[a]
        for name, sql in computed.items():
            for ref in attributes_in(sql):
                group.heading[ref]
        attrs = [group.heading[a].evolve(in_key=True) for a in self.attributes] + \
                [_computed_attribute(k) for k in computed]
        node = n.GroupNode(group.heading.with_attributes(attrs, ""), group._node, tuple(self.attributes),
                           tuple(computed.items()))
        return group._derive(node)

    aggregate = aggr

