#!/usr/bin/env bash
# The pure tests (no services) on the other Python versions Tickflow supports: for each version
# given (default 3.12 3.13) found on this machine (on PATH or under pyenv), a virtualenv
# .venv-<version> from requirements.lock, then pytest on the core, CLI and retry tests.
# A version not found here is reported, not installed: this script installs no interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=.venv/bin/uv
[[ -x $UV ]] || { echo "run make install first (it provides $UV)" >&2; exit 1; }
TESTS=(tests/core tests/test_cli_flags.py tests/test_retry.py)

find_python() {  # one that runs: a pyenv shim on PATH may exist without its version being active
    local version=$1 candidate
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python "$(command -v "python$version")"; do
        if [[ -x $candidate ]] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

status=0 ran=0
for version in "${@:-3.12 3.13}"; do
    for v in $version; do
        if ! python=$(find_python "$v"); then
            echo "Python $v: not found on this machine (PATH or pyenv); not tested"
            continue
        fi
        venv=.venv-$v
        stamp=$venv/.installed
        if [[ ! -f $stamp || requirements.lock -nt $stamp ]]; then
            echo "Python $v ($python): installing requirements.lock into $venv"
            "$UV" venv --quiet --allow-existing -p "$python" "$venv"
            "$UV" pip install --quiet --python "$venv/bin/python" -r requirements.lock
            touch "$stamp"
        fi
        echo "Python $v: $("$venv/bin/python" --version)"
        ran=$((ran + 1))
        PYTHONPATH=$PWD "$venv/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}" || status=1
    done
done
echo "tested on $ran other Python version(s)"
exit "$status"
