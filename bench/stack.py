"""The benchmark's own corner of the local services: a database and a topic namespace."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx
from sqlalchemy import Engine, text

from services.config import DATABASE_URL_FIELDS, Settings
from services.db.connect import make_engine, require_database, side_database_urls
from services.db.migrations import migrate
from services.kafka_io import delete_topics, ensure_topics
from services.processor.sinks import PROCESSOR_TABLES

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATABASE = "tickflow_bench"


def wait_for(check: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark gave up waiting for {what} after {timeout} s")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BenchStack:
    settings: Settings
    db: Engine
    log_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def create(cls, log_dir: Path, database: str = BENCH_DATABASE) -> "BenchStack":
        base = Settings()
        urls = side_database_urls({name: getattr(base, name) for name in DATABASE_URL_FIELDS}, database)
        tag = uuid.uuid4().hex[:6]
        settings = base.model_copy(update={**urls, "kafka_topic_prefix": f"bench-{tag}.",
                                           "processor_group": f"bench-{tag}", "log_format": "json"})
        require_database(settings.admin_database_url)
        db = make_engine(settings.admin_database_url)
        migrate(db)
        ensure_topics(settings.kafka_bootstrap, settings.topics)
        return cls(settings, db, log_dir)

    def fresh_namespace(self) -> Settings:
        """A new topic prefix and group on the same database (tables emptied)."""
        delete_topics(self.settings.kafka_bootstrap, self.settings.topics)
        tag = uuid.uuid4().hex[:6]
        self.settings = self.settings.model_copy(update={"kafka_topic_prefix": f"bench-{tag}.",
                                                         "processor_group": f"bench-{tag}"})
        ensure_topics(self.settings.kafka_bootstrap, self.settings.topics)
        self.truncate()
        return self.settings

    def truncate(self) -> None:
        with self.db.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(PROCESSOR_TABLES)}"))

    def count(self, table: str = "bars") -> int:
        """Rows of `table`; of `bars`, the base bars only (rolled-up candles come on top of them)."""
        where = " WHERE timeframe = 'raw'" if table == "bars" else ""
        with self.db.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}{where}")).scalar_one()

    def env(self, **extra: object) -> dict[str, str]:
        env = dict(os.environ)
        s = self.settings
        for name in ("kafka_bootstrap", "kafka_topic_prefix", "processor_group", *DATABASE_URL_FIELDS, "log_format"):
            env[f"TICKFLOW_{name.upper()}"] = str(getattr(s, name))
        env.update({f"TICKFLOW_{k.upper()}": str(v) for k, v in extra.items()})
        return env

    def spawn(self, name: str, *args: str, health: str | None = None, cwd: Path = ROOT,
              env: dict[str, str] | None = None, module: str | None = None, **extra: object) -> subprocess.Popen:
        """`python -m services.<name>` (or `module`) from the source tree `cwd`, with `env` or this
        stack's env(**extra)."""
        log = open(self.log_dir / f"{name}-{len(self.processes)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", module or f"services.{name}", *args], cwd=cwd,
                                env=env if env is not None else self.env(**extra),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        if health:
            def healthy() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {log.name}")
                try:
                    return httpx.get(health, timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False
            wait_for(healthy, 60, 0.2, f"{name} at {health}")
        return proc

    def close(self) -> None:
        self.stop_all()
        delete_topics(self.settings.kafka_bootstrap, self.settings.topics)
        self.db.dispose()

    def stop_all(self) -> None:
        self.stop(*reversed(self.processes))

    def stop(self, *procs: subprocess.Popen) -> None:
        """End these processes (all signalled first, then waited for) and forget them."""
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)
            self.processes.remove(proc)
