"""Diagram: the schema diagram (tables and their foreign keys) and its restriction engine.

A Diagram is a set of tables shown over the connection's foreign-key graph
(dependencies.py); it never writes SQL. Drawing produces DOT and Mermaid text
here; only SVG/PNG need the Graphviz `dot` program. The restriction engine
attaches one condition per table, built with the query algebra (semijoins
through each foreign key, renamed attributes mapped with ``dj.U`` + ``proj``):

- ``Diagram.cascade(expr)``: what deleting ``expr`` would touch (a child row goes
  if *any* restricted parent row it references goes) — the delete plan itself;
- ``Diagram.trace(expr)``: the ancestor rows ``expr`` references (any path);
- ``diagram.restrict(expr)``: for export, a row stays only if it references
  restricted rows through *every* foreign key to a restricted parent.
"""

from __future__ import annotations

import html
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types as pytypes

import networkx as nx

from djframe.define.declare import tier_of, to_camel_case
from djframe.errors import DataJointError
from djframe.graph.delete import master_of
from djframe.graph.restrict import ALL, DOWN, UP, own_condition, propagate
from djframe.query import conditions as c

TIER_LABELS = {"manual": "Manual", "lookup": "Lookup", "imported": "Imported", "computed": "Computed",
               "part": "Part"}

STALE_BORDER = "#D62728"  # the outline of a table with stale results, in every theme
# per theme and tier: (fill, border, font); DOT shape per tier
_PALETTES = {
    "light": {"manual": ("#DFF0DF", "#2E7D32", "#1B5E20"), "lookup": ("#E4E4E4", "#7A7A7A", "#3C3C3C"),
              "imported": ("#DCE7F7", "#1F5FBF", "#0D3C85"), "computed": ("#F7DEDC", "#C0392B", "#7F1D12"),
              "part": ("#FFFFFF", "#FFFFFF", "#333333"), "other": ("#FFF8DC", "#B8A040", "#5C5020"),
              "collapsed": ("#ECEEF0", "#80868C", "#303030"), "alias": ("#E8922E", "#E8922E", "#000000"),
              "edge": "#33333399", "renamed": "#C8731E", "background": "transparent", "cluster": "#8A8F99"},
    "dark": {"manual": ("#1E3B22", "#66BB6A", "#C8E6C9"), "lookup": ("#333333", "#9E9E9E", "#E0E0E0"),
             "imported": ("#16294A", "#64A0F0", "#CFE0FA"), "computed": ("#4A1C18", "#EF7B6E", "#FAD4CF"),
             "part": ("#202020", "#202020", "#DDDDDD"), "other": ("#3D3618", "#D6C36A", "#F2E8B8"),
             "collapsed": ("#2C2F33", "#9AA0A6", "#E8E8E8"), "alias": ("#E8922E", "#E8922E", "#FFFFFF"),
             "edge": "#DDDDDDAA", "renamed": "#F0A050", "background": "#1E1E1E", "cluster": "#8A8F99"},
}
_SHAPES = {"manual": "box", "lookup": "box", "imported": "ellipse", "computed": "ellipse", "part": "plaintext",
           "other": "note", "collapsed": "box3d"}
_MERMAID_SHAPES = {"imported": '(["{}"])', "computed": '(["{}"])', "collapsed": '[["{}"]]'}

_NO_GRAPHVIZ = ("Rendering a diagram as {what} needs Graphviz: neither `dot` nor `graphviz-pure` was found on PATH. "
                "Install Graphviz (e.g. `apt install graphviz`, `brew install graphviz` or `conda install graphviz`) or "
                "`pip install djframe[diagram]` (graphviz-pure, a self-contained dot), or use "
                "make_dot() / make_mermaid() / save('diagram.mmd') / save('diagram.dot'), which work without it.")


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

        def through_key(child, rows, fk):
            """A foreign key of the seed whose attributes `key` holds names the parent row itself."""
            if child == seed and key is not None and all(a in key for a in fk.child_attributes):
                heading = connection.table_spec(fk.parent_schema, fk.parent_table).heading
                return c.make_condition({pa: key[ch] for ch, pa in fk.attr_map}, heading, semantic_check=False)
            return None

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
                drawn.append((_node_id(gid), f"{node[0]} ({count} tables)", "collapsed", node[0], "", False))
            else:
                kind = tier_of(node[1]) if tier_of(node[1]) in TIER_LABELS else "other"
                stale = getattr(self, "_stale", {}).get(node)
                label = f"{labels[node]} ({stale} stale)" if stale else labels[node]
                drawn.append((_node_id(node), label, kind, node[0], self._tooltip(node), bool(stale)))
        edges, merged = [], set()
        for parent, child, fk in self._edges(nodes):
            src, dst = group[parent], group[child]
            if src == dst and src[0] == "collapsed":
                continue
            if "collapsed" in (src[0], dst[0]):
                if (src, dst) not in merged:
                    merged.add((src, dst))
                    edges.append((_node_id(src), _node_id(dst), {"primary": True, "aliased": False, "multi": True}))
                continue
            edges.append((_node_id(src), _node_id(dst), {"primary": self._primary(child, fk), "aliased": fk.aliased,
                                                          "multi": not self._one_to_one(child, fk),
                                                          "attr_map": fk.attr_map}))
        return drawn, edges

    def _tooltip(self, node) -> str:
        heading = self._connection.table_spec(*node).heading
        return "\n".join(heading.primary_key + ["---"] + heading.secondary_attributes)

    # ----- text output -----------------------------------------------------------------------
    def make_dot(self, theme=None) -> "DotText":
        """Graphviz DOT source text of the diagram (no Graphviz needed); pydot's graph methods work on it."""
        config = self._connection.config
        palette = _PALETTES[_theme(theme or config["display.diagram_theme"])]
        nodes, edges = self._model()
        out = ["digraph djframe {",
               f"  graph [rankdir={config['display.diagram_direction']}, bgcolor={_q(palette['background'])}, fontname=Helvetica, "
               "nodesep=0.3, ranksep=0.4];",
               "  node [fontname=Helvetica, fontsize=11, style=\"rounded,filled\", penwidth=1];",
               f"  edge [arrowhead=none, color={_q(palette['edge'])}];"]
        schema_of = {node[0]: node[3] for node in nodes}
        for i, schema in enumerate(dict.fromkeys(node[3] for node in nodes)):
            out.append(f"  subgraph {_q(f'cluster_{i}')} {{")
            out.append(f"    label={_q(schema)}; labeljust=r; labelloc=t; style=\"rounded,dashed\"; "
                       f"color={_q(palette['cluster'])}; fontcolor={_q(palette['cluster'])}; fontsize=10;")
            out += ["    " + _dot_node(node, palette) for node in nodes if node[3] == schema]
            out += ["    " + _dot_alias(k, props, palette) for k, (_, dst, props) in enumerate(edges)
                    if props["aliased"] and schema_of[dst] == schema]  # beside the child: a short detour
            out.append("  }")
        for i, (src, dst, props) in enumerate(edges):
            out += _dot_edge(i, src, dst, props, palette)
        out.append("}")
        return DotText("\n".join(out) + "\n")

    def make_mermaid(self) -> str:
        """Mermaid flowchart text (renders on GitHub, in Jupyter/Markdown, or at mermaid.live)."""
        palette = _PALETTES["light"]
        nodes, edges = self._model()
        ids = _mermaid_ids(nodes)
        direction = "LR" if self._connection.config["display.diagram_direction"] == "LR" else "TB"
        out = [f"flowchart {direction}"]
        for kind in ("manual", "lookup", "imported", "computed", "part", "other", "collapsed"):
            fill, stroke, font = palette[kind]
            extra = ",font-size:11px" if kind == "part" else ""
            out.append(f"    classDef {kind} fill:{fill},stroke:{stroke if kind != 'part' else '#B0B0B0'},"
                       f"color:{font}{extra}")
        for i, schema in enumerate(dict.fromkeys(node[3] for node in nodes)):
            out.append(f"    subgraph sg_{i}[\"{_mermaid_text(schema)}\"]")
            for node in nodes:
                if node[3] == schema:
                    shape = _MERMAID_SHAPES.get(node[2], '["{}"]').format(_mermaid_text(node[1]))
                    out.append(f"        {ids[node[0]]}{shape}:::{node[2]}")
            out.append("    end")
        out += [f"    style {ids[node[0]]} stroke:{STALE_BORDER},stroke-width:3px" for node in nodes if node[5]]
        for src, dst, props in edges:
            arrow = ("==>" if not props["multi"] else "-->") if props["primary"] else "-.->"
            label = ""
            if props["aliased"]:
                renames = ", ".join(f"{ch} = {pa}" for ch, pa in props["attr_map"] if ch != pa)
                label = f"|\"{_mermaid_text(renames)}\"|"
            out.append(f"    {ids[src]} {arrow}{label} {ids[dst]}")
        for i, (_, _, props) in enumerate(edges):
            if props["aliased"]:
                out.append(f"    linkStyle {i} stroke:{palette['renamed']}")
        return "\n".join(out) + "\n"

    # ----- rendering (needs Graphviz) --------------------------------------------------------
    def svg_string(self) -> str:
        return _run_dot(self.make_dot(), "svg", "SVG").decode("utf-8")

    def make_svg(self):
        """An IPython SVG object when IPython is installed, else the SVG text."""
        svg = self.svg_string()
        try:
            from IPython.display import SVG
        except ImportError:
            return svg
        return SVG(svg)

    def make_png(self) -> io.BytesIO:
        return io.BytesIO(_run_dot(self.make_dot(), "png", "PNG"))

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


# ----- helpers: text output ------------------------------------------------------------------

def _theme(theme) -> str:
    if theme not in ("auto", "light", "dark"):
        raise DataJointError(f"Unknown diagram theme {theme!r}; use 'light', 'dark' or 'auto'.")
    return "light" if theme == "auto" else theme


def _q(text) -> str:
    """A DOT double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_id(group) -> str:
    return f"schema {group[1]}" if group[0] == "collapsed" else f"{group[0]}.{group[1]}"


def _dot_node(node, palette) -> str:
    node_id, label, kind, _, tooltip, stale = node
    fill, border, font = palette[kind]
    border, pen = (STALE_BORDER, ", penwidth=2.5") if stale else (border, "")
    size = ", fontsize=9, height=0.1, margin=\"0.02,0.02\"" if kind == "part" else ""
    style = ", style=filled" if kind in ("imported", "computed") else ""
    return (f"{_q(node_id)} [label={_q(label)}, shape={_SHAPES[kind]}, fillcolor={_q(fill)}, color={_q(border)}, "
            f"fontcolor={_q(font)}, tooltip={_q(tooltip or label)}{style}{size}{pen}];")


def _dot_alias(i, props, palette) -> str:
    """The small node a renamed foreign key passes through; its tooltip names the renamed attributes."""
    fill = palette["alias"][0]
    renames = ", ".join(f"{ch} ← {pa}" for ch, pa in props["attr_map"] if ch != pa)
    return (f"{_q(f'alias {i}')} [label=\"\", shape=circle, width=0.08, height=0.08, fixedsize=true, style=filled, "
            f"fillcolor={_q(fill)}, color={_q(fill)}, tooltip={_q(renames)}];")


def _dot_edge(i, src, dst, props, palette) -> list[str]:
    """One foreign key; a renamed one goes through its alias node (declared in the child's cluster)."""
    style = "solid" if props["primary"] else "dashed"
    width = "0.75" if props["multi"] else "2"
    attrs = f"style={style}, penwidth={width}"
    if not props["aliased"]:
        return [f"  {_q(src)} -> {_q(dst)} [{attrs}];"]
    alias = f"alias {i}"
    return [f"  {_q(src)} -> {_q(alias)} [{attrs}, color={_q(palette['renamed'])}];",
            f"  {_q(alias)} -> {_q(dst)} [{attrs}, color={_q(palette['renamed'])}];"]


def _mermaid_text(text) -> str:
    return str(text).replace('"', "#quot;")


def _mermaid_ids(nodes) -> dict:
    """Mermaid node ids (letters, digits, underscores), unique, from the labels."""
    ids, used = {}, set()
    for node_id, label, kind, schema, *_ in nodes:
        base = re.sub(r"\W", "_", f"{schema}_schema" if kind == "collapsed" else label)
        base = base if re.match(r"[A-Za-z]", base) else "t_" + base
        candidate, k = base, 1
        while candidate in used or candidate in ("end", "graph", "subgraph", "flowchart"):
            k += 1
            candidate = f"{base}_{k}"
        used.add(candidate)
        ids[node_id] = candidate
    return ids


# ----- helpers: Graphviz -----------------------------------------------------------------------

_RENDERERS = ("dot", "graphviz-pure")  # Graphviz itself first; graphviz-pure takes the same flags


def _renderer() -> str | None:
    """`dot` or graphviz-pure on PATH, else graphviz-pure beside this interpreter (a venv that is
    used without being activated has its scripts there, not on PATH)."""
    scripts = os.path.dirname(sys.executable)
    for name in _RENDERERS:
        path = shutil.which(name) or shutil.which(name, path=scripts)
        if path:
            return path
    return None


def graphviz_available() -> bool:
    return _renderer() is not None


def _run_dot(dot_text: str, fmt: str, what: str) -> bytes:
    """Render DOT text with Graphviz's `dot` program (or graphviz-pure, its self-contained port)."""
    program = _renderer()
    if program is None:
        raise DataJointError(_NO_GRAPHVIZ.format(what=what))
    result = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                            check=False, timeout=120)
    if result.returncode != 0:
        raise DataJointError(f"Graphviz failed to render the diagram as {what}: "
                             f"{result.stderr.decode('utf-8', 'replace').strip()}")
    return result.stdout


diagram_active = True  # the reference's flag: diagrams can be built and drawn as DOT/Mermaid text here


class DotText(str):
    """DOT source text that also answers pydot's graph methods (get_nodes(), get_edges(), ...),
    which code written for the reference's make_dot() calls."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.pydot(name), name)

    def pydot(self, what="pydot"):
        """The text parsed by pydot."""
        try:
            import pydot
        except ImportError:
            raise AttributeError(f"make_dot() returned DOT text; {what}() needs pydot (pip install pydot)") from None
        return pydot.graph_from_dot_data(str(self))[0]

    def create(self, prog=None, format="ps", encoding=None) -> bytes:
        """Rendered by djframe's Graphviz (`dot` or graphviz-pure), as pydot's create() renders."""
        return _run_dot(str(self), format, format.upper())

    def create_svg(self) -> bytes:
        return self.create(format="svg")

    def create_png(self) -> bytes:
        return self.create(format="png")

    def get_nodes(self):
        """Every node, including those drawn inside a schema's cluster."""
        graphs, nodes = [self.pydot("get_nodes")], []
        while graphs:
            graph = graphs.pop(0)
            nodes += [n for n in graph.get_nodes() if n.get_name() not in ("graph", "node", "edge")]
            graphs += graph.get_subgraphs()
        return nodes


def png_to_array(png: bytes):
    """Decode a PNG (8-bit, not interlaced: what Graphviz writes) to a float array in 0..1, as
    matplotlib's imread does, without needing matplotlib."""
    import struct
    import zlib

    import numpy as np
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise DataJointError("make_image(): the renderer did not return a PNG image.")
    pos, chunks, header, palette = 8, [], None, None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"PLTE":
            palette = np.frombuffer(data, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            chunks.append(data)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    if depth != 8 or interlace:
        raise DataJointError(f"make_image(): cannot decode a {depth}-bit{' interlaced' if interlace else ''} PNG; "
                             "install matplotlib and use matplotlib.image.imread(diagram.make_png()).")
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, 1 + width * channels)
    image = _unfilter(raw, channels).reshape(height, width, channels)
    if color == 3:
        image = palette[image[..., 0]]
    elif color in (0, 4):
        image = np.concatenate([np.repeat(image[..., :1], 3, axis=2), image[..., 1:]], axis=2)
    return image.astype(np.float32) / 255


def _unfilter(raw, bpp):
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    import numpy as np
    width = raw.shape[1] - 1
    rows = np.zeros((raw.shape[0], width), np.uint8)
    prev = [0] * width
    for y in range(raw.shape[0]):
        kind, line = int(raw[y, 0]), raw[y, 1:].tolist()
        if kind == 2:
            line = [(v + u) & 0xFF for v, u in zip(line, prev)]
        elif kind in (1, 3, 4):
            for x in range(width):
                left = line[x - bpp] if x >= bpp else 0
                if kind == 1:
                    guess = left
                elif kind == 3:
                    guess = (left + prev[x]) >> 1
                else:
                    up, corner = prev[x], (prev[x - bpp] if x >= bpp else 0)
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    guess = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + guess) & 0xFF
        rows[y] = line
        prev = line
    return rows
