#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
ctest --preset release "$@"
