#!/usr/bin/env bash
# Run here (Debian 12, apt reachable): downloads the .deb files of the header
# and library dependencies that a bare GPU machine lacks, for
# scripts/gpu-check.sh to unpack there. LibTorch itself comes from PyTorch on
# that machine. About 14 MiB.
#   scripts/gpu-prepare.sh [DIR]   (default: .gpu-debs, ignored by git; carry it)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/.gpu-debs}
packages=(
  libtomlplusplus-dev libtomlplusplus3 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  nlohmann-json3-dev libcli11-dev libboost1.74-dev libpng-dev libpng16-16 zlib1g-dev
  libstb-dev libstb0 libgloo-dev googletest
)

mkdir -p "$dest"
cd "$dest"
rm -f ./*.deb
apt-get download "${packages[@]}"
echo "downloaded $(ls ./*.deb | wc -l) packages ($(du -sh . | cut -f1)) into $dest"
echo "on the GPU machine: carry '${dest#"$root"/}' and run scripts/gpu-check.sh with OUT set"
