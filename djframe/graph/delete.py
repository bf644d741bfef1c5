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
import warnings

from djframe.errors import DataJointError, TransactionError
from djframe.query import conditions as c
from djframe.query import nodes as n
from djframe.query.compile import Compiler

logger = logging.getLogger("djframe")
PART_INTEGRITY = ("enforce", "ignore", "cascade")


def ask_yes_no(question: str) -> bool:
    """Yes only when the user types yes; end of input (a closed stdin, a script) is a no."""
    answer = ""
    while answer not in ("yes", "no"):
        try:
            answer = input(f"{question} [yes, No]: ").strip().lower() or "no"
        except EOFError:
            print("\nNo answer (end of input): treated as no, nothing was changed. Pass prompt=False to "
                  "proceed without asking.")
            return False
    return answer == "yes"


LEGACY_DELETE_ARGUMENTS = {"safemode": "prompt", "force_parts": "part_integrity", "force_masters": "part_integrity"}


def legacy_delete_arguments(prompt, part_integrity, legacy: dict, verb="delete"):
    """(prompt, part_integrity) from DataJoint 0.14's spellings (safemode=, force_parts=,
    force_masters=), which old scripts and tutorials still pass; a warning says the new name."""
    for name in legacy:
        if name not in LEGACY_DELETE_ARGUMENTS:
            raise TypeError(f"{verb}() got an unexpected keyword argument {name!r}")
    if "safemode" in legacy:
        if prompt is not None:
            raise DataJointError(f"{verb}() got both safemode= and prompt=; pass only prompt= (safemode= is "
                                 "its DataJoint 0.14 name).")
        warnings.warn(f"{verb}(safemode=...) is DataJoint 0.14's spelling; use prompt=...", DeprecationWarning,
                      stacklevel=3)
        prompt = bool(legacy["safemode"])
    forced = [name for name in ("force_masters", "force_parts") if legacy.get(name)]
    if forced:
        if part_integrity != "enforce":
            raise DataJointError(f"{verb}() got both {forced[0]}= and part_integrity=; pass only part_integrity=.")
        part_integrity = "cascade" if "force_masters" in forced else "ignore"
        warnings.warn(f"{verb}({forced[0]}=True) is DataJoint 0.14's spelling; use part_integrity="
                      f"{part_integrity!r}", DeprecationWarning, stacklevel=3)
    return prompt, part_integrity


def prompts_enabled(prompt, connection):
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
    from djframe.tables.table import FreeTable
    deps = table.connection.dependencies
    roots = {table._graph_node: own_condition(table)}
    for node, condition in extra_roots:
        roots[node] = c.simplify_or((roots[node], condition)) if node in roots else condition
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


def is_part_of(node, master) -> bool:
    return node[0] == master[0] and node[1].startswith(master[1] + "__") and master_of(node[1]) == master[1]


def _toward_parent(expr, fk) -> c.Condition:
    """The parent rows that `expr`'s rows reference through `fk` (renamed attributes reversed)."""
    renames = {parent: child for child, parent in fk.attr_map if child != parent}
    source = expr.proj(*[ch for ch, pa in fk.attr_map if ch == pa], **renames)
    return c.InQuery(source._node, tuple(fk.parent_attributes))


def master_rows_of(part, master_node):
    """The master rows owning `part`'s rows: up the foreign keys to the master, directly
    (primary or secondary `-> master`) or through other parts of the same master."""
    from djframe.tables.table import FreeTable
    deps, frontier, terms = part.connection.dependencies, [part], []
    while frontier:
        expr = frontier.pop()
        for parent, fk in deps.edges_to_parents(expr._graph_node):
            if parent == master_node:
                terms.append(_toward_parent(expr, fk))
            elif is_part_of(parent, master_node) and parent != expr._graph_node:
                frontier.append(FreeTable(part.connection, *parent).restrict(_toward_parent(expr, fk),
                                                                             semantic_check=False))
    return FreeTable(part.connection, *master_node).restrict(c.simplify_or(tuple(terms)), semantic_check=False)


def _master_keys(plan) -> dict:
    """part_integrity='cascade': for each master of a part the plan reaches, the keys of the master
    rows owning the part rows it deletes, materialised now (the part rows are gone by the time the
    masters are deleted); a master whose parts lose no rows is still there, with no keys."""
    keys = {}
    for expr in plan:
        if expr.tier != "part":
            continue
        node = (expr.database, master_of(expr.table_name))
        master = master_rows_of(expr, node)
        rows = keys.setdefault(node, set())
        rows.update(tuple(row[k] for k in master.primary_key) for row in master.keys())
    return keys


def _key_condition(master_node, key_rows, connection) -> c.Condition:
    from djframe.tables.table import FreeTable
    master = FreeTable(connection, *master_node)
    if not key_rows:
        return c.FalseCond()
    names = master.primary_key
    return c.make_condition([dict(zip(names, row)) for row in sorted(key_rows, key=repr)], master.heading)


def cascade_delete(table, transaction=True, prompt=None, part_integrity="enforce", **legacy) -> int:
    """Delete the restricted rows of `table` and everything that depends on them; return the count of `table`'s."""
    prompt, part_integrity = legacy_delete_arguments(prompt, part_integrity, legacy)
    if part_integrity not in PART_INTEGRITY:
        raise ValueError(f"part_integrity must be 'enforce', 'ignore', or 'cascade', got {part_integrity!r}")
    connection = table.connection
    prompt = prompts_enabled(prompt, table.connection)
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
        found = _master_keys(plan)
        grown = {node: roots.get(node, set()) | rows for node, rows in found.items()}
        if all(node in roots and rows == roots[node] for node, rows in grown.items()):
            break
        roots.update(grown)
        plan = cascade_plan(table, [(node, _key_condition(node, rows, table.connection))
                                    for node, rows in roots.items()])
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
    if ask_yes_no("Commit deletes?"):
        return True
    logger.info("Delete cancelled; nothing was changed.")
    return False


def _delete(plan, part_integrity) -> dict:
    """Delete leaves first; the part-integrity check raises (and so rolls back) afterwards."""
    counts = {}
    for expr in reversed(plan):
        backend = expr.connection.backend
        counts[expr.full_table_name] = backend.execute(Compiler(backend).delete(expr._node))
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
                f"Attempt to delete part table {expr.full_table_name} before its master "
                f"`{master_of(expr.table_name)}`: the delete reaches part rows but none of their master rows. "
                "Delete from the master instead, or pass part_integrity='cascade' (delete the masters too) "
                "or 'ignore'.")


def cascade_drop(table, prompt=None, part_integrity="enforce"):
    """Drop `table` and every table that depends on it, leaves first, after listing them."""
    from djframe.tables.table import FreeTable
    if part_integrity not in ("enforce", "ignore"):
        raise ValueError("part_integrity must be 'enforce' or 'ignore' for drop ('cascade' applies to delete "
                         f"only), got {part_integrity!r}")
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
    if prompts_enabled(prompt, table.connection):
        print(f"About to drop {len(tables)} table(s):")
        for t in tables:
            print(f"  {t.full_table_name} ({len(t)} rows)")
        if not ask_yes_no("Proceed?"):
            logger.info("Drop cancelled.")
            return
    for t in reversed(tables):
        t.drop_quick()
