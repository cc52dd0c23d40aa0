"""Imports point one way: shared types at the bottom, entry points on top.

Every import of a project module, at module level or inside a function, is checked
against the layer map below (docs/architecture.md, "Layers"). A module may import modules
of its own layer or of a lower one, never of a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "nodes", "tools", "local_model", "evals", "app", "storage")

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "shared types",
        (
            "graph.state",
            "graph.message_reducer",
            "graph.context",
            "graph.departments",
            "graph.registry",
            "graph.identity",
            "graph.identifiers",
        ),
    ),
    (
        "data, storage and the embedded model",
        (
            "tools",
            "local_model",
            "storage",
        ),
    ),
    (
        "agents",
        ("graph.models", "graph.compatible_openai", "graph.handoffs", "graph.routing", "nodes"),
    ),
    ("graph builder", ("graph.builder",)),
    ("evaluations", ("evals",)),
    ("entry points", ("app",)),
)
"""Layers from the bottom up; a module belongs to its longest matching prefix."""


def layer_of(module: str) -> int | None:
    """Index of the layer of `module` in `LAYERS`, or None when no prefix matches."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported_modules(path: Path) -> set[str]:
    """Project modules imported anywhere in the file at `path`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def test_every_project_module_has_a_layer() -> None:
    missing = sorted(m for m in project_modules() if layer_of(m) is None)
    missing = [m for m in missing if m not in PACKAGES]
    assert missing == [], f"add these modules to LAYERS: {missing}"


def test_no_import_runs_up_a_layer() -> None:
    modules = project_modules()
    upward: list[str] = []
    for name, path in sorted(modules.items()):
        own = layer_of(name)
        if own is None:
            continue
        for target in imported_modules(path):
            if target not in modules and target.rsplit(".", 1)[0] in modules:
                target = target.rsplit(".", 1)[0]  # `from package import name`
            theirs = layer_of(target)
            if theirs is not None and theirs > own:
                upward.append(f"{name} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert upward == []


def test_only_the_builder_imports_the_nodes() -> None:
    importers = {
        name
        for name, path in project_modules().items()
        if any(t == "nodes" or t.startswith("nodes.") for t in imported_modules(path))
        and not name.startswith(("nodes", "evals", "app"))
    }
    assert importers == {"graph.builder"}
