"""The import direction (DESIGN.md): no import circles in storyboard/ (counting imports inside functions too),
storyboard/ never imports gradio or ui, and torch-based libraries only where an engine or metric needs them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "storyboard"
HEAVY = {"torch", "diffusers", "transformers", "insightface", "open_clip", "onnxruntime", "accelerate", "peft",
         "controlnet_aux"}
HEAVY_ALLOWED = ("storyboard/engines/storymaker/", "storyboard/metrics.py", "storyboard/eval.py", "storyboard/poses.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module `path` imports, anywhere in the file (with the line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]  # from pkg import module
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {target for target, _ in imports(path) if target in MODULES and target != name}
        # a package's __init__ gathering its own modules is not a circle with them
        edges[name] = {t for t in targets if not (name == t.rsplit(".", 1)[0] and path.name == "__init__.py")}
    return edges


def test_no_import_circles() -> None:
    edges = graph()
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_storyboard_never_imports_the_ui_and_heavy_libraries_only_where_needed(name: str) -> None:
    path = MODULES[name]
    rel = path.relative_to(REPO).as_posix()
    for target, line in imports(path):
        top = target.split(".")[0]
        assert top not in ("gradio", "ui"), f"{rel}:{line} imports {target}; only ui/ and app.py may"
        if top in HEAVY:
            assert rel.startswith(HEAVY_ALLOWED) or rel.startswith("storyboard/cluster"), \
                f"{rel}:{line} imports {target}; torch-based libraries load only in engine and metric modules"
