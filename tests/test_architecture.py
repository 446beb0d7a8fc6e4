"""The layout is the pipeline: a stage imports only from the shared base and from earlier stages, and no
module imports itself back through a circle (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import synthgrade

PACKAGE = Path(synthgrade.__file__).parent
BASE = {
    "errors", "io", "console", "registry", "data", "metrics", "speed", "embed", "onnx_graph", "modeling", "modelcard", "__init__",
}  # fmt: skip
#: Pipeline position of every stage, as numbered in ARCHITECTURE.md; equal numbers are siblings that never import each other.
STAGES = {
    "generate": 1,
    "prompts": 1,  # the prompt files generate reads
    "filter": 2,
    "mix": 3,
    "scorers": 4,
    "train": 5,
    "distill": 6,
    "select": 6,  # what to code next and which coded labels to check: needs scorers/train, feeds nothing earlier
    "evaluate": 7,
    "experiment": 8,
    "presets": 9,
    "report": 9,
    "build": 10,
    "demo": 11,
    "predict": 12,
    "export": 12,
    "serve": 13,
    "coding": 14,
    "commands": 15,
    "cli": 16,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every synthgrade module ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from pkg import sub`` imports the submodule when one exists, else a name from pkg.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in known and target != name}
    return found


def top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_every_top_level_module_has_a_place() -> None:
    unplaced = {top(name) for name in modules()} - BASE - set(STAGES)
    assert not unplaced, f"add {sorted(unplaced)} to BASE or STAGES here and to ARCHITECTURE.md"


def test_no_stage_imports_a_later_stage() -> None:
    backwards = []
    for name, targets in graph().items():
        for target in targets:
            source, dest = top(name), top(target)
            if source == dest or dest in BASE:
                continue
            if source in BASE or STAGES[dest] >= STAGES[source]:
                backwards.append(f"{name} -> {target}")
    assert not backwards, "imports against the pipeline order:\n" + "\n".join(sorted(backwards))


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(circle) for circle in circles)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The import reader sees lazy and relative imports, so the checks above are not vacuous."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from synthgrade.serve import app\n    from .. import errors\n")
    known = {"synthgrade.serve", "synthgrade.errors", "synthgrade.train.x"}
    assert imports_of("synthgrade.train.x", source, known) == {"synthgrade.serve", "synthgrade.errors"}
