"""Cascading delete and drop along the foreign-key graph, in one transaction.

The restriction of the table being deleted from is propagated to every
descendant through the foreign keys (renamed attributes included); rows are
then deleted leaves first, so ``ON DELETE RESTRICT`` is never violated and a
failure anywhere rolls the whole cascade back.
"""

from __future__ import annotations

import logging

from .errors import DataJointError, TransactionError
from .query import conditions as c
from .query.compile import Compiler

logger = logging.getLogger("djframe")
PART_INTEGRITY = ("enforce", "ignore", "cascade")


def _ask(question: str) -> bool:
    answer = ""
    while answer not in ("yes", "no"):
        answer = input(f"{question} [yes, No]: ").strip().lower() or "no"
    return answer == "yes"


def _safemode(prompt):
    if prompt is not None:
        return prompt
    from .settings import config
    return config["safemode"]


def cascade_plan(table):
    """[(FreeTable restricted to the rows to delete)] in topological order, the table first."""
    from .table import FreeTable
    connection = table.connection
    connection.forget()
    deps = connection.dependencies
    start = table._graph_node
    order = deps.descendants(start)
    restricted = {start: table}
    for node in order[1:]:
        child = FreeTable(connection, *node)
        terms = []
        for parent, fk in deps.edges_to_parents(node):
            if parent not in restricted:
                continue
            renames = {ch: pa for ch, pa in fk.attr_map if ch != pa}
            source = restricted[parent].proj(**renames) if renames else restricted[parent].proj()
            terms.append(c.InQuery(source._node, tuple(fk.child_attributes)))
        if terms:
            restricted[node] = child.restrict(c.simplify_or(tuple(terms)), semantic_check=False)
    return [restricted[n] for n in order if n in restricted]


def _is_part_of(part, master) -> bool:
    return part.database == master.database and part.table_name.startswith(master.table_name + "__")


def cascade_delete(table, transaction=True, prompt=None, part_integrity="enforce") -> int:
    if part_integrity not in PART_INTEGRITY:
        raise ValueError(f"part_integrity must be one of {PART_INTEGRITY}, got {part_integrity!r}")
    connection = table.connection
    prompt = _safemode(prompt)
    if table.tier == "part" and part_integrity == "enforce":
        raise DataJointError(f"Cannot delete from the part table {table.full_table_name} on its own: delete from "
                             "its master, or pass part_integrity='ignore' (or 'cascade' to delete the masters too).")
    if connection.in_transaction and transaction and prompt:
        raise TransactionError("delete(prompt=True) cannot run inside an open transaction; pass prompt=False.")
    plan = cascade_plan(table)
    if part_integrity == "cascade":
        plan = _add_masters(table, plan)
    own = not connection.in_transaction and transaction
    if own:
        connection.start_transaction()
    try:
        counts = {}
        for expr in reversed(plan):
            counts[expr.full_table_name] = _delete_rows(expr)
        if part_integrity == "enforce":
            _check_part_integrity(plan, counts)
        deleted = counts.get(plan[0].full_table_name, 0)
        if prompt:
            for name, count in counts.items():
                if count:
                    print(f"{name}: {count} row(s) deleted")
            if not any(counts.values()):
                logger.warning("Nothing to delete.")
        if own and (not any(counts.values()) or (prompt and not _ask("Commit deletes?"))):
            connection.cancel_transaction()
            logger.info("Delete cancelled; nothing was changed.")
            return 0
    except BaseException:
        if own and connection.in_transaction:
            connection.cancel_transaction()
        raise
    if own:
        connection.commit_transaction()
    return deleted


def _delete_rows(expr) -> int:
    backend = expr.connection.backend
    name, where = Compiler(backend).where_sql(expr._node)
    return backend.execute(f"DELETE FROM {name}" + (f" WHERE {where}" if where else ""))


def _check_part_integrity(plan, counts):
    """A part may lose rows only together with its master."""
    for expr in plan:
        if expr.tier != "part" or not counts.get(expr.full_table_name):
            continue
        masters = [m for m in plan if _is_part_of(expr, m) and m.tier != "part"]
        if not any(counts.get(m.full_table_name) for m in masters):
            raise DataJointError(
                f"Delete would remove rows of the part table {expr.full_table_name} without deleting its master. "
                "Delete from the master instead, or pass part_integrity='ignore' or 'cascade'.")


def _add_masters(table, plan):
    """part_integrity='cascade': delete the masters of affected part rows as well (and their cascade)."""
    from .table import FreeTable
    for expr in list(plan):
        if expr.tier != "part":
            continue
        master_name = expr.table_name.split("__")[0] if not expr.table_name.startswith("_") else \
            "__".join(expr.table_name.split("__")[:2]) if expr.table_name.startswith("__") else \
            expr.table_name.split("__")[0]
        master = FreeTable(expr.connection, expr.database, master_name)
        restricted = master & expr.proj()
        extra = cascade_plan(restricted)
        known = {e.full_table_name for e in plan}
        plan = plan + [e for e in extra if e.full_table_name not in known]
    return plan


def cascade_drop(table, prompt=None, part_integrity="enforce"):
    from .table import FreeTable
    connection = table.connection
    if table.tier == "part" and part_integrity != "ignore":
        raise DataJointError(f"Cannot drop the part table {table.full_table_name} on its own: drop its master, "
                             "or pass part_integrity='ignore'.")
    if connection.in_transaction:
        raise TransactionError("Tables cannot be dropped inside a transaction.")
    connection.forget()
    nodes = connection.dependencies.descendants(table._graph_node)
    tables = [FreeTable(connection, *node) for node in nodes]
    if _safemode(prompt):
        for t in tables:
            print(f"{t.full_table_name} ({len(t)} rows)")
        if not _ask("Proceed?"):
            logger.info("Drop cancelled.")
            return
    for t in reversed(tables):
        t.drop_quick()
