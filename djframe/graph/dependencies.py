"""The foreign-key graph: who depends on whom, across every schema.

Rebuilt from the catalog (one source of truth) and used for cascading deletes,
drops, topological ordering and key sources. Nodes are ``(schema, table)``.
"""

from __future__ import annotations

import dataclasses

import networkx as nx

from djframe.errors import DataJointError, MissingTableError

CATALOG_ATTEMPTS = 3


class Dependencies:
    """A directed graph parent -> child with the foreign key on each edge.

    Internally nodes are ``(schema, table)`` pairs; the methods also take full table names
    (as the reference's graph does) and then answer in full table names.
    """

    def __init__(self, connection=None, graph: nx.MultiDiGraph | None = None):
        self._connection = connection
        self.graph = graph if graph is not None else nx.MultiDiGraph()
        self._loaded = graph is not None
        self._loaded_schemas: set = set()
        self._by_name: dict = {}
        self._in_key: dict = {}
        if graph is not None:
            self._index(None)

    @classmethod
    def from_backend(cls, backend, connection=None) -> "Dependencies":
        deps = cls(connection)
        deps._read(backend)
        return deps

    def load(self, force: bool = True, schema_names=None) -> None:
        """(Re)read the graph of every schema on the server from the catalog."""
        if self._loaded and not force:
            return
        if self._connection is None:
            raise DataJointError("Dependencies.load() needs a connection: use connection.dependencies.")
        self._read(self._connection.backend)

    def load_all_downstream(self) -> None:
        """The whole server is read at once, so this only loads a graph not yet loaded."""
        if not self._loaded:
            self.load()

    def load_all_upstream(self) -> None:
        if not self._loaded:
            self.load()

    def _read(self, backend) -> None:
        graph = nx.MultiDiGraph()
        schemas = backend.list_schemas()
        for schema in schemas:
            tables, foreign_keys = _read_schema(backend, schema)
            for table in tables:
                if not table.startswith("~"):
                    graph.add_node((schema, table))
            for child, fk in foreign_keys:
                if child.startswith("~"):
                    continue
                graph.add_edge((fk.parent_schema, fk.parent_table), (schema, child), key=fk.attr_map, fk=fk)
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            raise DataJointError(f"The foreign-key graph has a cycle: {cycle}")
        self.graph, self._loaded, self._loaded_schemas, self._in_key = graph, True, set(schemas), {}
        self._index(backend)

    def _index(self, backend) -> None:
        if backend is None and self._connection is not None:
            backend = self._connection.backend
        self._by_name = {backend.full_name(*node): node for node in self.graph} if backend is not None else {}

    # ----- names and nodes ---------------------------------------------------------------------
    def _as_node(self, table):
        """(node, named): a full table name becomes its node; `named` says to answer in names."""
        if isinstance(table, str):
            node = self._by_name.get(table)
            if node is None:
                schema, _, name = table.replace("`", "").replace('"', "").partition(".")
                node = (schema, name)
            return node, True
        return tuple(table), False

    def name(self, node) -> str:
        backend = self._connection.backend if self._connection is not None else None
        return backend.full_name(*node) if backend is not None else f"{node[0]}.{node[1]}"

    def _answer(self, nodes, named):
        return [self.name(n) for n in nodes] if named else list(nodes)

    def __contains__(self, table) -> bool:
        return self._as_node(table)[0] in self.graph

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    @property
    def nodes(self) -> list:
        """Full table names, as the reference's graph has."""
        return [self.name(n) for n in self.graph]

    def number_of_edges(self, u=None, v=None) -> int:
        if u is None:
            return self.graph.number_of_edges()
        return self.graph.number_of_edges(self._as_node(u)[0], self._as_node(v)[0])

    def edge_properties(self, child, fk) -> dict:
        """The reference's edge attributes of one foreign key."""
        parallel = self.graph.number_of_edges((fk.parent_schema, fk.parent_table), child)
        return {"primary": self.with_key_flag(child, fk).in_key, "attr_map": dict(fk.attr_map),
                "aliased": fk.aliased, "multi": parallel > 1}

    def with_key_flag(self, child, fk):
        """The foreign key with `in_key` set: the catalog's foreign keys do not say whether the
        child's attributes are in its primary key, the child's heading does."""
        if self._connection is None or fk.in_key:
            return fk
        key = (child, fk)
        if key not in self._in_key:
            try:
                primary_key = set(self._connection.table_spec(*child).primary_key)
            except DataJointError:
                return fk
            self._in_key[key] = dataclasses.replace(fk, in_key=set(fk.child_attributes) <= primary_key)
        return self._in_key[key]

    # ----- the graph ---------------------------------------------------------------------------
    def parents(self, table, primary=None):
        """Nodes of the parents; given a full table name, {name: edge properties} as the reference."""
        node, named = self._as_node(table)
        if not named:
            return list(dict.fromkeys(self.graph.predecessors(node))) if node in self.graph else []
        edges = [(p, self.edge_properties(node, fk)) for p, fk in self.edges_to_parents(node)]
        return {self.name(p): props for p, props in edges if primary is None or props["primary"] == primary}

    def children(self, table, primary=None):
        node, named = self._as_node(table)
        if not named:
            return list(dict.fromkeys(self.graph.successors(node))) if node in self.graph else []
        edges = [(c, self.edge_properties(c, fk)) for c, fk in self.edges_to_children(node)]
        return {self.name(c): props for c, props in edges if primary is None or props["primary"] == primary}

    def edges_to_children(self, node):
        """(child, foreign key) pairs, one per foreign key."""
        if node not in self.graph:
            return []
        return [(child, self.with_key_flag(child, data["fk"]))
                for _, child, data in self.graph.out_edges(node, data=True)]

    def edges_to_parents(self, node):
        if node not in self.graph:
            return []
        return [(parent, self.with_key_flag(node, data["fk"]))
                for parent, _, data in self.graph.in_edges(node, data=True)]

    def descendants(self, table) -> list:
        """The node and everything downstream, in topological order."""
        node, named = self._as_node(table)
        if node not in self.graph:
            return self._answer([node], named)
        return self._answer(self.topological(nx.descendants(self.graph, node) | {node}), named)

    def ancestors(self, table) -> list:
        node, named = self._as_node(table)
        if node not in self.graph:
            return self._answer([node], named)
        return self._answer(self.topological(nx.ancestors(self.graph, node) | {node}), named)

    def topological(self, nodes) -> list:
        sub = self.graph.subgraph(nodes)
        return list(nx.lexicographical_topological_sort(sub, key=lambda n: f"{n[0]}.{n[1]}"))


def _master_name(name: str) -> str:
    """`schema`.`master__part` -> `schema`.`master`; other names unchanged."""
    dot = name.rfind(".")
    head, table = name[:dot + 1], name[dot + 1:]
    core = table.strip("`\"")
    lead = table[:len(table) - len(table.lstrip("`\""))]
    trail = table[len(table.rstrip("`\"")):]
    cut = core.find("__", len(core) - len(core.lstrip("#_~")))
    return name if cut < 0 else head + lead + core[:cut] + trail


def topo_sort(graph) -> list:
    """Topological order of a graph of full table names that keeps every part right after its
    master (ties broken by name), so a pipeline reads master, parts, next table."""
    units = nx.DiGraph()
    unit_of = {node: (_master_name(node) if _master_name(node) in graph else node) for node in graph}
    units.add_nodes_from(set(unit_of.values()))
    units.add_edges_from((unit_of[u], unit_of[v]) for u, v in graph.edges() if unit_of[u] != unit_of[v])
    if not nx.is_directed_acyclic_graph(units):
        return list(nx.lexicographical_topological_sort(graph))
    members = {}
    for node in nx.lexicographical_topological_sort(graph):
        members.setdefault(unit_of[node], []).append(node)
    return [node for unit in nx.lexicographical_topological_sort(units) for node in members[unit]]


def _read_schema(backend, schema) -> tuple[list, list]:
    """(tables, foreign keys) of one schema, read while other clients may be dropping tables: MariaDB's
    information_schema opens each table it lists and fails with "doesn't exist" for one dropped during
    the scan. Read again then; a schema that is gone meanwhile contributes nothing."""
    for attempt in range(CATALOG_ATTEMPTS):
        try:
            return backend.list_tables(schema), backend.foreign_keys(schema)
        except MissingTableError:
            if not backend.schema_exists(schema):
                return [], []
            if attempt == CATALOG_ATTEMPTS - 1:
                raise
    return [], []
