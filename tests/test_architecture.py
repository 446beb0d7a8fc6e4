"""The layout is the pipeline: a stage imports only from the shared base and from earlier stages, no
module imports itself back through a circle (imports inside functions count too), "module:Class" strings
name real objects, scorer kinds live in one table, and no module grows past one concept's size."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import synthgrade

PACKAGE = Path(synthgrade.__file__).parent
BASE = {
    "errors",
    "io",
    "console",
    "models",
    "executors",
    "data",
    "metrics",
    "speed",
    "embed",
    "onnx_graph",
    "modeling",
    "modelcard",
    "__init__",
}
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


#: The most lines a module in src/ may hold: past it, a module holds several concepts (split it into a package).
MAX_MODULE_LINES = 400
#: A "module:name" string naming an object in the package (a lazy import the import reader cannot see).
TARGET = re.compile(r"^(synthgrade(?:\.\w+)+):(\w+)$")


def oversized_modules(paths: dict[str, Path], limit: int = MAX_MODULE_LINES) -> dict[str, int]:
    sizes = {name: len(path.read_text().splitlines()) for name, path in paths.items()}
    return {name: lines for name, lines in sizes.items() if lines > limit}


def string_targets(path: Path) -> list[str]:
    """Every "synthgrade.module:Name" string constant in a source file."""
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.match(node.value)
    ]


def resolve(target: str) -> object:
    module_name, name = TARGET.match(target).groups()  # type: ignore[union-attr]
    return getattr(importlib.import_module(module_name), name)


def kind_tables(path: Path) -> list[str]:
    """Names of the dicts in a source file whose values name Scorer classes: each one is a table of kinds."""
    from synthgrade.modeling import Scorer

    tables = []
    for node in ast.walk(ast.parse(path.read_text())):
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not isinstance(value, ast.Dict):
            continue
        names = [string_targets_in(entry) for entry in value.values if entry is not None]
        classes = [resolve(t) for found in names for t in found]
        if any(isinstance(c, type) and issubclass(c, Scorer) for c in classes):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            tables.append(ast.unparse(target))
    return tables


def string_targets_in(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str) and TARGET.match(n.value)]


def test_modules_stay_small() -> None:
    found = oversized_modules(modules())
    assert not found, f"modules over {MAX_MODULE_LINES} lines (split each into a package of one concept per module): {found}"


def test_one_table_of_scorer_kinds() -> None:
    """``modeling.SCORER_KINDS`` is the only place a kind is named: ``train`` and ``load_scorer`` both read it."""
    tables = {f"{name}.{table}" for name, path in modules().items() for table in kind_tables(path)}
    assert tables == {"synthgrade.modeling.kinds.SCORER_KINDS"}, f"more than one table of scorer kinds: {sorted(tables)}"


def test_string_targets_resolve_and_keep_the_pipeline_order() -> None:
    """The import reader cannot see "module:Class" strings, so they are checked here: each names a real object,
    each kind's class carries its table name, and ``train`` can fit only kinds from the scorers stage or before."""
    from synthgrade.modeling import SCORER_KINDS, Scorer
    from synthgrade.scorers.base import TrainableScorer

    broken = []
    for name, path in modules().items():
        for target in string_targets(path):
            try:
                resolve(target)
            except (ImportError, AttributeError) as exc:
                broken.append(f"{name}: {target} ({exc})")
    assert not broken, "string targets that name nothing:\n" + "\n".join(broken)
    for kind, entry in SCORER_KINDS.items():
        cls = resolve(entry.target)
        assert isinstance(cls, type) and issubclass(cls, Scorer) and cls.kind == kind, entry
        assert issubclass(cls, TrainableScorer) or not entry.trainable, f"{kind}: train cannot fit {cls}"
        stage = top(entry.target.partition(":")[0])
        if entry.trainable:
            assert stage in BASE or STAGES[stage] <= STAGES["scorers"], f"{kind}: train would import a later stage ({stage})"


def test_the_size_and_table_checks_can_fail(tmp_path: Path) -> None:
    """A module one line over the limit and a second table of kinds (even one built from calls) are caught."""
    big = tmp_path / "big.py"
    big.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    small = tmp_path / "small.py"
    small.write_text("x = 1\n" * MAX_MODULE_LINES)
    assert oversized_modules({"big": big, "small": small}) == {"big": MAX_MODULE_LINES + 1}
    second = tmp_path / "second.py"
    second.write_text(
        "LOADERS = {'tfidf': 'synthgrade.scorers.tfidf:TfidfScorer'}\n"
        "MORE: dict = {'x': Entry('synthgrade.export:OnnxScorer', trainable=False)}\n"
        "NOT_KINDS = {'llm': 'synthgrade.filter.llm:grader_from_spec', 'n': 3}\n"
    )
    assert kind_tables(second) == ["LOADERS", "MORE"]
    assert sorted(string_targets(second)) == [
        "synthgrade.export:OnnxScorer", "synthgrade.filter.llm:grader_from_spec", "synthgrade.scorers.tfidf:TfidfScorer"
    ]  # fmt: skip
    broken = tmp_path / "broken.py"
    broken.write_text("T = 'synthgrade.scorers.tfidf:NoSuchScorer'\n")
    with pytest.raises(AttributeError):
        resolve(string_targets(broken)[0])
