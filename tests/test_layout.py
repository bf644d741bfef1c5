"""The package layout keeps the data path visible (DESIGN.md, "one package per stage").

Read straight from the source with `ast` (no import of djframe), so a violation names the file and
line. Every import counts, the ones inside functions too: a deferred import is still a dependency.
Run alone: ``python -m pytest tests/test_layout.py``.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "djframe"

# Lowest first: a package may import only from the ones before it. The public facade
# (djframe/__init__.py) and the import-path aliases (compat/) stand above all of them.
LAYERS = ["errors", "settings", "storage", "codecs", "define", "backends", "query", "write", "graph",
          "connection", "tables", "publish", "admin"]
FACADE = {"__init__", "__main__", "compat"}
MAX_TOP_LEVEL_MODULES = 4  # __init__, errors, settings, connection

# Statement text lives in the compiler and the dialects only.
SQL_HOMES = ("query/compile.py", "backends/dialect.py", "backends/sqlite/dialect.py",
             "backends/postgres/dialect.py", "backends/mysql/dialect.py")
SQL_TEXT = re.compile(r"^\s*(SELECT\s.+\sFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\S+\s+SET|ALTER\s+TABLE|"
                      r"CREATE\s+(TABLE|SCHEMA|DATABASE|INDEX|UNIQUE)|DROP\s+(TABLE|SCHEMA|DATABASE)|"
                      r"SELECT\s+\d|SHOW\s|PRAGMA\s|SAVEPOINT\s|RELEASE\s|ROLLBACK|COMMIT|BEGIN)", re.S)
# private names of the standard library / third-party objects that modules may use
FOREIGN_PRIVATE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults", "_value2member_map_",
                   "_member_map_", "_name_", "_value_", "_missing_", "_repr_html_", "_repr_svg_",
                   "_repr_mimebundle_", "_ipython_display_", "_repr_png_"}


def modules():
    for path in sorted(SOURCE.rglob("*.py")):
        rel = path.relative_to(SOURCE)
        parts = list(rel.with_suffix("").parts)
        yield path, rel, ast.parse(path.read_text(), filename=str(path)), parts


def package_of(parts: list[str]) -> str:
    return parts[0] if parts else "__init__"


def imported(tree, parts: list[str]):
    """(line, djframe module path parts) of every import of a djframe module in `tree`."""
    here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "djframe":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                yield node.lineno, target, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "djframe":
                    yield node.lineno, alias.name.split(".")[1:], None


def package_edges():
    edges = defaultdict(list)
    for _, rel, tree, parts in modules():
        source = package_of(parts)
        for line, target, name in imported(tree, parts):
            if not target and name and ((SOURCE / f"{name}.py").exists() or (SOURCE / name).is_dir()):
                target = [name]  # from djframe import <module>
            destination = package_of(target)
            if destination != source:
                edges[(source, destination)].append(f"{rel}:{line}")
    return edges


def test_at_most_four_modules_at_the_top_level():
    top = sorted(p.stem for p in SOURCE.glob("*.py") if p.name != "__main__.py")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"djframe/ has {len(top)} top-level modules: {top}"


def test_every_package_is_placed_in_a_layer():
    packages = {package_of(parts) for *_, parts in modules()}
    unplaced = packages - set(LAYERS) - FACADE
    assert not unplaced, f"packages with no layer in LAYERS: {sorted(unplaced)}"


def test_packages_import_only_from_lower_layers():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = [f"{a} -> {b} ({', '.join(where)})" for (a, b), where in sorted(package_edges().items())
              if a not in FACADE and (b in FACADE or rank[b] > rank[a])]
    assert not upward, "imports that go up (or sideways into the facade):\n" + "\n".join(upward)


def test_no_import_cycle_between_packages():
    graph = defaultdict(set)
    for a, b in package_edges():
        graph[a].add(b)
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for node in sorted(graph):
        visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_a_private_name_of_another():
    found = [f"{rel}:{line} imports {name} from djframe.{'.'.join(target)}"
             for _, rel, tree, parts in modules()
             for line, target, name in imported(tree, parts)
             if name and name.startswith("_") and not name.startswith("__")]
    assert not found, "\n".join(found)


def private_names_defined():
    """module -> the `_names` it defines (functions, methods, classes, attributes it assigns)."""
    defined = {}
    for _, rel, tree, _ in modules():
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("setattr", "getattr") \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                names.add(str(node.args[1].value))
        defined[rel] = {n for n in names if n.startswith("_") and not n.startswith("__")}
    return defined


def test_no_module_reads_a_private_attribute_another_module_defines():
    defined = private_names_defined()
    owners = defaultdict(set)
    for rel, names in defined.items():
        for name in names:
            owners[name].add(rel)
    found = []
    for _, rel, tree, _ in modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            if node.attr in FOREIGN_PRIVATE or node.attr in defined[rel]:
                continue
            owner = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if owners.get(node.attr) and not owner:
                found.append(f"{rel}:{node.lineno} reads .{node.attr} (defined in "
                             f"{', '.join(sorted(map(str, owners[node.attr])))})")
    assert not found, "\n".join(found)


def test_statement_text_only_in_the_compiler_and_the_dialects():
    found = []
    for _, rel, tree, _ in modules():
        if str(rel) in SQL_HOMES:
            continue
        skip = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        skip |= {id(node.body[0].value) for node in ast.walk(tree)
                 if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.body and isinstance(node.body[0], ast.Expr)}  # docstrings
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.match(node.value):
                found.append(f"{rel}:{node.lineno}: {node.value[:60]!r}")
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
                if SQL_TEXT.match(text):
                    found.append(f"{rel}:{node.lineno}: f{text[:60]!r}")
    assert not found, "\n".join(found)


# (Schema.lineage_table_exists stays: the reference's schema objects have it and its tests read it)
@pytest.mark.parametrize("name", ["graph/dependencies.would_cycle", "query/usersql.is_aggregate",
                                  "storage/stores.new_token", "define/types.describe_range",
                                  "define/heading.non_blobs", "codecs/object._build_path",
                                  "codecs/object._get_backend", "codecs/object._extract_context"])
def test_dead_code_is_gone(name):
    where, function = name.rsplit(".", 1)
    for path in SOURCE.rglob(f"{Path(where).name}.py"):
        assert f"def {function}(" not in path.read_text(), f"{path}: {function} is unused"
