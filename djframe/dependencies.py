"""The foreign-key graph: who depends on whom, across every schema.

Rebuilt from the catalog (one source of truth) and used for cascading deletes,
drops, topological ordering and key sources. Nodes are ``(schema, table)``.
"""

from __future__ import annotations

import networkx as nx

from .errors import DataJointError


class Dependencies:
    """A directed graph parent -> child with the foreign key on each edge."""

    def __init__(self, graph: nx.MultiDiGraph):
        self.graph = graph

    @classmethod
    def load(cls, backend) -> "Dependencies":
        graph = nx.MultiDiGraph()
        for schema in backend.list_schemas():
            for table in backend.list_tables(schema):
                if not table.startswith("~"):
                    graph.add_node((schema, table))
            for child, fk in backend.foreign_keys(schema):
                if child.startswith("~"):
                    continue
                graph.add_edge((fk.parent_schema, fk.parent_table), (schema, child), fk=fk)
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            raise DataJointError(f"The foreign-key graph has a cycle: {cycle}")
        return cls(graph)

    def parents(self, node) -> list:
        return list(dict.fromkeys(self.graph.predecessors(node))) if node in self.graph else []

    def children(self, node) -> list:
        return list(dict.fromkeys(self.graph.successors(node))) if node in self.graph else []

    def edges_to_children(self, node):
        """(child, foreign key) pairs, one per foreign key."""
        if node not in self.graph:
            return []
        return [(child, data["fk"]) for _, child, data in self.graph.out_edges(node, data=True)]

    def edges_to_parents(self, node):
        if node not in self.graph:
            return []
        return [(parent, data["fk"]) for parent, _, data in self.graph.in_edges(node, data=True)]

    def descendants(self, node) -> list:
        """The node and everything downstream, in topological order."""
        if node not in self.graph:
            return [node]
        nodes = nx.descendants(self.graph, node) | {node}
        return self.topological(nodes)

    def ancestors(self, node) -> list:
        if node not in self.graph:
            return [node]
        nodes = nx.ancestors(self.graph, node) | {node}
        return self.topological(nodes)

    def topological(self, nodes) -> list:
        sub = self.graph.subgraph(nodes)
        return list(nx.lexicographical_topological_sort(sub, key=lambda n: f"{n[0]}.{n[1]}"))

    def would_cycle(self, child, parents) -> bool:
        return any(child == p or (child in self.graph and p in nx.descendants(self.graph, child))
                   for p in parents)
