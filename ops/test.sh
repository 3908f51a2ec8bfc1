#!/usr/bin/env bash
# README command 2 (and .ci/run): install what the tests need, lint, then run the whole suite.
# The suite starts its own throwaway PostgreSQL server on a loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/install.sh --test
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
