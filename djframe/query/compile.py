"""Compile relation nodes into SQL for one dialect.

A compiler is built from a dialect alone (no connection, no I/O): compiling is a pure function
of the node tree and the dialect. Each node becomes a `Select` (a FROM source, named column
expressions, WHERE terms, ...). Restrictions, projections and inner joins merge into the same
SELECT, so restricting a table by a secondary attribute never wraps it (and
its large columns) in a derived table; only a node that limits, orders,
de-duplicates or groups is wrapped before more is stacked on top. User SQL
(conditions, computed attributes) is parsed once (usersql.py), checked against
the heading and rendered for the dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from djframe.backends.dialect import Dialect
from djframe.errors import DataJointError, UnknownAttributeError
from djframe.query import conditions as c
from djframe.query import nodes as n
from djframe.query.jsonpath import parse_json_path
from djframe.query.usersql import MARK, bare_value, template

_PLAIN_COLUMN = re.compile(r'^\w+\.(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`)$')  # alias.column: NULL when unmatched
_DIRECTION = re.compile(r"^\s*(.*?)(?:\s+(asc|desc))?\s*$", re.I | re.S)
_NAME = re.compile(r"^[A-Za-z_]\w*$")


@dataclass
class Select:
    source: str
    columns: dict[str, str]
    where: list[str] = field(default_factory=list)
    distinct: bool = False
    group_by: tuple[str, ...] = ()
    having: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0
    joined: bool = False  # the source is a join (needs parentheses on the right of another join)
    materialize: bool = False  # a LIMIT without a bound keeps the server from merging it into its outer query
    driving: tuple | None = None  # (schema, table, alias) of a base table each result row comes from once

    @property
    def is_simple(self) -> bool:
        """Nothing but FROM/WHERE: more restrictions, projections and joins can merge into it."""
        return not (self.distinct or self.group_by or self.having or self.order_by
                    or self.limit is not None or self.offset)


def order_spec(order_by) -> tuple[str, ...]:
    """Normalise an order_by argument (str, list, None) to a tuple of terms ("a DESC, b" is two)."""
    if order_by is None:
        return ()
    terms = [order_by] if isinstance(order_by, str) else list(order_by)
    return tuple(part.strip() for term in terms for part in _split_commas(term) if part.strip())


def split_direction(term: str) -> tuple[str, bool]:
    """("abs(x)", True) from "abs(x) DESC"."""
    m = _DIRECTION.match(term)
    return m.group(1), (m.group(2) or "").upper() == "DESC"


def _split_commas(term: str) -> list[str]:
    """Split at the commas that are outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(term):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(term[start:i])
            start = i + 1
    return parts + [term[start:]]


class Compiler:
    """Compiles one statement for a dialect; hands out table aliases unique within it.

    ``Compiler(backend)`` is a shorthand for ``Compiler(backend.dialect)``: compiling asks no server.
    """

    def __init__(self, source):
        """`source`: a Dialect, or a backend (its dialect is taken)."""
        if not isinstance(source, Dialect):
            source = source.dialect
        self.dialect = source
        self.q = source.quote
        self._aliases = 0

    def alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases - 1}"

    # ----- public entry points ------------------------------------------------------------
    def sql(self, node: n.Node, names=None, order_by=(), limit=None, offset=0, distinct=False) -> str:
        """SELECT for a node (optionally ordered and sliced, as fetch asks)."""
        sel = self.select(node)
        order_by = order_spec(order_by)
        if not order_by and isinstance(node, n.TopNode) and (limit is not None or offset):
            order_by = node.order_by  # a slice of a Top keeps its order (MySQL drops ORDER BY in subqueries)
        if order_by or limit is not None or offset:
            sel = self.ensure_simple(sel)
            sel.order_by = tuple(self.order_terms(order_by, sel, node.heading))
            sel.limit, sel.offset = limit, offset or 0
        return self.render(sel, node.heading.names if names is None else names, distinct=distinct)

    def split_sql(self, node: n.Node, names=None, slices=None) -> list[str] | None:
        """The query as several SELECTs over disjoint slices of one base table, to be fetched in
        parallel, or None when it cannot be split: only a plain select-project-join whose rows each
        come from one row of its leftmost table. `slices(schema, table, alias)` gives the slices'
        WHERE terms (the backend's `table_slices`: it decides whether and where to cut)."""
        sel = self.select(node)
        if slices is None or not sel.is_simple or sel.driving is None:
            return None
        slices = slices(*sel.driving)
        if not slices:
            return None
        names = node.heading.names if names is None else names
        return [self.render(replace(sel, where=[*sel.where, term]), names) for term in slices]

    def count_sql(self, node: n.Node) -> str:
        sel = self.select(node)
        inner = self.render(sel, self._counted(sel, node.heading))
        return f"SELECT COUNT(*) FROM ({inner}) AS {self.alias()}"

    def exists_sql(self, node: n.Node) -> str:
        sel = self.select(node)
        inner = self.render(sel, self._counted(sel, node.heading))
        return f"SELECT 1 FROM ({inner}) AS {self.alias()} LIMIT 1"

    def keys_exist_sql(self, schema: str, table: str, heading, keys: list) -> str:
        """One row of flags, one per full primary key: is that key in the base table? Populate's
        check, compiled straight from the values (it runs for every key)."""
        name = self.dialect.full_name(schema, table)
        flags = []
        for key in keys:
            terms = " AND ".join(f"{self.q(k)} = {self.dialect.typed_literal(c.plain(key[k]), heading[k])}"
                                 for k in heading.primary_key)
            flags.append(f"CASE WHEN EXISTS (SELECT 1 FROM {name} WHERE {terms or '1 = 1'}) THEN 1 ELSE 0 END")
        return "SELECT " + ", ".join(flags)

    @staticmethod
    def _counted(sel: Select, heading) -> list[str]:
        """Columns enough to count rows: the key (no large columns), or all if DISTINCT decides the rows."""
        return heading.names if sel.distinct or not heading.primary_key else heading.primary_key

    def where_sql(self, node: n.Node) -> tuple[str, str]:
        """(table name, WHERE text) for DELETE/UPDATE on a restricted base table (no aliases)."""
        conds, base = [], node
        while isinstance(base, n.RestrictNode):
            conds.append(base)
            base = base.child
        if not isinstance(base, n.TableNode):
            raise DataJointError("Only a restricted base table can be deleted from or updated.")
        name = self.dialect.full_name(base.schema, base.table)
        sel = Select(name, {a.name: f"{name}.{self.q(a.name)}" for a in base.heading.all_attributes})
        terms = [self.condition(r.condition, sel, r.child.heading) for r in reversed(conds)]
        return name, " AND ".join(terms)

    def delete(self, node: n.Node) -> str:
        """The DELETE statement of the rows a restricted base table selects."""
        name, where = self.where_sql(node)
        return f"DELETE FROM {name}" + (f" WHERE {where}" if where else "")

    # ----- rendering -------------------------------------------------------------------------
    def render(self, sel: Select, names, distinct=False) -> str:
        cols = ", ".join(f"{sel.columns[nm]} AS {self.q(nm)}" for nm in names) or "1 AS _dj_dummy"
        parts = [f"SELECT {'DISTINCT ' if sel.distinct or distinct else ''}{cols} FROM {sel.source}"]
        if sel.where:
            parts.append("WHERE " + " AND ".join(sel.where))
        if sel.group_by:
            parts.append("GROUP BY " + ", ".join(sel.group_by))
        if sel.having:
            parts.append("HAVING " + " AND ".join(sel.having))
        if sel.order_by:
            parts.append("ORDER BY " + ", ".join(sel.order_by))
        if sel.limit is not None or sel.offset or sel.materialize:
            parts.append(self.dialect.limit_clause(sel.limit, sel.offset))
        return " ".join(parts)

    def outer_right(self, sel: Select) -> Select:
        """The right side of a LEFT JOIN: restrictions and computed values apply before the join."""
        if _outer_ready(sel):
            return sel
        return self.wrap(replace(sel, materialize=self.dialect.materialize_outer_right))

    def wrap(self, sel: Select) -> Select:
        """Make a derived table of a select, so that more can be stacked on it."""
        alias = self.alias()
        names = list(sel.columns)
        inner = self.render(sel, names)
        return Select(f"({inner}) AS {alias}", {nm: f"{alias}.{self.q(nm)}" for nm in names})

    def ensure_simple(self, sel: Select) -> Select:
        return sel if sel.is_simple else self.wrap(sel)

    def order_terms(self, order_by, sel: Select, heading) -> list[str]:
        """ORDER BY terms; "KEY" expands to the primary key.

        NULLs sort first ascending and last descending on every backend (the
        MySQL convention, which PostgreSQL reverses), so Top and fetch(order_by)
        pick the same rows everywhere.
        """
        terms = []
        for term in order_by:
            body, desc = split_direction(term)
            if body.upper() == "KEY" and body not in sel.columns:  # an attribute named `key` is itself
                terms += [t for k in heading.primary_key for t in self._order(sel.columns[k], desc, heading.get(k))]
            elif _NAME.match(body) and body in sel.columns:
                terms += self._order(sel.columns[body], desc, heading.get(body))
            else:
                terms += self._order(f"({self.expression(body, sel.columns, heading)})", desc, None)
        return terms

    @staticmethod
    def _order(column: str, desc: bool, attr) -> list[str]:
        direction = " DESC" if desc else ""
        if attr is not None and not attr.nullable:
            return [column + direction]
        return [f"(CASE WHEN {column} IS NULL THEN {1 if desc else 0} ELSE {0 if desc else 1} END)",
                column + direction]

    def json_value(self, path, columns: dict[str, str]) -> str:
        """The SQL of a value inside a json column, cast as the path says."""
        return self.dialect.json_path_sql(columns[path.attribute], path.steps, path.cast)

    def expression(self, text: str, columns: dict[str, str], heading) -> str:
        """Render user SQL with attribute names replaced by their column expressions."""
        path = parse_json_path(text, heading)
        if path is not None:  # proj(v="meta.a:int")
            return self.json_value(path, columns)
        sql, names = template(text, self.dialect)
        for i, name in enumerate(names):
            if name not in columns:
                raise UnknownAttributeError(
                    f"Unknown attribute `{name}` in {text!r} on {heading.table or 'the expression'}; "
                    f"available attributes: {', '.join(heading.names)}. Check the attribute name.")
            sql = sql.replace(MARK.format(i), columns[name])
        return sql

    # ----- nodes -----------------------------------------------------------------------------
    def select(self, node: n.Node) -> Select:
        return getattr(self, "_" + type(node).__name__)(node)

    def _TableNode(self, node: n.TableNode) -> Select:
        alias = self.alias()
        source = f"{self.dialect.full_name(node.schema, node.table)} AS {alias}"
        return Select(source, {a.name: f"{alias}.{self.q(a.name)}" for a in node.heading.all_attributes},
                      driving=(node.schema, node.table, alias))

    def _RestrictNode(self, node: n.RestrictNode) -> Select:
        sel = self.ensure_simple(self.select(node.child))
        term = self.condition(node.condition, sel, node.child.heading)
        return replace(sel, where=[*sel.where, term])

    def _ProjectNode(self, node: n.ProjectNode) -> Select:
        sel = self.ensure_simple(self.select(node.child))
        columns = {}
        for name, source, sql in node.columns:
            columns[name] = sel.columns[source] if source else f"({self.expression(sql, sel.columns, node.child.heading)})"
        if not node.distinct:  # hidden attributes stay reachable by later conditions
            columns.update({k: v for k, v in sel.columns.items() if k.startswith("_") and k not in columns})
        return replace(sel, columns=columns, distinct=node.distinct)

    def _JoinNode(self, node: n.JoinNode) -> Select:
        left = self.ensure_simple(self.select(node.left))
        right = self.ensure_simple(self.select(node.right))
        if node.left_outer:
            right = self.outer_right(right)
        return self._join(left, right, node.on, node.left_outer)

    def _join(self, left: Select, right: Select, on, outer: bool, where=None) -> Select:
        cond = " AND ".join(f"{left.columns[k]} = {right.columns[k]}" for k in on) or "1 = 1"
        right_source = f"({right.source})" if right.joined else right.source
        kind = "LEFT JOIN" if outer else "JOIN"
        return Select(f"{left.source} {kind} {right_source} ON {cond}", {**right.columns, **left.columns},
                      left.where + (right.where if where is None else where), joined=True, driving=left.driving)

    def _TopNode(self, node: n.TopNode) -> Select:
        sel = self.select(node.child)
        if sel.order_by and not (sel.distinct or sel.group_by or sel.having):
            order = tuple(self.order_terms(node.order_by, sel, node.child.heading))
            if order == sel.order_by:
                return self._merge_top(sel, node)
        sel = self.ensure_simple(sel)
        return replace(sel, order_by=tuple(self.order_terms(node.order_by, sel, node.child.heading)),
                       limit=node.limit, offset=node.offset)

    @staticmethod
    def _merge_top(sel: Select, node: n.TopNode) -> Select:
        """A Top of a Top in the same order is one slice: rows [o1 + o2, o1 + min(l1, o2 + l2))."""
        offset = sel.offset + node.offset
        limits = [x for x in (node.limit, None if sel.limit is None else max(sel.limit - node.offset, 0))
                  if x is not None]
        return replace(sel, offset=offset, limit=min(limits) if limits else None)

    def _UnionNode(self, node: n.UnionNode) -> Select:
        names = node.heading.names
        arms = [f"SELECT * FROM ({self.render(self.select(child), names)}) AS {self.alias()}"
                for child in (node.left, node.right)]
        alias = self.alias()
        return Select(f"({' UNION '.join(arms)}) AS {alias}", {nm: f"{alias}.{self.q(nm)}" for nm in names})

    def _AggregateNode(self, node: n.AggregateNode) -> Select:
        group = self.ensure_simple(self.select(node.group))
        if any(attr and node.group.heading[attr].expression for _, attr, _ in node.columns):
            group = self.wrap(group)  # MariaDB's ONLY_FULL_GROUP_BY refuses to group by an expression
        source = self.ensure_simple(self.select(node.source))
        if node.keep_all_rows:
            source = self.outer_right(source)
        joined = self._join(group, source, node.on, node.keep_all_rows)
        scope = {**source.columns, **group.columns}
        heading = _merged_heading(node.group.heading, node.source.heading)
        columns, group_by = {}, []
        for name, attr, sql in node.columns:
            if attr is not None:
                columns[name] = group.columns[attr]
                group_by.append(group.columns[attr])
            else:
                columns[name] = f"({self.expression(sql, scope, heading)})"
        # without grouping attributes SQL returns one row even for an empty operand
        having = () if group_by else ("COUNT(*) > 0",)
        return replace(joined, columns=columns, group_by=tuple(group_by), having=having, joined=False)

    def _GroupNode(self, node: n.GroupNode) -> Select:
        source = self.ensure_simple(self.select(node.source))
        if any(node.source.heading[k].expression for k in node.by):
            source = self.wrap(source)  # group by plain columns (MariaDB's ONLY_FULL_GROUP_BY)
        columns = {k: source.columns[k] for k in node.by}
        for name, sql in node.computed:
            columns[name] = f"({self.expression(sql, source.columns, node.source.heading)})"
        sel = replace(source, columns=columns, group_by=tuple(source.columns[k] for k in node.by))
        return sel if node.by else self.wrap(sel)  # one row of aggregates over everything

    # ----- conditions ------------------------------------------------------------------------
    def condition(self, cond: c.Condition, sel: Select, heading) -> str:
        if isinstance(cond, c.TrueCond):
            return "1 = 1"
        if isinstance(cond, c.FalseCond):
            return "1 = 0"
        if isinstance(cond, c.Equals):
            column = sel.columns[cond.attribute]
            if cond.value is None:
                return f"{column} IS NULL"
            return f"{column} = {self.dialect.typed_literal(cond.value, heading[cond.attribute])}"
        if isinstance(cond, c.JsonEquals):
            value = self.json_value(cond.path, sel.columns)
            if cond.value is None:
                return f"{value} IS NULL"
            literal = self.dialect.string_literal(cond.value) if cond.path.cast == "str" else repr(cond.value)
            return f"{value} = {literal}"
        if isinstance(cond, c.SqlText):
            bare = self.dialect.needs_boolean_conditions and bare_value(cond.text)
            if bare:
                return self.truth(*bare, sel.columns, heading)
            return f"({self.expression(cond.text, sel.columns, heading)})"
        if isinstance(cond, c.AllOf):
            return "(" + " AND ".join(self.condition(i, sel, heading) for i in cond.items) + ")"
        if isinstance(cond, c.AnyOf):
            return "(" + " OR ".join(self.condition(i, sel, heading) for i in cond.items) + ")"
        if isinstance(cond, c.Negation):
            if isinstance(cond.item, c.InQuery):
                return self.semijoin(cond.item, sel, negated=True)
            return f"NOT ({self.condition(cond.item, sel, heading)})"
        if isinstance(cond, c.InQuery):
            return self.semijoin(cond, sel)
        raise DataJointError(f"Cannot compile condition {cond!r}")

    def truth(self, negations: int, body: str, columns, heading) -> str:
        """``flag`` or ``NOT flag`` as a comparison with zero, the way MySQL reads a number as a truth value."""
        sql = self.expression(body, columns, heading)
        if body in heading.names and heading[body].type.kind == "bool":  # a native boolean is a truth value
            return f"({'NOT ' if negations % 2 else ''}{sql})"
        return f"(({sql}) {'=' if negations % 2 else '<>'} 0)"

    def semijoin(self, cond: c.InQuery, sel: Select, negated=False) -> str:
        """Correlated [NOT] EXISTS: see InQuery for why not IN."""
        sub = self.ensure_simple(self.select(cond.node))
        terms = list(sub.where) + [f"{sub.columns[k]} = {sel.columns[k]}" for k in cond.attributes]
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        return f"{'NOT ' if negated else ''}EXISTS (SELECT 1 FROM {sub.source}{where})"


def _outer_ready(sel: Select) -> bool:
    """Can be the right side of a LEFT JOIN as is: no restriction and no computed column.

    Both must be evaluated before the outer join: a row without a match must
    get NULL, not ``coalesce(NULL, 0)``, and must not be dropped by a WHERE.
    """
    return not sel.where and all(_PLAIN_COLUMN.match(col) for col in sel.columns.values())


def _merged_heading(group_heading, source_heading):
    attrs = {a.name: a for a in source_heading.all_attributes}
    attrs.update({a.name: a for a in group_heading.all_attributes})
    return group_heading.with_attributes(attrs.values())
