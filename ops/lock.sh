#!/usr/bin/env bash
# Writes the hash-locked requirement files that ops/install.sh installs from, with uv's
# `uv pip compile` (uv itself pinned below, in a scratch environment under .cache/).
#
#   ops/lock.sh                   after a change to pyproject.toml: keeps every pin it can, adds
#                                 what is new (never hand-edit or hand-merge the files)
#   ops/lock.sh --upgrade         moves everything to the newest versions pyproject.toml allows
#   ops/lock.sh --upgrade-package NAME   moves only NAME (and what it needs)
#   ops/lock.sh --lowest FILE     not a lock: the oldest version pyproject.toml allows of each
#                                 direct dependency (newest of the rest) into FILE, for
#                                 ops/test.sh --lowest, which checks that the lower bounds are true
#
# requirements/test.txt   the service and the test suite (resolved first)
# requirements/service.txt  the service alone, at exactly the versions of test.txt
# requirements/build.txt  pip, setuptools and wheel (they build python-ldap and the project)
# Then run ops/test.sh (and ops/test.sh --latest, to see what the next upgrade would bring).
set -euo pipefail
cd "$(dirname "$0")/.."

uv_version=0.13.9
tool=.cache/lock-tool
if [[ ! -x "$tool/bin/uv" ]] || [[ "$("$tool/bin/uv" --version)" != "uv $uv_version"* ]]; then
    /usr/bin/python3 -m venv "$tool"
    "$tool/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_version"
fi
# Debian 12's Python on x86-64 Linux: the machines install.sh serves, whatever this one is.
compile=("$tool/bin/uv" pip compile -q --python-version 3.11 --python-platform x86_64-manylinux_2_28)

if [[ "${1:-}" == "--lowest" ]]; then
    "${compile[@]}" --resolution lowest-direct pyproject.toml --extra test -o "${2:?ops/lock.sh --lowest FILE}"
    exit 0
fi

compile+=(--generate-hashes --custom-compile-command "ops/lock.sh" "$@")
"${compile[@]}" pyproject.toml --extra test -o requirements/test.txt
"${compile[@]}" pyproject.toml -c requirements/test.txt -o requirements/service.txt
"${compile[@]}" requirements/build.in -o requirements/build.txt
echo "requirements/{test,service,build}.txt written; now run ops/test.sh"
