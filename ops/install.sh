#!/usr/bin/env bash
# Installs what childindex needs on Debian 12 (as root, or with sudo): system packages, a virtual
# environment in .venv and the project itself. Safe and quick to run again: it only installs what
# is missing, and reinstalls the project only when pyproject.toml changes.
#
#   ops/install.sh          what the service needs
#   ops/install.sh --test   also what the test suite needs (PostgreSQL server, Java and Maven for
#                           Elasticsearch, test libraries)
set -euo pipefail
cd "$(dirname "$0")/.."

# python-ldap builds against libldap; slapd and ldap-utils run the demo directory and its tests.
packages=(python3 python3-venv python3-dev gcc libldap2-dev libsasl2-dev slapd ldap-utils)
extras=""
if [[ "${1:-}" == "--test" ]]; then
    # Java and Maven fetch and run the throwaway Elasticsearch node (ops/elasticsearch.py).
    packages+=(postgresql default-jre-headless maven)
    extras="[test]"
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if (( ${#missing[@]} )); then
    sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    # slapd: no system directory of its own; the project runs throwaway ones (ops/slapd.py).
    echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian package starts a cluster of its own; the project runs throwaway servers instead.
    if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null; then
        $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
fi

# Debian's own Python, whatever else is on PATH: that is what a fresh machine has.
if [[ ! -x .venv/bin/python ]]; then
    /usr/bin/python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
# An install with test extras also serves the plain one.
if [[ ! -f "$stamp$extras" && ! -f "$stamp[test]" ]]; then
    echo "installing childindex${extras} into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".${extras}"
    rm -f .venv/.installed-*
    touch "$stamp$extras"
fi
