"""Everything kbert.export imports is declared in setup.py (a fresh `pip install kbert` has it)."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every import is a declared dependency (mediapipe is one since tf-models-official left).
OPTIONAL = set()


def declared_requirements() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
               and getattr(n.func, "id", None) == "setup"]
    (requires,) = [k.value for k in call.keywords if k.arg == "install_requires"]
    return {re.split(r"[<>=!~;\[ ]", ast.literal_eval(item))[0].lower().replace("_", "-")
            for item in requires.elts}


def imported_modules(folder: Path) -> set[str]:
    names = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"kbert", "__future__"}


def undeclared(modules: set[str], declared: set[str]) -> dict[str, list[str]]:
    """The modules whose distributions are not among the declared requirements."""
    distributions = packages_distributions()
    missing = {}
    for module in sorted(modules):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & declared:
            missing[module] = sorted(names)
    return missing


def test_every_module_kbert_export_imports_is_a_declared_dependency():
    declared = declared_requirements()
    assert {"ai-edge-litert", "flatbuffers"} <= declared
    missing = undeclared(imported_modules(ROOT / "export") - OPTIONAL, declared)
    assert missing == {}, "imported by kbert.export but not in setup.py install_requires"
