#!/usr/bin/env bash
# README command 2 (and .ci/run): install what the tests need from the lock, lint, then run the
# whole suite. The suite starts its own throwaway PostgreSQL, slapd and Elasticsearch servers.
#
#   ops/test.sh [PYTEST ARGS]           with the locked versions (.venv)
#   ops/test.sh --latest [PYTEST ARGS]  with the newest versions pyproject.toml allows, in the
#                                       scratch environment .cache/latest: run it on demand (not in
#                                       CI) to see an upcoming break before ops/lock.sh --upgrade
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [[ "${1:-}" == "--latest" ]]; then
    shift
    venv=.cache/latest
    ops/install.sh --test --latest
else
    ops/install.sh --test
fi
"$venv/bin/ruff" check .
exec "$venv/bin/python" -m pytest "$@"
