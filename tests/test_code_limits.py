"""The product code stays within the size limits the team reviews against: no function
or method over 60 lines, no module over 400 lines. The complexity limits (C901, PLR0915)
are enforced by ruff in `make check`; these two are not ruff rules, so they live here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "graph", "nodes", "tools", "local_model", "evals", "storage")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def product_modules() -> list[Path]:
    """Every Python file of the product packages, sorted."""
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def long_functions(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line name (N lines)` (file relative to `root`) for each function in `path`
    longer than the limit, counted from its `def` line to its last line (decorators not
    counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                where = f"{path.relative_to(root)}:{node.lineno}"
                found.append(f"{where} {node.name} ({length} lines)")
    return found


def test_the_product_packages_are_walked() -> None:
    modules = product_modules()
    assert {path.relative_to(ROOT).parts[0] for path in modules} == set(PACKAGES)
    assert ROOT / "tools" / "agent_tools.py" in modules


def test_no_function_is_over_the_line_limit() -> None:
    offenders = [entry for path in product_modules() for entry in long_functions(path)]
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def test_no_module_is_over_the_line_limit() -> None:
    offenders = []
    for path in product_modules():
        length = len(path.read_text(encoding="utf-8").splitlines())
        if length > MAX_MODULE_LINES:
            offenders.append(f"{path.relative_to(ROOT)} ({length} lines)")
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_an_over_long_function_is_reported(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    probe = tmp_path / "probe.py"
    probe.write_text(f"def short():\n    return 1\n\n\ndef too_long():\n{body}\n")
    assert long_functions(probe, root=tmp_path) == [
        f"probe.py:5 too_long ({MAX_FUNCTION_LINES + 1} lines)"
    ]
