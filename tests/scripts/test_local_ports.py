"""TICKFLOW_PG_PORT / TICKFLOW_KAFKA_PORT (the ports scripts/local-services.sh uses) decide where
everything Python connects to, so a second checkout on other ports never creates topics or runs
migrations in the first one's services (services/config.py, `_urls_follow_the_local_ports`)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import make_url
from support import ROOT, free_port

from services.config import DATABASE_URL_FIELDS, Settings

LOCAL_URL_VARIABLES = [f"TICKFLOW_{name.upper()}" for name in (*DATABASE_URL_FIELDS, "kafka_bootstrap")]


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment without the URLs conftest sets for the test database: as a shell has it."""
    for name in (*LOCAL_URL_VARIABLES, "TICKFLOW_PG_PORT", "TICKFLOW_KAFKA_PORT"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.admin", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_the_default_urls_follow_the_port_variables(bare_environment: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKFLOW_PG_PORT", "25432")
    monkeypatch.setenv("TICKFLOW_KAFKA_PORT", "29092")
    settings = Settings()
    assert {make_url(getattr(settings, name)).port for name in DATABASE_URL_FIELDS} == {25432}
    assert settings.database_url == "postgresql://tickflow_app:tickflow_app@127.0.0.1:25432/tickflow"
    assert settings.admin_database_url == "postgresql://tickflow:tickflow@127.0.0.1:25432/tickflow"
    assert settings.kafka_bootstrap == "127.0.0.1:29092"


def test_admin_connects_to_the_port_it_is_given_not_the_default(bare_environment: dict[str, str]) -> None:
    # Nothing listens on `port`; before this rule, `status` read the default server on 15432 and succeeded.
    port = free_port()
    done = admin({**bare_environment, "TICKFLOW_PG_PORT": str(port)}, "status")
    assert done.returncode != 0
    assert f'127.0.0.1", port {port} failed' in done.stderr, done.stderr[-2000:]
    assert "15432" not in done.stderr


def test_a_url_on_another_port_than_the_port_variable_is_refused(bare_environment: dict[str, str]) -> None:
    env = {**bare_environment, "TICKFLOW_PG_PORT": "25432",
           "TICKFLOW_DATABASE_URL": "postgresql://tickflow_app:x@127.0.0.1:15432/tickflow"}
    done = admin(env, "migrate")
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: invalid settings: TICKFLOW_DATABASE_URL uses port 15432 but "
                                   "TICKFLOW_PG_PORT=25432: unset one of them, or make them agree")
    env = {**bare_environment, "TICKFLOW_KAFKA_PORT": "29092", "TICKFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:19092"}
    done = admin(env, "topics")
    assert "TICKFLOW_KAFKA_BOOTSTRAP uses port 19092 but TICKFLOW_KAFKA_PORT=29092" in done.stderr
    assert done.returncode == 1
