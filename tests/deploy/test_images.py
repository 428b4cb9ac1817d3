"""Dockerfile, Dockerfile.airflow and .dockerignore, read statically (no Docker engine here)."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from deploy_model import PROJECT_VERSION, ROOT, canonical, lock_pins
from packaging.requirements import Requirement

from services.db import migrations

DOCKERFILE = ROOT / "Dockerfile"
AIRFLOW_DOCKERFILE = ROOT / "Dockerfile.airflow"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, re.M)]


def base_images(path: Path) -> list[str]:
    """Image of every FROM, with ARG defaults substituted; stage names excluded."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for op, rest in instructions(path):
        if op == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args.setdefault(key.strip(), value.strip())
        elif op == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], words[0])
            if image not in stages:
                images.append(image)
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return images


def test_service_image_is_pinned_slim_python_of_the_locked_minor() -> None:
    images = base_images(DOCKERFILE)
    assert images, "no FROM"
    minor = re.search(r"3\.\d+", PYPROJECT["project"]["requires-python"]).group(0)
    for image in images:
        m = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-\w+", image)
        assert m, f"{image}: pin an exact python X.Y.Z-slim-<debian> tag"
        assert m.group(1) == minor, f"{image}: the lock is resolved for Python {minor}"
    assert len([op for op, _ in instructions(DOCKERFILE) if op == "FROM"]) >= 2, "multi-stage build"


def test_service_image_runs_as_non_root_with_a_service_command() -> None:
    ops = instructions(DOCKERFILE)
    final = ops[max(i for i, (op, _) in enumerate(ops) if op == "FROM"):]
    users = [rest for op, rest in final if op == "USER"]
    assert users, "the final stage must switch user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "numeric non-root USER, so runAsNonRoot can verify it"
    (cmd,) = [rest for op, rest in final if op == "CMD"]
    assert re.fullmatch(r'\["python", "-m", "services\.\w+"\]', cmd), cmd
    copied = [rest for op, rest in final if op == "COPY" and "--from" not in rest]
    assert any(c.startswith("services/") for c in copied) and any(c.startswith("sql/") for c in copied)


def test_service_image_installs_exactly_the_locked_versions() -> None:
    """The image installs pyproject's dependencies constrained by requirements.lock. That pins every
    package only if the whole dependency closure is in the lock: walk it from the metadata of
    the packages installed from that same lock."""
    text = DOCKERFILE.read_text()
    assert "--constraint requirements.lock" in text and "pip check" in text
    pins = lock_pins()
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        assert name in pins, f"{req.name} (needed by the services) is not pinned in requirements.lock"
        assert pins[name] in req.specifier or not req.specifier, f"lock pins {name}=={pins[name]}, need {req}"
        dist = metadata.distribution(req.name)
        assert canonical(dist.metadata["Name"]) == name and dist.version == pins[name], (
            f"{name}: installed {dist.version}, lock {pins[name]} (run make install)")
        for raw in dist.requires or []:
            sub = Requirement(raw)
            envs = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(e) for e in envs):
                todo.append(sub)
    assert len(seen) >= 20


def test_airflow_image_extends_the_locked_airflow_on_the_locked_python() -> None:
    pins = lock_pins()
    (image,) = base_images(AIRFLOW_DOCKERFILE)
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", image)
    assert m, f"{image}: pin apache/airflow:<version>-python<X.Y>"
    assert m.group(1) == pins["apache-airflow"] == "3.3.2", "image and lock must agree on Airflow"
    assert m.group(2) == re.search(r"3\.\d+", PYPROJECT["project"]["requires-python"]).group(0)
    text = AIRFLOW_DOCKERFILE.read_text()
    assert f"ARG AIRFLOW_VERSION={m.group(1)}" in text
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text, "pip must not move Airflow"
    assert "pip check" in text
    copies = {rest.split()[-2]: rest.split()[-1] for op, rest in instructions(AIRFLOW_DOCKERFILE) if op == "COPY"}
    assert copies["dags/"] == "/opt/airflow/dags/"
    # Migrations look for sql/ two levels above services/db/: keep that layout in the image.
    assert migrations.SQL_DIR == ROOT / "sql"
    assert copies["services/"] == "/opt/tickflow/services/" and copies["sql/"] == "/opt/tickflow/sql/"
    assert re.search(r"PYTHONPATH=/opt/tickflow\b", text)
    ops = instructions(AIRFLOW_DOCKERFILE)
    assert [rest for op, rest in ops if op == "USER"][-1] == "airflow", "end as the image's airflow user"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
            out += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        return re.compile(out + "$")

    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        rx = regex(pattern.lstrip("!"))
        if any(rx.match(c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_images_copy_and_nothing_private() -> None:
    patterns = [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    sources = set()
    for dockerfile in (DOCKERFILE, AIRFLOW_DOCKERFILE):
        for op, rest in instructions(dockerfile):
            if op == "COPY" and "--from" not in rest:
                sources.update(w for w in rest.split()[:-1] if not w.startswith("--"))
    assert {"services/", "sql/", "dags/", "requirements.lock", "pyproject.toml"} <= sources
    for source in sources:
        sample = source + ("x.py" if source.endswith("/") else "")
        assert not dockerignored(sample, patterns), f".dockerignore drops {sample}, which a Dockerfile copies"
    for private in (".env", ".git/config", ".venv/bin/python", ".local/kafka/data/x", "tests/conftest.py",
                    "services/__pycache__/config.cpython-311.pyc", "k8s/overlays/local/secrets/tickflow-db.env"):
        assert dockerignored(private, patterns), f".dockerignore must keep {private} out of the build context"
    assert dockerignored("a/b.py", ["*", "!a/"]) is False and dockerignored("b.py", ["*", "!a/"]) is True


def test_images_are_tagged_with_the_project_version_in_their_instructions() -> None:
    for path, name in ((DOCKERFILE, "tickflow"), (AIRFLOW_DOCKERFILE, "tickflow-airflow")):
        assert f"-t {name}:{PROJECT_VERSION} " in path.read_text() + " ", f"{path.name}: documented build tag"
