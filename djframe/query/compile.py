"""Compile relation nodes into SQL for one backend.

Each node becomes a `Select` (a FROM source, named column expressions and
WHERE terms). Restrictions, projections and inner joins merge into the same
SELECT; only a node that limits, de-duplicates or groups is wrapped as a
derived table before more is stacked on top. User SQL (conditions and
computed attributes) is parsed once with sqlglot in the DataJoint (MySQL)
dialect, checked against the heading and rendered for the target dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

import sqlglot
from sqlglot import exp

from ..errors import DataJointError, QuerySyntaxError, UnknownAttributeError
from . import conditions as c
from . import nodes as n

_MARK = "__djcol{}__"
_ORDER_TERM = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(asc|desc)?\s*$", re.I)


@dataclass
class Select:
    source: str
    columns: dict[str, str]
    where: list[str] = field(default_factory=list)
    distinct: bool = False
    group_by: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0
    joined: bool = False  # the source is a join (needs parentheses on the right of another join)

    @property
    def is_simple(self) -> bool:
        return not (self.distinct or self.group_by or self.limit is not None or self.offset or self.order_by)


@lru_cache(maxsize=8192)
def sql_template(text: str, dialect: str) -> tuple[str, tuple[str, ...]]:
    """Parse user SQL once; return it rendered for `dialect` with column markers, and the names."""
    try:
        tree = sqlglot.parse_one(text, read="mysql")
    except sqlglot.errors.ParseError as e:
        raise QuerySyntaxError(f"Cannot parse the SQL condition or expression {text!r}: {e}") from None
    names = []
    for col in list(tree.find_all(exp.Column)):
        if col.table:
            raise DataJointError(f"Qualified column `{col.sql()}` in {text!r}: refer to attributes by name only.")
        if col.name not in names:
            names.append(col.name)
        col.replace(exp.column(_MARK.format(names.index(col.name))))
    return tree.sql(dialect=dialect), tuple(names)


def attributes_in(text: str) -> tuple[str, ...]:
    return sql_template(text, "mysql")[1]


class Compiler:
    """Compiles one statement; hands out table aliases unique within it."""

    def __init__(self, backend):
        self.backend = backend
        self.q = backend.quote
        self._aliases = 0

    def alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases - 1}"

    # ----- public entry points ------------------------------------------------------------
    def sql(self, node: n.Node, names=None, order_by=(), limit=None, offset=0, distinct=False) -> str:
        sel = self.select(node)
        if order_by or limit is not None or offset:
            if not sel.is_simple:
                sel = self.wrap(sel)
            sel.order_by = tuple(self.order_terms(order_by, sel, node.heading))
            sel.limit, sel.offset = limit, offset or 0
        return self.render(sel, node.heading.names if names is None else names, distinct=distinct)

    def count_sql(self, node: n.Node) -> str:
        inner = self.render(self.select(node), node.heading.names)
        return f"SELECT COUNT(*) FROM ({inner}) AS {self.alias()}"

    def exists_sql(self, node: n.Node) -> str:
        inner = self.render(self.select(node), node.heading.names)
        return f"SELECT 1 FROM ({inner}) AS {self.alias()} LIMIT 1"

    def where_sql(self, node: n.Node) -> tuple[str, str]:
        """(alias-free table name, WHERE text) for DELETE/UPDATE on a restricted base table."""
        base = node
        while isinstance(base, n.RestrictNode):
            base = base.child
        if not isinstance(base, n.TableNode):
            raise DataJointError("Only a restricted base table can be deleted from or updated.")
        name = self.backend.full_name(base.schema, base.table)
        columns = {a.name: self.q(a.name) for a in base.heading.all_attributes}
        sel = Select(name, columns)
        conds = []
        cur = node
        while isinstance(cur, n.RestrictNode):
            conds.append(self.condition(cur.condition, sel, cur.child.heading, qualify=name))
            cur = cur.child
        return name, " AND ".join(reversed(conds)) if conds else ""

    # ----- rendering -------------------------------------------------------------------------
    def render(self, sel: Select, names, distinct=False) -> str:
        cols = ", ".join(f"{sel.columns[nm]} AS {self.q(nm)}" for nm in names) or "1 AS _dj_dummy"
        parts = [f"SELECT {'DISTINCT ' if sel.distinct or distinct else ''}{cols} FROM {sel.source}"]
        if sel.where:
            parts.append("WHERE " + " AND ".join(sel.where))
        if sel.group_by:
            parts.append("GROUP BY " + ", ".join(sel.group_by))
        if sel.order_by:
            parts.append("ORDER BY " + ", ".join(sel.order_by))
        if sel.limit is not None or sel.offset:
            parts.append(self.backend.limit_clause(sel.limit, sel.offset))
        return " ".join(parts)

    def wrap(self, sel: Select) -> Select:
        alias = self.alias()
        names = list(sel.columns)
        inner = self.render(sel, names)
        return Select(f"({inner}) AS {alias}", {nm: f"{alias}.{self.q(nm)}" for nm in names})

    def order_terms(self, order_by, sel: Select, heading) -> list[str]:
        if isinstance(order_by, str):
            order_by = [order_by]
        terms = []
        for term in order_by or ():
            upper = term.strip().upper()
            if upper in ("KEY", "KEY ASC", "KEY DESC"):
                direction = " DESC" if upper.endswith("DESC") else ""
                terms += [f"{sel.columns[k]}{direction}" for k in heading.primary_key]
                continue
            m = _ORDER_TERM.match(term)
            if m and m.group(1) in sel.columns:
                terms.append(sel.columns[m.group(1)] + (f" {m.group(2).upper()}" if m.group(2) else ""))
            else:
                terms.append(self.expression(term, sel.columns, heading))
        return terms

    def expression(self, text: str, columns: dict[str, str], heading) -> str:
        """Render user SQL with attribute names replaced by their column expressions."""
        sql, names = sql_template(text, self.backend.sqlglot_dialect)
        for i, name in enumerate(names):
            if name not in columns:
                raise UnknownAttributeError(
                    f"Unknown attribute `{name}` in {text!r} on {heading.table or 'the expression'}; "
                    f"available attributes: {', '.join(heading.names)}")
            sql = sql.replace(_MARK.format(i), columns[name])
        return sql

    # ----- nodes -----------------------------------------------------------------------------
    def select(self, node: n.Node) -> Select:
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _TableNode(self, node: n.TableNode) -> Select:
        alias = self.alias()
        source = f"{self.backend.full_name(node.schema, node.table)} AS {alias}"
        return Select(source, {a.name: f"{alias}.{self.q(a.name)}" for a in node.heading.all_attributes})

    def _RestrictNode(self, node: n.RestrictNode) -> Select:
        sel = self.select(node.child)
        if not sel.is_simple:
            sel = self.wrap(sel)
        sel.where.append(self.condition(node.condition, sel, node.child.heading))
        return sel

    def _ProjectNode(self, node: n.ProjectNode) -> Select:
        sel = self.select(node.child)
        if not sel.is_simple:
            sel = self.wrap(sel)
        columns = {}
        for name, source, sql in node.columns:
            columns[name] = sel.columns[source] if source else f"({self.expression(sql, sel.columns, node.child.heading)})"
        hidden = {k: v for k, v in sel.columns.items() if k not in columns and k.startswith("_")}
        return replace(sel, columns={**columns, **hidden} if not node.distinct else columns,
                       distinct=node.distinct)

    def _JoinNode(self, node: n.JoinNode) -> Select:
        left, right = self.select(node.left), self.select(node.right)
        if not left.is_simple:
            left = self.wrap(left)
        if not right.is_simple or (node.left_outer and right.where):
            right = self.wrap(right)
        on = " AND ".join(f"{left.columns[k]} = {right.columns[k]}" for k in node.on) or "1 = 1"
        right_source = f"({right.source})" if right.joined else right.source
        kind = "LEFT JOIN" if node.left_outer else "JOIN"
        columns = {**right.columns, **left.columns}
        return Select(f"{left.source} {kind} {right_source} ON {on}", columns,
                      left.where + right.where, joined=True)

    def _TopNode(self, node: n.TopNode) -> Select:
        sel = self.select(node.child)
        if not sel.is_simple:
            sel = self.wrap(sel)
        sel.order_by = tuple(self.order_terms(node.order_by, sel, node.child.heading))
        sel.limit, sel.offset = node.limit, node.offset
        return sel

    def _UnionNode(self, node: n.UnionNode) -> Select:
        names = node.heading.names
        arms = []
        for child in (node.left, node.right):
            sel = self.select(child)
            inner = self.render(sel, [nm for nm in names])
            arms.append(f"SELECT * FROM ({inner}) AS {self.alias()}")
        alias = self.alias()
        return Select(f"({' UNION '.join(arms)}) AS {alias}", {nm: f"{alias}.{self.q(nm)}" for nm in names})

    def _AggregateNode(self, node: n.AggregateNode) -> Select:
        group, source = self.select(node.group), self.select(node.source)
        if not group.is_simple:
            group = self.wrap(group)
        if not source.is_simple or (node.keep_all_rows and source.where):
            source = self.wrap(source)
        on = " AND ".join(f"{group.columns[k]} = {source.columns[k]}" for k in node.on) or "1 = 1"
        right_source = f"({source.source})" if source.joined else source.source
        kind = "LEFT JOIN" if node.keep_all_rows else "JOIN"
        scope = {**source.columns, **group.columns}
        columns = {k: group.columns[k] for k in node.keep}
        heading = _merged_heading(node.group.heading, node.source.heading)
        for name, sql in node.computed:
            columns[name] = f"({self.expression(sql, scope, heading)})"
        where = group.where + ([] if node.keep_all_rows else source.where)
        return Select(f"{group.source} {kind} {right_source} ON {on}", columns, where,
                      group_by=tuple(group.columns[k] for k in node.keep))

    def _GroupNode(self, node: n.GroupNode) -> Select:
        source = self.select(node.source)
        if not source.is_simple:
            source = self.wrap(source)
        columns = {k: source.columns[k] for k in node.by}
        for name, sql in node.computed:
            columns[name] = f"({self.expression(sql, source.columns, node.source.heading)})"
        group_by = tuple(source.columns[k] for k in node.by)
        sel = replace(source, columns=columns, group_by=group_by)
        if not group_by:
            # no grouping attributes: one row of aggregates over everything
            sel = self.wrap(replace(sel, group_by=()))
        return sel

    # ----- conditions ------------------------------------------------------------------------
    def condition(self, cond: c.Condition, sel: Select, heading, qualify=None) -> str:
        if isinstance(cond, c.TrueCond):
            return "1 = 1"
        if isinstance(cond, c.FalseCond):
            return "1 = 0"
        if isinstance(cond, c.Equals):
            column = sel.columns[cond.attribute]
            if cond.value is None:
                return f"{column} IS NULL"
            return f"{column} = {self.backend.typed_literal(cond.value, heading[cond.attribute])}"
        if isinstance(cond, c.SqlText):
            return f"({self.expression(cond.text, sel.columns, heading)})"
        if isinstance(cond, c.AllOf):
            return "(" + " AND ".join(self.condition(i, sel, heading, qualify) for i in cond.items) + ")"
        if isinstance(cond, c.AnyOf):
            return "(" + " OR ".join(self.condition(i, sel, heading, qualify) for i in cond.items) + ")"
        if isinstance(cond, c.Negation):
            inner = self.condition(cond.item, sel, heading, qualify)
            return f"NOT ({inner})" if not isinstance(cond.item, c.InQuery) else inner.replace("EXISTS", "NOT EXISTS", 1)
        if isinstance(cond, c.InQuery):
            return self.semijoin(cond, sel, qualify)
        raise DataJointError(f"Cannot compile condition {cond!r}")

    def semijoin(self, cond: c.InQuery, sel: Select, qualify=None) -> str:
        sub = self.select(cond.node)
        if not sub.is_simple:
            sub = self.wrap(sub)
        outer = {k: (f"{qualify}.{self.q(k)}" if qualify else sel.columns[k]) for k in cond.attributes}
        terms = list(sub.where) + [f"{sub.columns[k]} = {outer[k]}" for k in cond.attributes]
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        return f"EXISTS (SELECT 1 FROM {sub.source}{where})"


def _merged_heading(group_heading, source_heading):
    attrs = {a.name: a for a in source_heading.all_attributes}
    attrs.update({a.name: a for a in group_heading.all_attributes})
    return group_heading.with_attributes(attrs.values())
