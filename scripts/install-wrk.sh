#!/usr/bin/env bash
# Install wrk, the HTTP load generator of the server benchmark (`make bench`), when missing.
# `make bench` loads the server with it (`make test` installs it with the test services).
set -euo pipefail

command -v wrk >/dev/null 2>&1 && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "missing: wrk; install it (Debian: apt-get install wrk), then rerun the benchmark" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: wrk, and no apt-get here; install wrk (https://github.com/wg/wrk)" >&2
    exit 1
fi
echo "installing wrk (Debian package) for the server benchmark" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wrk \
    >/dev/null
command -v wrk >/dev/null 2>&1 || { echo "apt-get installed no wrk command" >&2; exit 1; }
