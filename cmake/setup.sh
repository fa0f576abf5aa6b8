#!/usr/bin/env bash
# Installs every Debian package ctsim needs to build and test. Idempotent: packages already
# present are not touched, and apt is only asked when something is missing. Run as root
# (or with sudo available) on Debian 12.
set -euo pipefail

# Packages the core build and the test suite need.
CORE_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libpcap-dev libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev libcli11-dev
  nlohmann-json3-dev libssl-dev clang-format clang libclang-rt-14-dev
  libjs-chart.js chromium
)
# Optional components; the build switches each off with a printed reason when it is missing.
OPTIONAL_PACKAGES=(
  libdpdk-dev libabsl-dev
  libnetfilter-conntrack-dev libmnl-dev libbpf-dev nftables iproute2
)

missing=()
for p in "${CORE_PACKAGES[@]}" "${OPTIONAL_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#CORE_PACKAGES[@]} core and ${#OPTIONAL_PACKAGES[@]} optional packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "setup: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: installed: ${missing[*]}"
