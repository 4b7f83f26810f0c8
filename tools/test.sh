#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, run the whole suite,
# once on the default lanes (shared memory between ranks on one host) and once more with every
# peer forced onto the ZeroMQ lane (PARRUN_TRANSPORT=zmq; the unit tests, which start no job,
# simply run twice: a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
echo "== the suite on the default lanes (shared memory on one host)"
ctest --preset release "$@"
echo "== the suite with PARRUN_TRANSPORT=zmq"
PARRUN_TRANSPORT=zmq ctest --preset release "$@"
