"""Drawing a diagram: pure functions from a drawn model to DOT text, Mermaid text, SVG and PNG.

The model is what `Diagram` decides to show: `DrawnNode`s (id, label, kind, schema,
tooltip, stale flag) and edges ``(source id, destination id, properties)`` with the
properties ``primary``, ``aliased``, ``multi`` and ``attr_map``. DOT and Mermaid need
nothing installed; SVG and PNG need Graphviz's `dot` program (or graphviz-pure).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import NamedTuple

from djframe.errors import DataJointError


class DrawnNode(NamedTuple):
    """One box of the drawing: a table, or a schema's collapsed tables."""

    id: str
    label: str
    kind: str  # a tier, "other" or "collapsed"
    schema: str
    tooltip: str
    stale: bool


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

_NO_GRAPHVIZ = ("Rendering a diagram as {what} needs Graphviz: neither `dot` nor `graphviz-pure` was found on "
                "PATH. Install Graphviz (e.g. `apt install graphviz`, `brew install graphviz` or "
                "`conda install graphviz`) or `pip install djframe[diagram]` (graphviz-pure, a self-contained dot), "
                "or use make_dot() / make_mermaid() / save('diagram.mmd') / save('diagram.dot'), which work without it.")

def _theme(theme) -> str:
    if theme not in ("auto", "light", "dark"):
        raise DataJointError(f"Unknown diagram theme {theme!r}; use 'light', 'dark' or 'auto'.")
    return "light" if theme == "auto" else theme


def _q(text) -> str:
    """A DOT double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


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


def run_dot(dot_text: str, fmt: str, what: str) -> bytes:
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



def node_id(group) -> str:
    """The drawing's id of a table (schema, table) or of a schema's collapsed tables ("collapsed", schema)."""
    return f"schema {group[1]}" if group[0] == "collapsed" else f"{group[0]}.{group[1]}"


def dot(nodes, edges, theme, direction) -> "DotText":
    """Graphviz DOT source text: one cluster per schema, renamed foreign keys through a small alias node."""
    palette = _PALETTES[_theme(theme)]
    out = ["digraph djframe {",
           f"  graph [rankdir={direction}, bgcolor={_q(palette['background'])}, fontname=Helvetica, "
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


def mermaid(nodes, edges, direction) -> str:
    """Mermaid flowchart text (renders on GitHub, in Jupyter/Markdown, or at mermaid.live)."""
    palette = _PALETTES["light"]
    ids = _mermaid_ids(nodes)
    out = [f"flowchart {'LR' if direction == 'LR' else 'TB'}"]
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
        out.append(f"    {ids[src]} {_mermaid_arrow(props)} {ids[dst]}")
    for i, (_, _, props) in enumerate(edges):
        if props["aliased"]:
            out.append(f"    linkStyle {i} stroke:{palette['renamed']}")
    return "\n".join(out) + "\n"


def _mermaid_arrow(props) -> str:
    """Thick for one-to-one, plain for primary, dotted for secondary; renamed attributes as the label."""
    arrow = ("==>" if not props["multi"] else "-->") if props["primary"] else "-.->"
    if not props["aliased"]:
        return arrow
    renames = ", ".join(f"{ch} = {pa}" for ch, pa in props["attr_map"] if ch != pa)
    return f"{arrow}|\"{_mermaid_text(renames)}\"|"


def svg(dot_text: str) -> str:
    return run_dot(dot_text, "svg", "SVG").decode("utf-8")


def png(dot_text: str) -> bytes:
    return run_dot(dot_text, "png", "PNG")


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
        return run_dot(str(self), format, format.upper())

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
