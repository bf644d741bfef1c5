"""Cascading delete and drop along the foreign-key graph, in one transaction.

The restriction of the table being deleted from is propagated to every
descendant through the foreign keys (renamed attributes and other schemas
included); rows are then deleted leaves first, so ``ON DELETE RESTRICT`` is
never violated and a failure anywhere rolls the whole cascade back. With
safemode on, the rows each table would lose are counted and shown first, and
nothing is deleted unless the user says yes.
"""

from __future__ import annotations

import logging

from .errors import DataJointError, TransactionError
from .query import conditions as c
from .query import nodes as n
from .query.compile import Compiler

logger = logging.getLogger("djframe")
PART_INTEGRITY = ("enforce", "ignore", "cascade")


def _ask(question: str) -> bool:
    answer = ""
    while answer not in ("yes", "no"):
        answer = input(f"{question} [yes, No]: ").strip().lower() or "no"
    return answer == "yes"


def _safemode(prompt, connection):
    return connection.config["safemode"] if prompt is None else prompt


def master_of(table_name: str) -> str:
    """`#master__part` -> `#master` (a part's name is its master's name, `__`, its own)."""
    return table_name[:table_name.rfind("__")]


def own_condition(table) -> c.Condition:
    """The restriction a restricted base table carries, as one condition on the table itself."""
    terms, node = [], table._node
    while isinstance(node, n.RestrictNode):
        terms.append(node.condition)
        node = node.child
    return c.simplify_and(tuple(reversed(terms)))


def cascade_plan(table, extra_roots=()):
    """Restricted FreeTables for every table the delete reaches, in topological order (parents first).

    A table's rows go when any of its parents' deleted rows reach it; `extra_roots`
    are further (node, condition) starting points (the masters of part_integrity='cascade').
    """
    from .table import FreeTable
    deps = table.connection.dependencies
    roots = {table._graph_node: own_condition(table), **dict(extra_roots)}
    reached = set().union(*(deps.descendants(node) for node in roots))
    restricted = {}
    for node in deps.topological(reached):
        terms = [roots[node]] if node in roots else []
        for parent, fk in deps.edges_to_parents(node):
            if parent in restricted:
                renames = {ch: pa for ch, pa in fk.attr_map if ch != pa}
                source = restricted[parent].proj(**renames)
                terms.append(c.InQuery(source._node, tuple(fk.child_attributes)))
        restricted[node] = FreeTable(table.connection, *node).restrict(c.simplify_or(tuple(terms)),
                                                                        semantic_check=False)
    return list(restricted.values())


def _masters_to_add(plan, roots) -> dict:
    """part_integrity='cascade': the master rows of the part rows the plan deletes (materialised now,
    since the part rows are gone by the time the masters are deleted)."""
    from .table import FreeTable
    added = {}
    for expr in plan:
        if expr.tier != "part":
            continue
        node = (expr.database, master_of(expr.table_name))
        if node in roots:
            continue
        master = FreeTable(expr.connection, *node)
        keys = master.restrict(expr.proj(), semantic_check=False).keys()
        if keys:
            added[node] = c.make_condition(keys, master.heading)
    return added


def cascade_delete(table, transaction=True, prompt=None, part_integrity="enforce") -> int:
    """Delete the restricted rows of `table` and everything that depends on them; return the count of `table`'s."""
    if part_integrity not in PART_INTEGRITY:
        raise ValueError(f"part_integrity must be one of {PART_INTEGRITY}, got {part_integrity!r}")
    connection = table.connection
    prompt = _safemode(prompt, table.connection)
    if table.tier == "part" and part_integrity == "enforce":
        raise DataJointError(f"Cannot delete from the part table {table.full_table_name} on its own: delete from "
                             "its master, or pass part_integrity='ignore' (or 'cascade' to delete the masters too).")
    if connection.in_transaction and transaction and prompt:
        raise TransactionError("delete() cannot ask for confirmation inside an open transaction; pass prompt=False "
                               "to delete as part of the transaction.")
    connection.reload_dependencies()  # another process may have declared dependent tables
    plan = delete_plan(table, part_integrity)
    if prompt and not _confirm(plan, part_integrity):
        return 0
    if not transaction:
        return _delete(plan, part_integrity)[table.full_table_name]
    with connection.atomic():
        return _delete(plan, part_integrity)[table.full_table_name]


def delete_plan(table, part_integrity):
    """The restricted tables a delete of `table` removes rows from, with the masters of affected parts
    added (and cascaded from) when ``part_integrity="cascade"``; what Diagram.cascade shows."""
    plan, roots = cascade_plan(table), {}
    while part_integrity == "cascade":
        added = _masters_to_add(plan, roots)
        if not added:
            break
        roots.update(added)
        plan = cascade_plan(table, roots.items())
    return plan


def _confirm(plan, part_integrity) -> bool:
    """Show what would be deleted, table by table, and ask."""
    counts = {expr.full_table_name: len(expr) for expr in plan}
    if not any(counts.values()):
        logger.warning("Nothing to delete.")
        return False
    if part_integrity == "enforce":
        _check_part_integrity(plan, counts)
    print("About to delete:")
    for name, count in counts.items():
        if count:
            print(f"  {name}: {count} row(s)")
    if _ask("Commit deletes?"):
        return True
    logger.info("Delete cancelled; nothing was changed.")
    return False


def _delete(plan, part_integrity) -> dict:
    """Delete leaves first; the part-integrity check raises (and so rolls back) afterwards."""
    counts = {}
    for expr in reversed(plan):
        backend = expr.connection.backend
        name, where = Compiler(backend).where_sql(expr._node)
        counts[expr.full_table_name] = backend.execute(f"DELETE FROM {name}" + (f" WHERE {where}" if where else ""))
    if part_integrity == "enforce":
        _check_part_integrity(plan, counts)
    for name, count in counts.items():
        if count:
            logger.info("Deleted %d row(s) from %s", count, name)
    return counts


def _check_part_integrity(plan, counts):
    """A part may lose rows only together with its master."""
    by_node = {e._graph_node: e for e in plan}
    for expr in plan:
        if expr.tier != "part" or not counts.get(expr.full_table_name):
            continue
        master = by_node.get((expr.database, master_of(expr.table_name)))
        if master is None or not counts.get(master.full_table_name):
            raise DataJointError(
                f"The delete would remove rows of the part table {expr.full_table_name} but none of its master "
                f"`{master_of(expr.table_name)}`. Delete from the master instead, or pass part_integrity='cascade' "
                "(delete the masters too) or 'ignore'.")


def cascade_drop(table, prompt=None, part_integrity="enforce"):
    """Drop `table` and every table that depends on it, leaves first, after listing them."""
    from .table import FreeTable
    if part_integrity not in ("enforce", "ignore"):
        raise ValueError(f"part_integrity for drop must be 'enforce' or 'ignore', got {part_integrity!r}")
    table._check_schema_change("drop")
    if table.tier == "part" and part_integrity == "enforce":
        raise DataJointError(f"Cannot drop the part table {table.full_table_name} on its own: drop its master, "
                             "or pass part_integrity='ignore'.")
    connection = table.connection
    connection.forget()
    nodes = connection.dependencies.descendants(table._graph_node)
    tables = [FreeTable(connection, *node) for node in nodes]
    if part_integrity == "enforce":
        for t in tables[1:]:
            if t.tier == "part" and (t.database, master_of(t.table_name)) not in nodes:
                raise DataJointError(
                    f"Cannot drop {table.full_table_name}: it would drop the part table {t.full_table_name} but not "
                    f"its master `{master_of(t.table_name)}`. Drop the master first, or pass part_integrity='ignore'.")
    if _safemode(prompt, table.connection):
        print(f"About to drop {len(tables)} table(s):")
        for t in tables:
            print(f"  {t.full_table_name} ({len(t)} rows)")
        if not _ask("Proceed?"):
            logger.info("Drop cancelled.")
            return
    for t in reversed(tables):
        t.drop_quick()
