"""Definition text -> `TableSpec`, and back.

Pure text processing, no database: the caller resolves foreign-key references
(it evals them in the class's context) through the `resolve` callback, so this
module never needs a live table. The grammar is line based (spec 003 §2-§7,
storage reference §3.1), so each line is tokenised with a small quote-aware scan.
"""

from __future__ import annotations

import re
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Callable

from djframe.errors import DataJointError, DeclarationError
from djframe.define.heading import Attribute
from djframe.define.spec import TIER_PREFIXES, ForeignKeySpec, IndexSpec, TableSpec
from djframe.define.types import FLOAT32_MAX, INTEGER_RANGES, CoreType, parse_type

TIERS = ("manual", "lookup", "imported", "computed", "part")
AUTO_TIERS = ("imported", "computed")
_ATTR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_BASE = r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*"
_TIER_PATTERNS = (
    ("part", re.compile(rf"^(?:#|_|__)?{_BASE}__{_BASE}$")),
    ("manual", re.compile(rf"^{_BASE}$")),
    ("lookup", re.compile(rf"^#{_BASE}$")),
    ("imported", re.compile(rf"^_{_BASE}$")),
    ("computed", re.compile(rf"^__{_BASE}$")),
)
_INDEX = re.compile(r"^(unique\s+)?index\s*\((.*)\)$", re.I | re.S)
_NOW = re.compile(r"^(?:current_timestamp|now)\s*(?:\(\s*(\d?)\s*\))?$", re.I)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


# ---------------------------------------------------------------- names

def to_snake_case(class_name: str) -> str:
    """`ProcessedEMG` -> `processed_e_m_g`: every capital is split, as the reference does."""
    name = class_name.replace("_", "")
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def to_camel_case(table_name: str) -> str:
    """`#lookup__item_type` -> `ItemType`: strip the tier prefix, keep the last part name."""
    base = table_name.lstrip("~#_").split("__")[-1]
    return re.sub(r"(?:^|_)([a-zA-Z0-9])", lambda m: m.group(1).upper(), base)


def is_camel_case(name: str) -> bool:
    """True for a valid table class name (`AllGroups`; not `allGroups`, `All_Groups`)."""
    return bool(_CLASS_NAME.match(name))


def from_camel_case(class_name: str) -> str:
    """`AllGroups` -> `all_groups`, refusing names that are not CamelCase (as table names are made)."""
    return to_snake_case(validate_class_name(class_name))


def validate_class_name(name: str) -> str:
    """Return the class name fit for a table name; underscores warn and are dropped."""
    if "_" in name:
        warnings.warn(f"Table class name `{name}` contains underscores; they are removed. Use CamelCase.")
        name = name.replace("_", "")
    if not _CLASS_NAME.match(name):
        raise DeclarationError(
            f"Invalid table name `{name}`: a table class name must be CamelCase "
            "(a capital letter, then letters and digits). Rename the class, e.g. `SessionTrial`.")
    return name


def table_name_for(class_name: str, tier: str, master_table_name: str | None = None) -> str:
    """The stored table name: tier prefix + snake_case, or `<master>__<snake>` for parts."""
    tier = tier.lower()
    snake = to_snake_case(validate_class_name(class_name))
    if tier == "part":
        if not master_table_name:
            raise DeclarationError(f"Part table `{class_name}` needs the table name of its master.")
        return f"{master_table_name}__{snake}"
    if tier not in TIER_PREFIXES:
        raise DeclarationError(f"Unknown table tier `{tier}` for `{class_name}`; use one of {', '.join(TIERS)}.")
    return TIER_PREFIXES[tier] + snake


def tier_of(table_name: str) -> str:
    """The tier encoded in a table name's prefix (storage §2); "unknown" if none matches."""
    if table_name.startswith("~"):
        return "hidden"
    for tier, pattern in _TIER_PATTERNS:
        if pattern.match(table_name):
            return tier
    return "unknown"


# ---------------------------------------------------------------- parent references

@dataclass(frozen=True)
class ParentRef:
    """What a foreign key needs to know about its parent, as resolved by the caller."""

    schema: str
    table_name: str
    primary_key: tuple[Attribute, ...]
    lineage: dict[str, str] = field(default_factory=dict)  # parent attribute -> lineage
    rename: dict[str, str] = field(default_factory=dict)  # new child name -> parent name (proj)

    @classmethod
    def from_spec(cls, spec: TableSpec, rename: dict[str, str] | None = None) -> "ParentRef":
        """Build a reference to a table from its `TableSpec`."""
        return cls(spec.schema, spec.table_name, tuple(a for a in spec.attributes if a.in_key),
                   dict(spec.lineage), dict(rename or {}))

    def lineage_of(self, attr: Attribute) -> str:
        return self.lineage.get(attr.name) or attr.lineage or f"{self.schema}.{self.table_name}.{attr.name}"


# ---------------------------------------------------------------- quote-aware scanning

def _find(text: str, chars: str, start: int = 0, nest: bool = True) -> int:
    """Index of the first of `chars` outside quotes (and parentheses when `nest`), or -1."""
    quote, depth = None, 0
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in chars and (depth == 0 or not nest):
            return i
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
    return -1


def _strip_comment(line: str) -> tuple[str, str]:
    """Split `body # comment`, ignoring a `#` inside quotes."""
    i = _find(line, "#", nest=False)
    return (line, "") if i < 0 else (line[:i].rstrip(), line[i + 1:].strip())


def _split_list(text: str) -> list[str]:
    """Split on top-level commas (not inside quotes or parentheses)."""
    parts, start = [], 0
    while (i := _find(text, ",", start)) >= 0:
        parts.append(text[start:i].strip())
        start = i + 1
    return parts + [text[start:].strip()]


def _unquote(text: str) -> str | None:
    """The content of one quoted token (doubled quotes unescaped), or None if not one token."""
    if len(text) < 2 or text[0] not in "'\"" or text[-1] != text[0]:
        return None
    q, body = text[0], text[1:-1]
    if body.replace(q + q, "").count(q):
        return None
    return body.replace(q + q, q)


def _quote(text: str) -> str:
    if '"' not in text:
        return f'"{text}"'
    return f"'{text}'" if "'" not in text else '"' + text.replace('"', '""') + '"'


# ---------------------------------------------------------------- types and defaults

def _blob_like(t: CoreType) -> bool:
    return t.is_blob_like or (t.kind == "native" and "blob" in t.text)


def _is_datetime(t: CoreType) -> bool:
    return t.kind == "datetime" or (t.kind == "native" and t.text.startswith("timestamp"))


def _same_type(a: CoreType, b: CoreType) -> bool:
    return (a.kind, a.args, a.codec, a.store) == (b.kind, b.args, b.codec, b.store) and (
        a.kind != "native" or a.text == b.text)


def _parses(fn, value):
    try:
        return fn(value)
    except (ValueError, ArithmeticError):
        return None


_ISO = {"date": date.fromisoformat, "datetime": datetime.fromisoformat, "uuid": uuid.UUID}


def _literal(value: str, t: CoreType) -> str:
    """Check a literal default against its type and normalise it; ValueError says why not."""
    k, ok, want = t.kind, True, ""
    if _blob_like(t):
        raise ValueError("default value for blob/json can only be NULL; use `= null` or no default")
    if k == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError("bool defaults must be true, false, 1 or 0")
        return "1" if value.lower() in ("true", "1") else "0"
    if t.is_integer:
        lo, hi = INTEGER_RANGES[k]
        ok, want = bool(re.fullmatch(r"[+-]?\d+", value)) and lo <= int(value) <= hi, f"an integer in {lo}..{hi}"
    elif k in ("float32", "float64"):
        v, top = _parses(float, value), FLOAT32_MAX if k == "float32" else sys.float_info.max
        ok, want = v is not None and abs(v) <= top, f"a finite number in the range of {k}"
    elif k == "decimal":
        p, s = t.args
        fits = lambda x: abs(Decimal(x)) < 10 ** (p - s) and Decimal(x) == Decimal(x).quantize(Decimal(10) ** -s)
        ok, want = bool(_parses(fits, value)), f"a number that fits {t.text}"
    elif k == "enum":
        ok, want = value in t.enum_values, f"one of the enum values {list(t.enum_values)}"
    elif k in ("char", "varchar"):
        ok, want = len(value) <= t.length, f"at most {t.length} characters long (shorten it or widen the type)"
    elif k in _ISO:
        ok, want = _parses(_ISO[k], value) is not None, f"a valid {k}" + (" in ISO format" if k != "uuid" else "")
    if not ok:
        raise ValueError(f"the default must be {want}")
    return value


def _parse_default(text: str, t: CoreType, where: str) -> dict:
    """Attribute fields for the default text `text` (see spec 003 §5)."""
    if text.lower() == "null":
        return dict(nullable=True, has_default=True, default=None)
    if m := _NOW.match(text):
        if not _is_datetime(t):
            raise DeclarationError(f"{where}: default `{text}` is only allowed on datetime attributes; "
                                   f"declare the type as datetime or datetime(n), or give a literal default.")
        n = m.group(1) or (str(t.args[0]) if t.kind == "datetime" and t.args and t.args[0] else "")
        if t.kind == "datetime" and int(n or 0) != (t.args[0] if t.args else 0):
            raise DeclarationError(f"{where}: default `{text}` has a precision different from {t.text}; "
                                   f"use CURRENT_TIMESTAMP{f'({t.args[0]})' if t.args else ''}.")
        return dict(has_default=True, default=f"CURRENT_TIMESTAMP({n})" if n else "CURRENT_TIMESTAMP",
                    default_is_expression=True)
    value = _unquote(text)
    value = text if value is None else value
    try:
        return dict(has_default=True, default=_literal(value, t))
    except ValueError as e:
        raise DeclarationError(f"{where}: invalid default `{text}` for type {t.text}: {e}.") from None


# ---------------------------------------------------------------- the parser

JOB_METADATA = (
    Attribute("_job_start_time", parse_type("datetime(3)"), nullable=True, has_default=True,
              comment="when computation began", hidden=True),
    Attribute("_job_duration", parse_type("float32"), nullable=True, has_default=True,
              comment="computation duration in seconds", hidden=True),
    Attribute("_job_version", parse_type("varchar(64)"), has_default=True, default="",
              comment="code version", hidden=True),
)

PROVENANCE = Attribute("_prov", parse_type("json"), nullable=True, has_default=True,
                       comment="extrinsic provenance for a row that entered from outside", hidden=True)


class _Declaration:
    """Mutable state while the lines of one definition are read in order."""

    def __init__(self, schema: str, table: str, resolve: Callable[[str], ParentRef]):
        self.schema, self.table, self.resolve = schema, table, resolve
        self.attrs: list[Attribute] = []
        self.fks: list[ForeignKeySpec] = []
        self.fk_attrs: set[str] = set()
        self.fk_indexes: list[IndexSpec] = []
        self.index_lines: list[tuple[tuple[str, ...], bool, str]] = []
        self.in_key = True

    def where(self, attr: str) -> str:
        return f"Declaration error in table `{self.table}`, attribute `{attr}`"

    def fail(self, message: str) -> DeclarationError:
        return DeclarationError(f"Declaration error in table `{self.table}`: {message}")

    def find(self, name: str) -> int:
        return next((i for i, a in enumerate(self.attrs) if a.name == name), -1)

    def line(self, line: str) -> None:
        if line.startswith("#"):
            return
        if line.startswith("---") or re.match(r"^_{3,}\s*(#.*)?$", line):
            if not self.in_key:
                raise self.fail(f"a second separator `{line}`; use one `---` between key and secondary attributes.")
            self.in_key = False
        elif line.startswith("->"):
            self.foreign_key(line)
        elif m := _INDEX.match(_strip_comment(line)[0]):
            self.index(m, line)
        else:
            self.attribute(line)

    def index(self, m: re.Match, line: str) -> None:
        entries = tuple(_split_list(m.group(2)))
        if not all(entries):
            raise self.fail(f"empty entry in index line `{line}`; list attribute names separated by commas.")
        self.index_lines.append((entries, bool(m.group(1)), line))

    def attribute(self, line: str) -> None:
        body, comment = _strip_comment(line)
        i = _find(body, "=:")
        if i < 0:
            raise self.fail(f"cannot parse line `{line}`. Expected `name : type`, `name = default : type`, "
                            "`-> Parent` or `index(a, b)`; write the line in one of these forms.")
        name, rest = body[:i].strip(), body[i + 1:]
        if body[i] == "=":
            j = _find(rest, ":")
            if j < 0:
                raise DeclarationError(f"{self.where(name)}: line `{line}` has no type; write `{name} = default : type`.")
            default, type_text = rest[:j].strip(), rest[j + 1:].strip()
        else:
            j = _find(rest, "=")
            type_text, default = (rest[:j].strip(), rest[j + 1:].strip()) if j >= 0 else (rest.strip(), None)
        self.check_name(name, line)
        where = self.where(name)
        try:
            t = parse_type(type_text, warn_native=False)
        except DeclarationError as e:
            raise DeclarationError(f"{where}: {e}") from None
        if t.kind == "codec":  # unknown codecs and unsupported modes (<hash> without @) fail here
            from djframe.codecs import resolve_chain
            try:
                resolve_chain(t.codec, t.store)
            except DataJointError as e:
                raise DeclarationError(f"{where}: {e}") from None
        if t.kind == "native":
            warnings.warn(f"Table `{self.table}`, attribute `{name}`: native SQL type `{t.text}` is passed "
                          "through unchanged and may not be portable; prefer a core type (int32, float64, ...).")
        if comment.startswith(":"):
            raise DeclarationError(f"{where}: comment must not start with colon (`{comment}`); remove the colon.")
        if default == "":
            raise DeclarationError(f"{where}: empty default in `{line}`; give a value or `null`.")
        fields = _parse_default(default, t, where) if default is not None else {}
        if self.in_key:
            if _blob_like(t):
                raise DeclarationError(f"{where}: blob/json type {t.text} cannot be in the primary key; "
                                       "move it below `---`.")
            if fields.get("nullable"):
                raise DeclarationError(f"{where}: Primary key attributes cannot be nullable (`{line}`); "
                                       "remove `= null` or move the attribute below `---`.")
            if fields:
                raise DeclarationError(f"{where}: primary key attributes cannot have defaults (`{line}`); "
                                       "remove the default or move the attribute below `---`.")
        if self.find(name) >= 0:
            raise DeclarationError(f"{where}: duplicate attribute name in `{line}`; each attribute is declared once "
                                   "(a foreign key already adds its parent's key attributes).")
        lineage = f"{self.schema}.{self.table}.{name}" if self.in_key else None
        self.attrs.append(Attribute(name, t, in_key=self.in_key, comment=comment, lineage=lineage, **fields))

    def check_name(self, name: str, line: str) -> None:
        if name.startswith("_"):
            raise DeclarationError(f"{self.where(name)}: attribute name `{name}` starts with an underscore; "
                                   "such names are reserved for hidden attributes. Start it with a letter.")
        if not _ATTR_NAME.match(name):
            raise self.fail(f"invalid attribute name `{name}` in line `{line}`; use lowercase snake_case "
                            "(a-z, 0-9, _), starting with a letter.")

    def foreign_key(self, line: str) -> None:
        text = _strip_comment(line[2:])[0].strip()
        options: set[str] = set()
        if text.startswith("["):
            end = text.find("]")
            if end < 0:
                raise self.fail(f"unclosed `[` in `{line}`.")
            for opt in filter(None, (o.strip().lower() for o in text[1:end].split(","))):
                if opt not in ("nullable", "unique"):
                    raise self.fail(f"invalid foreign key option `{opt}` in `{line}`; use only nullable and unique.")
                options.add(opt)
            text = text[end + 1:].strip()
        if not text:
            raise self.fail(f"`{line}` names no parent table.")
        nullable = "nullable" in options
        if nullable and self.in_key:
            raise self.fail(f"Primary key attributes cannot be nullable (`{line}`); move it below `---`.")
        ref = self.resolve_ref(text)
        self.add_foreign_key(ref, text, nullable, "unique" in options)

    def resolve_ref(self, text: str) -> ParentRef:
        try:
            ref = self.resolve(text)
        except DataJointError:
            raise
        except Exception as e:
            raise DeclarationError(f"Foreign key reference `{text}` could not be resolved in table "
                                   f"`{self.table}`: {type(e).__name__}: {e}") from e
        if not isinstance(ref, ParentRef):
            raise DeclarationError(f"Foreign key reference `{text}` could not be resolved in table "
                                   f"`{self.table}`: the resolver returned {type(ref).__name__}, not a ParentRef.")
        return ref

    def add_foreign_key(self, ref: ParentRef, text: str, nullable: bool, unique: bool) -> None:
        bad = f"Declaration error in table `{self.table}`, foreign key `-> {text}`"
        parent_pk = [a.name for a in ref.primary_key]
        if not parent_pk:
            raise DeclarationError(f"{bad}: the parent `{ref.table_name}` has no primary key attributes.")
        inverse = {old: new for new, old in ref.rename.items()}
        if set(inverse) - set(parent_pk) or len(inverse) != len(ref.rename):
            raise DeclarationError(f"{bad}: proj renames {ref.rename} must map new names to distinct primary key "
                                   f"attributes of the parent ({', '.join(parent_pk)}).")
        attr_map, new = [], []
        for p in ref.primary_key:
            child = inverse.get(p.name, p.name)
            if child != p.name:
                self.check_name(child, f"-> {text}")
            lineage = ref.lineage_of(p)
            i = self.find(child)
            if i >= 0:
                existing = self.attrs[i]
                if not _same_type(existing.type, p.type):
                    raise DeclarationError(
                        f"{self.where(child)}: already declared as {existing.type.text} but the foreign key `-> "
                        f"{text}` needs {p.type.text}; declare it with the parent's type or rename it with proj.")
                if child not in self.fk_attrs:
                    self.attrs[i] = existing.evolve(lineage=lineage)
            elif any(a.name == child for a in new):
                raise DeclarationError(f"{bad}: attribute `{child}` appears twice.")
            else:
                new.append(Attribute(child, p.type, in_key=self.in_key, nullable=nullable, has_default=nullable,
                                     comment=p.comment, lineage=lineage, hidden=p.hidden, sql_type=p.sql_type))
            attr_map.append((child, p.name))
        self.attrs.extend(new)
        self.fk_attrs.update(c for c, _ in attr_map)
        self.fks.append(ForeignKeySpec(ref.schema, ref.table_name, tuple(attr_map), nullable, unique, self.in_key))
        if unique:
            self.fk_indexes.append(IndexSpec(tuple(c for c, _ in attr_map), unique=True))

    def finish(self, tier: str, comment: str, allow_new_pk: bool, job_metadata: bool,
               provenance: bool = False) -> TableSpec:
        names = {a.name for a in self.attrs if not a.hidden}
        for entries, unique, line in self.index_lines:
            unknown = [e for e in entries if not e.startswith("(") and e not in names]
            if unknown:
                raise self.fail(f"index `{line}` refers to unknown attribute(s) `{'`, `'.join(unknown)}`; index "
                                "entries must be attributes of the table or parenthesised SQL expressions. Remove "
                                "the entry or declare the attribute.")
        indexes = self.fk_indexes + [IndexSpec(e, u) for e, u, _ in self.index_lines]
        attrs = list(self.attrs)
        if tier in AUTO_TIERS and not allow_new_pk:
            extra = [a.name for a in attrs if a.in_key and a.name not in self.fk_attrs]
            if extra:  # the reference declares these too: a warning, not an error (docs/compatibility.md)
                warnings.warn(
                    f"{tier.capitalize()} table `{self.table}`: primary key attribute(s) "
                    f"{', '.join(f'`{n}`' for n in extra)} do not come from a foreign key, so make() must "
                    "insert every value of them itself and the job queue works per key of the parents. Usually "
                    "such rows belong in a Part table; set config['jobs.allow_new_pk_fields_in_computed_tables'] "
                    "= True to declare this on purpose without the warning.", UserWarning, stacklevel=2)
        if tier == "part":
            self.check_master()
        if job_metadata and tier in AUTO_TIERS:
            attrs += JOB_METADATA
        if provenance and tier == "manual":
            attrs.append(PROVENANCE)
        if not any(a.in_key for a in attrs):
            attrs.append(Attribute("_singleton", parse_type("bool"), in_key=True, has_default=True, default="1",
                                   comment="singleton primary key", hidden=True,
                                   lineage=f"{self.schema}.{self.table}._singleton"))
        return TableSpec(self.schema, self.table, tier, tuple(attrs), tuple(self.fks), tuple(indexes), comment,
                         {a.name: a.lineage for a in attrs if a.lineage})

    def check_master(self) -> None:
        """A part must reference its master, directly (`-> master`) or through another part of the same
        master (`-> master.Child`), so that deleting a master row reaches every part row under it."""
        cut = self.table.rfind("__")
        master = self.table[:cut] if cut > 0 and self.table[:cut].strip("#_") else None
        if not self.fks or (master and not any(
                fk.parent_schema == self.schema and fk.parent_table.split("__")[:len(master.split("__"))]
                == master.split("__") for fk in self.fks)):
            raise DeclarationError(f"Declaration error in part table `{self.table}`: a part table must reference its "
                                   f"master{f' `{master}`' if master else ''}; add `-> master` as its first line.")


def parse_definition(definition: str, *, schema: str, table_name: str, tier: str,
                     resolve: Callable[[str], ParentRef], max_name_length: int = 64,
                     allow_new_pk_in_computed: bool = False, add_job_metadata: bool = False,
                     add_provenance: bool = False) -> TableSpec:
    """Parse definition text into a `TableSpec`; raise `DeclarationError` naming what is wrong."""
    tier = tier.lower()
    if tier not in TIERS:
        raise DeclarationError(f"Unknown table tier `{tier}` for table `{table_name}`; use one of {', '.join(TIERS)}.")
    if len(table_name) > max_name_length:
        raise DeclarationError(f"Table name exceeds max length: `{table_name}` has {len(table_name)} characters, "
                               f"the limit is {max_name_length}. Choose a shorter class name.")
    decl = _Declaration(schema, table_name, resolve)
    lines = [s for s in (raw.strip() for raw in definition.splitlines()) if s]
    comment = ""
    if lines and lines[0].startswith("#"):
        comment = lines.pop(0)[1:].strip()
        if comment.startswith(":"):
            raise DeclarationError(f"Declaration error in table `{table_name}`: the table comment must not start "
                                   f"with colon (`# {comment}`); remove the colon.")
    for line in lines:
        decl.line(line)
    return decl.finish(tier, comment, allow_new_pk_in_computed, add_job_metadata, add_provenance)


# ---------------------------------------------------------------- rendering

def _render_default(a: Attribute) -> str:
    if not (a.has_default or a.nullable):
        return ""
    if a.default is None:
        return " = null"
    if a.default_is_expression or (a.type.is_numeric and _NUMBER.match(a.default)):
        return f" = {a.default}"
    return f" = {_quote(a.default)}"


def _fk_made(a: Attribute, fk: ForeignKeySpec) -> bool:
    """Would this FK line, on its own, re-create attribute `a` exactly as it is?"""
    return (a.in_key == fk.in_key and a.nullable == fk.nullable and a.has_default == fk.nullable
            and a.default is None and not a.default_is_expression)


def _fk_placement(spec: TableSpec) -> list[tuple[float, list[str]]]:
    """For each FK: the sort position of its line and the attributes it re-creates.

    An FK line recreates its attributes only when they form one contiguous run
    that nothing declared before; otherwise they are rendered as plain lines and
    the FK line follows them, which parses to the same spec.
    """
    pos = {a.name: i for i, a in enumerate(spec.attributes)}
    by_name = {a.name: a for a in spec.attributes}
    taken: set[str] = set()
    out, prev = [], -1.0
    for fk in spec.foreign_keys:
        cols = [c for c in fk.child_attributes if c in pos]
        own = [c for c in cols if c not in taken and _fk_made(by_name[c], fk)]
        idx = [pos[c] for c in own]
        if idx and (idx != list(range(idx[0], idx[0] + len(idx)))
                    or any(pos[c] > idx[0] for c in cols if c not in own) or idx[0] <= prev):
            own, idx = [], []
        key = float(idx[0]) if idx else max([prev + 1e-3] + [pos[c] + 0.5 for c in cols])
        out.append((key, own))
        taken.update(cols)
        prev = key
    return out


def class_ref(fk: ForeignKeySpec, spec: TableSpec, parent_names: dict) -> str:
    name = parent_names.get((fk.parent_schema, fk.parent_table))
    if name is None and spec.tier == "part" and (fk.parent_schema, fk.parent_table) == (
            spec.schema, spec.table_name[:spec.table_name.rfind("__")]):
        name = "master"
    if name is None:
        name = to_camel_case(fk.parent_table)
        if tier_of(fk.parent_table) == "part":
            name = f"{to_camel_case(fk.parent_table[:fk.parent_table.rfind('__')])}.{name}"
        if fk.parent_schema != spec.schema:
            name = f"{fk.parent_schema}.{name}"
    return name


def render_definition(spec: TableSpec, parent_names: dict[tuple[str, str], str] | None = None) -> str:
    """Definition text that parses back to `spec` (for `describe()`)."""
    items = []  # (sort key, in key, line)
    placement = _fk_placement(spec)
    owned = {c for _, own in placement for c in own}
    for i, a in enumerate(spec.attributes):
        if not a.hidden and a.name not in owned:
            comment = f"  # {a.comment}" if a.comment else ""
            items.append((float(i), a.in_key, f"{a.name}{_render_default(a)} : {a.type.text}{comment}"))
    for fk, (key, _) in zip(spec.foreign_keys, placement):
        opts = [o for o, on in (("nullable", fk.nullable), ("unique", fk.unique)) if on]
        proj = ", ".join(f'{c}="{p}"' for c, p in fk.attr_map if c != p)
        ref = class_ref(fk, spec, parent_names or {}) + (f".proj({proj})" if proj else "")
        items.append((key - 1e-6, fk.in_key, f"-> {'[' + ', '.join(opts) + '] ' if opts else ''}{ref}"))
    items.sort(key=lambda item: item[0])
    indexes = list(spec.indexes)
    for fk in spec.foreign_keys:
        implied = IndexSpec(tuple(fk.child_attributes), unique=True)
        if fk.unique and implied in indexes:
            indexes.remove(implied)
    lines = [f"# {spec.comment}"] if spec.comment else []
    lines += [line for _, k, line in items if k] + ["---"] + [line for _, k, line in items if not k]
    lines += [f"{'unique ' if ix.unique else ''}index({', '.join(ix.columns)})" for ix in indexes]
    return "\n".join(lines) + "\n"
