#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the main job on 8 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
echo "+ build/bin/parrun -n 8 build/examples/02_pi"
exec build/bin/parrun -n 8 build/examples/02_pi
