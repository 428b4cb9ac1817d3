"""The built wheel stands alone: it carries the SQL migrations and the dashboard's static files, and
its console scripts run. Built from a copy of the sources, installed into a fresh virtualenv
(without its dependencies, which come from this interpreter's site-packages: a full install takes
minutes), migrated against a new database on the local PostgreSQL, and served from a console script."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from support import ROOT, ServiceProcess, free_port

from services.config import Settings
from services.db.connect import make_engine, with_database
from services.db.migrations import discover

SCRIPTS = ("tickflow-ingest", "tickflow-processor", "tickflow-generator", "tickflow-dashboard", "tickflow-admin",
           "tickflow-orchestration", "tickflow-feed")
PG_SOCKET_DIR = Path(os.environ.get("TICKFLOW_LOCAL_DIR", ROOT / ".local")) / "pg" / "run"


def run(*cmd: str | Path, **kw: object) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the tickflow wheel installed; its dependencies are visible
    through a .pth line naming this interpreter's site-packages (no .pth file there is run, so an
    editable tickflow there stays out)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc")
    for name in ("services", "sql"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    uv = Path(sys.executable).parent / "uv"
    run(uv, "build", "--wheel", "--out-dir", tmp / "dist", src)
    (wheel,) = (tmp / "dist").glob("tickflow-*.whl")
    env_dir = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", env_dir)
    purelib = Path(run(env_dir / "bin" / "python", "-c",
                       "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (purelib / "tickflow_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(uv, "pip", "install", "--python", env_dir / "bin" / "python", "--no-deps", wheel)
    return env_dir


@pytest.fixture
def fresh_database(base_settings: Settings) -> Iterator[str]:
    """A new, empty database owned by tickflow (made over the local socket as the superuser);
    yields its owner URL, drops it afterwards."""
    name = f"tickflow_wheel_{uuid.uuid4().hex[:8]}"
    port = make_url(base_settings.admin_database_url).port
    su = psycopg2.connect(host=str(PG_SOCKET_DIR), port=port, user="postgres", dbname="postgres")
    su.autocommit = True
    try:
        with su.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} OWNER tickflow")
        yield with_database(base_settings.admin_database_url, name)
    finally:
        with su.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        su.close()


def test_the_wheel_carries_migrations_assets_and_console_scripts(venv: Path, fresh_database: str,
                                                                 tmp_path: Path) -> None:
    bin_dir = venv / "bin"
    assert all((bin_dir / script).is_file() for script in SCRIPTS)
    where = run(bin_dir / "python", "-c", "import services; print(services.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(venv), f"services imported from {where}, not the wheel"

    env = {**os.environ, "TICKFLOW_ADMIN_DATABASE_URL": fresh_database, "TICKFLOW_LOG_FORMAT": "json"}
    versions = [m.version for m in discover()]
    out = run(bin_dir / "tickflow-admin", "migrate", env=env, cwd=tmp_path).strip().splitlines()
    assert out[0] == f"applied {len(versions)} migration(s): {', '.join(versions)}"
    created = int(out[1].removeprefix("partitions: ").split()[0])  # the time partitions a week ahead
    assert created > 50 and out[1].endswith(", 0 row(s) moved out of DEFAULT partitions")
    engine = make_engine(fresh_database)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT version FROM schema_migrations ORDER BY version")).scalars().all()
            assert conn.execute(text("SELECT to_regclass('bars') IS NOT NULL")).scalar_one()
    finally:
        engine.dispose()
    assert stored == versions
    assert run(bin_dir / "tickflow-admin", "migrate", env=env, cwd=tmp_path).strip().splitlines() == [
        "schema is up to date", "partitions: 0 created, 0 row(s) moved out of DEFAULT partitions"]

    # Services from their console scripts, serving what only the wheel can have provided.
    port, ops_port, dash_port = free_port(), free_port(), free_port()
    ingest = ServiceProcess("ingest", ["--port", str(port), "--ops-port", str(ops_port), "--workers", "1"], env,
                            tmp_path, script=bin_dir / "tickflow-ingest")
    dashboard = ServiceProcess("dashboard", ["--port", str(dash_port)], env, tmp_path,
                               script=bin_dir / "tickflow-dashboard")
    try:
        ingest.wait_http(f"http://127.0.0.1:{port}/healthz")
        ingest.wait_http(f"http://127.0.0.1:{ops_port}/openapi.json")
        metrics = httpx.get(f"http://127.0.0.1:{ops_port}/metrics", timeout=5).text
        dashboard.wait_http(f"http://127.0.0.1:{dash_port}/healthz")
        page = httpx.get(f"http://127.0.0.1:{dash_port}/", timeout=5)
        script = httpx.get(f"http://127.0.0.1:{dash_port}/static/app.js", timeout=5)
    finally:
        assert ingest.stop() == 0, ingest.log_tail()
        assert dashboard.stop() == 0, dashboard.log_tail()
    assert "tickflow_ingest_requests_total 0.0" in metrics
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert script.status_code == 200 and script.text == (ROOT / "services/dashboard/static/app.js").read_text()
