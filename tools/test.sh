#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, run the whole suite,
# once on the default lanes (shared memory between ranks on one host) and once more with every
# peer forced onto the ZeroMQ lane (PARRUN_TRANSPORT=zmq; the unit tests, which start no job,
# simply run twice: a few seconds); then, as root, the tests across hosts: a cluster of network
# namespaces with sshd and Slurm that the tests build and tear down (tests/cluster/).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
echo "== the suite on the default lanes (shared memory on one host)"
ctest --preset release "$@"
echo "== the suite with PARRUN_TRANSPORT=zmq"
PARRUN_TRANSPORT=zmq ctest --preset release "$@"
echo "== across hosts: 3 namespace hosts with sshd and Slurm (tests/cluster; skipped unless root)"
ctest --preset cluster "$@"
