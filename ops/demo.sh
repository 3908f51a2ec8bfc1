#!/usr/bin/env bash
# README command 1: install what is needed, load the demo area into the embedded store, start the
# demo directory (slapd, data in var/slapd) with enrolled users for every role, and run the
# service in the foreground (http://127.0.0.1:8000/docs). Ctrl-C stops the service and slapd.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/install.sh
exec .venv/bin/childindex demo --serve "$@"
