#!/usr/bin/env bash
# One entry for a fresh Debian 12 machine (as root, apt and PyPI reachable,
# the CUDA toolkit installed; no GPU needed):
#   scripts/bootstrap.sh run    install what is missing, build, run the main job
#   scripts/bootstrap.sh test   install what is missing, build, run the test suite
# Both are idempotent: with everything in place they only rebuild what changed.
# LibTorch is PyTorch's own (pinned below, with CUDA), installed from PyPI into
# a virtual environment outside the checkout and reused by every checkout:
# $VGGT_LAB_CACHE (default ~/.cache/vggt-lab)/torch-<version>.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${VGGT_LAB_BUILD_DIR:-$root/build}
torch_version=2.11.0  # what the GPU machines run
venv=${VGGT_LAB_CACHE:-$HOME/.cache/vggt-lab}/torch-$torch_version
packages=(
  build-essential cmake ninja-build pkg-config binutils python3-venv
  libgloo-dev libtomlplusplus-dev libspdlog-dev libboost-dev libgtest-dev libgmock-dev
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

# PyTorch's wheel with its CUDA runtime wheels; kept when already there.
install_torch() {
  [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "import torch" 2>/dev/null && return
  echo "installing torch==$torch_version from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_version"
}

configure() {
  local torch
  torch=$("$venv/bin/python" -c "import os, torch; print(os.path.dirname(torch.__file__))" 2>/dev/null)
  # A build folder configured against another LibTorch starts afresh.
  if [[ -f $build/CMakeCache.txt ]] && ! grep -q "^Torch_DIR:PATH=$torch/" "$build/CMakeCache.txt"; then
    rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
  fi
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$torch/share/cmake" "-DTORCH_LIBRARY=$torch/lib/libtorch.so" \
    -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" >/dev/null
}

# The targets named (vggt_lab_cli: the executable and the plugins), or all.
build() {
  install_torch
  configure
  local targets=()
  (($#)) && targets=(--target "$@")
  cmake --build "$build" -j "$(nproc)" "${targets[@]}"
}

case "${1:-}" in
  run)
    install_missing
    build vggt_lab_cli  # not the test suite: `test` builds that
    cd "$root"
    exec "$build/bin/vggt-lab" run experiments/balanced.toml "${@:2}"
    ;;
  test)
    install_missing
    build
    cd "$build"
    exec ctest --output-on-failure -j "$(nproc)"
    ;;
  *)
    echo "usage: scripts/bootstrap.sh run|test" >&2
    exit 2
    ;;
esac
