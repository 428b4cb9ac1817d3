"""Which package may import which.

- No service imports another: each service package (SERVICES) imports only itself, the domain
  (`services.core`) and the shared adapters (SHARED: config, db, Kafka, logs, the ingest client,
  ...); the adapters and the domain import no service. So the generator, the replay and the feed
  share the ingest client (services/ingest_client.py), not the generator's module, and SQL two
  services run lives in services/db/queries.py.
- The dashboard never imports the DAG side (services.orchestration): it serves what the processor
  and the DAGs store; the DAGs' logic, the market_summary DAG's included, lives in
  services/orchestration (README, "Airflow") and the dashboard only reads the tables it fills.
- services/core, the pure domain, imports no adapter.

The imports are read from the source with `ast`, so an import anywhere in a module counts, not only
one that happens to run.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Callable

from support import ROOT

SERVICES_DIR = ROOT / "services"
DASHBOARD = SERVICES_DIR / "dashboard"
FORBIDDEN = "services.orchestration"
# The runnable services (`python -m services.<name>`; admin is a module) ...
SERVICES = ("generator", "ingest", "processor", "dashboard", "orchestration", "feed", "replay", "admin")
# ... and what they share: the domain and the adapters.
SHARED = ("core", "config", "cli", "db", "kafka_io", "logs", "ops", "retry", "http_guard", "ingest_client", "heap")


def module_of(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
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


def python_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.rglob("*.py")) if "node_modules" not in p.parts]


def offending_imports(paths: list[Path], is_forbidden: Callable[[str, str], bool], root: Path = ROOT) -> list[str]:
    """"path:line imports target" for each import in `paths` that `is_forbidden(module, target)`
    (one per line: `from a import b` also yields a.b)."""
    offenders = []
    for path in paths:
        module = module_of(path, root)
        seen: set[int] = set()
        for target, line, _ in imports(path.read_text(), module, path.name == "__init__.py"):
            if line not in seen and is_forbidden(module, target):
                seen.add(line)
                offenders.append(f"{path.relative_to(root)}:{line} imports {target}")
    return offenders


def service_of(module: str) -> str | None:
    """The service package (or module) `module` belongs to, or None (the domain, an adapter)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" and parts[1] in SERVICES else None


def imports_another_service(module: str, target: str) -> bool:
    return service_of(target) not in (None, service_of(module))


def cross_service_imports(root: Path = ROOT) -> list[str]:
    """Every import, in any module under `root`/services, of a service package other than the module's own."""
    return offending_imports(python_files(root / "services"), imports_another_service, root)


def test_the_dashboard_does_not_import_orchestration() -> None:
    paths = python_files(DASHBOARD)
    assert DASHBOARD / "app.py" in paths
    assert offending_imports(paths, lambda module, target: forbidden(target)) == []


def test_every_part_of_services_is_a_service_or_shared() -> None:
    """A new package or module under services/ must be placed on one side of the rule below."""
    parts = {p.stem if p.suffix == ".py" else p.name for p in SERVICES_DIR.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()}
    assert parts == set(SERVICES) | set(SHARED)


def test_no_service_imports_another() -> None:
    """The services share only the domain and the adapters (e.g. services/ingest_client.py,
    services/db/queries.py); a service module importing another service's module is listed here."""
    assert cross_service_imports() == []


def test_the_service_rule_sees_a_borrowed_module() -> None:
    source = "\n".join([
        "from services.generator.pusher import Pusher",
        "from services import admin",
        "from services.ingest_client import Pusher",
        "from services.db.queries import STORED_BASE_BARS_SQL",
        "from . import runner",
        "def command():",
        "    from services.processor.store import STORED_BASE_BARS_SQL",
    ])
    found = imports(source, "services.feed.example")
    assert sorted({line for target, line, _ in found if imports_another_service("services.feed.example", target)}) == [
        1, 2, 7]
    assert not imports_another_service("services.generator.runner", "services.generator.app")
    assert imports_another_service("services.core.times", "services.replay")


def test_the_import_scan_sees_every_spelling() -> None:
    source = "\n".join([
        "import services.orchestration.tasks",
        "from services.orchestration import tasks",
        "from services import orchestration",
        "from ..orchestration.market_summary import summarize",
        "from .. import orchestration",
        "from . import queries",
        "def command():",
        "    from services.orchestration.analytics.market_summary import summarize",
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
    def adapter(module: str, target: str) -> bool:
        return target.startswith("services") and not (target == "services" or target.startswith("services.core"))

    assert offending_imports(python_files(SERVICES_DIR / "core"), adapter) == []
