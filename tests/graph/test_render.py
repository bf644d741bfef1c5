"""Drawing (graph/render.py) as pure functions of a drawn model: no database, no Graphviz."""

import pytest

from djframe.errors import DataJointError
from djframe.graph import render
from djframe.graph.render import DrawnNode

NODES = [
    DrawnNode("lab.subject", "Subject", "manual", "lab", "subject_id\n---\nname", False),
    DrawnNode("lab.session", "Session (3 stale)", "computed", "lab", "", True),
    DrawnNode("schema other", "other (2 tables)", "collapsed", "other", "", False),
]
EDGES = [
    ("lab.subject", "lab.session", {"primary": True, "aliased": False, "multi": True, "attr_map": ()}),
    ("lab.subject", "lab.session", {"primary": False, "aliased": True, "multi": True,
                                    "attr_map": (("buddy", "subject_id"),)}),
    ("lab.session", "schema other", {"primary": True, "aliased": False, "multi": True}),
]


def test_dot_clusters_schemas_and_routes_renamed_keys_through_an_alias():
    text = render.dot(NODES, EDGES, "light", "LR")
    assert text.startswith("digraph djframe {") and "rankdir=LR" in text
    assert text.count("subgraph") == 2  # one cluster per schema
    assert '"lab.subject" -> "lab.session" [style=solid, penwidth=0.75];' in text
    assert '"alias 1" [label=""' in text and 'tooltip="buddy ← subject_id"' in text
    assert '"lab.subject" -> "alias 1"' in text and '"alias 1" -> "lab.session"' in text
    stale = next(line for line in text.splitlines() if '"lab.session" [' in line)
    assert render.STALE_BORDER in stale and "penwidth=2.5" in stale
    assert 'tooltip="subject_id\\n---\\nname"' in text


def test_dot_themes():
    assert 'bgcolor="#1E1E1E"' in render.dot(NODES, EDGES, "dark", "TB")
    assert render.dot(NODES, EDGES, "auto", "TB") == render.dot(NODES, EDGES, "light", "TB")
    with pytest.raises(DataJointError, match="theme"):
        render.dot(NODES, EDGES, "pink", "TB")


def test_mermaid_arrows_labels_and_stale_outline():
    text = render.mermaid(NODES, EDGES, "TB")
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    assert "    Subject --> Session__3_stale_" in lines
    assert '    Subject -.->|"buddy = subject_id"| Session__3_stale_' in lines
    assert "    linkStyle 1 stroke:#C8731E" in lines
    assert f"    style Session__3_stale_ stroke:{render.STALE_BORDER},stroke-width:3px" in lines
    assert '        other_schema[["other (2 tables)"]]:::collapsed' in lines


def test_mermaid_ids_are_unique_and_avoid_keywords():
    nodes = [DrawnNode("a.end", "end", "manual", "a", "", False),
             DrawnNode("b.end", "end", "manual", "b", "", False),
             DrawnNode("c.1x", "1x", "lookup", "c", "", False)]
    text = render.mermaid(nodes, [], "LR")
    assert "end_2[" in text and "end_3[" in text and "t_1x[" in text and text.startswith("flowchart LR")
