#!/usr/bin/env bash
# README command 1: install what is needed, then run the demo on the embedded default store.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/install.sh
exec .venv/bin/childindex demo "$@"
