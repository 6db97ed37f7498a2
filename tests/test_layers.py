"""The house keeps its layers: each package imports only packages below it (and its own),
in Python (the dashboard's ES modules: tests/web/test_dashboard_layers.py); no import
circles. Read from the code's own imports, so a new arrow that runs back up fails here first
(docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "micboardd"

# Bottom up. A module may import its own package and any package of a lower rank.
# `sources.ports` (the contract sources and the hub share: the hub's events, ReadingSink ...)
# imports only model and counts as a value: the vendor state machines use it too, and
# `sources.session`, the life of a receiver session every vendor's machine is built on.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "model",
        "errors",
        "aio",
        "pacing",
        "isotime",
        "config",
        "sources.ports",
        "sources.session",
    ),
    ("store", "tls"),
    ("shure", "sennheiser"),
    ("sources", "ssapi", "cluster", "discovery"),
    ("state",),
    ("alerts", "history", "auth", "tiles"),
    ("feed",),
    ("web",),
    ("daemon", "cli", "__main__"),
)
# Beside the house: they may use anything below the process layer, nothing uses them but
# the process layer (`demo`) and each other.
ASIDE = ("sim", "bench")
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "micboardd":
        return None
    if parts[1:3] in (["sources", "ports"], ["sources", "session"]):
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    package = (
        module.rsplit(".", 1)[0] if path.name != "__init__.py" else module[: -len(".__init__")]
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


def test_every_package_has_a_layer() -> None:
    on_disk = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    on_disk |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert on_disk <= set(RANK) | set(ASIDE), sorted(on_disk - set(RANK) - set(ASIDE))


def test_the_top_of_the_package_holds_only_the_values() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    # The values of layer 0 that are modules, not packages, and the package's two doors.
    values = {name for name in LAYERS[0] if "." not in name}
    assert modules == values | {"__init__", "__main__"}


def test_no_python_import_runs_back_up() -> None:
    wrong: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        here = top(".".join(path.relative_to(REPO).with_suffix("").parts))
        if here in ASIDE or here is None or here == "__init__":
            continue
        for target in imports_of(path):
            there = top(target)
            if there is None or there == here or there == "__init__":
                continue
            if there in ASIDE:
                if RANK[here] < RANK["daemon"]:
                    wrong.append(f"{path.relative_to(REPO)} imports {target} (beside the house)")
                continue
            if there in RANK and RANK[there] > RANK[here]:
                wrong.append(f"{path.relative_to(REPO)} imports {target} (a higher layer)")
    assert not wrong, "\n".join(sorted(set(wrong)))


def _module_graph() -> dict[str, set[str]]:
    """micboardd module -> the micboardd modules it imports (names resolved to modules)."""
    modules = {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for imported in imports_of(path):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]  # `pkg.mod.Name` -> `pkg.mod`
            if target and target != name and target != "micboardd":
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_python_import_circle() -> None:
    assert _cycles(_module_graph()) == []


# SQL statements live in `store/` and in each feature's own `store.py` (alerts, history,
# tiles, sources, state): a reader finds a table's every write in one place.
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE FROM|CREATE|ALTER|DROP) [\w(*]")


def _sql_outside_the_stores() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in {"store", "sim", "bench"} or rel.name == "store.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (_SQL.match(node.value))
            ):
                found.append(f"{rel}:{node.lineno}: {node.value[:40]!r}")
    return found


def test_no_sql_outside_the_store_modules() -> None:
    assert _sql_outside_the_stores() == []
