"""The dashboard's module map (docs/dashboard.md) checked against its imports.

Every module under web/ has a layer in the doc's table; an import goes to the same layer or a
lower one, never up, and never round in a circle; every import is a file of web/ (no CDN);
the service worker's shell lists every module; index.html preloads exactly the modules of
the first load (the static imports of app.js), so more modules cost no extra round trips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
DOC = REPO / "docs" / "dashboard.md"
# The service worker runs outside the page and imports nothing: it is not in the layers.
OUTSIDE_LAYERS = {"sw.js"}

# `import x from "./a.js"`, `import { x,\n y } from "./a.js"`, `export { x } from "./a.js"`,
# `import "./a.js"`: the statements; `import("./a.js")`: a module loaded on demand.
STATIC_IMPORT = re.compile(
    r"""^[ \t]*(?:import|export)\b[^;"'()]*?\bfrom\s*["']([^"']+)["']|^[ \t]*import\s*["']([^"']+)["']""",
    re.MULTILINE,
)
DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["']([^"']+)["']\s*\)""")

Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    """A module by its path under web/: `app.js`, `js/feed.js`."""
    return path.relative_to(WEB).as_posix()


def modules() -> dict[str, str]:
    """Every JavaScript file of the dashboard, by name, with its text."""
    found = {module_name(p): p.read_text() for p in sorted(WEB.rglob("*.js"))}
    return {name: text for name, text in found.items() if name not in OUTSIDE_LAYERS}


def specifiers(text: str, dynamic: bool = True) -> list[str]:
    found = [a or b for a, b in STATIC_IMPORT.findall(text)]
    if dynamic:
        found += DYNAMIC_IMPORT.findall(text)
    return found


def resolve(importer: str, spec: str) -> str:
    """The module an import names, relative to the importing file, as a name under web/."""
    parts: list[str] = []
    for part in (PurePosixPath(importer).parent / spec).parts:
        if part == ".." and parts:
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def import_graph(texts: Mapping[str, str], dynamic: bool = True) -> dict[str, set[str]]:
    return {
        name: {resolve(name, s) for s in specifiers(text, dynamic)} for name, text in texts.items()
    }


def find_circle(graph: Graph) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                circle = visit(nxt)
                if circle:
                    return circle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            circle = visit(start)
            if circle:
                return circle
    return None


def upward_imports(graph: Graph, layer_of: Mapping[str, int]) -> list[str]:
    """Imports from a module to one of a higher layer (a lower layer reaching up)."""
    return [
        f"{a} (layer {layer_of[a]}) imports {b} (layer {layer_of[b]})"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if a in layer_of and b in layer_of and layer_of[b] > layer_of[a]
    ]


def doc_layers() -> list[tuple[str, list[str]]]:
    """The layers table of docs/dashboard.md, bottom first: (layer, module names)."""
    text = DOC.read_text()
    start = text.index("## Layers")
    end = text.find("\n## ", start + 3)
    layers = []
    for line in text[start : end if end > 0 else None].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2:
            continue
        names = re.findall(r"`([\w./-]+\.js)`", cells[1])
        if names:
            layers.append((cells[0], names))
    return layers


def layer_map() -> dict[str, int]:
    """Each module (by its name under web/) to its layer's rank, 0 at the bottom.

    The doc names modules by file name (`feed.js` for web/js/feed.js).
    """
    by_file = {PurePosixPath(name).name: name for name in modules()}
    assert len(by_file) == len(modules()), "two dashboard modules share a file name"
    layer_of: dict[str, int] = {}
    for rank, (_, files) in enumerate(doc_layers()):
        for f in files:
            name = by_file.get(f, f)
            assert name not in layer_of, f"{f} is in two layers of {DOC.name}"
            layer_of[name] = rank
    return layer_of


# ------------------------------------------------------------------------------ the checker


def test_the_checker_finds_a_circle_and_an_upward_import() -> None:
    # The circle issue 18 found: el, button, message lived in editors.js.
    texts = {
        "js/editors.js": 'import { mountGroups } from "./groups-editor.js";\n',
        "js/groups-editor.js": 'import {\n  button, el,\n} from "./editors.js";\n',
        "js/dom.js": 'const page = import("../app.js");\n',
        "app.js": 'import "./js/dom.js";\nexport { el } from "./js/dom.js";\n',
    }
    graph = import_graph(texts)
    assert graph["app.js"] == {"js/dom.js"}
    assert graph["js/groups-editor.js"] == {"js/editors.js"}
    circle = find_circle(graph)
    assert circle is not None
    assert set(circle) == {"js/editors.js", "js/groups-editor.js"} or set(circle) == {
        "app.js",
        "js/dom.js",
    }
    layers = {"js/dom.js": 0, "js/editors.js": 1, "js/groups-editor.js": 1, "app.js": 2}
    assert upward_imports(graph, layers) == ["js/dom.js (layer 0) imports app.js (layer 2)"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


# ------------------------------------------------------------------------------ the dashboard


def test_every_module_has_one_layer_in_the_doc() -> None:
    layer_of = layer_map()
    names = set(modules())
    assert set(layer_of) == names, (
        f"not in the layers of {DOC.name}: {sorted(names - set(layer_of))}; "
        f"listed but missing: {sorted(set(layer_of) - names)}"
    )
    assert doc_layers()[-1][1] == ["app.js"], "app.js, the entry point, is the top layer alone"


def test_every_import_is_a_file_of_the_dashboard() -> None:
    texts = modules()
    for name, text in texts.items():
        for spec in specifiers(text):
            assert spec.startswith(("./", "../")), f"{name} imports {spec!r}: no CDN, no bare names"
            assert resolve(name, spec) in texts, f"{name} imports {spec}, which is not in web/"
    assert not specifiers((WEB / "sw.js").read_text())


def test_no_import_circle() -> None:
    assert find_circle(import_graph(modules())) is None


def test_no_import_reaches_up_a_layer() -> None:
    assert upward_imports(import_graph(modules()), layer_map()) == []


def first_load() -> set[str]:
    """app.js and everything it imports statically: what the browser fetches before tiles."""
    graph = import_graph(modules(), dynamic=False)
    seen: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_index_preloads_exactly_the_first_load() -> None:
    html = (WEB / "index.html").read_text()
    preloads = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html))
    assert '<script type="module" src="app.js"></script>' in html
    wanted = first_load() - {"app.js"}
    assert preloads == wanted, (
        f"preload these too: {sorted(wanted - preloads)}; not on the first load: "
        f"{sorted(preloads - wanted)}"
    )


def test_service_worker_keeps_every_module() -> None:
    sw = (WEB / "sw.js").read_text()
    listing = sw[sw.index("const SHELL = [") : sw.index("];", sw.index("const SHELL"))]
    shell = set(re.findall(r'"([^"]+)"', listing))
    assert set(modules()) <= shell, sorted(set(modules()) - shell)
    missing = [f for f in shell if f != "./" and not (WEB / f).is_file()]
    assert not missing, f"sw.js caches files that do not exist: {missing}"
