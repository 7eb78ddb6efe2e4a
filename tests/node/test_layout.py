"""The layout of node/ and protocol/, checked from their source with ``ast``.

- No import cycles among node's packages: every module is collapsed to its package
  (``node.store``, ``node.replica``, …), each small shared module (``node/errors.py``,
  ``config.py`` …) and ``node/__init__.py`` standing alone; imports inside functions and under
  ``TYPE_CHECKING`` count like any other.
- ``node.matching`` imports nothing else of node; ``node.hashing`` no network code;
  ``protocol`` nothing of node; node/ holds no module of its own but the small shared ones.
- No SQL outside ``node/store/``.
- No function over 60 lines (from ``def`` to its last line) but the parser tables allowed
  below.

``layout_graph()`` is what docs/architecture.md draws its dependency picture from.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node"
PROTOCOL = ROOT / "protocol"

# The small shared modules that may sit directly in node/ (each its own node of the graph).
SHARED = frozenset({"__init__", "errors", "config", "datadir", "clock", "logs", "limits", "stats"})
# Imports that mean network code: hashing runs on the victim's own device and never talks.
NETWORK = (
    "aiohttp",
    "urllib",
    "http",
    "socket",
    "ssl",
    "requests",
    "httpx",
    "websockets",
    "node.api",
    "node.federation",
    "node.web",
    "node.cli",
    "node.tx",
)
MAX_LINES = 60
# Functions that only build argparse parsers (a table of options, one call per line) may run
# longer; each is named here with why. None is needed today: keep it that way if you can.
PARSER_TABLES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, slots=True)
class Import:
    """One module imported by one source file, and where."""

    source: str  # the importing module, dotted
    target: str  # the imported module (or package), dotted
    path: Path
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "static" not in p.parts)


def known_modules() -> set[str]:
    return {module_name(p) for p in source_files(NODE) + source_files(PROTOCOL)}


def imports_of(path: Path, modules: set[str]) -> Iterator[Import]:
    """Every import in ``path``, anywhere in it, resolved to the modules it loads."""
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                # ``from node.store import plan`` loads the module node.store.plan.
                full = f"{base}.{alias.name}"
                yield Import(source, full if full in modules else base, path, node.lineno)


def unit_of(module: str) -> str | None:
    """The node of the package graph ``module`` belongs to (None outside node/)."""
    parts = module.split(".")
    if parts[0] != "node":
        return None
    return "node" if len(parts) == 1 else f"node.{parts[1]}"


def all_imports() -> list[Import]:
    modules = known_modules()
    return [i for p in source_files(NODE) for i in imports_of(p, modules)]


def layout_graph() -> dict[str, set[str]]:
    """Package -> the packages (and shared modules) it imports, within node/."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        src, dst = unit_of(imp.source), unit_of(imp.target)
        assert src is not None
        graph.setdefault(src, set())
        if dst is not None and dst != src:
            graph[src].add(dst)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its nodes in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*path[path.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _where(imports: list[Import]) -> str:
    lines = {f"  {i.path.relative_to(ROOT)}:{i.line} imports {i.target}": None for i in imports}
    return "\n".join(lines)


# --- imports -----------------------------------------------------------------------------


def test_the_graph_sees_every_package() -> None:
    graph = layout_graph()
    packages = {f"node.{p.name}" for p in NODE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(graph), packages - set(graph)
    # A sanity check on the resolver: known edges are seen, relative imports included.
    assert "node.store" in graph["node.replica"]
    assert "node.replica" in graph["node.federation"]


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles_among_node_packages() -> None:
    graph = layout_graph()
    cycle = find_cycle(graph)
    if cycle is not None:
        hops = list(itertools.pairwise(cycle))
        culprits = [i for i in all_imports() if (unit_of(i.source), unit_of(i.target)) in hops]
        pytest.fail(f"import cycle: {' -> '.join(cycle)}\n{_where(culprits)}")


def test_matching_imports_nothing_else_of_node() -> None:
    outside = [
        i
        for i in all_imports()
        if unit_of(i.source) == "node.matching" and unit_of(i.target) not in (None, "node.matching")
    ]
    assert not outside, "node/matching must stand alone:\n" + _where(outside)


def test_hashing_imports_no_network_code() -> None:
    network = [
        i
        for i in all_imports()
        if unit_of(i.source) == "node.hashing"
        and any(i.target == n or i.target.startswith(n + ".") for n in NETWORK)
    ]
    assert not network, "node/hashing must not reach the network:\n" + _where(network)


def test_protocol_imports_nothing_of_node() -> None:
    modules = known_modules()
    found = [
        i
        for p in source_files(PROTOCOL)
        for i in imports_of(p, modules)
        if unit_of(i.target) is not None
    ]
    assert not found, "protocol/ is the core; node/ depends on it, never the reverse:\n" + _where(
        found
    )


def test_node_holds_only_packages_and_the_shared_modules() -> None:
    loose = sorted(p.name for p in NODE.glob("*.py") if p.stem not in SHARED)
    assert not loose, f"modules directly in node/ (put them in a package): {loose}"
    missing = sorted(m for m in SHARED if not (NODE / f"{m}.py").exists())
    assert not missing, f"stale entries in SHARED: {missing}"


# --- SQL ---------------------------------------------------------------------------------

SQL = re.compile(
    r"\b(SELECT\b[\s\S]+?\bFROM|INSERT\s+(OR\s+[A-Z]+\s+)?INTO|UPDATE\s+\w+\s+SET"
    r"|DELETE\s+FROM|REPLACE\s+INTO|(CREATE|DROP)\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)"
    r"|ALTER\s+TABLE|PRAGMA\s+\w+|BEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)"
    r"|EXPLAIN\s+QUERY|VACUUM\b|COMMIT\b|ROLLBACK\b|sqlite_master)"
)
DATABASE_MODULES = ("sqlite3", "aiosqlite", "apsw")


def sql_literals(path: Path) -> list[tuple[int, str]]:
    """String literals (f-string parts included) of ``path`` that hold an SQL statement."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (match := SQL.search(node.value))
        ):
            found.append((node.lineno, match.group(0)[:60]))
    return found


def test_the_sql_detector_sees_the_stores_sql() -> None:
    assert len(sql_literals(NODE / "store" / "reads.py")) > 10
    assert sql_literals(NODE / "store" / "schema.py")
    assert SQL.search("PRAGMA user_version")
    assert not SQL.search("select the file from the list, then commit to it")


def test_no_sql_outside_the_store() -> None:
    store = NODE / "store"
    found = [
        f"  {p.relative_to(ROOT)}:{line}: {text!r}"
        for p in source_files(NODE)
        if store not in p.parents
        for line, text in sql_literals(p)
    ]
    assert not found, "SQL belongs in node/store/ only:\n" + "\n".join(found)


def test_no_database_access_outside_the_store() -> None:
    found = [
        i
        for i in all_imports()
        if unit_of(i.source) != "node.store" and i.target.split(".")[0] in DATABASE_MODULES
    ]
    assert not found, "only node/store/ talks to the database:\n" + _where(found)


# --- function length ---------------------------------------------------------------------


def long_functions() -> dict[tuple[str, str], int]:
    """(file, qualified name) -> lines, for every function over ``MAX_LINES``."""
    out: dict[tuple[str, str], int] = {}
    for path in source_files(NODE) + source_files(PROTOCOL):
        rel = str(path.relative_to(ROOT))
        for name, fn in _functions(ast.parse(path.read_text(), str(path)), ""):
            # ``lineno`` is the ``def`` line (decorators sit above it); the end is inclusive.
            lines = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if lines > MAX_LINES:
                out[(rel, name)] = lines
    return out


def _functions(
    tree: ast.AST, prefix: str
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def test_the_length_check_counts_decorated_and_nested_functions() -> None:
    def body(indent: int) -> list[str]:
        return [" " * indent + "x = 1"] * 70

    lines = ["class C:", "  @staticmethod", "  def m():", *body(4)]
    lines += ["  async def n():", "    def k():", *body(6)]
    found = {
        name: (fn.end_lineno or 0) - fn.lineno + 1
        for name, fn in _functions(ast.parse("\n".join(lines)), "")
    }
    assert found == {"C.m": 71, "C.n": 72, "C.n.k": 71}


def test_no_function_over_sixty_lines() -> None:
    over = {k: n for k, n in long_functions().items() if k not in PARSER_TABLES}
    listing = "\n".join(f"  {path}: {name} ({n} lines)" for (path, name), n in sorted(over.items()))
    assert not over, f"functions over {MAX_LINES} lines (split them):\n{listing}"


def test_parser_tables_are_parser_tables() -> None:
    long = long_functions()
    for (path, name), why in PARSER_TABLES.items():
        assert why, f"{path}: {name} needs a reason to be long"
        assert (path, name) in long, f"{path}: {name} is no longer long; drop it from the list"
        assert "add_argument" in (ROOT / path).read_text(), f"{path}: {name} builds no parser"


# --- the map ---------------------------------------------------------------------------------


def test_every_file_docs_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:node|protocol)/[\w/]+\.py)`", text))
    assert len(named) > 30
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


# --- errors --------------------------------------------------------------------------------

# The roots of the error hierarchies: everything else a package raises derives from one of them
# (MatchingError stands alone because node.matching imports nothing else of node/).
ERROR_ROOTS = {"node/errors.py": "NodeError", "protocol/errors.py": "ProtocolError"}
ERROR_ROOTS_ALONE = {"node/matching/errors.py": "MatchingError"}


def bare_exception_classes() -> list[str]:
    """``file:Class`` for every class deriving straight from ``Exception``/``BaseException``."""
    found = []
    for path in source_files(NODE) + source_files(PROTOCOL):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in ("Exception", "BaseException")
                for b in node.bases
            ):
                found.append(f"{path.relative_to(ROOT).as_posix()}:{node.name}")
    return found


def test_every_error_class_belongs_to_a_hierarchy() -> None:
    roots = {f"{f}:{c}" for f, c in (ERROR_ROOTS | ERROR_ROOTS_ALONE).items()}
    stray = sorted(set(bare_exception_classes()) - roots)
    assert not stray, f"errors outside every hierarchy (derive from a package's error): {stray}"
