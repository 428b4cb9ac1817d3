"""Dockerfile, Dockerfile.airflow and .dockerignore, read statically (no Docker engine here)."""
from __future__ import annotations

import json
import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from deploy_model import (
    NEEDS,
    PORT_SETTING,
    PROJECT_VERSION,
    ROOT,
    bound_ports,
    canonical,
    lock_pins,
    settings_env_names,
    settings_from_env,
)
from packaging.requirements import Requirement

from services.dashboard import page as dashboard_page
from services.db import migrations

DOCKERFILE = ROOT / "Dockerfile"
AIRFLOW_DOCKERFILE = ROOT / "Dockerfile.airflow"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WEB = ROOT / "services" / "dashboard" / "web"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines()
                                          if not line.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, re.M)]


def stages(path: Path) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """(image or earlier stage, stage name, instructions) of every FROM, ARG defaults substituted."""
    args: dict[str, str] = {}
    out: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for op, rest in instructions(path):
        if op == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            out.append((image, name, []))
        elif out:
            out[-1][2].append((op, rest))
        elif op == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args.setdefault(key.strip(), value.strip())
    return out


def env_of(ops: list[tuple[str, str]]) -> dict[str, str]:
    """The ENV a stage sets (KEY=value form, values without spaces)."""
    env: dict[str, str] = {}
    for op, rest in ops:
        if op == "ENV":
            for word in rest.split():
                key, sep, value = word.partition("=")
                assert sep, f"ENV {rest!r}: use KEY=value"
                env[key] = value
    return env


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
    """Python stages: the locked minor, exact slim tag. One Node stage (the dashboard's npm
    packages): an exact LTS (even major) slim tag on the same Debian release. The final stage is
    Python."""
    images = base_images(DOCKERFILE)
    assert images, "no FROM"
    minor = re.search(r"3\.\d+", PYPROJECT["project"]["requires-python"]).group(0)
    python = [i for i in images if i.startswith("python:")]
    node = [i for i in images if i.startswith("node:")]
    assert python and len(node) == 1 and len(python) + len(node) == len(images), f"unexpected base images {images}"
    debian = set()
    for image in python:
        m = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-(\w+)", image)
        assert m, f"{image}: pin an exact python X.Y.Z-slim-<debian> tag"
        assert m.group(1) == minor, f"{image}: the lock is resolved for Python {minor}"
        debian.add(m.group(2))
    m = re.fullmatch(r"node:(\d+)\.\d+\.\d+-(\w+)-slim", node[0])
    assert m, f"{node[0]}: pin an exact node X.Y.Z-<debian>-slim tag"
    assert int(m.group(1)) % 2 == 0, f"{node[0]}: use a Node LTS line (even major)"
    debian.add(m.group(2))
    assert len(debian) == 1, f"one Debian release for every stage, not {sorted(debian)}"
    assert stages(DOCKERFILE)[-1][0] in python, "the final stage is the Python runtime"
    assert len([op for op, _ in instructions(DOCKERFILE) if op == "FROM"]) >= 3, "build, web and runtime stages"


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
    # Files copied from other stages stay root's: the service user can read, not change them.
    assert not [rest for op, rest in final if op == "COPY" and "--chown" in rest]


def test_service_image_environment_makes_every_server_reachable() -> None:
    """The final stage's TICKFLOW_* ENV are settings; every long-running service binds all
    interfaces by default and its default port is EXPOSEd."""
    _, _, final = stages(DOCKERFILE)[-1]
    env = env_of(final)
    tickflow = {k: v for k, v in env.items() if k.startswith("TICKFLOW_")}
    unknown = set(tickflow) - settings_env_names()
    assert not unknown, f"not settings (typo?): {sorted(unknown)}"
    settings = settings_from_env(tickflow)
    exposed = {int(p) for op, rest in final if op == "EXPOSE" for p in rest.split()}
    for service in PORT_SETTING:
        for bind in [f for f, kind in NEEDS[service].items() if kind == "bind"]:
            assert getattr(settings, bind) == "0.0.0.0", f"image: {service} binds {getattr(settings, bind)}"
        assert bound_ports(service, settings) <= exposed, f"image: {service}'s ports are not EXPOSEd"
    assert exposed == {port for service in PORT_SETTING for port in bound_ports(service, settings)}


def lock_packages() -> dict[str, dict]:
    return json.loads((WEB / "package-lock.json").read_text())["packages"]


def test_service_image_installs_the_dashboards_npm_packages_from_the_lock() -> None:
    """A Node stage runs `npm ci --omit=dev` on package.json + package-lock.json only; the final
    stage copies that node_modules and points TICKFLOW_DASHBOARD_VENDOR_DIR at it, so the
    dashboard serves lightweight-charts from where it was installed."""
    all_stages = stages(DOCKERFILE)
    (web,) = [s for s in all_stages if s[0].startswith("node:")]
    _, web_name, web_ops = web
    assert web_name, "the Node stage needs a name to copy from"
    copies = [rest.split() for op, rest in web_ops if op == "COPY"]
    assert copies == [["services/dashboard/web/package.json", "services/dashboard/web/package-lock.json", "./"]], (
        "only the manifest and the lock go into the npm stage")
    (workdir,) = [rest for op, rest in web_ops if op == "WORKDIR"]
    runs = " ".join(rest for op, rest in web_ops if op == "RUN")
    assert re.search(r"\bnpm ci\b", runs) and "--omit=dev" in runs, "install exactly the lock, without dev packages"
    assert "npm install" not in runs and "npm i " not in runs, "npm install may move versions: npm ci only"
    assert "--ignore-scripts" in runs, "no package runs install scripts in the build"
    charts = dashboard_page.CHARTS_FILE.as_posix()
    assert f"test -f node_modules/{charts}" in runs, "the build fails when the served file is missing"

    _, _, final = all_stages[-1]
    from_web = [rest.split() for op, rest in final if op == "COPY" and f"--from={web_name}" in rest]
    assert len(from_web) == 1, f"one COPY --from={web_name} into the runtime image"
    (_, source, target) = from_web[0]
    assert source == f"{workdir.rstrip('/')}/node_modules", f"copy the installed node_modules, not {source}"
    env = env_of(final)
    assert env["TICKFLOW_DASHBOARD_VENDOR_DIR"] == target
    settings = settings_from_env({"TICKFLOW_DASHBOARD_VENDOR_DIR": env["TICKFLOW_DASHBOARD_VENDOR_DIR"]})
    assert dashboard_page.vendor_file(settings) == Path(target) / dashboard_page.CHARTS_FILE
    assert not Path(target).is_relative_to("/app"), "kept apart from the source tree COPY services/ brings"


def test_npm_lock_pins_the_served_library_and_keeps_dev_packages_out() -> None:
    """What `npm ci --omit=dev` installs is the lock's non-dev packages: lightweight-charts at the
    version package.json pins (and what it depends on), never the browser-test tooling. The same
    lock, installed by `make install`, really has the file the dashboard serves."""
    manifest = json.loads((WEB / "package.json").read_text())
    packages = lock_packages()
    assert packages[""]["dependencies"] == manifest["dependencies"], "package-lock.json is stale: run npm install"
    assert packages[""].get("devDependencies", {}) == manifest.get("devDependencies", {})
    runtime = {path.removeprefix("node_modules/"): info for path, info in packages.items()
               if path and not info.get("dev")}
    assert runtime["lightweight-charts"]["version"] == manifest["dependencies"]["lightweight-charts"]
    for name, info in runtime.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", info["version"]), f"{name}: exact version"
        assert info["integrity"].startswith("sha512-"), f"{name}: npm ci verifies an integrity hash"
        assert set(info.get("dependencies", {})) <= set(runtime), f"{name}: a dependency would be missing"
    assert set(manifest.get("devDependencies", {})).isdisjoint(runtime), "dev packages must not reach the image"
    installed = WEB / "node_modules"
    version = json.loads((installed / "lightweight-charts" / "package.json").read_text())["version"]
    assert version == runtime["lightweight-charts"]["version"], "node_modules is not the lock's: run make install"
    assert (installed / dashboard_page.CHARTS_FILE).is_file(), (
        f"lightweight-charts {version} has no {dashboard_page.CHARTS_FILE}")


def image_constraints(dockerfile: str, redirect: str) -> dict[str, str]:
    """What the image's own sed command makes of requirements.lock (it carries hashes: pip cannot
    take those as constraints), run here on the real lock: name -> version, no hash left."""
    (command,) = re.findall(r"(sed -n '[^']+') \S*" + re.escape(redirect), dockerfile)
    out = subprocess.run(f"{command} requirements.lock", shell=True, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "hash" not in out and out.count("\n") == len(out.splitlines())
    return {canonical(line.split("==")[0]): line.split("==")[1] for line in out.splitlines()}


def test_service_image_installs_exactly_the_locked_versions() -> None:
    """The image installs pyproject's dependencies constrained by requirements.lock. That pins every
    package only if the whole dependency closure is in the lock: walk it from the metadata of
    the packages installed from that same lock."""
    text = DOCKERFILE.read_text()
    assert "--constraint constraints.txt" in text and "pip check" in text
    pins = lock_pins()
    assert image_constraints(text, "requirements.lock > constraints.txt") == pins
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
    assert image_constraints(text, "/opt/tickflow/requirements.lock > /tmp/tickflow-pins.txt") == pins
    # the batch side's libraries (the forecast models) go into this image, and only into it
    assert 'p["dependencies"] + p["optional-dependencies"]["batch"]' in text
    batch = {canonical(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["batch"]}
    assert "statsmodels" in batch and batch <= set(pins)
    assert not batch & {canonical(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
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
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = set()
    for dockerfile in (DOCKERFILE, AIRFLOW_DOCKERFILE):
        for op, rest in instructions(dockerfile):
            if op == "COPY" and "--from" not in rest:
                sources.update(w for w in rest.split()[:-1] if not w.startswith("--"))
    assert {"services/", "sql/", "dags/", "requirements.lock", "pyproject.toml",
            "services/dashboard/web/package.json", "services/dashboard/web/package-lock.json"} <= sources
    for source in sources:
        sample = source + ("x.py" if source.endswith("/") else "")
        assert not dockerignored(sample, patterns), f".dockerignore drops {sample}, which a Dockerfile copies"
    for private in (".env", ".git/config", ".venv/bin/python", ".local/kafka/data/x", "tests/conftest.py",
                    "services/__pycache__/config.cpython-311.pyc", "k8s/overlays/local/secrets/tickflow-db.env",
                    # A developer's npm install (dev packages included): the image runs its own npm ci.
                    "services/dashboard/web/node_modules/playwright-core/package.json"):
        assert dockerignored(private, patterns), f".dockerignore must keep {private} out of the build context"
    assert dockerignored("a/b.py", ["*", "!a/"]) is False and dockerignored("b.py", ["*", "!a/"]) is True


def test_images_are_tagged_with_the_project_version_in_their_instructions() -> None:
    for path, name in ((DOCKERFILE, "tickflow"), (AIRFLOW_DOCKERFILE, "tickflow-airflow")):
        assert f"-t {name}:{PROJECT_VERSION} " in path.read_text() + " ", f"{path.name}: documented build tag"
