"""Schema: binds table classes to a database schema, declares them, and spawns classes.

`@schema` on a class declares its table (definition -> TableSpec -> DDL) if it
does not exist yet. `virtual_schema` and `make_classes` rebuild classes from the
catalog alone, so a second process needs nothing but the schema name.
"""

from __future__ import annotations

import inspect
import logging
import types as pytypes

from djframe.define.declare import ParentRef, parse_definition, table_name_for, tier_of, to_camel_case
from djframe.errors import DataJointError, DeclarationError, MissingDefinitionError, MissingTableError, TransactionError
from djframe.query import nodes as n
from djframe.tables.table import FreeTable, Table

logger = logging.getLogger("djframe")


class Schema:
    """A DataJoint schema: a namespace of tables in one database schema."""

    def __init__(self, schema_name=None, context=None, *, connection=None, create_schema=True,
                 create_tables=None, add_objects=None):
        self.database = None
        self.context = context
        self.connection = connection
        self.create_schema, self.create_tables = create_schema, create_tables
        self.add_objects = add_objects
        self._queued = []
        if schema_name is not None:
            self.activate(schema_name, connection=connection, create_schema=create_schema,
                          create_tables=create_tables, add_objects=add_objects)

    def activate(self, schema_name, *, connection=None, create_schema=None, create_tables=None, add_objects=None):
        from djframe.connection import conn
        if self.database is not None and self.database != schema_name:
            raise DataJointError(f"Schema is already activated as {self.database!r}.")
        _check_schema_name(schema_name)
        self.database = schema_name
        self.connection = connection or self.connection or conn()
        if create_schema is not None:
            self.create_schema = create_schema
        if create_tables is not None:
            self.create_tables = create_tables
        if self.create_tables is None:
            self.create_tables = self.connection.config["database.create_tables"]
        if add_objects:
            self.add_objects = {**(self.add_objects or {}), **add_objects}
        backend = self.connection.backend
        if not backend.schema_exists(schema_name):
            if self.connection.in_transaction:  # MySQL would commit the open transaction
                raise TransactionError(f"Cannot create schema `{schema_name}` inside a transaction; commit or cancel "
                                       "the transaction first.")
            if not self.create_schema:
                raise DataJointError(f"Schema `{schema_name}` has not yet been declared; create it or pass "
                                     "create_schema=True.")
            backend.create_schema(schema_name)
            logger.info("Created schema `%s`", schema_name)
        self.connection.schemas[schema_name] = self
        self.connection.forget(schema_name)
        for cls, context in self._queued:
            self._process(cls, context)
        self._queued = []
        return self

    def is_activated(self) -> bool:
        return self.database is not None

    @property
    def exists(self) -> bool:
        return self.database is not None and self.connection.backend.schema_exists(self.database)

    def __repr__(self):
        return f"Schema `{self.database}`"

    # ----- the decorator ---------------------------------------------------------------------
    def __call__(self, cls, *, context=None):
        if issubclass(cls, Part):
            raise DataJointError("Part tables are declared through their master: nest the Part class inside it "
                                 "and decorate only the master.")
        context = context or self.context or caller_context()
        if self.database is None:
            self._queued.append((cls, context))
            return cls
        return self._process(cls, context)

    def _process(self, cls, context, master=None):
        context = {**(context or {}), **(self.add_objects or {})}
        tier = "part" if master is not None else cls.tier
        cls._table_name = table_name_for(cls.__name__, tier, master.table_name if master is not None else None)
        cls.database = self.database
        cls._connection = self.connection
        cls.declaration_context = context
        if not cls().is_declared:
            if self.create_tables:
                self._declare(cls, context, tier, master)
        for name, part in list(vars(cls).items()):
            if name[:1].isupper() and isinstance(part, type) and issubclass(part, Part):
                part._master = cls
                self._process(part, {**context, "master": cls, cls.__name__: cls}, master=cls)
        contents = getattr(cls(), "contents", None) if tier == "lookup" else None  # may be a property
        if contents is not None:
            contents = list(contents)
            if len(contents) > len(cls()):
                cls().insert(contents, skip_duplicates=True)
        if cls.definition:
            cls.__doc__ = (cls.__doc__ or "") + "\n" + cls.definition
        return cls

    def _declare(self, cls, context, tier, master):
        connection = self.connection
        connection.refuse_while_caching(f"declare {cls.__name__}")
        config = connection.config
        if connection.in_transaction:
            raise TransactionError(f"Cannot declare {cls.__name__} inside a transaction; declare tables first.")
        backend = connection.backend
        _require_definition(cls)
        spec = parse_definition(
            cls.definition, schema=self.database, table_name=cls._table_name, tier=tier,
            resolve=table_resolver(context, connection, (self.database, cls._table_name)), max_name_length=backend.max_name_length,
            allow_new_pk_in_computed=config["jobs.allow_new_pk_fields_in_computed_tables"],
            add_job_metadata=config["jobs.add_job_metadata"] and tier in ("imported", "computed"),
            add_provenance=config["provenance.capture"] and tier == "manual")
        parents = {(fk.parent_schema, fk.parent_table) for fk in spec.foreign_keys}
        if (self.database, cls._table_name) in parents:
            raise DataJointError(f"Table {cls.__name__} cannot reference itself in a foreign key.")
        backend.declare(spec)
        connection.forget()
        logger.debug("Declared %s", backend.full_name(self.database, cls._table_name))

    # ----- contents --------------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        nodes = self.connection.dependencies.topological(
            [(self.database, t) for t in self.connection.backend.list_tables(self.database)
             if not t.startswith("~")])
        return [t for s, t in nodes if s == self.database]

    def get_table(self, name: str) -> FreeTable:
        tables = set(self.connection.backend.list_tables(self.database))
        candidates = [name] if name in tables else []
        if not candidates:
            from djframe.define.declare import to_snake_case
            snake = to_snake_case(name) if name[:1].isupper() else name
            candidates = [p + snake for p in ("", "#", "_", "__") if p + snake in tables]
        if not candidates:
            raise DataJointError(f"Table {name!r} is not in schema `{self.database}`; "
                                 f"tables: {', '.join(self.list_tables())}")
        return FreeTable(self.connection, self.database, candidates[0])

    __getitem__ = get_table

    def __iter__(self):
        return (FreeTable(self.connection, self.database, t) for t in self.list_tables())

    def __contains__(self, name):
        try:
            self.get_table(name)
            return True
        except DataJointError:
            return False

    @property
    def lineage(self) -> dict:
        rows = self.connection.backend.read_lineage(self.database)
        return {f"{self.database}.{t}.{a}": v for (t, a), v in rows.items()}

    @property
    def lineage_table_exists(self) -> bool:
        return self.connection.backend.table_exists(self.database, "~lineage")

    def rebuild_lineage(self):
        """Recompute ~lineage rows from the foreign keys in the catalog (upstream schemas first)."""
        backend = self.connection.backend
        for table, lineage in self.computed_lineage().items():
            backend.write_lineage(self.database, table, lineage)
        self.connection.forget()

    def computed_lineage(self) -> dict:
        """{table: {attribute: origin}} as the catalog's foreign keys define it (what rebuild writes)."""
        backend = self.connection.backend
        self.connection.forget()
        out = {}
        for table in self.list_tables():
            spec = self.connection.table_spec(self.database, table)
            fk_attrs = {}
            for fk in spec.foreign_keys:
                if fk.parent_schema == self.database:  # computed above: tables come upstream first
                    parent = out.get(fk.parent_table, {})
                else:
                    parent = {a: v for (t, a), v in backend.read_lineage(fk.parent_schema).items()
                              if t == fk.parent_table}
                for child, parent_attr in fk.attr_map:
                    fk_attrs[child] = parent.get(parent_attr, f"{fk.parent_schema}.{fk.parent_table}.{parent_attr}")
            out[table] = {a.name: fk_attrs.get(a.name, f"{self.database}.{table}.{a.name}")
                          for a in spec.attributes if a.name in fk_attrs or a.in_key}
        return out

    # ----- classes from the catalog ----------------------------------------------------------
    def make_classes(self, into=None):
        """Create table classes for every table of the schema that has none in `into`."""
        if into is None:
            into = self.context if self.context is not None else _caller_namespace()
        classes = {}
        for table in self.list_tables():
            tier = tier_of(table)
            if tier == "part":
                continue
            name = to_camel_case(table)
            if name not in into:
                base = TIER_CLASSES.get(tier, Manual)
                cls = type(name, (base,), {"__module__": __name__})
                cls._table_name, cls.database, cls._connection = table, self.database, self.connection
                into[name] = cls
            classes[table] = into[name]
        for table in self.list_tables():
            if tier_of(table) != "part":
                continue
            master_table, part_base = _split_part(table)
            master = classes.get(master_table)
            if master is None:
                continue
            part_name = to_camel_case(part_base)
            if not hasattr(master, part_name):
                part = type(part_name, (Part,), {"__module__": __name__})
                part._table_name, part.database, part._connection = table, self.database, self.connection
                part._master = master
                setattr(master, part_name, part)
        return into

    spawn_missing_classes = make_classes

    @property
    def jobs(self) -> list:
        """The job queues (`dj.Job`) of this schema's Imported and Computed tables that have one."""
        from djframe.tables.jobs import Job, jobs_table_name
        present = set(self.connection.backend.list_tables(self.database))
        with_queue = [t for t in self.list_tables()
                      if tier_of(t) in ("imported", "computed") and jobs_table_name(t) in present]
        if not with_queue:
            return []
        classes = {cls._table_name: cls for cls in self.make_classes(into={}).values()}
        return [Job(classes[t]()) for t in with_queue]

    def drop(self, prompt=None, force=False):
        """Drop the whole schema and everything in it (listed, with row counts, before it asks)."""
        from djframe.graph.delete import ask_yes_no, prompts_enabled
        self.connection.refuse_while_caching(f"drop schema `{self.database}`")
        if not self.exists:
            logger.info("Schema `%s` does not exist; nothing to drop.", self.database)
            return
        if self.connection.in_transaction:
            raise TransactionError(f"Cannot drop schema `{self.database}` inside a transaction; commit or cancel "
                                   "the transaction first.")
        self.connection.forget()
        tables = self.list_tables()
        deps = self.connection.dependencies
        outside = sorted({f"{s}.{t}" for table in tables for s, t in deps.descendants((self.database, table))
                          if s != self.database})
        if outside:
            raise DataJointError(f"Cannot drop schema `{self.database}`: tables in other schemas depend on it "
                                 f"({', '.join(outside)}). Drop those first.")
        if prompts_enabled(prompt, self.connection):
            print(f"About to drop schema `{self.database}` with {len(tables)} table(s):")
            for t in tables:
                print(f"  {t} ({len(FreeTable(self.connection, self.database, t))} rows)")
            if not ask_yes_no(f"Proceed to delete entire schema `{self.database}`?"):
                return
        self.connection.backend.drop_schema(self.database)
        self.connection.forget()
        self.connection.schemas.pop(self.database, None)
        logger.info("Dropped schema `%s`", self.database)


def _split_part(table: str) -> tuple[str, str]:
    prefix = ""
    for p in ("__", "_", "#"):
        if table.startswith(p):
            prefix, table = p, table[len(p):]
            break
    master, _, part = table.partition("__")
    return prefix + master, part


def _check_schema_name(name):
    import re
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}$", name):
        raise DataJointError(f"Invalid schema name {name!r}: use letters, digits and underscores (at most 63).")


def caller_context():
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__", "").startswith("djframe"):
        frame = frame.f_back
    if frame is None:
        return {}
    return {**frame.f_globals, **frame.f_locals}


def _caller_namespace() -> dict:
    """The calling code's own namespace (a function's locals, a module's globals), so that
    make_classes() with no context defines the classes where it was called, as the reference does."""
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__", "").startswith("djframe"):
        frame = frame.f_back
    return frame.f_locals if frame is not None else {}


def table_resolver(context, connection, declaring=None):
    """Evaluate a foreign-key reference in the class's context and describe the parent.

    `declaring`: (schema, table) being declared, so a reference to itself is named as a cycle.
    """

    def resolve(text: str) -> ParentRef:
        try:
            obj = eval(text, {}, dict(context))
        except MissingTableError:
            where = f" in table `{declaring[1]}`" if declaring else ""
            raise DeclarationError(f"Foreign key reference `{text}`{where} points to a table that is not declared. "
                                   "Declare the parent first (cyclic foreign keys are not allowed).") from None
        except Exception as e:
            raise DeclarationError(f"Foreign key reference `{text}` could not be resolved: {e}. "
                                   "Define (and decorate) the parent table before the child.") from None
        if isinstance(obj, type) and issubclass(obj, Table):
            obj = obj()
        if declaring and (getattr(obj, "database", None), getattr(obj, "table_name", None)) == declaring:
            raise DeclarationError(f"Foreign key reference `{text}` in table `{declaring[1]}` points to the table "
                                   "itself: cyclic foreign keys are not allowed. Put the link in a separate table "
                                   "that references this one twice (rename one side with .proj()).")
        if isinstance(obj, pytypes.ModuleType) or not hasattr(obj, "_node"):
            raise DeclarationError(f"Foreign key reference `{text}` is not a table; reference a table class.")
        try:
            node, rename = obj.node, {}
        except MissingTableError:
            raise DeclarationError(f"Foreign key reference `{text}` points to a table that is not declared. "
                                   "Declare the parent first (cyclic foreign keys are not allowed).") from None
        if isinstance(node, n.ProjectNode):
            for new, source, sql in node.columns:
                if sql is not None:
                    raise DataJointError(f"Foreign key reference `{text}` may only rename attributes.")
                if new != source:
                    rename[new] = source
            node = node.child
        if not isinstance(node, n.TableNode):
            raise DataJointError(f"Foreign key reference `{text}` must be a table or a table's .proj(new='old').")
        return ParentRef.from_spec(connection.table_spec(node.schema, node.table), rename)

    return resolve


def list_schemas(connection=None) -> list[str]:
    from djframe.connection import conn
    return (connection or conn()).backend.list_schemas()


class VirtualModule(pytypes.ModuleType):
    """A module whose attributes are table classes generated from an existing schema."""

    def __init__(self, module_name, schema_name, *, create_schema=False, create_tables=False, connection=None,
                 add_objects=None):
        super().__init__(module_name)
        schema = Schema(schema_name, create_schema=create_schema, create_tables=create_tables,
                        connection=connection, add_objects=add_objects)
        self.__dict__["schema"] = schema
        if add_objects:
            self.__dict__.update(add_objects)
        schema.make_classes(into=self.__dict__)


def virtual_schema(schema_name, *, connection=None, create_schema=False, create_tables=False, add_objects=None):
    return VirtualModule(schema_name, schema_name, connection=connection, create_schema=create_schema,
                         create_tables=create_tables, add_objects=add_objects)


from djframe.tables.tiers import TIER_CLASSES, Manual, Part  # noqa: E402  (tiers import Table; Schema needs the classes)


def _require_definition(cls) -> None:
    """A class that never sets `definition` (a typo such as `definitions`) is not an empty table."""
    for klass in cls.__mro__:
        if "definition" in vars(klass) and klass.__module__ != "djframe.tables.table":
            return
        if klass.__module__.split(".")[0] == "djframe" and klass.__module__ != "djframe.tables.schema":
            break
    raise MissingDefinitionError(f"Table class {cls.__name__} has no `definition`: set the class attribute "
                                 "`definition` to the table's definition text (check its spelling).")
