#!/usr/bin/env bash
# Installs what childindex needs on Debian 12 (as root, or with sudo): system packages, a virtual
# environment and the project itself. Python packages come from the hash-locked files in
# requirements/ (written by ops/lock.sh), so two machines get the same bytes. Safe and quick to run
# again: it installs only what is missing, and reinstalls only when a lock file or pyproject.toml
# changes.
#
#   ops/install.sh                  what the service needs (requirements/service.txt)
#   ops/install.sh --test           also what the test suite needs (PostgreSQL server, Java and
#                                   Maven for Elasticsearch, requirements/test.txt)
#   ops/install.sh --test --latest  the newest versions pyproject.toml allows, not the lock, into
#                                   the scratch environment .cache/latest (ops/test.sh --latest)
#   ops/install.sh --test --lowest  the oldest version pyproject.toml allows of each direct
#                                   dependency, into .cache/lowest (ops/test.sh --lowest)
set -euo pipefail
cd "$(dirname "$0")/.."

test_set=0 scratch=""
for arg in "$@"; do
    case "$arg" in
        --test) test_set=1 ;;
        --latest) scratch=latest ;;
        --lowest) scratch=lowest ;;
        *) echo "ops/install.sh: unknown option $arg (--test, --latest, --lowest)" >&2; exit 2 ;;
    esac
done

# --- Debian packages -----------------------------------------------------------------------------
# python-ldap builds against libldap; slapd and ldap-utils run the demo directory and its tests.
packages=(python3 python3-venv python3-dev gcc libldap2-dev libsasl2-dev slapd ldap-utils psmisc)
if (( test_set )); then
    # Java and Maven fetch and run the throwaway Elasticsearch node (ops/elasticsearch.py).
    packages+=(postgresql default-jre-headless maven)
fi
# The web pages (issue 16): npm fetches their front end (below), from Debian's nodejs and npm
# where no npm is on PATH; the browser tests drive Debian's own headless Chromium, never a
# browser build of their own.
command -v npm >/dev/null || packages+=(nodejs npm)
(( test_set )) && packages+=(chromium)

sudo=""
[[ "$(id -u)" -eq 0 ]] || sudo="sudo"

# Another apt or dpkg (unattended-upgrades on a fresh machine, a second install) may hold the
# package locks: wait for it, up to APT_LOCK_WAIT seconds, instead of failing at once.
apt_lock_wait="${APT_LOCK_WAIT:-600}"
apt_locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
wait_for_apt() {
    local waited=0
    while $sudo fuser "${apt_locks[@]}" >/dev/null 2>&1; do
        if (( waited >= apt_lock_wait )); then
            echo "ops/install.sh: another apt/dpkg process still holds the package lock after" \
                 "${apt_lock_wait}s; try again when it has finished" >&2
            exit 1
        fi
        (( waited % 30 == 0 )) && echo "waiting for another apt/dpkg process to finish (${waited}s of ${apt_lock_wait}s)"
        sleep 5
        waited=$(( waited + 5 ))
    done
}
apt_get() {
    wait_for_apt
    # The timeout covers a process that takes the lock between the check and this call.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout="$apt_lock_wait" "$@"
}

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if (( ${#missing[@]} )); then
    echo "installing Debian packages: ${missing[*]}"
    # slapd: no system directory of its own; the project runs throwaway ones (ops/slapd.py).
    echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections
    # fuser (psmisc) is what the lock wait uses; before it is installed the timeout alone waits.
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian package starts a cluster of its own; the project runs throwaway servers instead.
    if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null; then
        $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
fi

# --- Web assets ----------------------------------------------------------------------------------
# Swagger UI for /docs (api/docs.py), served by the service itself, never from a CDN: the npm
# package at a pinned version, checked against its pinned SHA-256, unpacked under .cache/.
swagger_ui="swagger-ui-dist-5.36.0"
swagger_ui_sha256="685a2b38b5d6eab2dbc096a8596db11cc7409cdb671d2e3bec8f9b017d0d566b"
if [[ ! -f ".cache/$swagger_ui/swagger-ui-bundle.js" ]]; then
    command -v npm >/dev/null || { echo "npm is needed to fetch Swagger UI (Node.js)" >&2; exit 1; }
    mkdir -p .cache
    (cd .cache && npm pack --silent "${swagger_ui%-*}@${swagger_ui##*-}" >/dev/null)
    echo "$swagger_ui_sha256  .cache/$swagger_ui.tgz" | sha256sum --check --quiet
    rm -rf ".cache/$swagger_ui" && mkdir ".cache/$swagger_ui"
    tar -xzf ".cache/$swagger_ui.tgz" -C ".cache/$swagger_ui" --strip-components=1 package/
    rm ".cache/$swagger_ui.tgz"
fi

# The web pages' front end (GOV.UK Frontend) and, for the browser tests, axe-core: from the npm
# registry at the versions and integrity hashes of package-lock.json, into node_modules/
# (git-ignored), served by the service itself. Again only when the lock changes.
npm_set=service npm_omit="--omit=dev"
(( test_set )) && npm_set=test npm_omit=""
npm_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [[ ! -f "$npm_stamp-$npm_set" && ! -f "$npm_stamp-test" ]]; then
    echo "installing the web pages' front end (npm ci) into node_modules"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error $npm_omit
    touch "$npm_stamp-$npm_set"
fi

# --- Python packages -----------------------------------------------------------------------------
# A function, so that a finished or already-done install returns to the blocks after it.
install_python() {
    # Debian's own Python, whatever else is on PATH: that is what a fresh machine has.
    local venv=.venv
    [[ -n "$scratch" ]] && venv=".cache/$scratch"
    if [[ ! -x "$venv/bin/python" ]]; then
        mkdir -p "$(dirname "$venv")"
        /usr/bin/python3 -m venv "$venv"
    fi
    local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

    if [[ "$scratch" == latest ]]; then
        # No lock: whatever is newest today, to see an upcoming break before it reaches the lock.
        echo "installing the newest allowed versions into $venv"
        "${pip[@]}" --upgrade pip setuptools wheel
        "${pip[@]}" --upgrade --upgrade-strategy eager -e ".[test]"
        return
    fi
    if [[ "$scratch" == lowest ]]; then
        # No lock either: the lower bounds of pyproject.toml, to check that they are true.
        echo "installing the oldest allowed versions into $venv"
        ops/lock.sh --lowest "$venv/requirements.txt"
        "${pip[@]}" -r "$venv/requirements.txt"
        "${pip[@]}" --no-deps -e .
        return
    fi

    local set_name=service
    (( test_set )) && set_name=test
    stamp_of() { cat pyproject.toml requirements/build.txt "requirements/$1.txt" | sha256sum | cut -c1-16; }
    # The test set holds everything the service set does, at the same versions.
    if [[ -f "$venv/.installed-$(stamp_of "$set_name")" || -f "$venv/.installed-$(stamp_of test)" ]]; then
        return
    fi
    echo "installing childindex with requirements/$set_name.txt into $venv"
    # pip, setuptools and wheel first, from the lock too: they build the sdists below and the project.
    "${pip[@]}" --require-hashes -r requirements/build.txt
    "${pip[@]}" --require-hashes --no-build-isolation -r "requirements/$set_name.txt"
    "${pip[@]}" --no-deps --no-build-isolation -e .
    rm -f "$venv"/.installed-*
    touch "$venv/.installed-$(stamp_of "$set_name")"
}
install_python
