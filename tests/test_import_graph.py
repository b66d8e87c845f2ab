"""The package's shape (DESIGN.md): no import circle in kbert/ (export/ included, installed as
kbert.export), and no stage importing a later one. Read from the source with `ast`, function-level
imports included: a circle broken only by a late import is still a circle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each stage may not import (by module prefix).
FORBIDDEN = {
    "kbert.data": ("kbert.preprocessing", "kbert.tasks", "kbert.training", "kbert.export"),
    "kbert.preprocessing": ("kbert.tasks", "kbert.training", "kbert.export"),
    "kbert.training": ("kbert.tasks", "kbert.export"),
    "kbert.tasks": ("kbert.export",),
    "kbert.presets": ("kbert.tasks", "kbert.training", "kbert.export"),
}


def _modules() -> dict[str, Path]:
    files = {}
    for base, prefix in ((ROOT / "kbert", "kbert"), (ROOT / "export", "kbert.export")):
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            files[".".join([prefix, *parts[:-1 if parts[-1] == "__init__" else None]])] = path
    return files


def _imports(module: str, path: Path, modules: dict) -> set[str]:
    """Our modules `module` imports anywhere in its body (`if TYPE_CHECKING:` left out)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def ours(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(ours(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else ours(base)
                         for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m and m != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def test_no_import_circle(graph):
    # Depth-first search for a back edge; a package's __init__ importing its own submodules
    # is how packages work, not a circle through the package.
    state, circles = {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if module.startswith(target + "."):
                continue
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_no_stage_imports_a_later_one(graph):
    wrong = [f"{module} -> {target}" for module, targets in graph.items()
             for stage, later in FORBIDDEN.items()
             if module == stage or module.startswith(stage + ".")
             for target in targets if target.startswith(later)]
    assert not wrong, "imports against the pipeline's direction: " + "; ".join(sorted(wrong))


def test_the_graph_is_read():
    # Guards the two tests above against passing on an empty or misread graph.
    modules = _modules()
    task = _imports("kbert.tasks.task", modules["kbert.tasks.task"], modules)
    assert {"kbert.presets", "kbert.tasks.lora", "kbert.preprocessing.prepared"} <= task
    assert "kbert.export.tflite" in modules
