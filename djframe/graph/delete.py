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

from djframe.define.declare import tier_of
from djframe.errors import DataJointError, IntegrityError, TransactionError
from djframe.graph.restrict import DOWN, UP, TableRows, own_condition, propagate, table_rows
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


def graph_node_of(table) -> tuple[str, str]:
    """(schema, table name): how the foreign-key graph names a table."""
    return (table.database, table.table_name)


def cascade_plan(table, extra_roots=()) -> list[TableRows]:
    """The restricted rows of every table the delete reaches, in topological order (parents first).

    A table's rows go when any of its parents' deleted rows reach it; `extra_roots`
    are further (node, condition) starting points (the masters of part_integrity='cascade').
    """
    seeds = {graph_node_of(table): own_condition(table)}
    for node, condition in extra_roots:
        seeds[node] = c.simplify_or((seeds[node], condition)) if node in seeds else condition
    reached = propagate(table.connection, seeds, DOWN)
    return [table_rows(table.connection, node, condition) for node, condition in reached.items()]


def is_part_of(node, master) -> bool:
    return node[0] == master[0] and node[1].startswith(master[1] + "__") and master_of(node[1]) == master[1]


def master_rows_of(part, master_node) -> TableRows:
    """The master rows owning `part`'s rows: up the foreign keys to the master, directly
    (primary or secondary `-> master`) or through other parts of the same master."""
    connection, seed = part.connection, graph_node_of(part)
    family = {node for node in connection.dependencies.ancestors(seed)
              if node == master_node or is_part_of(node, master_node)} | {seed}
    reached = propagate(connection, {seed: own_condition(part)}, UP, within=family)
    return table_rows(connection, master_node, reached.get(master_node, c.FalseCond()))


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
    if not key_rows:
        return c.FalseCond()
    heading = connection.table_spec(*master_node).heading
    names = heading.primary_key
    return c.make_condition([dict(zip(names, row)) for row in sorted(key_rows, key=repr)], heading)


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
        counts[expr.full_table_name] = backend.execute(Compiler(backend).delete(expr.node))
    if part_integrity == "enforce":
        _check_part_integrity(plan, counts)
    for name, count in counts.items():
        if count:
            logger.info("Deleted %d row(s) from %s", count, name)
    return counts


def _check_part_integrity(plan, counts):
    """A part may lose rows only together with its master."""
    by_node = {e.graph_node: e for e in plan}
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


def check_schema_change(table, verb):
    """DDL is refused while caching, inside a transaction (MySQL would commit it) and on restricted tables."""
    connection = table.connection
    connection.refuse_while_caching(f"{verb} {table.full_table_name}")
    if connection.in_transaction:
        raise TransactionError(f"Cannot {verb} {table.full_table_name} inside a transaction; commit or cancel "
                               "the transaction first.")
    if not isinstance(table.node, n.TableNode):
        raise DataJointError(f"Cannot {verb} a restricted table ({table.full_table_name}); {verb} the table "
                             "itself, without restrictions.")


def cascade_drop(table, prompt=None, part_integrity="enforce"):
    """Drop `table` and every table that depends on it, leaves first, after listing them."""
    if part_integrity not in ("enforce", "ignore"):
        raise ValueError("part_integrity must be 'enforce' or 'ignore' for drop ('cascade' applies to delete "
                         f"only), got {part_integrity!r}")
    check_schema_change(table, "drop")
    if table.tier == "part" and part_integrity == "enforce":
        raise DataJointError(f"Cannot drop the part table {table.full_table_name} on its own: drop its master, "
                             "or pass part_integrity='ignore'.")
    connection = table.connection
    connection.forget()
    nodes = connection.dependencies.descendants(graph_node_of(table))
    if part_integrity == "enforce":
        _check_drop_keeps_masters(table, nodes)
    if prompts_enabled(prompt, connection) and not _confirm_drop(connection, nodes):
        logger.info("Drop cancelled.")
        return
    for node in reversed(nodes):
        drop_one(connection, node)


def _check_drop_keeps_masters(table, nodes):
    """A part may be dropped only together with its master."""
    for schema, name in nodes[1:]:
        if tier_of(name) == "part" and (schema, master_of(name)) not in nodes:
            part = table.connection.backend.full_name(schema, name)
            raise DataJointError(
                f"Cannot drop {table.full_table_name}: it would drop the part table {part} but not "
                f"its master `{master_of(name)}`. Drop the master first, or pass part_integrity='ignore'.")


def _confirm_drop(connection, nodes) -> bool:
    print(f"About to drop {len(nodes)} table(s):")
    for node in nodes:
        print(f"  {connection.backend.full_name(*node)} ({len(table_rows(connection, node))} rows)")
    return ask_yes_no("Proceed?")


def drop_one(connection, node):
    """Drop one table (fails if other tables reference it) and forget its lineage."""
    backend, name = connection.backend, connection.backend.full_name(*node)
    if not backend.table_exists(*node):
        logger.info("Table %s does not exist; nothing to drop.", name)
        return
    try:
        backend.drop_table(*node)
    except IntegrityError:
        connection.reload_dependencies()
        deps = connection.dependencies
        referencing = ", ".join(deps.name(child) for child in deps.children(node) if child != node) or "other tables"
        raise IntegrityError(f"Cannot drop {name}: {referencing} reference it. Use drop() to "
                             "drop it together with its dependents.") from None
    backend.delete_lineage(*node)
    connection.forget()
    logger.info("Dropped table %s", name)
