"""The module paths user code imports, kept where they were while the code lives by stage.

DataJoint code imports ``datajoint.heading``, ``datajoint.blob``, ``datajoint.schemas`` ...; earlier
djframe code imports ``djframe.table`` or ``djframe.parquet``. Each such path is an *alias* of the
module that now holds the code (``djframe.heading`` *is* ``djframe.define.heading``, the same object),
so a setting or a monkeypatch on the old path reaches the code that uses it. The few paths whose names
come from several modules (``utils``, ``user_tables``, ``objectref``, ``builtin_codecs``) are thin
re-export modules in this package.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# djframe.<path> -> the module that holds it
MODULE_PATHS = {
    # the reference's module names
    "autopopulate": "djframe.tables.populate",
    "blob": "djframe.codecs.blob",
    "builtin_codecs": "djframe.compat.builtin_codecs",
    "condition": "djframe.query.conditions",
    "declare": "djframe.define.declare",
    "dependencies": "djframe.graph.dependencies",
    "diagram": "djframe.tables.diagram",
    "expression": "djframe.query.expression",
    "fetch": "djframe.query.fetch",
    "hash_registry": "djframe.storage.hash_registry",
    "heading": "djframe.define.heading",
    "jobs": "djframe.tables.jobs",
    "lineage": "djframe.tables.lineage",
    "objectref": "djframe.compat.objectref",
    "preview": "djframe.query.display",
    "schemas": "djframe.tables.schema",
    "staged_insert": "djframe.write.staged",
    "table": "djframe.tables.table",
    "types": "djframe.define.types",
    "user_tables": "djframe.compat.user_tables",
    "utils": "djframe.compat.utils",
    "cli": "djframe.admin.cli",
    "deploy": "djframe.admin.deploy",
    "gc": "djframe.admin.gc",
    "migrate": "djframe.admin.migrate",
    # djframe's own earlier paths
    "alter": "djframe.tables.alter",
    "catalog": "djframe.define.catalog",
    "delete": "djframe.graph.delete",
    "display": "djframe.query.display",
    "executor": "djframe.tables.executor",
    "export_objects": "djframe.publish.objects",
    "parquet": "djframe.publish.export",
    "populate": "djframe.tables.populate",
    "provenance": "djframe.write.provenance",
    "schema": "djframe.tables.schema",
    "spec": "djframe.define.spec",
    "staged": "djframe.write.staged",
    "stale": "djframe.tables.stale",
    "tiers": "djframe.tables.tiers",
    "validate": "djframe.write.conform",
    "write_errors": "djframe.write.explain",
}


def target_of(name: str) -> str | None:
    """The module that ``djframe.<path>[.sub]`` names, or None when `name` is not an alias."""
    head, _, rest = name.partition(".")
    if head != "djframe" or not rest:
        return None
    first, _, sub = rest.partition(".")
    target = MODULE_PATHS.get(first)
    if target is None:
        return None
    return f"{target}.{sub}" if sub else target


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an alias to the real module object (imported under its own name, once)."""

    def find_spec(self, name, path=None, target=None):
        if target_of(name) is None:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        module = importlib.import_module(target_of(spec.name))
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        real = module.__spec__.loader_state  # the import system labelled it with the alias's spec
        module.__spec__ = real


def install() -> None:
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
