"""Which made rows no longer follow from their inputs: version records, ``stale()``, ``dj.plan``.

When djframe's ``populate`` makes a key of an Imported or Computed table it records, in
the same transaction, per made row: the **code version** of the class (a hash of its
``make`` / tripartite methods, ``key_source`` and definitions; a class attribute
``version = "..."`` wins when set), a **witness** (the digest of the row itself) and the
**upstream digest** (the digest of each primary-key parent's referenced row). The digests
are computed by the database in the recording statement itself, so a key costs one
extra statement.

Records live in a hidden table ``~version<table name>`` next to the table, holding the
table's primary key and three text columns. The reference client ignores ``~`` tables
(list_tables, Diagram, virtual modules, delete, drop); a row it makes has no record (or
a record whose witness no longer matches the row) and is reported ``unknown``, never
stale. Records of deleted rows are simply never matched again.

``T.stale()`` lists the stale rows (reason ``code``, ``upstream:<Parent>``, ``missing-upstream``,
comma-joined when several hold); ``T.stale(include_unknown=True)`` adds the ``unknown`` ones.
It is a query expression over the rows assessed when it was called. ``dj.plan(...)`` previews
per table; ``populate(stale=True)`` recomputes the stale keys (never the unknown ones), then
makes the missing keys as ``populate()`` does.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging

import polars as pl

from djframe.errors import DataJointError
from djframe.query.conditions import AndList, Not
from djframe.tables.table import FreeTable

logger = logging.getLogger("djframe")

RECORDING = True  # record versions when populate makes a key (benchmarks compare it off)
PREFIX = "~version"
CODE_ATTRIBUTES = ("make", "make_fetch", "make_compute", "make_insert", "_make_tuples", "key_source")
RECORD_COLUMNS = ("code_version", "witness", "upstream")
UNKNOWN = "unknown"
MISSING = "missing-upstream"
PLAN_COLUMNS = ("table", "tier", "missing", "stale_code", "stale_upstream", "unknown", "delete", "make")


# ----- code versions ---------------------------------------------------------------------------
def code_version(cls) -> str:
    """The class's declared ``version``, else a hash of its make code and definitions."""
    declared = getattr(cls, "version", None)
    if isinstance(declared, str) and declared:
        return declared
    return _code_hash(cls)


@functools.lru_cache(maxsize=256)
def _code_hash(cls) -> str:
    from djframe.tables.populate import AutoPopulate
    parts = [str(getattr(cls, "definition", "") or "").strip()]
    parts += [str(getattr(p, "definition", "") or "").strip() for p in _part_classes(cls)]
    for name in CODE_ATTRIBUTES:
        member = inspect.getattr_static(cls, name, None)
        if member is None or member is inspect.getattr_static(AutoPopulate, name, None):
            continue
        parts.append(f"{name}:{_source(member)}")
    return hashlib.md5("\0".join(parts).encode()).hexdigest()


def _part_classes(cls) -> list:
    from djframe.tables.tiers import Part
    return [v for k, v in sorted(vars(cls).items()) if isinstance(v, type) and issubclass(v, Part)]


def _source(member) -> str:
    """The source text of a method (or property), else its compiled code."""
    function = getattr(member, "fget", None) or getattr(member, "__func__", None) or member
    try:
        return inspect.cleandoc(inspect.getsource(function))
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        return repr((code.co_code, code.co_consts)) if code is not None else repr(function)


# ----- the record table ------------------------------------------------------------------------
def record_table_name(table_name: str, max_length: int = 64) -> str:
    """``~version`` + the table's name (hashed when that would be too long)."""
    name = PREFIX + table_name
    return name if len(name) <= max_length else PREFIX + "~" + hashlib.md5(table_name.encode()).hexdigest()[:16]


class Versions(FreeTable):
    """The hidden version records of one auto-populated table."""

    def __init__(self, target):
        backend = target.connection.backend
        super().__init__(target.connection, target.database, record_table_name(target.table_name,
                                                                                backend.max_name_length))
        self.target = target

    def ensure(self):
        """Declare the record table (outside any transaction); redeclare it if the target's key changed."""
        if self.is_declared:
            if self._key_types() == _key_types(self.target):
                return
            logger.info("The key of %s changed: its version records are reset.", self.target.full_table_name)
            self.drop_quick()
        from djframe.define.declare import parse_definition
        connection = self.connection
        spec = parse_definition(self._definition(), schema=self.database, table_name=self.table_name, tier="manual",
                                resolve=_no_parents, max_name_length=connection.backend.max_name_length)
        try:
            connection.backend.declare(spec)
        except DataJointError:
            connection.forget()
            if not self.is_declared:  # not another worker declaring it at the same moment
                raise
        connection.forget()

    def _key_types(self):
        return _key_types(self)

    def _definition(self) -> str:
        heading = self.target.heading
        lines = [f"# versions of the rows of {self.target.full_table_name} made by djframe"]
        lines += [f"{k} : {heading[k].type.text}" for k in heading.primary_key]
        return "\n".join(lines + ["---", "code_version : varchar(255)", "witness : char(32)",
                                  "upstream : varchar(4000)"])


def _key_types(table):
    heading = table.heading
    return [(k, heading[k].type.text) for k in heading.primary_key]


def _no_parents(name):
    raise DataJointError(f"A version record table has no foreign keys (asked for `{name}`).")


# ----- what a row's digests are made of ----------------------------------------------------------
def visible_columns(heading) -> list[str]:
    """The columns a digest covers: hidden ones (_job_*, _prov) change without the content changing."""
    return [a.name for a in heading.all_attributes if not a.hidden]


def upstream_parents(table) -> list[tuple]:
    """(schema, table, columns, attr_map, label) of each primary-key parent, in definition order."""
    parents = []
    for fk in table.spec.foreign_keys:
        if not fk.in_key:
            continue
        parent = FreeTable(table.connection, fk.parent_schema, fk.parent_table)
        label = parent.class_name if fk.parent_schema == table.database else \
            f"{fk.parent_schema}.{parent.class_name}"
        parents.append((fk.parent_schema, fk.parent_table, visible_columns(parent.heading), tuple(fk.attr_map), label))
    return parents


class Recorder:
    """Writes the version record of a key just made, inside the make's transaction: one statement,
    prepared once per populate call (only the key's values change)."""

    WHERE = "\x00key\x00"  # where the key's condition goes in the prepared statement

    def __init__(self, table, versions: Versions):
        backend = table.connection.backend
        self.heading, self.versions = table.heading, versions
        self.name = backend.full_name(table.database, table.table_name)
        self.keys = table.primary_key
        self.names = [*self.keys, *RECORD_COLUMNS]
        self.select = backend.version_select((table.database, table.table_name), visible_columns(table.heading),
                                             [p[:4] for p in upstream_parents(table)], where=self.WHERE,
                                             constants={"code_version": code_version(type(table))}, keys=self.keys)

    def record(self, table, key):
        backend = table.connection.backend  # a forked worker has its own
        where, params = backend.key_condition(self.name, key, self.heading)
        backend.upsert_select(self.versions.database, self.versions.table_name, self.names,
                              self.select.replace(self.WHERE, where), self.keys, params or None)


# ----- the hooks populate calls ----------------------------------------------------------------
def prepare(table):
    """Before populate makes any key: the record table exists, the recording statement is ready."""
    recorder = None
    if RECORDING and table.primary_key:
        versions = Versions(table)
        versions.ensure()
        recorder = Recorder(table, versions)
    table._version_recorder = recorder


def after_make(table, key):
    """Record the versions of the rows the make inserted (same transaction)."""
    recorder = getattr(table, "_version_recorder", None)
    if recorder is not None:
        recorder.record(table, key)


def before_make(table, key):
    """populate(stale=True): the old result of the key goes first, in the make's transaction."""
    if getattr(table, "_version_remake", False):
        (table & key).delete(transaction=False, prompt=False)


# ----- assessment ------------------------------------------------------------------------------
def assess(table, cls=None) -> pl.DataFrame:
    """Per made row: its recorded witness (``witness``, null without a record) and ``reason``
    ('' when it is up to date; 'unknown' without a valid record; else the comma-joined reasons)."""
    cls = cls if cls is not None else _class_of(table)
    versions = Versions(table)
    if not versions.is_declared:
        n = len(table)
        return pl.DataFrame({"witness": [None] * n, "reason": [UNKNOWN] * n}, schema={"witness": pl.Utf8,
                                                                                    "reason": pl.Utf8})
    parents = upstream_parents(table)
    backend = table.connection.backend
    sql = backend.version_select((table.database, table.table_name), visible_columns(table.heading),
                                 [p[:4] for p in parents], keys=table.primary_key,
                                 record=(versions.database, versions.table_name), record_columns=RECORD_COLUMNS)
    frame = pl.from_arrow(backend.fetch_arrow(sql))
    frame = frame.select([_text(frame[c]).alias(c) for c in ("_dj_witness", "_dj_upstream", "_dj_recorded_code_version",
                                                              "_dj_recorded_witness", "_dj_recorded_upstream")])
    return frame.select(pl.col("_dj_recorded_witness").alias("witness"), _reason(parents, cls).alias("reason"))


def _text(series: pl.Series) -> pl.Series:
    """Digests as text (a MySQL driver may hand them over as bytes)."""
    return series.cast(pl.Utf8)


def _reason(parents, cls) -> pl.Expr:
    now, then = pl.col("_dj_upstream").str.split(","), pl.col("_dj_recorded_upstream").str.split(",")
    code = then.list.len() != len(parents) if parents else pl.col("_dj_recorded_upstream") != ""
    if cls is not None:
        code = code | (pl.col("_dj_recorded_code_version") != code_version(cls))
    terms, missing = [pl.when(code).then(pl.lit("code"))], pl.lit(False)
    for i, (*_, label) in enumerate(parents):
        current, recorded = now.list.get(i, null_on_oob=True), then.list.get(i, null_on_oob=True)
        missing = missing | (current == "-")
        terms.append(pl.when((current != "-") & (current != recorded)).then(pl.lit(f"upstream:{label}")))
    terms.append(pl.when(missing).then(pl.lit(MISSING)))
    unknown = pl.col("_dj_recorded_witness").is_null() | (pl.col("_dj_recorded_witness") != pl.col("_dj_witness"))
    return pl.when(unknown).then(pl.lit(UNKNOWN)).otherwise(pl.concat_str(terms, separator=",", ignore_nulls=True))


def _class_of(table):
    """The newest user class bound to this table (code versions need the code), else None."""
    from djframe.tables.populate import AutoPopulate
    if isinstance(table, AutoPopulate):
        return type(table)
    found, stack = None, list(AutoPopulate.__subclasses__())
    while stack:
        cls = stack.pop(0)
        stack.extend(cls.__subclasses__())
        if getattr(cls, "database", None) == table.database and cls.__dict__.get("_table_name") == table.table_name:
            found = cls
    return found


def _rows_with_record(table, witnesses):
    """The rows of `table` whose version records have these witnesses (a restricted base table)."""
    versions = Versions(table)
    return table.restrict((versions & [{"witness": w} for w in witnesses]).proj(), semantic_check=False)


def stale_rows(table, frame=None):
    """The stale rows of `table` (unknown ones excluded) as a restricted base table (deletable)."""
    frame = assess(table) if frame is None else frame
    witnesses = frame.filter((pl.col("reason") != "") & (pl.col("reason") != UNKNOWN))["witness"].to_list()
    return _rows_with_record(table, witnesses)


def stale(table, include_unknown=False, frame=None):
    """The stale rows' primary keys with a ``reason`` column, as a query expression (the rows
    assessed now, each picked by the witness of its version record)."""
    frame = assess(table) if frame is None else frame
    flagged = frame.filter(pl.col("reason") != "")
    if not include_unknown:
        flagged = flagged.filter(pl.col("reason") != UNKNOWN)
    versions = Versions(table)
    if not versions.is_declared:
        return table.proj(reason=f"'{UNKNOWN}'") & bool(include_unknown)
    rows = table.proj().extend(versions.proj(recorded_witness="witness"), semantic_check=False)
    cases, picked = [], []
    for (reason,), group in sorted(flagged.filter(pl.col("witness").is_not_null()).group_by(["reason"]),
                                   key=lambda g: g[0]):
        witnesses = ", ".join(f"'{w}'" for w in group["witness"].to_list())
        cases.append(f"WHEN recorded_witness IN ({witnesses}) THEN '{reason}'")
        picked += [{"recorded_witness": w} for w in group["witness"].to_list()]
    if include_unknown and flagged["witness"].is_null().any():
        cases.append(f"WHEN recorded_witness IS NULL THEN '{UNKNOWN}'")
        picked.append("recorded_witness IS NULL")
    if not cases:
        return table.proj(reason="'code'") & False
    return (rows & picked).proj(reason=f"CASE {' '.join(cases)} END")


# ----- the plan ----------------------------------------------------------------------------------
class Plan:
    """What ``populate(stale=True)`` would do, per table, without changing anything."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def to_polars(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema={c: (pl.Utf8 if c in ("table", "tier") else pl.Int64)
                                               for c in PLAN_COLUMNS})

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, name) -> dict:
        for row in self.rows:
            if row["table"] == name:
                return row
        raise KeyError(f"{name!r} is not in the plan; tables: {', '.join(r['table'] for r in self.rows)}")

    def __repr__(self):
        if not self.rows:
            return "Plan: no auto-populated tables."
        cells = [list(PLAN_COLUMNS)] + [["-" if r[c] is None else str(r[c]) for c in PLAN_COLUMNS] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(PLAN_COLUMNS))]
        lines = ["  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))
                 for row in cells]
        todo = sum(r["delete"] for r in self.rows)
        lines.append(f"populate(stale=True) in this order would delete and make again {todo} row(s); "
                     "'make' counts the keys each table's populate would then make.")
        return "\n".join(lines)


def stale_counts(target) -> dict[tuple[str, str], int]:
    """Rows stale by code or upstream per auto-populated table, keyed by (schema, table name)."""
    counts = {}
    for table in _tables_of(target):
        reasons = assess(table)["reason"]
        counts[(table.database, table.table_name)] = int(((reasons != "") & (reasons != UNKNOWN)).sum())
    return counts


def plan(target) -> Plan:
    """Preview, per auto-populated table (upstream first): keys missing, rows stale by code and by
    upstream, rows of unknown version, and the rows populate(stale=True) would delete (stale rows and,
    by cascade, what depends on them) and then make."""
    tables = _tables_of(target)
    if not tables:
        return Plan([])
    connection = tables[0].connection
    deleted: dict[tuple, set] = {}
    counts = []
    for table in tables:
        frame = assess(table)
        reasons = frame["reason"]
        code = int(reasons.str.contains("code").sum())
        flagged = int(((reasons != "") & (reasons != UNKNOWN)).sum())
        counts.append((table, code, flagged - code, int((reasons == UNKNOWN).sum())))
        if flagged:
            for expr in delete_preview(stale_rows(table, frame)):
                keys = deleted.setdefault((expr.database, expr.table_name), set())
                keys.update(tuple(sorted(row.items())) for row in expr.keys())
    rows, shown = [], set()
    for table, code, upstream, unknown in counts:
        missing, _ = table.progress()
        removed = len(deleted.get((table.database, table.table_name), ()))
        rows.append(dict(table=table.class_name, tier=table.tier, missing=missing, stale_code=code,
                         stale_upstream=upstream, unknown=unknown, delete=removed, make=missing + removed))
        shown.add((table.database, table.table_name))
    for name, keys in deleted.items():
        if name not in shown and keys:
            other = FreeTable(connection, *name)
            rows.append(dict(table=other.class_name, tier=other.tier, missing=None, stale_code=None,
                             stale_upstream=None, unknown=None, delete=len(keys), make=None))
    return Plan(rows)


def delete_preview(rows) -> list:
    """The restricted tables a cascade delete of `rows` reaches (nothing is deleted)."""
    from djframe.graph.delete import delete_plan
    return delete_plan(rows, "enforce")


def _tables_of(target) -> list:
    """The auto-populated tables of a schema, table (class or instance), Diagram or list of them,
    upstream first, each as its newest user class where there is one."""
    from djframe.tables.schema import Schema
    found = {}
    for item in target if isinstance(target, (list, tuple, set)) else [target]:
        if isinstance(item, Schema):
            for name in item.list_tables():
                table = FreeTable(item.connection, item.database, name)
                if table.tier in ("imported", "computed"):
                    cls = _class_of(table)
                    found[(table.database, name)] = cls() if cls is not None else table
        elif hasattr(item, "topo_sort"):
            found.update({(t.database, t.table_name): t for t in _tables_of(_diagram_tables(item))})
        else:
            table = item() if isinstance(item, type) else item
            if getattr(table, "tier", None) not in ("imported", "computed"):
                raise DataJointError(f"dj.plan: {getattr(table, 'class_name', item)!r} is not an Imported or "
                                     "Computed table; pass a schema, such tables, or a Diagram.")
            found[(table.database, table.table_name)] = table
    if not found:
        return []
    connection = next(iter(found.values())).connection
    return [found[node] for node in connection.dependencies.topological(list(found))]


def _diagram_tables(diagram) -> list:
    connection = diagram.connection
    tables = [FreeTable(connection, *_schema_and_table(name)) for name in diagram.topo_sort()]
    tables = [t for t in tables if t.tier in ("imported", "computed")]
    return [_class_of(t)() if _class_of(t) is not None else t for t in tables]


def _schema_and_table(full_name: str) -> tuple[str, str]:
    """`db`.`t`, "db"."t" or SQLite's "db.t" (schema names hold no dot) -> (db, t)."""
    text = full_name.replace("`", '"').replace('"."', ".").strip('"')
    schema, table = text.split(".", 1)
    return schema, table


# ----- populate(stale=True) --------------------------------------------------------------------
def populate_stale(table, restrictions, make_key, populate_missing, suppress_errors=False,
                   return_exception_objects=False) -> dict:
    """Recompute the stale keys of `table` (each: delete the old result with its cascade, make it
    again, in one transaction), asking first under safemode; then make the missing keys."""
    rows = stale_rows(table) & AndList(restrictions)
    names = table.key_source.primary_key
    keys = list({tuple(row[k] for k in names): {k: row[k] for k in names} for row in rows.keys()}.values())
    if keys and table.connection.config["safemode"] and not _confirm(table, rows, keys):
        return {"success_count": 0, "error_list": []}
    success, errors = 0, []
    table._version_remake = True
    try:
        for key in keys:
            made, error = make_key(key)
            if error is None:
                success += made
            elif not suppress_errors:
                raise error
            else:
                errors.append((key, error if return_exception_objects else f"{type(error).__name__}: {error}"))
    finally:
        table._version_remake = False
    rest = populate_missing()
    return {"success_count": success + rest["success_count"], "error_list": errors + rest["error_list"]}


def _confirm(table, rows, keys) -> bool:
    """Show what the recomputation deletes and ask; no answer (end of input) refuses."""
    print(f"populate(stale=True) of {table.class_name} would recompute {len(keys)} stale key(s), deleting first:")
    for expr in delete_preview(rows):
        count = len(expr)
        if count:
            print(f"  {expr.full_table_name}: {count} row(s)")
    try:
        answer = input("Proceed? [yes/No]: ")
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("yes", "y"):
        return True
    logger.info("Recomputation of %s cancelled; nothing was changed.", table.class_name)
    return False
