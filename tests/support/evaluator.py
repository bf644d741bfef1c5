"""An independent evaluator of DataJoint query expressions, written directly on Polars frames.

The property test (test_query_algebra.py) builds random expression trees in
the small language below, runs each through djframe on a database, and runs
it here on Polars frames holding the same rows; the results must be equal
as multisets, with equal headings and primary keys.

Nothing here uses djframe: the heading rules and the semantics are written
again from the DataJoint documentation, so a shared mistake is unlikely.
SQL semantics that matter: NULL never matches in joins and semijoins,
conditions use three-valued logic (Polars' Kleene and/or/not), aggregates
skip NULLs, sum over no values is NULL, and with the default aggr (all rows
of the grouping operand kept) count(*) of a group without matches is 1.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl


# ===== the expression language ====================================================================
@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Arith:
    op: str  # + - *
    left: Any
    right: Any


@dataclass(frozen=True)
class Coalesce:
    term: Any
    default: Lit


@dataclass(frozen=True)
class Cmp:
    op: str  # = <> < <= > >=
    left: Any
    right: Any


@dataclass(frozen=True)
class IsNull:
    term: Any
    negated: bool = False


@dataclass(frozen=True)
class Between:
    term: Any
    low: Lit
    high: Lit


@dataclass(frozen=True)
class InList:
    term: Any
    values: tuple


@dataclass(frozen=True)
class StartsWith:
    term: Any
    prefix: str


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    left: Any
    right: Any


@dataclass(frozen=True)
class NotP:
    item: Any


@dataclass(frozen=True)
class Agg:
    func: str  # count*, count, sum, min, max, avg
    attr: str | None = None


# ----- restrictions -----
@dataclass(frozen=True)
class CBool:
    value: bool


@dataclass(frozen=True)
class CDict:
    items: tuple  # ((name, value), ...), names may be absent from the heading


@dataclass(frozen=True)
class CSql:
    pred: Any


@dataclass(frozen=True)
class COr:
    items: tuple  # a plain list: OR (empty -> False)


@dataclass(frozen=True)
class CAnd:
    items: tuple  # dj.AndList (empty -> True)


@dataclass(frozen=True)
class CNot:
    item: Any


@dataclass(frozen=True)
class CQuery:
    expr: Any  # semijoin with another expression


# ----- relations -----
@dataclass(frozen=True)
class Table:
    name: str


@dataclass(frozen=True)
class Restrict:
    child: Any
    cond: Any
    semantic_check: bool = True


@dataclass(frozen=True)
class Proj:
    child: Any
    keep: tuple  # names, "...", "-name"
    named: tuple  # ((new, ("rename", old) | ("dup", old) | ("expr", term)), ...)


@dataclass(frozen=True)
class Join:
    left: Any
    right: Any
    left_outer: bool = False
    semantic_check: bool = True


@dataclass(frozen=True)
class Union:
    left: Any
    right: Any


@dataclass(frozen=True)
class Aggr:
    child: Any
    group: Any
    keep: tuple
    computed: tuple  # ((name, Agg), ...)
    exclude_nonmatching: bool = False


@dataclass(frozen=True)
class UDistinct:
    attrs: tuple
    child: Any


@dataclass(frozen=True)
class UAggr:
    attrs: tuple
    child: Any
    computed: tuple


@dataclass(frozen=True)
class Top:
    child: Any
    limit: int | None
    order_by: tuple | None
    offset: int = 0


# ===== rendering the user SQL (what a user would type) =============================================
def sql(node) -> str:
    """The MySQL-style text of a term or predicate, as a DataJoint user writes it."""
    if isinstance(node, Col):
        return node.name
    if isinstance(node, Lit):
        return _literal(node.value)
    if isinstance(node, Arith):
        return f"({sql(node.left)} {node.op} {sql(node.right)})"
    if isinstance(node, Coalesce):
        return f"coalesce({sql(node.term)}, {sql(node.default)})"
    if isinstance(node, Cmp):
        return f"{sql(node.left)} {node.op} {sql(node.right)}"
    if isinstance(node, IsNull):
        return f"{sql(node.term)} IS {'NOT ' if node.negated else ''}NULL"
    if isinstance(node, Between):
        return f"{sql(node.term)} BETWEEN {sql(node.low)} AND {sql(node.high)}"
    if isinstance(node, InList):
        return f"{sql(node.term)} IN ({', '.join(_literal(v) for v in node.values)})"
    if isinstance(node, StartsWith):
        return f'{sql(node.term)} LIKE "{node.prefix}%"'
    if isinstance(node, BoolOp):
        return f"({sql(node.left)}) {node.op} ({sql(node.right)})"
    if isinstance(node, NotP):
        return f"NOT ({sql(node.item)})"
    if isinstance(node, Agg):
        return "count(*)" if node.func == "count*" else f"{node.func}({node.attr})"
    raise TypeError(node)


def _literal(value) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    return repr(value)


# ===== headings =====================================================================================
@dataclass(frozen=True)
class Attr:
    name: str
    kind: str  # num, str, date
    in_key: bool
    lineage: str | None
    nullable: bool


@dataclass
class Rel:
    """A relation: its heading (ordered attributes) and its rows."""

    attrs: list
    frame: pl.DataFrame
    top_order: tuple | None = None  # the order of a Top result, for Top(order_by=None)

    @property
    def names(self):
        return [a.name for a in self.attrs]

    @property
    def pk(self):
        return [a.name for a in self.attrs if a.in_key]

    @property
    def secondary(self):
        return [a.name for a in self.attrs if not a.in_key]

    def attr(self, name) -> Attr:
        return next(a for a in self.attrs if a.name == name)


class SemanticError(Exception):
    """The reference would refuse this operation (namesakes with different or missing lineage)."""


class InvalidOperation(Exception):
    """The reference would refuse this operation for another reason."""


def lineage_conflicts(a: Rel | list, b: Rel | list) -> list[str]:
    """Namesakes whose lineages differ or are missing (the semantic check)."""
    a_attrs = a.attrs if isinstance(a, Rel) else a
    b_by = {x.name: x for x in (b.attrs if isinstance(b, Rel) else b)}
    return [x.name for x in a_attrs if x.name in b_by and
            (x.lineage is None or b_by[x.name].lineage is None or x.lineage != b_by[x.name].lineage)]


def determines(a, b) -> bool:
    names = {x.name for x in a}
    return all(x.name in names for x in b if x.in_key)


def join_attrs(a: list, b: list, left=False, nullable_pk=False) -> list:
    """A*B: PK(A) if A determines B, else PK(B) if B determines A, else both keys."""
    if not nullable_pk and determines(a, b):
        out = list(a) + [replace(x, in_key=False) for x in b if x.name not in {y.name for y in a}]
    elif not nullable_pk and determines(b, a):
        out = list(b) + [replace(x, in_key=False) for x in a if x.name not in {y.name for y in b}]
    else:
        out, seen = [], set()
        groups = ([x for x in a if x.in_key], [replace(x, in_key=True) for x in b if x.in_key],
                  [x for x in a if not x.in_key], [x for x in b if not x.in_key])
        for i, group in enumerate(groups):
            for x in group:
                if x.name not in seen:
                    seen.add(x.name)
                    out.append(x)
    if left:
        a_names = {x.name for x in a}
        out = [replace(x, nullable=True) if x.name not in a_names else x for x in out]
    return out


# ===== evaluation ===================================================================================
class Evaluator:
    """Evaluates the language above on Polars frames of the base tables."""

    def __init__(self, tables: dict[str, Rel]):
        self.tables = tables

    def __call__(self, node) -> Rel:
        return getattr(self, "_" + type(node).__name__)(node)

    def _Table(self, node):
        return self.tables[node.name]

    def _Restrict(self, node):
        rel = self(node.child)
        mask = self.condition(node.cond, rel, node.semantic_check)
        return Rel(rel.attrs, rel.frame.filter(mask.fill_null(False)))

    def _Proj(self, node):
        rel = self(node.child)
        renames = {new: spec[1] for new, spec in node.named if spec[0] == "rename"}
        dups = {new: spec[1] for new, spec in node.named if spec[0] == "dup"}
        computed = {new: spec[1] for new, spec in node.named if spec[0] == "expr"}
        kept = {k for k in rel.pk if k not in renames.values()}
        excluded = set()
        for k in node.keep:
            if k == "...":
                kept |= {x for x in rel.secondary if x not in renames.values()}
            elif k.startswith("-"):
                excluded.add(k[1:])
            else:
                kept.add(k)
        kept -= excluded
        attrs, exprs = [], []
        for a in rel.attrs:
            if a.name in kept:
                attrs.append(a)
                exprs.append(pl.col(a.name))
            for new, old in {**renames, **dups}.items():
                if old == a.name:
                    attrs.append(replace(a, name=new))
                    exprs.append(pl.col(old).alias(new))
        for new, term in computed.items():
            attrs.append(Attr(new, "num", False, None, True))
            exprs.append(term_expr(term).cast(pl.Float64).alias(new))
        return Rel(attrs, rel.frame.select(exprs) if exprs else rel.frame.clear().select())

    def _Join(self, node):
        a, b = self(node.left), self(node.right)
        if node.semantic_check and lineage_conflicts(a, b):
            raise SemanticError(lineage_conflicts(a, b))
        if node.left_outer and not determines(a.attrs, b.attrs):
            raise InvalidOperation("left join requires A -> B")
        attrs = join_attrs(a.attrs, b.attrs, left=node.left_outer)
        return Rel(attrs, natural_join(a.frame, b.frame, "left" if node.left_outer else "inner")
                   .select([x.name for x in attrs]))

    def _Union(self, node):
        a, b = self(node.left), self(node.right)
        if set(a.pk) != set(b.pk) or set(a.secondary) & set(b.secondary):
            raise InvalidOperation("union needs the same key and no common secondary attributes")
        attrs = list(a.attrs) + [replace(x, in_key=False) for x in b.attrs if x.name not in a.names]
        attrs = [replace(x, nullable=True) if not x.in_key else x for x in attrs]
        names = [x.name for x in attrs]
        if not a.secondary and not b.secondary:
            frame = pl.concat([a.frame.select(names), b.frame.select(names)]).unique()
        else:
            left = natural_join(a.frame, b.frame, "left").select(names)
            rest = b.frame.join(a.frame.select(a.pk), on=a.pk, how="anti", nulls_equal=False) if a.pk \
                else (b.frame if a.frame.is_empty() else b.frame.clear())
            right = natural_join(rest, a.frame, "left").select(names)
            frame = pl.concat([left, right]).unique()
        return Rel(attrs, frame)

    def _Aggr(self, node):
        a, g = self(node.child), self(node.group)
        if lineage_conflicts(a, g):
            raise SemanticError(lineage_conflicts(a, g))
        if not all(k in g.names for k in a.pk):
            raise InvalidOperation("aggr needs the group to contain the key")
        keep = list(a.pk) + [k for k in a.secondary if "..." in node.keep or k in node.keep]
        attrs = [x for x in a.attrs if x.name in keep] + \
                [Attr(name, agg_kind(agg, g, a), False, None, agg.func not in ("count*", "count"))
                 for name, agg in node.computed]
        joined = natural_join(a.frame, g.frame, "inner" if node.exclude_nonmatching else "left")
        aggs = [agg_expr(agg).alias(name) for name, agg in node.computed]
        if keep:
            frame = joined.group_by(keep).agg(aggs) if aggs else joined.select(keep).unique()
        else:  # one group: the single row of a key-less operand, if there is one
            frame = joined.select(aggs) if joined.height else joined.select(aggs).clear()
        return Rel(attrs, frame.select([x.name for x in attrs]))

    def _UDistinct(self, node):
        rel = self(node.child)
        attrs = [replace(rel.attr(n), in_key=True) for n in node.attrs]
        return Rel(attrs, rel.frame.select(list(node.attrs)).unique())

    def _UAggr(self, node):
        rel = self(node.child)
        attrs = [replace(rel.attr(n), in_key=True) for n in node.attrs] + \
                [Attr(name, agg_kind(agg, rel), False, None, agg.func not in ("count*", "count"))
                 for name, agg in node.computed]
        aggs = [agg_expr(agg).alias(name) for name, agg in node.computed]
        frame = rel.frame.group_by(list(node.attrs)).agg(aggs) if node.attrs else rel.frame.select(aggs)
        return Rel(attrs, frame.select([x.name for x in attrs]))

    def _Top(self, node):
        rel = self(node.child)
        order = node.order_by
        if order is None:
            order = rel.top_order if isinstance(node.child, Top) else ("KEY",)
        cols, desc = [], []
        for term in order:
            words = term.split()
            names = rel.pk if words[0] == "KEY" else [words[0]]
            cols += names
            desc += [len(words) > 1 and words[1] == "DESC"] * len(names)
        frame = rel.frame.sort(cols, descending=desc, nulls_last=desc) if cols else rel.frame
        frame = frame.slice(node.offset, node.limit)
        return Rel(rel.attrs, frame, top_order=order)

    # ----- restrictions --------------------------------------------------------------------
    def condition(self, cond, rel: Rel, semantic_check: bool) -> pl.Series:
        """A boolean Series with NULL for unknown (three-valued logic)."""
        n = rel.frame.height
        if isinstance(cond, CBool):
            return pl.Series([cond.value] * n, dtype=pl.Boolean)
        if isinstance(cond, CDict):
            items = [(k, v) for k, v in cond.items if k in rel.names]
            exprs = [pl.col(k).is_null() if v is None else pl.col(k) == pl.lit(v) for k, v in items]
            return _fold(rel, exprs, "and")
        if isinstance(cond, CSql):
            return rel.frame.select(pred_expr(cond.pred).alias("m"))["m"] if n else pl.Series([], dtype=pl.Boolean)
        if isinstance(cond, (COr, CAnd)):
            masks = [self.condition(c, rel, semantic_check) for c in cond.items]
            return _combine(masks, n, "or" if isinstance(cond, COr) else "and")
        if isinstance(cond, CNot):
            return ~self.condition(cond.item, rel, semantic_check)
        if isinstance(cond, CQuery):
            return self.semijoin(rel, self(cond.expr), semantic_check)
        raise TypeError(cond)

    def semijoin(self, rel: Rel, other: Rel, semantic_check: bool) -> pl.Series:
        if semantic_check and lineage_conflicts(rel, other):
            raise SemanticError(lineage_conflicts(rel, other))
        common = [x for x in rel.names if x in other.names]
        n = rel.frame.height
        if not common:
            return pl.Series([other.frame.height > 0] * n, dtype=pl.Boolean)
        indexed = rel.frame.with_row_index("__i")
        hits = indexed.join(other.frame.select(common).unique(), on=common, how="semi", nulls_equal=False)["__i"]
        return indexed["__i"].is_in(hits.implode())


def natural_join(a: pl.DataFrame, b: pl.DataFrame, how: str) -> pl.DataFrame:
    """Join on the common columns; NULL never matches; no common column: cross join."""
    common = [c for c in a.columns if c in b.columns]
    if not common:
        if how == "left" and b.height == 0:
            return pl.concat([a, b.clear(a.height)], how="horizontal")
        return a.join(b, how="cross")
    return a.join(b, on=common, how=how, nulls_equal=False, coalesce=True)


def _fold(rel, exprs, how) -> pl.Series:
    if not exprs:
        return pl.Series([how == "and"] * rel.frame.height, dtype=pl.Boolean)
    combined = exprs[0]
    for e in exprs[1:]:
        combined = combined & e if how == "and" else combined | e
    return rel.frame.select(combined.alias("m"))["m"] if rel.frame.height else pl.Series([], dtype=pl.Boolean)


def _combine(masks, n, how) -> pl.Series:
    if not masks:
        return pl.Series([how == "and"] * n, dtype=pl.Boolean)
    frame = pl.DataFrame({f"m{i}": m for i, m in enumerate(masks)}) if n else None
    if frame is None:
        return pl.Series([], dtype=pl.Boolean)
    expr = pl.all_horizontal(pl.all()) if how == "and" else pl.any_horizontal(pl.all())
    return frame.select(expr.alias("m"))["m"]


def term_expr(term) -> pl.Expr:
    if isinstance(term, Col):
        return pl.col(term.name)
    if isinstance(term, Lit):
        return pl.lit(term.value)
    if isinstance(term, Arith):
        left, right = term_expr(term.left), term_expr(term.right)
        return {"+": left + right, "-": left - right, "*": left * right}[term.op]
    if isinstance(term, Coalesce):
        return pl.coalesce(term_expr(term.term), term_expr(term.default))
    raise TypeError(term)


def pred_expr(pred) -> pl.Expr:
    if isinstance(pred, Cmp):
        left, right = term_expr(pred.left), term_expr(pred.right)
        return {"=": left == right, "<>": left != right, "<": left < right, "<=": left <= right,
                ">": left > right, ">=": left >= right}[pred.op]
    if isinstance(pred, IsNull):
        e = term_expr(pred.term).is_null()
        return ~e if pred.negated else e
    if isinstance(pred, Between):
        t = term_expr(pred.term)
        return (t >= term_expr(pred.low)) & (t <= term_expr(pred.high))
    if isinstance(pred, InList):
        t = term_expr(pred.term)
        out = t == pl.lit(pred.values[0])
        for v in pred.values[1:]:
            out = out | (t == pl.lit(v))
        return out
    if isinstance(pred, StartsWith):
        return term_expr(pred.term).str.starts_with(pred.prefix)
    if isinstance(pred, BoolOp):
        left, right = pred_expr(pred.left), pred_expr(pred.right)
        return left & right if pred.op == "AND" else left | right
    if isinstance(pred, NotP):
        return ~pred_expr(pred.item)
    raise TypeError(pred)


def agg_expr(agg: Agg) -> pl.Expr:
    if agg.func == "count*":
        return pl.len().cast(pl.Float64)
    col = pl.col(agg.attr)
    if agg.func == "count":
        return col.count().cast(pl.Float64)
    if agg.func == "sum":  # SQL: the sum of no values is NULL
        return pl.when(col.count() > 0).then(col.sum()).otherwise(None).cast(pl.Float64)
    return {"min": col.min(), "max": col.max(), "avg": col.mean()}[agg.func]


def agg_kind(agg: Agg, *rels) -> str:
    if agg.func in ("count*", "count", "sum", "avg"):
        return "num"
    for rel in rels:
        if agg.attr in rel.names:
            return rel.attr(agg.attr).kind
    raise KeyError(agg.attr)


# ===== comparing results ===========================================================================
def normalize(value):
    """One canonical Python value per SQL value, whatever the backend and driver returned."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, decimal.Decimal)):
        return round(float(value), 2) + 0.0
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def canonical_rows(rows: list[dict], names: list[str]) -> list[tuple]:
    out = [tuple(normalize(r[n]) for n in names) for r in rows]
    return sorted(out, key=lambda row: [(v is None, type(v).__name__, v if v is not None else 0) for v in row])


@dataclass
class Result:
    names: list
    primary_key: list
    rows: list = field(default_factory=list)


def evaluate(node, tables: dict[str, Rel]) -> Result:
    rel = Evaluator(tables)(node)
    return Result(rel.names, rel.pk, canonical_rows(rel.frame.to_dicts(), rel.names))
