"""Which package may import which: the dashboard never imports the DAG side (services.orchestration).

The dashboard serves what the processor and the DAGs store; the DAGs' logic, the market_summary
DAG's included, lives in services/orchestration (README, "Airflow") and the dashboard only reads
the tables it fills. The imports are read from the source with `ast`, so an import anywhere in a
module counts, not only one that happens to run.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support import ROOT

DASHBOARD = ROOT / "services" / "dashboard"
FORBIDDEN = "services.orchestration"


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import in `source`, relative ones resolved.
    `from a import b` counts as importing both `a` and `a.b` (b may be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - child.level + 1])
                    source_module = f"{base}.{child.module}" if child.module else base
                else:
                    source_module = child.module or ""
                found.append((source_module, child.lineno, in_function))
                found.extend((f"{source_module}.{alias.name}", child.lineno, in_function) for alias in child.names)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def forbidden(target: str) -> bool:
    return target == FORBIDDEN or target.startswith(FORBIDDEN + ".")


def test_the_dashboard_does_not_import_orchestration() -> None:
    paths = [p for p in sorted(DASHBOARD.rglob("*.py")) if "node_modules" not in p.parts]
    assert DASHBOARD / "app.py" in paths
    offenders = []
    for path in paths:
        module = module_of(path)
        for target, line, _ in imports(path.read_text(), module, path.name == "__init__.py"):
            if forbidden(target):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert offenders == []


def test_the_import_scan_sees_every_spelling() -> None:
    source = "\n".join([
        "import services.orchestration.tasks",
        "from services.orchestration import tasks",
        "from services import orchestration",
        "from ..orchestration.market_summary import summarize",
        "from .. import orchestration",
        "from . import queries",
        "def command():",
        "    from services.orchestration.market_summary import summarize",
    ])
    found = imports(source, "services.dashboard.example")
    assert [(line, in_function) for target, line, in_function in found if forbidden(target)] == [
        (1, False), (2, False), (2, False), (3, False), (4, False), (4, False), (5, False), (8, True), (8, True)]
    assert ("services.dashboard.queries", 6, False) in found


def test_serving_the_dashboard_loads_no_orchestration_module() -> None:
    """Every dashboard module imported and the app made, in a fresh interpreter."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import services.dashboard as package\n"
        "for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "from services.config import Settings\n"
        "from services.dashboard.app import create_app\n"
        "create_app(Settings())\n"
        "print(sorted(m for m in sys.modules if m.startswith('services.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = ast.literal_eval(done.stdout)
    assert "services.dashboard.__main__" in loaded and "services.dashboard.ws" in loaded
    assert [m for m in loaded if forbidden(m)] == []


def test_the_core_imports_no_adapter() -> None:
    """services/core is the pure domain: it may import itself, never config, Kafka, the database or a service."""
    core = ROOT / "services" / "core"
    offenders = []
    for path in sorted(core.rglob("*.py")):
        module = module_of(path)
        for target, line, _ in imports(path.read_text(), module, path.name == "__init__.py"):
            if target.startswith("services") and not (target == "services" or target.startswith("services.core")):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert offenders == []
