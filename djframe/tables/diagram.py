"""Diagram: the schema diagram (tables and their foreign keys) and its restrictions.

A Diagram is a set of tables shown over the connection's foreign-key graph
(dependencies.py); it never writes SQL. It decides what to draw (the model:
labels, tiers, tooltips, stale counts, collapsed schemas); graph/render.py turns
that into DOT, Mermaid, SVG or PNG. Restrictions come from the one propagation
engine (graph/restrict.py), one condition per table:

- ``Diagram.cascade(expr)``: what deleting ``expr`` would touch (a child row goes
  if *any* restricted parent row it references goes) — the delete plan itself;
- ``Diagram.trace(expr)``: the ancestor rows ``expr`` references (any path);
- ``diagram.restrict(expr)``: for export, a row stays only if it references
  restricted rows through *every* foreign key to a restricted parent.
"""

from __future__ import annotations

import html
import io
import pathlib
import types as pytypes

import networkx as nx

from djframe.define.declare import tier_of, to_camel_case
from djframe.errors import DataJointError
from djframe.graph import render
from djframe.graph.delete import master_of
from djframe.graph.render import STALE_BORDER, DotText, DrawnNode, graphviz_available, node_id, png_to_array
from djframe.graph.restrict import ALL, DOWN, UP, own_condition, propagate, referenced, table_rows
from djframe.query import conditions as c

TIER_LABELS = {"manual": "Manual", "lookup": "Lookup", "imported": "Imported", "computed": "Computed",
               "part": "Part"}


class Diagram:
    """Tables and foreign keys of a schema, a module, a table or another Diagram."""

    def __init__(self, source, context=None):
        self._mode, self._seeds, self._conditions = None, {}, {}
        if isinstance(source, Diagram):
            self.__dict__.update(source.__dict__)
            self._nodes, self._expanded = set(source._nodes), set(source._expanded)
            self._seeds, self._conditions = dict(source._seeds), dict(source._conditions)
            if context is not None:
                self._names = {**self._names, **_class_names(context)}
            return
        self._connection, nodes, names = _resolve_source(source, context)
        self._nodes, self._expanded, self._names = set(nodes), set(nodes), names
        self._part_integrity = None

    def plan(self):
        """What ``populate(stale=True)`` would delete and make for this diagram's tables (``dj.plan``)."""
        from djframe.tables.stale import plan
        return plan(self)

    def show_stale(self) -> "Diagram":
        """The same diagram with every table that holds stale results outlined in red, the count in its
        label, so a reader sees at a glance where recomputation is due (see ``T.stale()``)."""
        from djframe.tables.stale import stale_counts
        out = Diagram(self)
        out._stale = {node: n for node, n in stale_counts(self).items() if n and node in self._nodes}
        return out

    @classmethod
    def from_sequence(cls, sequence) -> "Diagram":
        """The union of the diagrams of each item (tables, schemas, modules, diagrams)."""
        items = [x if isinstance(x, Diagram) else cls(x) for x in sequence]
        if not items:
            raise DataJointError("Diagram.from_sequence needs at least one table, schema or module.")
        result = items[0]
        for item in items[1:]:
            result = result + item
        return result

    # ----- the graph -------------------------------------------------------------------------
    @property
    def connection(self):
        return self._connection

    @property
    def _deps(self):
        return self._connection.dependencies

    def _ordered(self, nodes=None) -> list:
        """Shown tables in the topological order of the whole graph (so it holds through hidden tables)."""
        deps = self._deps
        cached = getattr(self, "_order_cache", None)
        if cached is None or cached[0] is not deps:
            cached = (deps, deps.topological(deps.graph.nodes))
            self._order_cache = cached
        wanted = self._nodes if nodes is None else set(nodes)
        return [node for node in cached[1] if node in wanted]

    def _full_name(self, node) -> str:
        return self._connection.backend.full_name(*node)

    def topo_sort(self) -> list[str]:
        """Full table names, parents before children."""
        return [self._full_name(node) for node in self._ordered()]

    @property
    def nodes_to_show(self) -> set[str]:
        return {self._full_name(node) for node in self._ordered()}

    def _edges(self, nodes) -> list:
        """(parent, child, fk) for every foreign key between two of `nodes`, in drawing order."""
        shown = set(nodes)
        return [(p, ch, data["fk"]) for p, ch, data in self._deps.graph.edges(data=True)
                if p in shown and ch in shown]

    def _one_to_one(self, child, fk) -> bool:
        return set(fk.child_attributes) == set(self._connection.table_spec(*child).primary_key)

    def _primary(self, child, fk) -> bool:
        """A primary dependency: the foreign key lies in the child's primary key."""
        return set(fk.child_attributes) <= set(self._connection.table_spec(*child).primary_key)

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The shown tables (full names, with tier and label) and their foreign keys as a networkx graph."""
        nodes, labels = self._ordered(), self._labels()
        graph = nx.MultiDiGraph()
        for node in nodes:
            graph.add_node(self._full_name(node), tier=tier_of(node[1]), label=labels[node])
        for parent, child, fk in self._edges(nodes):
            graph.add_edge(self._full_name(parent), self._full_name(child), primary=self._primary(child, fk),
                           attr_map=dict(fk.attr_map), aliased=fk.aliased, multi=not self._one_to_one(child, fk))
        return graph

    def _make_graph(self) -> nx.MultiDiGraph:
        """The graph as drawn: nodes named by their labels (class names where known)."""
        graph = self.graph
        return nx.relabel_nodes(graph, {name: data["label"] for name, data in graph.nodes(data=True)})

    # the read-only graph queries of networkx, as on the reference's Diagram (a networkx DiGraph)
    _GRAPH_QUERIES = frozenset({"nodes", "edges", "predecessors", "successors", "in_degree", "out_degree", "degree",
                                "has_node", "has_edge", "number_of_nodes", "number_of_edges", "in_edges",
                                "out_edges", "neighbors", "adj", "pred", "succ", "get_edge_data"})

    def __getattr__(self, name):
        if name in Diagram._GRAPH_QUERIES:
            return getattr(self.graph, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __len__(self):
        return len(self._ordered())

    def __contains__(self, item):
        try:
            return self._find(item) in self._nodes
        except DataJointError:
            return False

    # ----- operators -------------------------------------------------------------------------
    def _derive(self, nodes, expanded, other=None) -> "Diagram":
        """A plain diagram of `nodes`: combining diagrams drops restrictions (restrict the result again)."""
        out = Diagram(self)
        out._nodes, out._expanded = set(nodes), set(expanded) & set(nodes)
        if other is not None:
            out._names = {**other._names, **self._names}
        out._mode, out._seeds, out._conditions, out._part_integrity = None, {}, {}, None
        return out

    def _other(self, arg) -> "Diagram":
        other = arg if isinstance(arg, Diagram) else Diagram(arg)
        if other._connection is not self._connection:
            raise DataJointError("Cannot combine diagrams of different connections.")
        return other

    def _expand(self, levels: int, step) -> "Diagram":
        nodes, added = set(self._nodes), set()
        for _ in range(levels):
            new = {m for node in nodes for m in step(node)} - nodes
            if not new:
                break
            nodes |= new
            added |= new
        return self._derive(nodes, self._expanded | (added if self._expanded else set()))

    def __add__(self, arg) -> "Diagram":
        """Union with another diagram, or `+ n`: add n levels of children."""
        if isinstance(arg, int) and not isinstance(arg, bool):
            return self._expand(arg, self._deps.children) if arg >= 0 else self - (-arg)
        other = self._other(arg)
        return self._derive(self._nodes | other._nodes, self._expanded | other._expanded, other)

    def __sub__(self, arg) -> "Diagram":
        """Difference with another diagram, or `- n`: add n levels of parents."""
        if isinstance(arg, int) and not isinstance(arg, bool):
            return self._expand(arg, self._deps.parents) if arg >= 0 else self + (-arg)
        other = self._other(arg)
        return self._derive(self._nodes - other._nodes, self._expanded, other)

    def __mul__(self, arg) -> "Diagram":
        """Intersection with another diagram."""
        other = self._other(arg)
        return self._derive(self._nodes & other._nodes, self._expanded | other._expanded, other)

    def add_parts(self) -> "Diagram":
        """Add the part tables of every master already shown."""
        nodes = set(self._nodes)
        expanded = set(self._expanded)
        for schema, table in self._nodes:
            for part in self._deps.children((schema, table)):
                if part[0] == schema and part[1].startswith(table + "__") and tier_of(part[1]) == "part":
                    nodes.add(part)
                    if (schema, table) in self._expanded:
                        expanded.add(part)
        return self._derive(nodes, expanded)

    def collapse(self) -> "Diagram":
        """Draw these tables as one node per schema; in a union, tables expanded in either operand stay expanded."""
        out = Diagram(self)
        out._expanded = set()
        return out

    # ----- restriction (graph/restrict.py) -----------------------------------------------------
    @classmethod
    def cascade(cls, table_expr, part_integrity="enforce") -> "Diagram":
        """The tables a delete of `table_expr` would touch, each restricted to the rows it would lose.

        This is delete()'s own plan (delete.py), so the preview and the delete agree.
        """
        from djframe.graph.delete import PART_INTEGRITY, delete_plan
        if part_integrity not in PART_INTEGRITY:
            raise ValueError(f"part_integrity must be one of {PART_INTEGRITY}, got {part_integrity!r}")
        table = _seed_table(table_expr, "cascade")
        table.connection.reload_dependencies()  # another process may have declared dependent tables
        plan = delete_plan(table, part_integrity)
        out = cls(table)
        out._nodes = {expr.graph_node for expr in plan}
        out._expanded = set(out._nodes)
        out._mode, out._part_integrity = "cascade", part_integrity
        out._conditions = {expr.graph_node: own_condition(expr) for expr in plan}
        return out

    @classmethod
    def trace(cls, table_expr, key=None) -> "Diagram":
        """`table_expr` and its ancestors, each restricted to the rows `table_expr` references (through any path).
        With `key` (a primary key of `table_expr`), the rows a row with that key references, whether or
        not it exists yet: ``self.upstream`` inside make()."""
        table = _seed_table(table_expr, "trace")
        seed, connection = _graph_node(table), table.connection

        def through_key(child, condition, fk):
            """A foreign key of the seed whose attributes `key` holds names the parent row itself."""
            if child == seed and key is not None and all(a in key for a in fk.child_attributes):
                heading = connection.table_spec(fk.parent_schema, fk.parent_table).heading
                return c.make_condition({pa: key[ch] for ch, pa in fk.attr_map}, heading, semantic_check=False)
            return referenced(table_rows(connection, child, condition), fk, UP)

        out = cls(table)
        conditions = propagate(connection, {seed: own_condition(table)}, UP,
                               through=through_key if key is not None else None)
        nodes = connection.dependencies.ancestors(seed)
        out._nodes, out._expanded = set(nodes), set(nodes)
        out._mode, out._conditions = "trace", conditions
        return out

    def restrict(self, table_expr) -> "Diagram":
        """Restrict a shown table and propagate downstream: a row stays only if every foreign key to a
        restricted parent finds a restricted parent row (AND). Chainable; used to select data for export."""
        if self._mode in ("cascade", "trace"):
            raise DataJointError(f"Cannot apply restrict() to a Diagram made by Diagram.{self._mode}(): the "
                                 f"{self._mode} and restrict modes do not mix. Start from dj.Diagram(...) instead.")
        table = _seed_table(table_expr, "restrict")
        node = _graph_node(table)
        if node not in self._nodes:
            raise DataJointError(f"Cannot restrict the diagram by {table.full_table_name}: the table is not in "
                                 "the diagram. Add it first (diagram + dj.Diagram(table)).")
        out = Diagram(self)
        out._mode = "restrict"
        out._seeds[node] = out._seeds.get(node, ()) + (own_condition(table),)
        seeds = {seed: c.simplify_and(terms) for seed, terms in out._seeds.items()}
        out._conditions = propagate(self._connection, seeds, DOWN, match=ALL, within=self._nodes)
        return out

    def _restricted(self, node):
        """The FreeTable of `node`, restricted when the diagram restricts it."""
        from djframe.tables.table import FreeTable
        table = FreeTable(self._connection, *node)
        return table.restrict(self._conditions[node], semantic_check=False) if node in self._conditions else table

    def _check_restricted(self, what):
        if self._mode is None:
            raise DataJointError(f"{what} needs restrictions: use Diagram.cascade(expr), Diagram.trace(expr) or "
                                 "diagram.restrict(expr) first.")

    def counts(self) -> dict[str, int]:
        """Row count of each restricted table (full table name -> count), parents first; nothing is changed."""
        self._check_restricted("counts()")
        return {self._full_name(node): len(self._restricted(node))
                for node in self._ordered() if node in self._conditions}

    def prune(self) -> "Diagram":
        """Drop the tables with no (restricted) rows."""
        if self._mode == "cascade":
            raise DataJointError("prune() cannot be used on a Diagram made by Diagram.cascade(): a delete must "
                                 "keep every dependent table, even those with no rows now (rows may be inserted "
                                 "concurrently).")
        keep = {node for node in self._ordered() if len(self._restricted(node))}
        out = Diagram(self)
        out._nodes, out._expanded = keep, self._expanded & keep
        out._conditions = {k: v for k, v in self._conditions.items() if k in keep}
        out._seeds = {k: v for k, v in self._seeds.items() if k in keep}
        return out

    def __iter__(self):
        """The tables (restricted FreeTables where restricted), parents first."""
        return (self._restricted(node) for node in self._ordered())

    def __reversed__(self):
        """Leaves first: the order for deleting or dropping."""
        return (self._restricted(node) for node in reversed(self._ordered()))

    def __getitem__(self, key):
        """The table `key` (class, instance or name) with this diagram's restriction applied."""
        from djframe.tables.table import Table
        node = self._find(key)
        if node not in self._nodes:
            shown = ", ".join(self._labels()[n] for n in self._ordered())
            why = " (a trace holds the traced table and its ancestors only)" if self._mode == "trace" else ""
            kind = "trace" if self._mode == "trace" else "diagram"
            raise DataJointError(f"Table {key!r} is not in this {kind}{why}; its tables: {shown}.")
        if isinstance(key, type) and issubclass(key, Table):
            key = key()
        if not isinstance(key, Table):
            return self._restricted(node)
        cond = self._conditions.get(node)
        return key if cond is None else key.restrict(cond, semantic_check=False)

    def _find(self, key):
        """(schema, table) of a class, instance, (schema, table) pair, full name, 'schema.table' or label."""
        from djframe.tables.table import Table
        if isinstance(key, type) and issubclass(key, Table) or isinstance(key, Table):
            return (key.database, key.table_name)
        if isinstance(key, tuple) and len(key) == 2:
            return key
        if not isinstance(key, str):
            raise DataJointError(f"Look tables up by class, instance or name, got {type(key).__name__}.")
        labels = self._labels()
        for node in self._ordered():
            if key in (self._full_name(node), f"{node[0]}.{node[1]}", labels[node], node[1]):
                return node
        raise DataJointError(f"Table {key!r} is not in this diagram.")

    # ----- labels and the drawing model ------------------------------------------------------
    def _labels(self) -> dict:
        """A unique display name per shown table: its class name where known."""
        nodes = self._ordered()
        labels = {node: self._names.get(node) or _default_label(node) for node in nodes}
        seen = {}
        for label in labels.values():
            seen[label] = seen.get(label, 0) + 1
        return {node: f"{node[0]}.{label}" if seen[label] > 1 else label for node, label in labels.items()}

    def _model(self):
        """(nodes, edges) to draw: nodes (id, label, kind, schema, tooltip); collapsed tables merged per schema."""
        nodes, labels = self._ordered(), self._labels()
        group = {node: node if node in self._expanded else ("collapsed", node[0]) for node in nodes}
        drawn, seen = [], set()
        for node in nodes:
            gid = group[node]
            if gid in seen:
                continue
            seen.add(gid)
            if gid[0] == "collapsed":
                count = sum(1 for g in group.values() if g == gid)
                drawn.append(DrawnNode(node_id(gid), f"{node[0]} ({count} tables)", "collapsed", node[0], "", False))
            else:
                kind = tier_of(node[1]) if tier_of(node[1]) in TIER_LABELS else "other"
                stale = getattr(self, "_stale", {}).get(node)
                label = f"{labels[node]} ({stale} stale)" if stale else labels[node]
                drawn.append(DrawnNode(node_id(node), label, kind, node[0], self._tooltip(node), bool(stale)))
        edges, merged = [], set()
        for parent, child, fk in self._edges(nodes):
            src, dst = group[parent], group[child]
            if src == dst and src[0] == "collapsed":
                continue
            if "collapsed" in (src[0], dst[0]):
                if (src, dst) not in merged:
                    merged.add((src, dst))
                    edges.append((node_id(src), node_id(dst), {"primary": True, "aliased": False, "multi": True}))
                continue
            edges.append((node_id(src), node_id(dst), {"primary": self._primary(child, fk), "aliased": fk.aliased,
                                                          "multi": not self._one_to_one(child, fk),
                                                          "attr_map": fk.attr_map}))
        return drawn, edges

    def _tooltip(self, node) -> str:
        heading = self._connection.table_spec(*node).heading
        return "\n".join(heading.primary_key + ["---"] + heading.secondary_attributes)

    # ----- text output -----------------------------------------------------------------------
    def make_dot(self, theme=None) -> DotText:
        """Graphviz DOT source text of the diagram (no Graphviz needed); pydot's graph methods work on it."""
        config = self._connection.config
        nodes, edges = self._model()
        return render.dot(nodes, edges, theme or config["display.diagram_theme"], config["display.diagram_direction"])

    def make_mermaid(self) -> str:
        """Mermaid flowchart text (renders on GitHub, in Jupyter/Markdown, or at mermaid.live)."""
        nodes, edges = self._model()
        return render.mermaid(nodes, edges, self._connection.config["display.diagram_direction"])

    # ----- rendering (needs Graphviz) --------------------------------------------------------
    def svg_string(self) -> str:
        return render.svg(self.make_dot())

    def make_svg(self):
        """An IPython SVG object when IPython is installed, else the SVG text."""
        svg = self.svg_string()
        try:
            from IPython.display import SVG
        except ImportError:
            return svg
        return SVG(svg)

    def make_png(self) -> io.BytesIO:
        return io.BytesIO(render.png(self.make_dot()))

    def make_image(self):
        """The diagram as an image array, height x width x channels of floats in 0..1 (needs Graphviz)."""
        return png_to_array(self.make_png().getvalue())

    def draw(self):
        """Show the diagram: inline in a notebook, else in a matplotlib window."""
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            return display(self.make_svg())
        image = self.make_image()
        import matplotlib.pyplot as plt
        plt.imshow(image)
        plt.axis("off")
        plt.show()

    def save(self, filename, format=None):
        """Write the diagram; the format (dot, mermaid/mmd, svg, png) comes from the extension unless given."""
        fmt = (format or pathlib.PurePath(str(filename)).suffix.lstrip(".")).lower()
        writers = {"dot": self.make_dot, "gv": self.make_dot, "mermaid": self.make_mermaid, "mmd": self.make_mermaid,
                   "svg": self.svg_string, "png": lambda: self.make_png().getvalue()}
        if fmt not in writers:
            raise DataJointError(f"Cannot save a diagram as {fmt or 'an unknown format'!r} ({filename}); use one "
                                 "of .dot, .mmd (Mermaid), .svg or .png, or pass format=.")
        data = writers[fmt]()
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(filename, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)

    # ----- display -----------------------------------------------------------------------------
    def _html_fallback(self) -> str:
        return ("<div class='djframe-diagram'><pre class='mermaid'>" + html.escape(self.make_mermaid()) + "</pre>"
                "<p style='font-size:80%'>Mermaid text: install Graphviz (the <code>dot</code> program) to see the "
                "diagram drawn here.</p></div>")

    def _repr_svg_(self) -> str:
        """The SVG element alone (no XML prolog), as notebooks embed it."""
        svg = self.svg_string()
        return svg[svg.find("<svg"):].rstrip()

    def _repr_html_(self) -> str:
        return self.svg_string() if graphviz_available() else self._html_fallback()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": repr(self)}
        if graphviz_available():
            svg = self.svg_string()
            bundle.update({"image/svg+xml": svg, "text/html": svg})
        else:
            bundle.update({"text/html": self._html_fallback(), "text/vnd.mermaid": self.make_mermaid()})
        return bundle

    def __repr__(self):
        nodes, labels = self._ordered(), self._labels()
        schemas = ", ".join(f"`{s}`" for s in dict.fromkeys(node[0] for node in nodes)) or "no schema"
        mode = f", restricted by {self._mode}" if self._mode else ""
        head = f"Diagram of {len(nodes)} table(s) in {schemas}{mode}"
        width = max([len(label) for label in labels.values()] + [5])
        lines = [f"  {labels[node].ljust(width)}  {TIER_LABELS.get(tier_of(node[1]), 'table')}"
                 + ("" if node in self._expanded else " (collapsed)")
                 + (" (restricted)" if node in self._conditions else "") for node in nodes]
        edges = self._edges(nodes)
        return "\n".join([head] + lines + [f"  {len(edges)} foreign key(s)"])


# ----- helpers: sources and names ------------------------------------------------------------

def _resolve_source(source, context):
    """(connection, nodes, class names) for a schema, a table class or instance, or a module."""
    from djframe.query.expression import QueryExpression
    from djframe.tables.schema import Schema, caller_context
    from djframe.tables.table import FreeTable, Table
    if isinstance(source, pytypes.ModuleType):
        schema = getattr(source, "schema", None)
        if not isinstance(schema, Schema):
            raise DataJointError(f"Module {source.__name__} has no `schema` attribute holding a dj.Schema; pass the "
                                 "schema or its tables to dj.Diagram instead.")
        return _resolve_source(schema, vars(source) if context is None else context)
    if isinstance(source, Schema):
        if not source.is_activated():
            raise DataJointError("Cannot draw a schema that is not activated; call schema.activate(name) first.")
        names = _class_names(context if context is not None else source.context or caller_context())
        nodes = [(source.database, t) for t in source.list_tables()]
        return source.connection, nodes, names
    if isinstance(source, type) and issubclass(source, Table) or isinstance(source, Table):
        table = source() if isinstance(source, type) else source
        names = _class_names(context or {})
        if not isinstance(table, FreeTable):
            names[_graph_node(table)] = _class_label(type(table))
        return table.connection, [_graph_node(table)], names
    if isinstance(source, QueryExpression):
        raise DataJointError("dj.Diagram takes a table, not a query; pass the table (class) itself.")
    raise DataJointError(f"dj.Diagram takes a schema, a table class or instance, a module or a Diagram; got "
                         f"{type(source).__name__}.")


def _is_table_class(value) -> bool:
    from djframe.tables.table import Table
    return isinstance(value, type) and issubclass(value, Table) and bool(value.database) \
        and bool(value.table_name)


def _class_label(cls) -> str:
    master = getattr(cls, "_master", None)
    return f"{master.__name__}.{cls.__name__}" if master is not None else cls.__name__


def _class_names(context) -> dict:
    """(schema, table) -> the name the user knows a table class by in `context` (modules one level deep)."""
    names = {}
    modules = []
    for key, value in dict(context).items():
        if _is_table_class(value):
            _add_class(names, key, value)
        elif isinstance(value, pytypes.ModuleType) and not key.startswith("_"):
            modules.append((key, value))
    for key, module in modules:
        for attr, value in list(vars(module).items()):
            if _is_table_class(value) and (value.database, value.table_name) not in names:
                _add_class(names, f"{key}.{attr}", value)
    return names


def _add_class(names, key, cls):
    from djframe.tables.tiers import Part
    names.setdefault((cls.database, cls.table_name), key)
    for attr, part in vars(cls).items():
        if isinstance(part, type) and issubclass(part, Part) and part.table_name and attr[:1].isupper():
            names.setdefault((part.database, part.table_name), f"{key}.{attr}")


def _default_label(node) -> str:
    table = node[1]
    if tier_of(table) == "part":
        return f"{to_camel_case(master_of(table))}.{to_camel_case(table)}"
    return to_camel_case(table)


def _graph_node(table) -> tuple[str, str]:
    return (table.database, table.table_name)


def _seed_table(expr, what):
    from djframe.tables.table import Table
    if isinstance(expr, type) and issubclass(expr, Table):
        expr = expr()
    if not isinstance(expr, Table):
        raise DataJointError(f"Diagram.{what}() takes a table or a restricted table (e.g. Session & key), got "
                             f"{type(expr).__name__}. Restrict the table itself rather than a join or projection.")
    return expr


diagram_active = True  # the reference's flag: diagrams can be built and drawn as DOT/Mermaid text here
__all__ = ["Diagram", "DotText", "STALE_BORDER", "TIER_LABELS", "diagram_active", "graphviz_available", "png_to_array"]
