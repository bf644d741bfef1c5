"""dj.Diagram on every backend: the graph, its operators, DOT/Mermaid text, rendering, and the restriction engine.

The pipeline has every tier, a part table, a secondary foreign key, a renamed
primary foreign key (Pair.buddy_id) and a renamed, nullable secondary one
(Session.experimenter). Row counts are checked against expectations worked out
by hand from the rows inserted in `filled`.
"""

import os
import re
import stat
import sys
import types

import pytest

import djframe as dj
from djframe.tables.diagram import Diagram
from djframe.errors import DataJointError
from djframe.tables.table import FreeTable


@pytest.fixture
def pipeline(schema):
    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(20)
        """
        contents = [("mouse",), ("rat",)]

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        -> Species
        """

    @schema
    class Pair(dj.Manual):
        definition = """
        -> Subject
        -> Subject.proj(buddy_id='subject_id')
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        sess : int32
        ---
        -> [nullable] Subject.proj(experimenter='subject_id')
        """

    @schema
    class Recording(dj.Imported):
        definition = """
        -> Session
        ---
        n_samples : int32
        """

        def make(self, key):
            self.insert1({**key, "n_samples": 10})

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        val : float64
        """

        class Detail(dj.Part):
            definition = """
            -> master
            k : int32
            """

        def make(self, key):
            self.insert1({**key, "val": 1.0})
            self.Detail.insert([{**key, "k": k} for k in (0, 1)])

    return types.SimpleNamespace(schema=schema, Species=Species, Subject=Subject, Pair=Pair, Session=Session,
                                 Recording=Recording, Analysis=Analysis, Detail=Analysis.Detail)


@pytest.fixture
def filled(pipeline):
    p = pipeline
    p.Subject.insert([(1, "mouse"), (2, "rat"), (3, "mouse")])
    p.Pair.insert([(1, 2), (2, 3)])
    p.Session.insert([(1, 1, 2), (1, 2, None), (2, 1, 3), (3, 1, None)])
    p.Analysis.populate()  # 4 analyses, 8 details; Recording stays empty
    return p


def names(p, *tables):
    return {t.full_table_name for t in tables}


def by_table(p, counts):
    """counts keyed by table_name, for readable expectations."""
    lookup = {t.full_table_name: t.table_name for t in (p.Species, p.Subject, p.Pair, p.Session, p.Recording,
                                                        p.Analysis, p.Detail)}
    return {lookup[k]: v for k, v in counts.items()}


# ----- the graph ---------------------------------------------------------------------------------

def test_nodes_tiers_and_edges(pipeline):
    p = pipeline
    d = Diagram(p.schema)
    assert len(d) == 7
    assert d.nodes_to_show == names(p, p.Species, p.Subject, p.Pair, p.Session, p.Recording, p.Analysis, p.Detail)
    g = d.graph
    tiers = {data["label"]: data["tier"] for _, data in g.nodes(data=True)}
    assert tiers == {"Species": "lookup", "Subject": "manual", "Pair": "manual", "Session": "manual",
                     "Recording": "imported", "Analysis": "computed", "Analysis.Detail": "part"}
    assert g.number_of_edges() == 8
    assert d.number_of_edges() == 8 and set(d.nodes()) == set(g.nodes()) and d.has_node(p.Session.full_table_name)
    assert set(d.successors(p.Subject.full_table_name)) == {p.Pair.full_table_name, p.Session.full_table_name}
    with pytest.raises(AttributeError):
        d.add_node("x")  # networkx's read-only queries only: a diagram is changed with its operators
    pair_edges = sorted((data["primary"], data["aliased"], tuple(sorted(data["attr_map"].items())))
                        for _, _, data in g.edges(p.Subject.full_table_name, data=True)
                        if _ == p.Pair.full_table_name)
    assert pair_edges == [(True, False, (("subject_id", "subject_id"),)), (True, True, (("buddy_id", "subject_id"),))]
    session_edges = {data["aliased"]: data["primary"] for u, v, data in g.edges(data=True)
                     if (u, v) == (p.Subject.full_table_name, p.Session.full_table_name)}
    assert session_edges == {False: True, True: False}  # the renamed experimenter FK is secondary
    species_edge = g.get_edge_data(p.Species.full_table_name, p.Subject.full_table_name)[0]
    assert species_edge["primary"] is False and species_edge["multi"] is True
    one_to_one = g.get_edge_data(p.Session.full_table_name, p.Analysis.full_table_name)[0]
    assert one_to_one["multi"] is False


def test_sources(pipeline):
    p = pipeline
    assert Diagram(p.Subject).nodes_to_show == names(p, p.Subject)
    assert Diagram(p.Subject()).nodes_to_show == names(p, p.Subject)
    assert Diagram(p.Subject & {"subject_id": 1}).nodes_to_show == names(p, p.Subject)
    module = types.ModuleType("pipe")
    module.schema, module.Subject = p.schema, p.Subject
    assert len(Diagram(module)) == 7
    vm = dj.VirtualModule("vm", p.schema.database, connection=p.schema.connection)
    assert len(Diagram(vm)) == 7 and Diagram(vm.Session).nodes_to_show == names(p, p.Session)
    copy = Diagram(Diagram(p.Session) + 1)
    assert copy.nodes_to_show == names(p, p.Session, p.Recording, p.Analysis)
    seq = Diagram.from_sequence([p.Subject, p.Species, Diagram(p.Detail)])
    assert seq.nodes_to_show == names(p, p.Subject, p.Species, p.Detail)
    with pytest.raises(DataJointError, match="not a query"):
        Diagram(p.Subject * p.Session)
    with pytest.raises(DataJointError, match="takes a schema"):
        Diagram(42)
    with pytest.raises(DataJointError, match="no `schema`"):
        Diagram(types.ModuleType("empty"))
    with pytest.raises(DataJointError, match="at least one"):
        Diagram.from_sequence([])


def test_labels_from_context(pipeline):
    p = pipeline
    d = Diagram(p.schema, context={"Subj": p.Subject, "Analysis": p.Analysis})
    labels = {data["label"] for _, data in d.graph.nodes(data=True)}
    assert {"Subj", "Analysis", "Analysis.Detail", "Species"} <= labels and "Subject" not in labels
    module = types.ModuleType("pipe")
    module.Session = p.Session
    d = Diagram(p.schema, context={"pipe": module})
    assert "pipe.Session" in {data["label"] for _, data in d.graph.nodes(data=True)}


def test_contains_and_topo_sort(pipeline):
    p = pipeline
    d = Diagram(p.schema)
    assert p.Subject in d and p.Subject() in d and "Subject" in d and p.Subject.full_table_name in d
    assert "Analysis.Detail" in d and f"{p.schema.database}.#species" in d
    assert p.Pair not in Diagram(p.Subject) and "Nope" not in d and 3 not in d
    order = d.topo_sort()
    assert len(order) == 7 and order[0] == p.Species.full_table_name
    position = {name: i for i, name in enumerate(order)}
    for u, v in d.graph.edges():
        assert position[u] < position[v]
    assert [t.full_table_name for t in d] == order
    assert [t.full_table_name for t in reversed(d)] == order[::-1]
    assert all(isinstance(t, FreeTable) for t in d)


def test_topological_order_through_hidden_tables(pipeline):
    p = pipeline
    d = Diagram(p.Detail) + Diagram(p.Species)  # Subject, Session, Analysis are not shown
    assert d.topo_sort() == [p.Species.full_table_name, p.Detail.full_table_name]


# ----- operators ---------------------------------------------------------------------------------

def test_expand_downstream_and_upstream(pipeline):
    p = pipeline
    assert (Diagram(p.Subject) + 1).nodes_to_show == names(p, p.Subject, p.Pair, p.Session)
    assert (Diagram(p.Subject) + 2).nodes_to_show == names(p, p.Subject, p.Pair, p.Session, p.Recording, p.Analysis)
    assert len(Diagram(p.Subject) + 10) == 6  # Species is upstream
    assert (Diagram(p.Analysis) - 1).nodes_to_show == names(p, p.Analysis, p.Session)
    assert (Diagram(p.Analysis) - 2).nodes_to_show == names(p, p.Analysis, p.Session, p.Subject)
    assert (Diagram(p.Analysis) - 3).nodes_to_show == names(p, p.Analysis, p.Session, p.Subject, p.Species)
    assert (Diagram(p.Analysis) + 0).nodes_to_show == names(p, p.Analysis)
    assert (Diagram(p.Session) + -1).nodes_to_show == (Diagram(p.Session) - 1).nodes_to_show


def test_set_operators(pipeline):
    p = pipeline
    a = Diagram(p.Subject) + 1
    b = Diagram(p.Session) + 1
    assert (a + b).nodes_to_show == names(p, p.Subject, p.Pair, p.Session, p.Recording, p.Analysis)
    assert (a - b).nodes_to_show == names(p, p.Subject, p.Pair)
    assert (a * b).nodes_to_show == names(p, p.Session)
    assert (Diagram(p.schema) - Diagram(p.Pair)).nodes_to_show == \
        Diagram(p.schema).nodes_to_show - names(p, p.Pair)
    assert (a + p.Species).nodes_to_show == names(p, p.Species, p.Subject, p.Pair, p.Session)
    assert len(a) == 3  # operators return new diagrams


def test_add_parts(pipeline):
    p = pipeline
    assert Diagram(p.Analysis).add_parts().nodes_to_show == names(p, p.Analysis, p.Detail)
    assert Diagram(p.Session).add_parts().nodes_to_show == names(p, p.Session)


def test_collapse(pipeline):
    p = pipeline
    d = Diagram(p.schema).collapse()
    assert len(d) == 7 and "(collapsed)" in repr(d)
    dot = d.make_dot()
    assert f'"schema {p.schema.database}" [label="{p.schema.database} (7 tables)", shape=box3d' in dot
    assert "->" not in dot  # everything in one node: no edges
    mixed = d + Diagram(p.Subject)
    dot = mixed.make_dot()
    assert f"{p.schema.database} (6 tables)" in dot and '[label="Subject", shape=box' in dot
    assert dot.count("->") == 2  # the schema node to Subject and back (merged)
    mermaid = mixed.make_mermaid()
    assert "(6 tables)" in mermaid and "Subject[\"Subject\"]:::manual" in mermaid
    assert (Diagram(p.Subject) + Diagram(p.schema).collapse()).make_dot().count("shape=box3d") == 1


# ----- text output -------------------------------------------------------------------------------

def dot_node(dot, label):
    match = re.search(r"^\s*\"[^\"]+\" \[label=\"" + re.escape(label) + r"\", (.*)\];$", dot, re.M)
    assert match, f"no node {label} in\n{dot}"
    return match.group(1)


def test_make_dot(pipeline):
    p = pipeline
    dot = Diagram(p.schema).make_dot()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert f'label="{p.schema.database}"' in dot  # the schema cluster
    assert "shape=box" in dot_node(dot, "Subject") and "#DFF0DF" in dot_node(dot, "Subject")  # green box
    assert "shape=box" in dot_node(dot, "Species") and "#E4E4E4" in dot_node(dot, "Species")  # gray
    assert "shape=ellipse" in dot_node(dot, "Recording") and "#DCE7F7" in dot_node(dot, "Recording")  # blue
    assert "shape=ellipse" in dot_node(dot, "Analysis") and "#F7DEDC" in dot_node(dot, "Analysis")  # red
    assert "shape=plaintext" in dot_node(dot, "Analysis.Detail") and "fontsize=9" in dot_node(dot, "Analysis.Detail")
    assert 'tooltip="subject_id\\nsess\\n---\\nexperimenter"' in dot_node(dot, "Session")
    sid = lambda t: f'"{t.database}.{t.table_name}"'  # noqa: E731
    assert f"{sid(p.Species)} -> {sid(p.Subject)} [style=dashed" in dot  # secondary
    assert f"{sid(p.Subject)} -> {sid(p.Pair)} [style=solid, penwidth=0.75]" in dot  # primary
    assert f"{sid(p.Session)} -> {sid(p.Analysis)} [style=solid, penwidth=2]" in dot  # one-to-one
    aliases = re.findall(r'"(alias \d+)" \[label="", shape=circle.*tooltip="([^"]+)"\]', dot)
    assert sorted(t for _, t in aliases) == ["buddy_id ← subject_id", "experimenter ← subject_id"]
    for alias, tip in aliases:
        child = p.Pair if tip.startswith("buddy") else p.Session
        assert f'{sid(p.Subject)} -> "{alias}"' in dot and f'"{alias}" -> {sid(child)}' in dot
    assert dot.count("->") == 10  # 6 plain foreign keys + 2 renamed ones through alias nodes
    assert 'bgcolor="#1E1E1E"' in Diagram(p.schema).make_dot(theme="dark")
    with pytest.raises(DataJointError, match="theme"):
        Diagram(p.schema).make_dot(theme="neon")


def test_direction_from_config(pipeline):
    d = Diagram(pipeline.schema)
    assert "rankdir=LR" in d.make_dot() and d.make_mermaid().startswith("flowchart LR")
    with dj.config.override(**{"display.diagram_direction": "TB"}):
        assert "rankdir=TB" in d.make_dot() and d.make_mermaid().startswith("flowchart TB")


def test_make_mermaid(pipeline):
    p = pipeline
    text = Diagram(p.schema).make_mermaid()
    lines = [line.strip() for line in text.splitlines()]
    assert f'subgraph sg_0["{p.schema.database}"]' in lines and "end" in lines
    for line in ('Subject["Subject"]:::manual', 'Species["Species"]:::lookup', 'Recording(["Recording"]):::imported',
                 'Analysis(["Analysis"]):::computed', 'Analysis_Detail["Analysis.Detail"]:::part'):
        assert line in lines
    assert any(line.startswith("classDef manual fill:#DFF0DF") for line in lines)
    edges = [line for line in lines if re.match(r"\w+ (-->|-\.->|==>)", line)]
    assert len(edges) == 8
    assert "Species -.-> Subject" in edges and "Session ==> Analysis" in edges
    assert "Analysis --> Analysis_Detail" in edges and "Subject --> Pair" in edges
    assert 'Subject -->|"buddy_id = subject_id"| Pair' in edges
    assert 'Subject -.->|"experimenter = subject_id"| Session' in edges
    styled = [int(m) for m in re.findall(r"linkStyle (\d+) stroke", text)]
    assert sorted(edges[i] for i in styled) == sorted(e for e in edges if "|" in e)


def no_graphviz(monkeypatch, tmp_path):
    """Neither on PATH nor beside the interpreter (where a venv's graphviz-pure script lives)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))


def test_repr_and_html_without_graphviz(pipeline, monkeypatch, tmp_path):
    p = pipeline
    no_graphviz(monkeypatch, tmp_path)
    d = Diagram(p.schema)
    text = repr(d)
    assert text.splitlines()[0] == f"Diagram of 7 table(s) in `{p.schema.database}`"
    assert re.search(r"^\s+Analysis\.Detail\s+Part$", text, re.M) and re.search(r"^\s+Species\s+Lookup$", text, re.M)
    assert text.splitlines()[-1].strip() == "8 foreign key(s)"
    page = d._repr_html_()
    assert "<pre class='mermaid'>" in page and "Subject --&gt; Pair" in page and "Graphviz" in page
    bundle = d._repr_mimebundle_()
    assert bundle["text/vnd.mermaid"] == d.make_mermaid() and "image/svg+xml" not in bundle
    assert bundle["text/plain"] == text


def test_rendering_needs_graphviz(pipeline, monkeypatch, tmp_path):
    no_graphviz(monkeypatch, tmp_path)
    d = Diagram(pipeline.schema)
    for render in (d.svg_string, d.make_svg, d.make_png, d.make_image, d.draw,
                   lambda: d.save(str(tmp_path / "x.svg")), lambda: d.save(str(tmp_path / "x.png"))):
        with pytest.raises(DataJointError, match=r"needs Graphviz.*make_mermaid\(\)"):
            render()
    assert not (tmp_path / "x.svg").exists()
    d.save(str(tmp_path / "x.dot"))
    d.save(str(tmp_path / "x.mmd"))
    d.save(str(tmp_path / "plain"), format="mermaid")
    assert (tmp_path / "x.dot").read_text(encoding="utf-8") == d.make_dot()
    assert (tmp_path / "x.mmd").read_text(encoding="utf-8") == d.make_mermaid()
    assert (tmp_path / "plain").read_text(encoding="utf-8") == d.make_mermaid()
    with pytest.raises(DataJointError, match="Cannot save"):
        d.save(str(tmp_path / "x.txt"))


def fake_dot(tmp_path, body):
    program = tmp_path / "dot"
    program.write_text("#!/bin/sh\n" + body)
    program.chmod(program.stat().st_mode | stat.S_IEXEC)


def test_rendering_through_dot(pipeline, monkeypatch, tmp_path):
    """A stand-in `dot` on PATH: the DOT text is piped through it (wraps its input in <svg>)."""
    fake_dot(tmp_path, 'echo "<svg>[$1]"; cat; echo "</svg>"\n')
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    d = Diagram(pipeline.schema)
    svg = d.svg_string()
    assert svg.startswith("<svg>[-Tsvg]") and d.make_dot() in svg
    assert d._repr_html_() == svg and d._repr_mimebundle_()["image/svg+xml"] == svg
    assert d.make_png().getvalue().startswith(b"<svg>[-Tpng]")
    d.save(str(tmp_path / "out.svg"))
    assert (tmp_path / "out.svg").read_text(encoding="utf-8") == svg
    fake_dot(tmp_path, 'echo "syntax error in line 1" >&2; exit 1\n')
    with pytest.raises(DataJointError, match="Graphviz failed.*syntax error"):
        d.svg_string()


def test_reference_rendering_api(pipeline):
    """_repr_svg_, make_image without matplotlib, pydot's get_nodes() on make_dot(), diagram_active."""
    d = Diagram(pipeline.schema, context={})
    svg = d._repr_svg_()
    assert svg.startswith("<svg") and svg.endswith("svg>")
    image = d.make_image()
    assert image.ndim == 3 and image.shape[2] in (3, 4) and 0 <= image.min() <= image.max() <= 1
    names = [n.get_name() for n in d.make_dot().get_nodes()]
    assert any("subject" in n for n in names) and "node" not in names
    assert dj.diagram.diagram_active


def test_png_decoder_undoes_every_filter():
    import struct
    import zlib

    import numpy as np
    from djframe.tables.diagram import png_to_array
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    rows, prev = [], np.zeros(12, np.int32)
    for y, kind in enumerate([0, 1, 2, 3, 4]):
        line, filtered = pixels[y].reshape(-1).astype(np.int32), []
        for x, v in enumerate(line):
            left = line[x - 3] if x >= 3 else 0
            up, corner = prev[x], (prev[x - 3] if x >= 3 else 0)
            p = left + up - corner
            paeth = left if abs(p - left) <= abs(p - up) and abs(p - left) <= abs(p - corner) else (
                up if abs(p - up) <= abs(p - corner) else corner)
            guess = [0, left, up, (left + up) // 2, paeth][kind]
            filtered.append((v - guess) & 0xFF)
        rows.append(bytes([kind] + filtered))
        prev = line

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))
    assert (np.round(png_to_array(png) * 255).astype(np.uint8) == pixels).all()


# ----- the restriction engine --------------------------------------------------------------------

def test_cascade_counts_or_convergence(filled):
    p = filled
    cascade = Diagram.cascade(p.Subject & {"subject_id": 2})
    # sessions of subject 2 or run by experimenter 2; pairs with 2 on either side
    assert by_table(p, cascade.counts()) == {"subject": 1, "pair": 2, "session": 2, "_recording": 0,
                                             "__analysis": 2, "__analysis__detail": 4}
    assert list(cascade.counts()) == [t.full_table_name for t in cascade]
    assert "restricted by cascade" in repr(cascade)
    wide = Diagram.cascade(p.Subject & [{"subject_id": 1}, {"subject_id": 2}])
    assert by_table(p, wide.counts())["session"] == 3 and by_table(p, wide.counts())["pair"] == 2
    mice = Diagram.cascade(p.Species & {"species": "mouse"})
    assert by_table(p, mice.counts()) == {"#species": 1, "subject": 2, "pair": 2, "session": 4, "_recording": 0,
                                          "__analysis": 4, "__analysis__detail": 8}


def test_cascade_matches_delete(filled):
    p = filled
    tables = [p.Species, p.Subject, p.Pair, p.Session, p.Analysis, p.Detail]
    before = {t.full_table_name: len(t()) for t in tables}
    expected = Diagram.cascade(p.Subject & {"subject_id": 1}).counts()
    (p.Subject & {"subject_id": 1}).delete(prompt=False)
    lost = {name: before[name] - len(FreeTable(p.schema.connection, p.schema.database, t.table_name))
            for name, t in zip(before, tables)}
    assert {k: v for k, v in lost.items() if v} == {k: v for k, v in expected.items() if v}
    assert by_table(p, expected)["session"] == 2 and by_table(p, expected)["pair"] == 1


def test_cascade_iteration_order(filled):
    p = filled
    cascade = Diagram.cascade(p.Session & {"subject_id": 1})
    forward = [t.full_table_name for t in cascade]
    assert forward[0] == p.Session.full_table_name and set(forward) == names(p, p.Session, p.Recording,
                                                                             p.Analysis, p.Detail)
    assert forward.index(p.Analysis.full_table_name) < forward.index(p.Detail.full_table_name)
    assert [t.full_table_name for t in reversed(cascade)] == forward[::-1]
    assert [len(t) for t in cascade] == list(cascade.counts().values()) == [2, 2, 4, 0]


def test_cascade_part_integrity(filled):
    p = filled
    part_only = Diagram.cascade(p.Detail & {"subject_id": 1})
    assert by_table(p, part_only.counts()) == {"__analysis__detail": 4}
    for mode in ("ignore", "enforce"):
        assert Diagram.cascade(p.Detail & {"subject_id": 1}, part_integrity=mode).nodes_to_show == names(p, p.Detail)
    with_master = Diagram.cascade(p.Detail & {"subject_id": 1, "k": 0}, part_integrity="cascade")
    # the masters of the matching parts go too, and with them all their parts
    assert by_table(p, with_master.counts()) == {"__analysis": 2, "__analysis__detail": 4}
    with pytest.raises(ValueError, match="part_integrity"):
        Diagram.cascade(p.Detail, part_integrity="sometimes")


def test_cascade_refuses_restrict_and_prune(filled):
    p = filled
    cascade = Diagram.cascade(p.Subject & {"subject_id": 2})
    with pytest.raises(DataJointError, match="do not mix"):
        cascade.restrict(p.Subject)
    with pytest.raises(DataJointError, match="prune"):
        cascade.prune()
    with pytest.raises(DataJointError, match="restricted table"):
        Diagram.cascade(p.Subject * p.Session)
    with pytest.raises(DataJointError, match="needs restrictions"):
        Diagram(p.schema).counts()


def test_trace(filled):
    p = filled
    trace = Diagram.trace(p.Detail & {"subject_id": 1, "sess": 1})
    # session (1,1) is run on subject 1 by experimenter 2: both subjects, and both species, are referenced
    assert by_table(p, trace.counts()) == {"#species": 2, "subject": 2, "session": 1, "__analysis": 1,
                                           "__analysis__detail": 2}
    assert p.Pair not in trace and p.Recording not in trace
    assert sorted(trace[p.Subject].to_dicts(), key=lambda r: r["subject_id"]) == \
        [{"subject_id": 1, "species": "mouse"}, {"subject_id": 2, "species": "rat"}]
    with pytest.raises(DataJointError, match="not in this (diagram|trace)"):
        trace[p.Pair]
    alone = Diagram.trace(p.Session & {"subject_id": 3, "sess": 1})  # experimenter NULL: references subject 3 only
    assert alone[p.Subject].to_dicts() == [{"subject_id": 3, "species": "mouse"}]
    assert alone["Species"].to_dicts() == [{"species": "mouse"}]
    assert isinstance(alone["Species"], FreeTable) and isinstance(alone[p.Subject], p.Subject)
    pair = Diagram.trace(p.Pair & {"subject_id": 2})  # the renamed key in the child's primary key
    assert sorted(r["subject_id"] for r in pair[p.Subject].to_dicts()) == [2, 3]
    assert [t.full_table_name for t in pair] == [p.Species.full_table_name, p.Subject.full_table_name,
                                                 p.Pair.full_table_name]
    with pytest.raises(DataJointError, match="do not mix"):
        pair.restrict(p.Subject)


def test_restrict_and_convergence(filled):
    p = filled
    d = Diagram(p.schema).restrict(p.Subject & [{"subject_id": 1}, {"subject_id": 2}])
    # a session stays only if its subject AND its experimenter are restricted subjects: (1,1) only
    assert by_table(p, d.counts()) == {"subject": 2, "pair": 1, "session": 1, "_recording": 0, "__analysis": 1,
                                       "__analysis__detail": 2}
    assert "restricted by restrict" in repr(d)
    chained = d.restrict(p.Species & {"species": "mouse"})
    assert by_table(p, chained.counts()) == {"#species": 1, "subject": 1, "pair": 0, "session": 0, "_recording": 0,
                                             "__analysis": 0, "__analysis__detail": 0}
    assert by_table(p, d.counts())["subject"] == 2  # restrict returns a new diagram
    assert (chained[p.Subject]).to_dicts() == [{"subject_id": 1, "species": "mouse"}]
    with pytest.raises(DataJointError, match="not in the diagram"):
        Diagram(p.Session).restrict(p.Subject)
    tables = {t.full_table_name: t for t in d}
    assert len(tables[p.Species.full_table_name]) == 2  # not downstream of the restriction: whole table


def test_prune(filled):
    p = filled
    plain = Diagram(p.schema).prune()
    assert plain.nodes_to_show == Diagram(p.schema).nodes_to_show - names(p, p.Recording)
    chained = Diagram(p.schema).restrict(p.Subject & {"subject_id": 1}).restrict(p.Species & {"species": "mouse"})
    pruned = chained.prune()
    assert pruned.nodes_to_show == names(p, p.Species, p.Subject)
    assert by_table(p, pruned.counts()) == {"#species": 1, "subject": 1}
    trace = Diagram.trace(p.Session & {"subject_id": 3, "sess": 1}).prune()
    assert len(trace) == 3


def test_cascade_reaches_other_schemas(filled, conn, schema_name):
    p = filled
    other = dj.Schema(schema_name + "_b", connection=conn)
    Subject = p.Subject  # noqa: F841  (the foreign key below names it)
    try:
        @other
        class Note(dj.Manual):
            definition = """
            -> Subject
            note_id : int32
            """

        Note.insert([(2, 1), (2, 2), (3, 1)])
        cascade = Diagram.cascade(p.Subject & {"subject_id": 2})
        assert cascade.counts()[Note.full_table_name] == 2
        assert Note.full_table_name in (Diagram(p.Subject) + 1).nodes_to_show
        both = Diagram(p.schema) + Diagram(other)
        assert len(both) == 8 and both.make_dot().count("subgraph") == 2
        assert both.make_mermaid().count("subgraph sg_") == 2
    finally:
        other.drop(prompt=False)


def test_real_svg_and_png(pipeline, tmp_path):
    """Rendered for real, by Graphviz or by graphviz-pure (which the test extras install)."""
    d = Diagram(pipeline.schema)
    svg = d.svg_string()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and ">Analysis.Detail<" in svg and ">Species<" in svg
    assert d._repr_mimebundle_()["image/svg+xml"] == svg
    png = d.make_png().getvalue()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    d.save(str(tmp_path / "pipeline.svg"))
    assert (tmp_path / "pipeline.svg").read_text(encoding="utf-8") == svg
