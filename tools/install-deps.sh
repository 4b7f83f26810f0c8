#!/usr/bin/env bash
# Installs what parrun needs to build and test, from Debian's packages, when anything is missing.
# Run as root on Debian 12 (CI and containers are root; elsewhere, use sudo).
set -euo pipefail
packages=(g++ cmake make pkg-config libzmq3-dev cppzmq-dev libcereal-dev
          libboost-program-options-dev libgtest-dev iproute2 procps
          libpmix-dev clang libclang-rt-14-dev  # pmix: srun direct launch; clang: the libFuzzer targets (tools/fuzz.sh)
          openssh-server slurmctld slurmd slurm-client munge iptables)  # tests/cluster (several hosts)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
