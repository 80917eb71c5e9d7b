#!/usr/bin/env bash
# One entry for a fresh Debian 12 machine (as root, apt reachable):
#   scripts/bootstrap.sh run    install what is missing, build, run the main job
#   scripts/bootstrap.sh test   install what is missing, build, run the test suite
# Both are idempotent: with everything in place they only rebuild what changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${VGGT_LAB_BUILD_DIR:-$root/build}
packages=(
  build-essential cmake ninja-build pkg-config binutils
  libtorch-dev libgloo-dev libopenblas0-pthread
  libtomlplusplus-dev libspdlog-dev libboost-dev libgtest-dev libgmock-dev
  libcli11-dev nlohmann-json3-dev libstb-dev libpng-dev
)

install_missing() {
  local missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=""
    ((EUID == 0)) || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

build_all() {
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)"
}

case "${1:-}" in
  run)
    install_missing
    build_all
    cd "$root"
    exec "$build/bin/vggt-lab" run experiments/balanced.toml "${@:2}"
    ;;
  test)
    install_missing
    build_all
    cd "$build"
    exec ctest --output-on-failure -j "$(nproc)"
    ;;
  *)
    echo "usage: scripts/bootstrap.sh run|test" >&2
    exit 2
    ;;
esac
