"""Table.alter(): bring a declared table in line with its changed definition.

The class's ``definition`` is parsed again and compared with the table as the
catalog describes it. Secondary attributes may be added, dropped, modified or
renamed (a new attribute whose comment starts with ``{old_name}`` renames
``old_name``), and the table comment may change; the primary key, foreign keys
and indexes may not. Existing rows are checked against the new attribute types
before anything is changed, so a failing alter names the offending value and
leaves the table as it was.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

from djframe.errors import DataJointError, InvalidValueError, MissingAttributeError, UnsupportedAlterError
from djframe.define.heading import Attribute
from djframe.define.spec import TableSpec
from djframe.graph.delete import check_schema_change

logger = logging.getLogger("djframe")
_RENAME = re.compile(r"^\{\s*([a-z][a-z0-9_]*)\s*\}")
_NOW = re.compile(r"^(CURRENT_TIMESTAMP|NOW)\s*(?:\(\s*(\d?)\s*\))?$", re.I)
_PYTHON_ONLY = ("codec", "json", "bytes", "native")  # values not re-validated client-side


@dataclass
class Changes:
    """What alter() will do, in the vocabulary of Backend.alter_table."""

    drop: list[str] = field(default_factory=list)
    rename: list[tuple[str, str]] = field(default_factory=list)
    add: list[Attribute] = field(default_factory=list)
    modify: list[Attribute] = field(default_factory=list)
    comment: str | None = None

    def __bool__(self):
        return bool(self.drop or self.rename or self.add or self.modify or self.comment is not None)

    def describe(self, old: TableSpec, table_name: str) -> str:
        before = {a.name: a for a in old.attributes}
        renamed_from = {new: old_name for old_name, new in self.rename}
        lines = [f"Alter {table_name}:"]
        lines += [f"  DROP {name}" for name in self.drop]
        lines += [f"  RENAME {a} -> {b}" for a, b in self.rename]
        lines += [f"  ADD {_line(a)}" for a in self.add]
        lines += [f"  MODIFY {_line(a)}   (was {_line(before[renamed_from.get(a.name, a.name)])})"
                  for a in self.modify]
        if self.comment is not None:
            lines.append(f"  COMMENT {self.comment!r}")
        return "\n".join(lines)


def _line(a: Attribute) -> str:
    default = " = null" if a.nullable else f" = {a.default}" if a.has_default else ""
    return f"{a.name}{default} : {a.type.text}" + (f"  # {a.comment}" if a.comment else "")


def alter_table(table, prompt=True, context=None):
    """Parse the class's definition, compare it with the catalog, check the rows, then alter."""
    from djframe.graph.delete import ask_yes_no
    check_schema_change(table, "alter")
    connection = table.connection
    connection.forget()
    old = table.spec
    new = _parse(table, context)
    changes = diff(old, new, table.full_table_name)
    if not changes:
        logger.info("Nothing to alter: %s matches its definition.", table.full_table_name)
        return
    summary = changes.describe(old, table.full_table_name)
    if prompt:
        print(summary)
        if not ask_yes_no("Proceed?"):
            logger.info("Alter cancelled.")
            return
    _check_rows(table, old, changes)
    connection.backend.alter_table(_target(old, new, changes), drop=changes.drop, rename=changes.rename,
                                   add=changes.add, modify=changes.modify, comment=changes.comment)
    connection.forget()
    logger.info(summary)


def _parse(table, context) -> TableSpec:
    from djframe.define.declare import parse_definition
    from djframe.tables.schema import caller_context, table_resolver
    if not type(table).definition:
        raise DataJointError(f"{table.class_name} has no definition to alter {table.full_table_name} to; set "
                             "the class's `definition`.")
    context = context or table.declaration_context or caller_context()
    return parse_definition(
        type(table).definition, schema=table.database, table_name=table.table_name, tier=table.tier,
        resolve=table_resolver(context, table.connection, (table.database, table.table_name)), max_name_length=table.connection.backend.max_name_length,
        allow_new_pk_in_computed=table.connection.config["jobs.allow_new_pk_fields_in_computed_tables"])


def diff(old: TableSpec, new: TableSpec, name: str) -> Changes:
    """The supported changes from `old` to `new`; anything else raises UnsupportedAlterError."""
    _same_structure(old, new, name)
    before = {a.name: a for a in old.attributes if not a.hidden and not a.in_key}
    after = {a.name: a for a in new.attributes if not a.hidden and not a.in_key}
    fk_attrs = {c for fk in new.foreign_keys for c in fk.child_attributes}
    changes = Changes(comment=new.comment if new.comment != old.comment else None)
    for a in after.values():
        m = _RENAME.match(a.comment)
        if a.name not in before and m and m.group(1) in before and m.group(1) not in after:
            if any(source == m.group(1) for source, _ in changes.rename):
                raise DataJointError(f"Cannot alter {name}: attribute `{m.group(1)}` is renamed twice. Rename it "
                                     "once.")
            changes.rename.append((m.group(1), a.name))
    renamed = dict(changes.rename)
    target_of = {new_name: old_name for old_name, new_name in changes.rename}
    changes.drop = [n for n in before if n not in after and n not in renamed]
    changes.add = [a for n, a in after.items() if n not in before and n not in target_of]
    changes.modify = [a for n, a in after.items() if n not in fk_attrs and (n in before or n in target_of)
                      and _differs(before[target_of.get(n, n)], a)]
    return changes


def _same_structure(old: TableSpec, new: TableSpec, name: str):
    """Primary key, foreign keys and indexes must be as declared."""
    def key(spec):
        return [(a.name, a.type.text) for a in spec.attributes if a.in_key and not a.hidden]
    if key(old) != key(new):
        raise UnsupportedAlterError(f"Cannot alter the primary key of {name} (from {key(old)} to {key(new)}). "
                                    "Declare a new table and copy the rows with insert(query).")
    if _foreign_keys(old) != _foreign_keys(new):
        raise UnsupportedAlterError(f"Cannot alter the foreign keys of {name}. Declare a new table and copy the "
                                    "rows with insert(query).")
    if _indexes(old) != _indexes(new):
        raise UnsupportedAlterError(f"Cannot alter the indexes of {name} (declared {sorted(_indexes(new))}, "
                                    f"stored {sorted(_indexes(old))}). Restore the index lines of the definition.")


def _foreign_keys(spec):
    return sorted((fk.parent_schema, fk.parent_table, tuple(fk.attr_map)) for fk in spec.foreign_keys)


def _indexes(spec):
    """Declared indexes; the plain indexes servers create for foreign keys are left out."""
    implied = {tuple(fk.child_attributes) for fk in spec.foreign_keys}
    return {(tuple(ix.columns), ix.unique) for ix in spec.indexes if ix.unique or tuple(ix.columns) not in implied}


def _differs(before: Attribute, after: Attribute) -> bool:
    return (_type_text(before) != _type_text(after) or before.nullable != after.nullable
            or before.comment != after.comment or _default(before) != _default(after))


def _type_text(a: Attribute) -> str:
    return re.sub(r"\s+", "", a.type.text.lower())


def _default(a: Attribute):
    """A default in comparable form (catalogs spell the same default differently)."""
    if a.nullable or not a.has_default:
        return None
    if a.default_is_expression:
        m = _NOW.match(a.default or "")
        return ("now", int(m.group(2) or 0)) if m else a.default
    from djframe.write.conform import default_value
    try:
        return default_value(a)
    except (ValueError, ArithmeticError):
        return a.default


def _target(old: TableSpec, new: TableSpec, changes: Changes) -> TableSpec:
    """The table after the alter: the catalog's attributes, the changed ones from the definition."""
    changed = {a.name: a for a in changes.add + changes.modify}
    renamed = {new_name: old_name for old_name, new_name in changes.rename}
    by_name = {a.name: a for a in old.attributes}
    attributes = [changed.get(a.name) or by_name[renamed.get(a.name, a.name)].evolve(name=a.name)
                  for a in new.attributes if not a.hidden]
    attributes += [a for a in old.attributes if a.hidden]
    return replace(old, attributes=tuple(attributes), comment=new.comment)


def _check_rows(table, old: TableSpec, changes: Changes):
    """Refuse, naming a value, when stored rows would not fit the new attributes."""
    if not changes.add and not changes.modify:
        return
    rows = len(table)
    if not rows:
        return
    for a in changes.add:
        if a.required:
            raise MissingAttributeError(
                f"Cannot add the required attribute `{a.name}` to {table.full_table_name}: its {rows} row(s) would "
                f"have no value. Give it a default (`{a.name} = ... : {a.type.text}`) or make it nullable (`= null`).")
    renamed = {new: old_name for old_name, new in changes.rename}
    for a in changes.modify:
        source = renamed.get(a.name, a.name)
        _check_column(table, old, source, a)


def _family(a: Attribute) -> str:
    t = a.type
    if t.is_numeric:
        return "number"
    if t.kind in ("char", "varchar", "text", "enum"):
        return "text"
    return t.kind if t.kind != "codec" else f"<{t.codec}>"


def _check_column(table, old: TableSpec, source: str, a: Attribute):
    from djframe.write.conform import convert_column
    before = next(x for x in old.attributes if x.name == source)
    where = f"{table.full_table_name}.{a.name}"
    if _family(before) != _family(a) and before.type.kind != "native" and a.type.kind != "native":
        raise UnsupportedAlterError(
            f"Cannot change {where} from {before.type.text} to {a.type.text}: alter() converts only within numbers, "
            "within text, or between datetime precisions. Add a new attribute, copy the values with update1(), "
            "then drop the old one.")
    values = table.proj(source).to_arrow().column(source).combine_chunks()
    if values.null_count and not a.nullable:
        raise MissingAttributeError(
            f"Cannot make {where} non-nullable: {values.null_count} row(s) hold NULL. Give them values with "
            f"update1() first, or keep `{a.name} = null`.")
    if before.type.kind in _PYTHON_ONLY or a.type.kind in _PYTHON_ONLY:
        return
    converted = convert_column(values, a, table.full_table_name, table.connection.backend)
    if a.type.kind == "datetime" and not converted.equals(values):
        row = next(i for i, (x, y) in enumerate(zip(values.to_pylist(), converted.to_pylist())) if x != y)
        raise InvalidValueError(
            f"Invalid value {values[row].as_py()} for {where} (row {row}): expected a datetime with "
            f"{a.type.args[0] if a.type.args else 0} fractional digits. Keep the finer precision, or round the "
            "stored values with update1() first.")
