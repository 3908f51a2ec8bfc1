#!/usr/bin/env bash
# README command 2 (and .ci/run): install what the tests need from the lock, lint, then run the
# whole suite. The suite starts its own throwaway PostgreSQL, slapd and Elasticsearch servers.
#
#   ops/test.sh [PYTEST ARGS]           with the locked versions (.venv)
#   ops/test.sh --latest [PYTEST ARGS]  with the newest versions pyproject.toml allows, in the
#                                       scratch environment .cache/latest: run it on demand (not in
#                                       CI) to see an upcoming break before ops/lock.sh --upgrade
#   ops/test.sh --lowest [PYTEST ARGS]  with the oldest version pyproject.toml allows of each
#                                       direct dependency (.cache/lowest): are the lower bounds true?
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [[ "${1:-}" == "--latest" || "${1:-}" == "--lowest" ]]; then
    venv=".cache/${1#--}"
    ops/install.sh --test "$1"
    shift
else
    ops/install.sh --test
fi
"$venv/bin/ruff" check .
exec "$venv/bin/python" -m pytest "$@"
