"""No function of the dashboard's JavaScript runs over FUNCTION_MAX_LINES (issue 18).

No JavaScript parser here (the tests need no Node): a small scanner blanks out what cannot
hold code (comments, strings, template text, regular expressions), then the braces are
matched and a brace is a function's body when what stands before it says so: `=>`, or a
parameter list after `function`, `function name` or a method's name. A function's length
runs from its parameter list to its closing brace and includes the functions inside it,
as a reader sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
# Past a screen and a half a function stops being read as one idea (the Python rule too).
FUNCTION_MAX_LINES = 80

# Words after which `/` starts a regular expression, not a division.
REGEX_AFTER_WORDS = {
    "return",
    "typeof",
    "case",
    "do",
    "else",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "yield",
    "await",
}
REGEX_AFTER_CHARS = set("(,=:[!&|?{};+-*%<>~^")
# `word (...) {` is a block, not a method, after these.
CONTROL_WORDS = {"if", "for", "while", "switch", "catch", "with", "return", "typeof", "await"}
WORD_BEFORE = re.compile(r"([A-Za-z_$][\w$]*)\s*\*?\s*$")


@dataclass(frozen=True)
class Function:
    name: str
    line: int  # 1-based, where its parameters start
    lines: int


def blank(text: str) -> str:
    """The text with comments, strings, template text and regexes as spaces (newlines kept)."""
    out = list(text)
    i, n = 0, len(text)
    # One entry per open template literal: the brace depth of the `${` we are inside, or
    # -1 while in the template's text.
    templates: list[int] = []

    def wipe(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    def regex_may_start(at: int) -> bool:
        k = at - 1
        while k >= 0 and out[k] in " \t\r\n":
            k -= 1
        if k < 0 or out[k] in REGEX_AFTER_CHARS:
            return True
        m = WORD_BEFORE.search("".join(out[max(0, k - 20) : k + 1]))
        return bool(m and m.group(1) in REGEX_AFTER_WORDS)

    while i < n:
        c = text[i]
        if templates and templates[-1] == -1:  # template text
            if c == "\\":
                wipe(i, i + 2)
                i += 2
            elif c == "`":
                wipe(i, i + 1)
                templates.pop()
                i += 1
            elif text.startswith("${", i):
                wipe(i, i + 2)
                templates[-1] = 0
                i += 2
            else:
                wipe(i, i + 1)
                i += 1
            continue
        if c == "{" and templates:
            templates[-1] += 1
        elif c == "}" and templates:
            if templates[-1] == 0:
                wipe(i, i + 1)
                templates[-1] = -1
                i += 1
                continue
            templates[-1] -= 1
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            wipe(i, end)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            wipe(i, end)
            i = end
        elif c in "'\"":
            k = i + 1
            while k < n and text[k] != c and text[k] != "\n":
                k += 2 if text[k] == "\\" else 1
            wipe(i, k + 1)
            i = k + 1
        elif c == "`":
            wipe(i, i + 1)
            templates.append(-1)
            i += 1
        elif c == "/" and regex_may_start(i):
            k, in_class = i + 1, False
            while k < n and text[k] != "\n" and (in_class or text[k] != "/"):
                if text[k] == "\\":
                    k += 1
                elif text[k] == "[":
                    in_class = True
                elif text[k] == "]":
                    in_class = False
                k += 1
            k += 1
            while k < n and (text[k].isalnum() or text[k] == "_"):  # flags
                k += 1
            wipe(i, k)
            i = k
        else:
            i += 1
    return "".join(out)


def _skip_space_back(code: str, k: int) -> int:
    while k >= 0 and code[k].isspace():
        k -= 1
    return k


def _open_paren(code: str, close: int) -> int:
    depth = 0
    for k in range(close, -1, -1):
        if code[k] == ")":
            depth += 1
        elif code[k] == "(":
            depth -= 1
            if depth == 0:
                return k
    return -1


def _function_head(code: str, brace: int) -> tuple[int, str] | None:
    """Where the function whose body opens at `brace` starts, and its name; None for a block."""
    k = _skip_space_back(code, brace - 1)
    if k >= 1 and code[k - 1 : k + 1] == "=>":
        k = _skip_space_back(code, k - 2)
        if k >= 0 and code[k] == ")":
            start = _open_paren(code, k)
        else:  # a single parameter without parentheses
            m = WORD_BEFORE.search(code[: k + 1])
            start = m.start(1) if m else k
        if start < 0:
            return None
        before = code[:start].rstrip()
        before = before.removesuffix("async").rstrip()
        m = re.search(r"([A-Za-z_$][\w$.]*)\s*[:=]$", before)
        return start, m.group(1) if m else "(arrow)"
    if k < 0 or code[k] != ")":
        return None
    start = _open_paren(code, k)
    if start < 0:
        return None
    before = code[:start]
    m = WORD_BEFORE.search(before)
    if m is None:
        return None
    word = m.group(1)
    if word in CONTROL_WORDS:
        return None
    if word == "function":
        return start, "(function)"
    return start, word  # `function name(`, or a method `name(` in a class or an object


def functions(text: str) -> list[Function]:
    code = blank(text)
    found: list[Function] = []
    opened: list[tuple[int, tuple[int, str] | None]] = []
    for i, c in enumerate(code):
        if c == "{":
            opened.append((i, _function_head(code, i)))
        elif c == "}" and opened:
            _, head = opened.pop()
            if head is not None:
                start, name = head
                first = code.count("\n", 0, start) + 1
                last = code.count("\n", 0, i) + 1
                found.append(Function(name, first, last - first + 1))
    assert not opened, "unbalanced braces: the scanner misread something"
    return sorted(found, key=lambda f: f.line)


def dashboard_functions() -> dict[str, list[Function]]:
    return {p.relative_to(WEB).as_posix(): functions(p.read_text()) for p in WEB.rglob("*.js")}


# ------------------------------------------------------------------------------ the scanner


def test_the_scanner_sees_through_strings_comments_templates_and_regexes() -> None:
    text = (
        "// a } in a comment\n"
        "export function outer(a,\n"
        "  b) {\n"
        '  const s = "}{" + \'{\' + `x ${a ? "}" : `${b}`} }` + /[}/]{2}/g.source;\n'
        "  const half = a / 2 / b; /* } */\n"
        "  if (a) { return 1; }\n"
        "  const f = async (x) => {\n"
        "    return x;\n"
        "  };\n"
        "  const g = y => { return y; };\n"
        "  return { f, g };\n"
        "}\n"
        "class A {\n"
        "  method(x) {\n"
        "    for (const k of x) { k(); }\n"
        "  }\n"
        "}\n"
        "const h = function () {\n"
        "};\n"
    )
    found = functions(text)
    assert [(f.name, f.line, f.lines) for f in found] == [
        ("outer", 2, 11),
        ("f", 7, 3),
        ("g", 10, 1),
        ("method", 14, 3),
        ("(function)", 18, 2),
    ]


def test_the_check_fails_on_a_long_function() -> None:
    body = "".join(f"  x += {k};\n" for k in range(FUNCTION_MAX_LINES))
    (long_one,) = functions(f"function long(x) {{\n{body}}}\n")
    assert long_one.lines > FUNCTION_MAX_LINES


# ------------------------------------------------------------------------------ the dashboard


def test_the_scanner_reads_every_module() -> None:
    found = dashboard_functions()
    assert found["js/names-editor.js"], "no function found where there are several"
    assert all(found.values()) or [m for m, fs in found.items() if not fs] == ["sw.js"]


def test_no_dashboard_function_is_longer_than_the_limit() -> None:
    long = [
        f"{module}:{f.line} {f.name} ({f.lines} lines)"
        for module, found in sorted(dashboard_functions().items())
        for f in found
        if f.lines > FUNCTION_MAX_LINES
    ]
    assert not long, "\n".join(long)
