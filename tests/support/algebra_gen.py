"""Random pipelines and random expression trees for the query-algebra property test.

A *structure* is a few tables linked by foreign keys (declared once per
backend); hypothesis then draws rows for it (NULLs, values shared across
tables so that joins match) and an expression tree in the language of
evaluator.py, nested to depth 4, using every operator. The generator keeps
track of each subtree's heading by evaluating it with the independent
evaluator, so it only builds valid operations -- except that it also records
operations the reference refuses (semantic-check failures), which the test
expects djframe to refuse too.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import polars as pl
from hypothesis import strategies as st

from support import evaluator as ev

# every attribute name has one type everywhere, so that namesakes always compare
TYPES = {"val": "int16", "qty": "int32", "amount": "float64", "note": "varchar(6)", "code": "varchar(4)",
         "day": "date", "id": "int16", "a_id": "int16", "b_id": "int16", "c_code": "varchar(4)",
         "d_id": "int32", "e_code": "varchar(4)"}
KIND = {"int16": "num", "int32": "num", "float64": "num", "varchar(6)": "str", "varchar(4)": "str", "date": "date"}
DOMAIN = {
    "num": [-1, 0, 1, 2, 3, 0.5, 2.5],
    "str": ["a", "b", "ab", "ba", "c"],
    "date": [dt.date(2020, 1, d) for d in (1, 2, 3, 5)],
}
KEY_DOMAIN = {"int16": [0, 1, 2, 3, 4], "int32": [1, 2, 3], "varchar(4)": ["x", "y", "xy", "z"]}
VALUE_DOMAIN = {"int16": [-1, 0, 1, 2, 3], "int32": [0, 1, 5], "float64": [0.5, 1.0, 2.5, -1.0],
                "varchar(6)": ["a", "b", "ab", "ba"], "varchar(4)": ["x", "y", "xy"],
                "date": DOMAIN["date"]}
OWN_KEYS = ["id", "a_id", "b_id", "c_code", "d_id", "e_code"]
SECONDARY = ["val", "qty", "amount", "note", "code", "day"]
PREFIX = {"num": "n", "str": "s", "date": "d"}


# ===== structures ================================================================================
@dataclass
class TableDef:
    name: str
    own_key: list  # names
    parents: list  # (TableDef, primary: bool, nullable: bool)
    secondary: list  # (name, nullable)

    def key(self) -> list:
        return [k for p, primary, _ in self.parents if primary for k in p.key()] + self.own_key

    def attributes(self) -> list:
        """(name, sql type, in_key, nullable, lineage) in heading order."""
        out = [(k, _type(k), True, False, lin) for k, lin in self.key_lineage()]
        for parent, primary, nullable in self.parents:
            if not primary:
                out += [(k, _type(k), False, nullable, lin) for k, lin in parent.key_lineage()]
        out += [(name, TYPES[name], False, nullable, None) for name, nullable in self.secondary]
        return out

    def key_lineage(self) -> list:
        inherited = [kl for p, primary, _ in self.parents if primary for kl in p.key_lineage()]
        return inherited + [(k, f"{self.name}.{k}") for k in self.own_key]

    def definition(self) -> str:
        lines = [f"-> {p.name}" for p, primary, _ in self.parents if primary]
        lines += [f"{k} : {TYPES[k]}" for k in self.own_key] + ["---"]
        lines += [f"-> {'[nullable] ' if nullable else ''}{p.name}" for p, primary, nullable in self.parents
                  if not primary]
        lines += [f"{name} = {'null' if nullable else 'DEFAULT'} : {TYPES[name]}".replace(" = DEFAULT", "")
                  for name, nullable in self.secondary]
        return "\n".join(lines)


def _exact(value) -> bool:
    """Not an average like 1/3, which each server rounds differently (MySQL keeps 4 decimals)."""
    return not isinstance(value, float) or round(value, 2) == value


def _type(name):
    return TYPES[name]


def random_structure(rng: random.Random, index: int) -> list[TableDef]:
    """2-4 tables; each may take earlier tables as primary or secondary (nullable) parents."""
    tables = []
    for i in range(rng.randint(2, 4)):
        names: set[str] = set()
        parents = []
        for p in rng.sample(tables, k=min(len(tables), rng.choice([0, 1, 1, 1, 2, 2]))):
            attrs = {a[0] for a in p.attributes() if a[2]}
            if attrs & names:
                continue
            primary = rng.random() < 0.6
            parents.append((p, primary, not primary and rng.random() < 0.5))
            names |= attrs
        primary_parents = [p for p in parents if p[1]]
        own = [] if primary_parents and rng.random() < 0.3 else \
            [rng.choice([k for k in OWN_KEYS if k not in names])]
        names |= set(own)
        secondary = [(s, rng.random() < 0.5) for s in rng.sample(SECONDARY, rng.randint(1, 3)) if s not in names]
        tables.append(TableDef(f"Tab{index}x{i}", own, parents, secondary))
    return tables


# ===== rows ======================================================================================
def draw_rows(draw, tables: list[TableDef]) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for t in tables:
        out, keys = [], set()
        for _ in range(draw(st.integers(0, 8))):
            row = _draw_row(draw, t, rows)
            if row is None:
                continue
            key = tuple(row[k] for k in t.key())
            if key not in keys:
                keys.add(key)
                out.append(row)
        rows[t.name] = out
    return rows


def _draw_row(draw, t: TableDef, rows):
    row = {}
    for parent, primary, nullable in t.parents:
        choices = rows[parent.name]
        if not choices and (primary or not nullable):
            return None
        if nullable and (not choices or draw(st.booleans())):
            row.update({k: None for k in parent.key()})
            continue
        ref = draw(st.sampled_from(choices))
        row.update({k: ref[k] for k in parent.key()})
    for k in t.own_key:
        row[k] = draw(st.sampled_from(KEY_DOMAIN[TYPES[k]]))
    for name, nullable in t.secondary:
        values = VALUE_DOMAIN[TYPES[name]] + ([None] if nullable else [])
        row[name] = draw(st.sampled_from(values))
    return row


def base_relation(t: TableDef, rows: list[dict]) -> ev.Rel:
    attrs = [ev.Attr(name, KIND[typ], in_key, lineage, nullable)
             for name, typ, in_key, nullable, lineage in t.attributes()]
    schema = {a.name: {"num": pl.Float64, "str": pl.String, "date": pl.Date}[a.kind] for a in attrs}
    data = {a.name: [r[a.name] for r in rows] for a in attrs}
    return ev.Rel(attrs, pl.DataFrame(data, schema=schema))


# ===== expression trees ==========================================================================
class Generator:
    """Draws a valid expression tree, tracking headings with the evaluator."""

    def __init__(self, draw, tables: dict[str, ev.Rel]):
        self.draw, self.tables = draw, tables
        self.evaluate = ev.Evaluator(tables)
        self.expected_errors: list = []
        self.counter = 0

    # ----- small draws -----
    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def chance(self, percent) -> bool:
        return self.draw(st.integers(0, 99)) < percent

    def subset(self, seq, min_size=0):
        seq = list(seq)
        if len(seq) < min_size:
            return seq
        chosen = self.draw(st.lists(st.sampled_from(seq), min_size=min_size, max_size=len(seq), unique=True)) \
            if seq else []
        return chosen

    def fresh(self, kind) -> str:
        self.counter += 1
        return f"{PREFIX[kind]}{self.counter}"

    def rel(self, depth: int):
        """(node, evaluated relation) of a random expression of at most `depth` nested operators."""
        if depth <= 0 or self.chance(15):
            name = self.pick(sorted(self.tables))
            return ev.Table(name), self.tables[name]
        op = self.pick(["restrict", "restrict", "restrict", "proj", "proj", "join", "join", "extend",
                        "union", "aggr", "aggr", "udistinct", "uaggr", "top", "top"])
        node = getattr(self, "_" + op)(depth)
        return node, self.evaluate(node)

    # ----- operators -----
    def _restrict(self, depth):
        child, rel = self.rel(depth - 1)
        flags = {"check": True}
        cond = self.condition(rel, depth - 1, child, flags)
        return ev.Restrict(child, cond, flags["check"])

    def _proj(self, depth):
        child, rel = self.rel(depth - 1)
        keep = self.subset(rel.secondary)
        if self.chance(25):
            keep = ["..."] + [f"-{x}" for x in self.subset(rel.secondary)[:1]]
        named = [(self.fresh(rel.attr(old).kind), ("dup" if self.chance(30) else "rename", old))
                 for old in self.subset(rel.names)[: self.draw(st.integers(0, 2))]]
        numeric = [a.name for a in rel.attrs if a.kind == "num"]
        for _ in range(self.draw(st.integers(0, 2)) if numeric else 0):
            named.append((self.fresh("num"), ("expr", self.computed(numeric))))
        node = ev.Proj(child, tuple(keep), tuple(named))
        if not self.evaluate(node).names:  # every relation keeps at least one attribute
            node = ev.Proj(child, ("...",), ())
        return node

    def _join(self, depth, outer=False):
        left, a = self.rel(depth - 1)
        for _ in range(3):
            right, b = self.rel(depth - 1)
            if not outer or ev.determines(a.attrs, b.attrs):
                break
        else:
            outer = False
        check = True
        if ev.lineage_conflicts(a, b):
            if self.chance(30):
                self.expected_errors.append(ev.Join(left, right, outer, True))
            check = False
        return ev.Join(left, right, outer, check)

    def _extend(self, depth):
        return self._join(depth, outer=True)

    def _union(self, depth):
        base, rel = self.rel(depth - 1)
        first = self.subset(rel.secondary)
        second = [x for x in self.subset(rel.secondary) if x not in first]
        if not rel.pk:  # without a key, each arm needs an attribute of its own
            if len(rel.secondary) < 2:
                return ev.Restrict(base, ev.CBool(True))
            first, second = rel.secondary[:1], [x for x in second if x != rel.secondary[0]] or rel.secondary[1:2]
        arms = []
        for keep in (first, second):
            arm = base
            if self.chance(60):
                flags = {"check": True}
                arm = ev.Restrict(arm, self.condition(rel, depth - 2, base, flags), flags["check"])
            arms.append(ev.Proj(arm, tuple(keep), ()))
        return ev.Union(*arms)

    def _aggr(self, depth):
        group, g = self.rel(depth - 1)
        computed = tuple((self.fresh(ev.agg_kind(agg, g)), agg) for agg in
                         (self.aggregate(g) for _ in range(self.draw(st.integers(1, 3)))))
        candidates = [ev.Table(name) for name, t in sorted(self.tables.items()) if set(t.pk) <= set(g.names)]
        candidates += [ev.Proj(x, tuple(a for a in self.tables[x.name].secondary if a not in g.names), ())
                       for x in candidates]
        lineaged = [a.name for a in g.attrs if a.lineage is not None]
        if lineaged:
            candidates.append(ev.UDistinct(tuple(self.subset(lineaged, 1)), group))
        other, o = self.rel(depth - 1)
        if set(o.pk) <= set(g.names):
            candidates.append(other)
        if not candidates:
            return ev.UAggr((), group, computed)
        valid = [x for x in candidates if not ev.lineage_conflicts(self.evaluate(x), g)]
        child = self.pick(valid if valid and self.chance(85) else candidates)
        c = self.evaluate(child)
        keep = ("...",) if self.chance(30) else tuple(self.subset(c.secondary))
        node = ev.Aggr(child, group, keep, computed, self.chance(40))
        if ev.lineage_conflicts(c, g):
            if self.chance(50):
                self.expected_errors.append(node)
            return ev.UAggr(tuple(self.subset(g.names)[:2]), group, computed)
        return node

    def _udistinct(self, depth):
        child, rel = self.rel(depth - 1)
        return ev.UDistinct(tuple(self.subset(rel.names, 1)), child)

    def _uaggr(self, depth):
        child, rel = self.rel(depth - 1)
        computed = tuple((self.fresh(ev.agg_kind(agg, rel)), agg) for agg in
                         (self.aggregate(rel) for _ in range(self.draw(st.integers(1, 2)))))
        return ev.UAggr(tuple(self.subset(rel.names)[:2]), child, computed)

    def _top(self, depth):
        if depth >= 2 and self.chance(35):  # a Top of a Top: inherited order, offsets and limits combine
            child = self._top(depth - 1)
            rel = self.evaluate(child)
        else:
            child, rel = self.rel(depth - 1)
        order = None
        if not isinstance(child, ev.Top) or self.chance(50):
            # KEY last makes the order total -- unless NULLs in the key tie; then every attribute is used
            ties = any(rel.attr(k).nullable for k in rel.pk)
            terms = [f"{x}{self.pick(['', ' DESC'])}" for x in (rel.names if ties else self.subset(rel.names)[:2])]
            order = tuple(terms + [self.pick(["KEY", "KEY DESC"])])
        elif any(rel.attr(k).nullable for k in rel.pk):
            order = tuple(rel.names) + ("KEY",)
        limit = self.pick([None, 0, 1, 2, 2, 3, 3, 5])
        return ev.Top(child, limit, order, self.pick([0, 0, 1, 2]))

    # ----- conditions, terms, aggregates -----
    def condition(self, rel: ev.Rel, depth: int, node, flags: dict, level=0):
        kind = self.pick(["bool", "dict", "dict", "sql", "sql", "sql", "or", "and", "not", "query", "query", "query"]
                         if level < 2 else ["bool", "dict", "sql"])
        if kind == "bool":
            return ev.CBool(self.chance(70))
        if kind == "dict":
            items = [(a.name, self.value(rel, a, nulls=True)) for a in self.subset(rel.attrs)[:2]]
            if self.chance(20):
                items.append(("no_such_attr", 1))
            return ev.CDict(tuple(items))
        if kind == "sql":
            return ev.CSql(self.predicate(rel))
        if kind in ("or", "and"):
            items = tuple(self.condition(rel, depth, node, flags, level + 1)
                          for _ in range(self.draw(st.integers(0, 3))))
            return ev.COr(items) if kind == "or" else ev.CAnd(items)
        if kind == "not":
            return ev.CNot(self.condition(rel, depth, node, flags, level + 1))
        if depth <= 0:
            return ev.CSql(self.predicate(rel))
        sub, other = self.rel(depth - 1)
        if ev.lineage_conflicts(rel, other):
            if self.chance(30):
                self.expected_errors.append(ev.Restrict(node, ev.CQuery(sub), True))
            flags["check"] = False
        return ev.CQuery(sub)

    def predicate(self, rel: ev.Rel, level=0):
        a = self.pick(rel.attrs)
        shape = self.pick(["cmp", "cmp", "cmp_attr", "null", "between", "in", "like", "bool", "not"]
                          if level < 2 else ["cmp", "null"])
        if shape == "cmp_attr":
            same = [x for x in rel.attrs if x.kind == a.kind]
            return ev.Cmp(self.pick(["=", "<>", "<", ">="]), ev.Col(a.name), ev.Col(self.pick(same).name))
        if shape == "null":
            return ev.IsNull(ev.Col(a.name), self.chance(50))
        if shape == "between" and a.kind != "str":
            low, high = sorted([self.pick(DOMAIN[a.kind]), self.pick(DOMAIN[a.kind])])
            return ev.Between(ev.Col(a.name), ev.Lit(low), ev.Lit(high))
        if shape == "in":
            return ev.InList(ev.Col(a.name), tuple(self.subset(DOMAIN[a.kind], 1)[:3]))
        if shape == "like" and a.kind == "str":
            return ev.StartsWith(ev.Col(a.name), self.pick(["a", "b", "x"]))
        if shape == "bool":
            return ev.BoolOp(self.pick(["AND", "OR"]), self.predicate(rel, level + 1), self.predicate(rel, level + 1))
        if shape == "not":
            return ev.NotP(self.predicate(rel, level + 1))
        numeric = [x.name for x in rel.attrs if x.kind == "num"]
        term = self.computed(numeric) if a.kind == "num" and self.chance(30) else ev.Col(a.name)
        return ev.Cmp(self.pick(["=", "<>", "<", "<=", ">", ">="]), term, ev.Lit(self.value(rel, a)))

    def value(self, rel: ev.Rel, a: ev.Attr, nulls=False):
        """A literal for attribute a: mostly one that occurs in the rows, so restrictions select something."""
        present = [v for v in rel.frame[a.name].to_list() if (v is not None or nulls) and _exact(v)] \
            if rel.frame.height else []
        if present and self.chance(70):
            return self.pick(sorted(set(present), key=repr))
        return self.pick(DOMAIN[a.kind] + ([None] if nulls else []))

    def computed(self, numeric):
        col = ev.Col(self.pick(numeric))
        shape = self.pick(["lit", "col", "coalesce"])
        if shape == "coalesce":
            return ev.Coalesce(col, ev.Lit(self.pick([0, 1])))
        other = ev.Lit(self.pick([1, 2, -1])) if shape == "lit" else ev.Col(self.pick(numeric))
        return ev.Arith(self.pick(["+", "-", "*"]), col, other)

    def aggregate(self, rel: ev.Rel) -> ev.Agg:
        func = self.pick(["count*", "count", "sum", "min", "max", "avg"])
        if func == "count*":
            return ev.Agg(func)
        choices = [a.name for a in rel.attrs if a.kind == "num" or func in ("count", "min", "max")]
        if not choices:
            return ev.Agg("count*")
        return ev.Agg(func, self.pick(choices))
