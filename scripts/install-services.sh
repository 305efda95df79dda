#!/usr/bin/env bash
# Install what the test suite needs from Debian when it is missing: the servers it starts
# (redis-server, PostgreSQL) and the tools it runs (wrk, whose output a benchmark test reads,
# Graphviz's dot, which draws team graphs, and headless Chromium with its driver, which the
# playground's browser tests drive through Selenium). The tests start their own server
# instances on free 127.0.0.1 ports; nothing here starts a service.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "missing: ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing ${missing[*]} (Debian packages) for the test suite" >&2
"${sudo[@]}" apt-get update -qq
# Keep the package scripts from starting system-wide services: the tests start their own.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 "${sudo[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
