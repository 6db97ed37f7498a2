"""No function over 80 lines: a longer one does several things, and a newcomer reading it
must hold them all at once (issue 18). Counted from its first decorator to its last line,
docstring and comments included; a nested function counts inside its parent too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "micboardd"
MAX_LINES = 80

Function = ast.FunctionDef | ast.AsyncFunctionDef


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function and method with its qualified name, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from functions(node, f"{name}.")
        else:
            yield from functions(node, prefix)


def length(node: Function) -> int:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    assert node.end_lineno is not None
    return node.end_lineno - first + 1


def long_functions() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for name, node in functions(ast.parse(path.read_text(), str(path))):
            if (lines := length(node)) > MAX_LINES:
                found[f"{module}:{name}"] = lines
    return found


def test_no_function_is_over_80_lines() -> None:
    over = long_functions()
    assert not over, "\n".join(f"{name}: {n} lines" for name, n in sorted(over.items()))


def test_the_count_sees_decorators_nesting_and_methods() -> None:
    source = "\n".join(
        [
            "class A:",
            "    @staticmethod",
            "    @other",
            "    def f():",
            "        def g():",
            "            pass",
            "        return g",
        ]
    )
    found = {name: length(node) for name, node in functions(ast.parse(source))}
    assert found == {"A.f": 6, "A.f.g": 2}
